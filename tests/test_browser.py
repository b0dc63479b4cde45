"""The pages in a real browser: Debian's Chromium, headless, driven by
Playwright. The app runs on 127.0.0.1 in a thread; a second server on another
port plays a stranger's site that embeds the schedule. Without Chromium these
tests fail: they never skip and never download a browser."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from werkzeug.serving import make_server

from feeds import create_app
from feeds.loader import load_schedule
from feeds.model import Schedule

from helpers import NOW, ROOT, SEED_DATA, FakeClock
from test_pages import HOSTILE_ID, HOSTILE_TITLE, add_hostile_talk

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "tests" / "artifacts"
ZONES = ("America/New_York", "Asia/Tokyo", "Europe/Berlin")
# Before both DST switches of March 2026, between them (US on 8 March, EU on
# 29 March), after both.
DST_TALKS = ("2026-03-02-walter", "2026-03-09-wen", "2026-03-16-jiang-shinnick",
             "2026-03-30-muennighoff", "2026-04-13-fischer")


class Server:
    """A WSGI app served on 127.0.0.1 in a daemon thread."""

    def __init__(self) -> None:
        self.app: Callable[..., Any] | None = None
        self.http = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def _dispatch(self, environ, start_response):
        assert self.app is not None
        return self.app(environ, start_response)

    def close(self) -> None:
        self.http.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (tests never download a browser)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """The seed data plus a hostile talk, in a private folder."""
    target = tmp_path_factory.mktemp("data") / "talks.yaml"
    shutil.copy(SEED_DATA, target)
    add_hostile_talk(target)
    return target


@pytest.fixture(scope="module")
def schedule(data) -> Schedule:
    return load_schedule(data)


def served_app(data: Path) -> Iterator[str]:
    """The feeds app over `data`, its SITE_URL being the address it is served on."""
    server = Server()
    server.app = create_app({"TESTING": True, "TALKS_FILE": str(data), "SITE_URL": server.url,
                             "CLOCK": FakeClock(NOW), "CHECK_INTERVAL": 60.0,
                             "BUILD_MODE": "inline", "STATE_DIR": str(data.parent / "state")})
    yield server.url
    server.close()


@pytest.fixture(scope="module")
def site(data) -> Iterator[str]:
    yield from served_app(data)


@pytest.fixture(scope="module")
def seed_site(tmp_path_factory) -> Iterator[str]:
    """The seed data alone, as people will see it: for the screenshots."""
    target = tmp_path_factory.mktemp("seed") / "talks.yaml"
    shutil.copy(SEED_DATA, target)
    yield from served_app(target)


@pytest.fixture(scope="module")
def stranger(site) -> Iterator[str]:
    """Another origin whose page embeds the schedule both ways, and tries
    to frame the series page."""
    page = f"""<!doctype html>
