"""`feeds build`: every route as a file, served by a plain static server
with the same bytes as the application; host settings; atomic replacement."""

from __future__ import annotations

import dataclasses
import posixpath
import re
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import lxml.html
import pytest

from feeds.commands import cli
from feeds.data.revisions import ledger_path, read_ledger
from feeds.formats import ical, pages
from feeds.formats.delivery import Delivery, Resource
from feeds.publish import export

from helpers import NOW, SITE_URL, fetch_followed, routes, snapshot_for, static_site

SENT = ("Content-Type", "Cache-Control", "Content-Disposition",
        "Access-Control-Allow-Origin", "Content-Security-Policy", "Referrer-Policy",
        "X-Content-Type-Options")


@pytest.fixture
def build(data_file: Path, tmp_path: Path, monkeypatch):
    """Run `feeds build` at NOW, like the app fixture's clock."""
    monkeypatch.setattr(cli, "utc_now", lambda: NOW)

    def run(outdir: Path | None = None, *extra: str) -> int:
        outdir = outdir or tmp_path / "site"
        return cli.main(["build", str(outdir), "--data", str(data_file),
                         "--site-url", SITE_URL, *extra])

    return run


@pytest.fixture
def site(app, build, tmp_path: Path) -> Path:
    assert build() == 0
    return tmp_path / "site"


@pytest.fixture
def static_server(site: Path) -> Iterator[str]:
    with static_site(site) as url:
        yield url


def links_of(page_url: str, body: bytes) -> set[str]:
    """Every address a page makes the browser load or offers to follow,
    resolved against the page's address: links, assets, frames, refreshes."""
    doc = lxml.html.document_fromstring(body)
    found = {urljoin(page_url, value) for value in
             doc.xpath("//a/@href | //link/@href | //script/@src | //iframe/@src | //img/@src")}
    for refresh in doc.xpath('//meta[@http-equiv="refresh"]/@content'):
        found.add(urljoin(page_url, refresh.split("url=", 1)[1]))
    return found


def test_a_crawl_of_the_export_from_index_html_finds_nothing_broken(static_server, site):
    """Served by a plain static server, every link and asset of every page
    leads to a file; absolute links to the configured site address are
    checked against the same files."""
    seen: set[str] = set()
    queue = [static_server + "/index.html"]
    pages_seen = 0
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        status, kind, body, final = fetch_followed(url)
        assert status == 200, (url, status)
        if kind != "text/html":
            continue
        pages_seen += 1
        for link in links_of(final, body):
            parts = urlsplit(link)
            if link.startswith(SITE_URL + "/"):  # canonical, feeds' addresses: same tree
                link = static_server + link[len(SITE_URL):]
            elif parts.scheme == "webcal":
                link = static_server + parts.path
            elif not link.startswith(static_server):
                continue  # other sites: Google, Outlook, speakers' pages
            queue.append(urlsplit(link)._replace(fragment="").geturl())
    # Every page was reached: the series page, every talk page, the embed, the webmasters' page.
    folders = {"/" + str(p.relative_to(site).parent).replace(".", "").strip("/")
               for p in site.rglob("index.html")}
    reached = {urlsplit(url).path.rstrip("/") or "/" for url in seen}
    assert {f.rstrip("/") or "/" for f in folders} <= reached
    assert pages_seen >= len(folders)


def test_older_addresses_still_lead_to_the_pages_on_a_static_host(static_server, client):
    talk = "2026-04-13-fischer"
    page = client.get(f"/talks/{talk}/").data
    for old in (f"/talks/{talk}", "/embed?limit=3"):  # the host redirects to the folder
        status, _, body, final = fetch_followed(static_server + old)
        assert status == 200 and urlsplit(final).path.endswith("/")
    assert fetch_followed(static_server + f"/talks/{talk}")[2] == page
    for old, new in ((f"/talks/{talk}.html", f"/talks/{talk}/"), ("/embed.html", "/embed/")):
        status, _, body, final = fetch_followed(static_server + old)
        assert status == 200
        doc = lxml.html.document_fromstring(body)
        (refresh,) = doc.xpath('//meta[@http-equiv="refresh"]/@content')
        assert urljoin(final, refresh.split("url=", 1)[1]) == static_server + new
        assert doc.xpath('string(//link[@rel="canonical"]/@href)') == SITE_URL + new


def test_every_route_is_served_with_the_same_bytes_by_a_static_server(app, client, static_server):
    served = routes(app)
    kinds = {"/", "/calendar.ics", "/talks/2026-04-13-fischer.ics"}
    assert kinds <= served.keys()
    for path in served:
        expected = client.get(path)
        with urllib.request.urlopen(static_server + path, timeout=5) as response:
            assert response.status == 200, path
            assert response.read() == expected.data, path
            # The file's mtime is the resource's Last-Modified.
            assert response.headers["Last-Modified"] == expected.headers["Last-Modified"], path


