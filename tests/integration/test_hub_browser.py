"""A hub in a real browser (Debian's Chromium, headless, Playwright): the
hub's page, a tag page and filtered embeds show what they should, with
axe-core finding nothing; embed.js filters by series and tag on another site."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from feeds import create_app

from helpers import ARTIFACTS, ROOT, FakeClock, WsgiServer, chromium, write_hub

AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
#: Before every talk of the generated hub: all are upcoming.
EARLY = datetime(2026, 2, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def hub_site(tmp_path_factory) -> Iterator[str]:
    folder = write_hub(Path(tmp_path_factory.mktemp("hub")) / "hub")
    server = WsgiServer()
    server.app = create_app({"TESTING": True, "TALKS_FILE": str(folder), "SITE_URL": server.url,
                             "CLOCK": FakeClock(EARLY), "CHECK_INTERVAL": 60.0,
                             "BUILD_MODE": "inline",
                             "STATE_DIR": tempfile.mkdtemp(prefix="state-", dir=folder.parent)})
    yield server.url
    server.close()


@pytest.fixture(scope="module")
def host(hub_site) -> Iterator[str]:
    """Another origin whose page shows the hub's talks of one tag with embed.js."""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A host site</title></head>
<body><main><h1>Language talks</h1>
<div data-feeds-embed data-tag="language" data-show="all"></div>
<script async src="{hub_site}/embed.js"></script>
<h2>Theory and Kyoto</h2>
<div data-feeds-embed data-series="theory,kyoto-nlp" data-show="all"></div>
</main></body></html>""".encode()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [page]

    server = WsgiServer(app)
    yield server.url
    server.close()


def open_page(browser: Browser, url: str, **context: Any) -> tuple[Page, list[str]]:
    ctx = browser.new_context(locale="en-US", **context)
    page = ctx.new_page()
    page.clock.set_fixed_time(EARLY)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"error: {error}"))
    page.goto(url)
    return page, problems


def axe_violations(page: Page, framed: bool = False) -> list[dict[str, Any]]:
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    rules = "{'landmark-one-main': {enabled: false}}" if framed else "{}"
    result = page.evaluate(f"axe.run(document, {{resultTypes: ['violations'], rules: {rules}}})")
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]}
            for v in result["violations"]]


@pytest.mark.parametrize("scheme", ("light", "dark"))
def test_the_hub_pages_show_their_talks_and_pass_axe(browser, hub_site, scheme):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: npm ci --prefix tests/browser")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, problems = open_page(browser, hub_site + "/", color_scheme=scheme,
                               timezone_id="America/New_York")
    found: dict[str, Any] = {}
    checks = {
        "/": ["Talks of the Network", "Efficient ML", "Theory Seminar", "Kyoto NLP",
              "machine-learning"],
        "/tags/language/": ["Talks on language", "Kyoto NLP talk 1"],
        "/embed/?series=theory,kyoto-nlp&show=all": ["Theory Seminar talk 1", "Kyoto NLP talk 1"],
        "/embed/?tag=mathematics": ["Theory Seminar talk 1"],
    }
    for path, wanted in checks.items():
        page.goto(hub_site + path)
        page.wait_for_selector("html[data-feeds-ready]", state="attached")
        text = page.locator("body").inner_text()
        for words in wanted:
            assert words in text, (path, words)
        if path.startswith("/embed/"):
            assert "Efficient ML talk" not in text, path
        if path == "/tags/language/":
            assert "Theory Seminar talk" not in page.locator("#upcoming").inner_text()
        name = path.strip("/").replace("/", "-").replace("?", "-").replace("&", "-") or "hub"
        page.screenshot(path=str(ARTIFACTS / f"hub-{name}-{scheme}.png"), full_page=True)
        violations = axe_violations(page, framed=path.startswith("/embed/"))
        if violations:
            found[path] = violations
    assert found == {}, json.dumps(found, indent=1)
    assert problems == []
    page.context.close()


def test_embed_js_filters_the_hub_by_tag_and_series_on_another_site(browser, host):
    page, problems = open_page(browser, host + "/")
    boxes = page.locator("[data-feeds-embed]")
    boxes.nth(0).locator(".fe-title").first.wait_for()
    boxes.nth(1).locator(".fe-title").first.wait_for()
    by_tag = boxes.nth(0).locator(".fe-title").all_inner_texts()
    by_series = boxes.nth(1).locator(".fe-title").all_inner_texts()
    assert by_tag and all(t.startswith("Kyoto NLP talk") for t in by_tag)
    assert by_series and {t.split(" talk")[0] for t in by_series} == {"Theory Seminar", "Kyoto NLP"}
    assert axe_violations(page) == []
    assert problems == []
    page.context.close()