<html lang="de"><head><meta charset="utf-8"><title>Fremde Seite</title>
<style>p, a, li {{ color: red !important; font-size: 40px; }} .fe-title {{ display: none; }}</style></head>
<body><h1>Someone else's page</h1>
<iframe id="framed" src="{site}/embed?show=all&amp;limit=5" title="talks" width="600" height="700"></iframe>
<div id="scripted"><script src="{site}/embed.js" data-show="all" data-limit="4"></script></div>
<iframe id="home" src="{site}/" title="home" width="600" height="200"></iframe>
</body></html>""".encode()

    def host(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [page]

    server = Server()
    server.app = host
    yield server.url
    server.close()


def open_page(browser: Browser, url: str, console: list[str] | None = None,
              **context: Any) -> tuple[Page, list[str]]:
    """A page in a fresh context at NOW, with every dialog and script error
    recorded (and the console's messages, if asked)."""
    ctx = browser.new_context(locale="en-US", **context)
    page = ctx.new_page()
    page.clock.set_fixed_time(NOW)
    problems: list[str] = []
    if console is not None:
        page.on("console", lambda message: console.append(message.text))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("pageerror", lambda error: problems.append(f"error: {error}"))
    page.goto(url)
    return page, problems


def gmt(local: datetime) -> str:
    """Chromium's fallback zone name: 'GMT+9', 'GMT-4', 'GMT+5:30'."""
    minutes = int(local.utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"GMT{sign}{hours}" + (f":{rest:02d}" if rest else "")


def expected_local(start: datetime, zone: str) -> tuple[str, set[str]]:
    """(prefix and clock, the acceptable zone names) from the tz database."""
    local = start.astimezone(ZoneInfo(zone))
    day = f"{local:%a} " if local.date() != start.date() else ""
    names = {local.tzname() or ""} if zone.startswith("America/") else {local.tzname() or "", gmt(local)}
    return f"{day}{local:%H:%M}", names


# --- local times ----------------------------------------------------------------------------

@pytest.mark.parametrize("zone", ZONES)
def test_local_times_on_the_series_page_follow_the_viewers_zone(browser, site, schedule, zone):
    page, problems = open_page(browser, site + "/", timezone_id=zone)
    page.wait_for_function("document.querySelectorAll('.yourtime:empty').length === 0")
    assert set(DST_TALKS) <= {t.id for t in schedule.talks}
    for talk in schedule.talks:  # DST_TALKS among them
        shown = page.locator(f'article[id="{talk.id}"] .yourtime').inner_text()
        clock, names = expected_local(talk.start, zone)
        assert any(shown == f"{clock} {name} your time" for name in names), (talk.id, shown, clock, names)
    # the same, spelled out where the group's old page was wrong
    ny = {"2026-03-02-walter": "11:00 EST", "2026-03-09-wen": "12:00 EDT",
          "2026-03-16-jiang-shinnick": "12:00 EDT", "2026-03-30-muennighoff": "11:00 EDT"}
    if zone == "America/New_York":
        for talk_id, clock in ny.items():
            assert page.locator(f'article[id="{talk_id}"] .yourtime').inner_text() == f"{clock} your time"
    assert problems == []
    page.context.close()


def test_local_time_on_a_talk_page_and_in_the_embed(browser, site, schedule):
    talk = schedule.talk("2026-03-16-jiang-shinnick")
    clock, names = expected_local(talk.start, "Asia/Tokyo")
    for url in (f"{site}/talks/{talk.id}", f"{site}/embed?show=past"):
        page, problems = open_page(browser, url, timezone_id="Asia/Tokyo")
        slot = page.locator('time[datetime="2026-03-16T16:00:00Z"] + .yourtime')
        slot.wait_for()
        page.wait_for_function("document.querySelector('.yourtime').textContent !== ''")
        assert slot.inner_text() in {f"{clock} {name} your time" for name in names}
        assert problems == []
        page.context.close()


# --- embedding on another origin -------------------------------------------------------------------

def test_another_site_embeds_by_iframe_and_by_script_but_cannot_frame_the_home_page(
        browser, site, stranger, schedule):
    console: list[str] = []
    page, problems = open_page(browser, stranger + "/", console, timezone_id="Europe/Berlin")
    chosen = (schedule.upcoming(NOW) + schedule.past(NOW))
    titles = [t.title for t in chosen]

    framed = page.frame_locator("#framed")
    framed.locator(".fe-title").first.wait_for()
    assert framed.locator(".fe-title").all_inner_texts() == titles[:5]
    framed.locator(".yourtime:not(:empty)").first.wait_for()

    scripted = page.locator("#scripted .fe-title")  # Playwright pierces the open shadow root
    scripted.first.wait_for()
    assert [t.replace("\n", " ") for t in scripted.all_inner_texts()] == titles[:4]
    assert page.locator("#scripted .yourtime:not(:empty)").count() == 4
    # The host's styles stay out of the shadow root (it hides .fe-title and paints p red).
    assert scripted.first.is_visible()
    color = scripted.first.evaluate("node => getComputedStyle(node).color")
    assert color != "rgb(255, 0, 0)"
    # And the widget's styles stay out of the host page.
    assert page.locator("h1").evaluate("node => getComputedStyle(node).fontSize") == "32px"

    home = page.query_selector("#home").content_frame()
    assert home is not None
    page.wait_for_timeout(300)
    assert home.locator("text=Upcoming talks").count() == 0  # blocked by frame-ancestors 'none'
    assert not home.url.startswith(site)
    assert any("frame-ancestors 'none'" in line for line in console), console
    assert problems == []
    page.context.close()


def test_the_embed_script_leaks_no_globals(browser, site, stranger):
    ctx = browser.new_context()
    ctx.add_init_script("window.__names = Object.getOwnPropertyNames(window);")
    page = ctx.new_page()  # no fake clock here: it would add a global of its own
    for url in (stranger + "/", site + "/"):
        page.goto(url)
        page.locator(".fe-title, .yourtime:not(:empty)").first.wait_for()
        leaked = page.evaluate("""() => Object.getOwnPropertyNames(window)
            .filter(name => !window.__names.includes(name) && name !== '__names' && !/^\\d+$/.test(name))""")
        assert leaked == [], (url, leaked)
    ctx.close()


# --- hostile text ---------------------------------------------------------------------------------

def test_hostile_talk_is_shown_as_text_and_runs_no_script(browser, site, stranger):
    checks = [
        (f"{site}/", f'article[id="{HOSTILE_ID}"] h3'),
        (f"{site}/talks/{HOSTILE_ID}", "h1"),
        (f"{site}/embed?show=all", f'.fe-title a[href$="{HOSTILE_ID}"]'),
        (f"{stranger}/", f'#scripted .fe-title a[href$="{HOSTILE_ID}"]'),
    ]
    for url, selector in checks:
        page, problems = open_page(browser, url)
        page.locator(selector).wait_for()
        assert page.locator(selector).inner_text() == HOSTILE_TITLE, url
        page.wait_for_timeout(300)  # give any injected handler (onerror) a chance to fire
        assert problems == [], (url, problems)
        page.context.close()
    frame_page, problems = open_page(browser, f"{stranger}/")
    frame = frame_page.frame_locator("#framed")
    assert frame.locator(f'.fe-title a[href$="{HOSTILE_ID}"]').inner_text() == HOSTILE_TITLE
    assert problems == []
    frame_page.context.close()


# --- without JavaScript, conveniences -------------------------------------------------------------

def test_the_series_page_is_complete_without_javascript(browser, site, schedule):
    page, _ = open_page(browser, site + "/", java_script_enabled=False)
    assert page.locator("article").count() == len(schedule.talks)
    assert page.locator("#subscribe a.button").count() == 4
    assert page.locator("button.copy").first.is_hidden()  # nothing that needs a script shows
    assert page.locator(".yourtime:not(:empty)").count() == 0
    page.context.close()


def test_copy_button_copies_the_calendar_address(browser, site):
    page, problems = open_page(browser, site + "/", permissions=["clipboard-read", "clipboard-write"])
    button = page.locator('button[data-copy="calendar-url"]')
    button.click()
    assert page.evaluate("navigator.clipboard.readText()") == f"{site}/calendar.ics"
    assert button.inner_text() == "Copied"
    assert problems == []
    page.context.close()


# --- screenshots for a person to look at -----------------------------------------------------------

@pytest.mark.parametrize("name, viewport, mobile", [
    ("desktop", {"width": 1280, "height": 900}, False),
    ("phone", {"width": 390, "height": 844}, True),
])
def test_screenshots_of_the_series_page(browser, seed_site, name, viewport, mobile):
    site = seed_site
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page, problems = open_page(browser, site + "/", viewport=viewport, is_mobile=mobile,
                               has_touch=mobile, device_scale_factor=2 if mobile else 1,
                               timezone_id="America/New_York")
    page.wait_for_function("document.querySelectorAll('.yourtime:empty').length === 0")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {viewport['width']}px"
    for path, full in ((ARTIFACTS / f"home-{name}.png", False), (ARTIFACTS / f"home-{name}-full.png", True)):
        page.screenshot(path=str(path), full_page=full)
        assert path.stat().st_size > 10_000
    talk = ARTIFACTS / f"talk-{name}.png"
    page.goto(f"{site}/talks/2026-04-13-fischer")
    page.screenshot(path=str(talk), full_page=True)
    assert problems == []
    page.context.close()