def parse_rules(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    rules: list[tuple[str, list[tuple[str, str]]]] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("/"):
            rules.append((line.strip(), []))
        else:
            name, value = line.strip().split(": ", 1)
            rules[-1][1].append((name, value))
    return rules


def matches(rule: str, path: str) -> bool:
    """Netlify's and Cloudflare's matching: '*' stands for anything."""
    return re.fullmatch(".*".join(map(re.escape, rule.split("*"))), path) is not None


def test_host_headers_give_every_route_the_server_headers(app, client, site):
    """What Netlify and Cloudflare Pages send: the headers of every matching
    rule, a header set twice joined with a comma (which must not happen)."""
    rules = parse_rules((site / "_headers").read_text())
    assert len(rules) <= export.RULE_LIMIT
    for path in routes(app):
        sent: dict[str, str] = {}
        for rule, values in rules:
            if matches(rule, path):
                for name, value in values:
                    assert name not in sent, (path, name)
                    sent[name] = value
        server = {name: client.get(path).headers[name] for name in SENT
                  if name in client.get(path).headers}
        expected = dict(server)
        if server["Content-Type"].startswith("text/html"):
            del expected["Content-Type"]  # from the .html file name
        if "no-transform" not in server["Cache-Control"]:
            del expected["Cache-Control"]  # the host's own revalidation
        if server.get("Content-Disposition") == \
                f'attachment; filename="{posixpath.basename(path)}"':
            expected["Content-Disposition"] = "attachment"
        assert sent == expected, path


def test_hosts_get_the_friendly_404_page(app, site):
    assert (site / "404.html").read_bytes() == app.extensions["feeds"].current().not_found.body


def test_hosts_send_nosniff_and_a_referrer_policy_everywhere(site):
    rules = dict((rule, dict(values)) for rule, values in parse_rules((site / "_headers").read_text()))
    assert rules["/*"]["X-Content-Type-Options"] == "nosniff"
    assert rules["/*"]["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert b'<meta name="referrer" content="no-referrer">' in (site / "404.html").read_bytes()


def test_calendars_are_marked_not_to_be_compressed_by_hosts(site):
    rules = dict((rule, dict(values)) for rule, values in parse_rules((site / "_headers").read_text()))
    assert "no-transform" in rules["/*.ics"]["Cache-Control"]
    assert rules["/*.ics"]["Content-Type"] == "text/calendar; charset=utf-8"


@pytest.mark.parametrize("route, delivery, expected", [
    ("/", pages.PAGE_DELIVERY, "index.html"),
    ("/talks/2026-04-13-x/", pages.PAGE_DELIVERY, "talks/2026-04-13-x/index.html"),
    ("/talks/2026-04-13-x.ics", ical.TALK_FILE_DELIVERY, "talks/2026-04-13-x.ics"),
    ("/embed/", pages.EMBED_DELIVERY, "embed/index.html"),
    ("/archive/", pages.PAGE_DELIVERY, "archive/index.html"),
    ("/robots", Delivery("text/plain"), "robots"),  # not a page: keeps its name, typed by _headers
])
def test_file_paths(route, delivery, expected):
    assert export.file_path(route, Resource(b"", delivery, NOW)) == expected


def test_routes_added_later_are_exported(seed, tmp_path):
    snapshot = snapshot_for(seed)
    extra = Resource(b'{"ok": true}', Delivery("application/json", cors=True), NOW)
    bigger = dataclasses.replace(snapshot, routes={**snapshot.routes, "/v2/status.json": extra})
    export.write_site(bigger, tmp_path / "out", 3600)
    assert (tmp_path / "out" / "v2" / "status.json").read_bytes() == extra.body
    for route, resource in snapshot.routes.items():
        assert (tmp_path / "out" / export.file_path(route, resource)).read_bytes() == resource.body


def test_a_failed_build_leaves_the_previous_site_whole(app, build, site, monkeypatch, tmp_path):
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    written = []
    real = Path.write_bytes

    def failing(self: Path, data: bytes) -> int:
        written.append(self)
        if len(written) == 5:
            raise OSError(28, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing)
    assert build() == 1
    monkeypatch.undo()
    assert len(written) == 5
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site")] == []


def test_invalid_data_publishes_nothing(build, data_file, tmp_path, capsys):
    data_file.write_text(data_file.read_text().replace("duration: 60", "duration: an hour", 1))
    assert build() == 1
    assert "nothing was published" in capsys.readouterr().err
    assert not (tmp_path / "site").exists()


def test_refuses_to_replace_a_directory_it_did_not_write(build, tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.tex").write_text("precious")
    assert build(home) == 1
    assert "not written by `feeds build`" in capsys.readouterr().err
    assert [p.name for p in home.iterdir()] == ["thesis.tex"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert build(empty) == 0 and (empty / "calendar.ics").exists()


def test_a_rebuild_replaces_the_site_and_records_revisions(build, site, data_file):
    assert read_ledger(ledger_path(data_file))["2026-05-11-mehlig"].sequence == 0
    text = data_file.read_text()
    start = text.index("  - id: 2026-05-11-mehlig")
    end = text.index("  - id: ", start + 1)
    data_file.write_text(text[:start] + text[end:])  # the talk is removed
    data_file.write_text(data_file.read_text().replace(
        "Revisiting Glorot Initialization", "Glorot Initialization, Revisited"))
    assert build() == 0
    assert not (site / "talks" / "2026-05-11-mehlig.ics").exists()
    assert not (site / "talks" / "2026-05-11-mehlig.html").exists()
    assert read_ledger(ledger_path(data_file))["2026-06-08-seleznova"].sequence == 1


def test_the_site_is_readable_by_the_web_server(site):
    assert stat.S_IMODE(site.stat().st_mode) & 0o005 == 0o005
    assert stat.S_IMODE((site / "calendar.ics").stat().st_mode) & 0o004
