"""`feeds build` of a hub: byte-identical to the server, and a crawl from a
plain static server (`python3 -m http.server`) finds no broken link."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import lxml.html
import pytest

from feeds import create_app
from feeds.commands import cli

from helpers import NOW, SITE_URL, FakeClock, fetch_followed, routes, static_site, write_hub


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    return write_hub(tmp_path / "hub")


@pytest.fixture
def app(hub: Path, tmp_path: Path) -> Any:
    return create_app({"TESTING": True, "TALKS_FILE": str(hub), "SITE_URL": SITE_URL,
                       "CLOCK": FakeClock(), "CHECK_INTERVAL": 0.0, "BUILD_MODE": "inline",
                       "STATE_DIR": str(tmp_path / "state")})


@pytest.fixture
def site(app: Any, hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(cli, "utc_now", lambda: NOW)
    assert cli.main(["build", str(tmp_path / "site"), "--data", str(hub),
                     "--site-url", SITE_URL]) == 0
    return tmp_path / "site"


@pytest.fixture
def static_server(site: Path) -> Iterator[str]:
    with static_site(site) as url:
        yield url


def test_every_route_of_the_hub_is_exported_byte_for_byte(app, static_server):
    client = app.test_client()
    served = routes(app)
    assert {"/", "/calendar.ics", "/tags/language/calendar.ics", "/theory/calendar.ics",
            "/kyoto-nlp/talks/talk-2/"} <= set(served)
    for path in served:
        expected = client.get(path)
        with urllib.request.urlopen(static_server + path, timeout=5) as response:
            assert response.status == 200, path
            assert response.read() == expected.data, path
            assert response.headers["Last-Modified"] == expected.headers["Last-Modified"], path


def test_a_crawl_of_the_hub_export_finds_nothing_broken(static_server, site):
    seen: set[str] = set()
    queue = [static_server + "/index.html"]
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        status, kind, body, final = fetch_followed(url)
        assert status == 200, (url, status)
        if kind != "text/html":
            continue
        doc = lxml.html.document_fromstring(body)
        for value in doc.xpath("//a/@href | //link/@href | //script/@src | //iframe/@src"):
            link = urljoin(final, value)
            parts = urlsplit(link)
            if link.startswith(SITE_URL + "/"):
                link = static_server + link[len(SITE_URL):]
            elif parts.scheme == "webcal":
                link = static_server + parts.path
            elif not link.startswith(static_server):
                continue
            queue.append(urlsplit(link)._replace(fragment="").geturl())
    folders = {"/" + str(p.relative_to(site).parent).replace(".", "").strip("/")
               for p in site.rglob("index.html")}
    reached = {urlsplit(url).path.rstrip("/") or "/" for url in seen}
    assert {f.rstrip("/") or "/" for f in folders} <= reached
    assert {"/tags/language", "/theory", "/kyoto-nlp/talks/talk-1"} <= reached


def test_a_broken_series_stops_the_export_and_names_its_line(hub, tmp_path, capsys):
    theory = hub / "series" / "theory.yaml"
    theory.write_text(theory.read_text(encoding="utf-8").replace("timezone: ", "timezone: Mars/"),
                      encoding="utf-8")
    assert cli.main(["build", str(tmp_path / "out"), "--data", str(hub)]) == 1
    err = capsys.readouterr().err
    assert f"{theory}:4:" in err
    assert not (tmp_path / "out").exists()


def test_validate_reports_every_file_at_its_own_line(hub, capsys):
    (hub / "site.yaml").write_text("title: Hub\nbogus: 1\n", encoding="utf-8")
    theory = hub / "series" / "theory.yaml"
    theory.write_text(theory.read_text(encoding="utf-8") + "    tags: [Not A Tag]\n",
                      encoding="utf-8")
    assert cli.main(["validate", str(hub)]) == 1
    err = capsys.readouterr().err
    assert f"{hub / 'site.yaml'}:2:1:" in err
    assert f"{theory}:{theory.read_text(encoding='utf-8').count(chr(10))}:" in err


def test_validate_of_a_good_hub_sums_up_each_series(hub, capsys):
    assert cli.main(["validate", str(hub)]) == 0
    out = capsys.readouterr().out
    assert out.count(": OK, 4 talks") == 3
    assert "a hub of 3 series" in out
