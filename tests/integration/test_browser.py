"""The pages in a real browser: Debian's Chromium, headless, driven by
Playwright. The app runs on 127.0.0.1 in a thread; a second server on another
port plays a stranger's site that embeds the schedule. Without Chromium these
tests fail: they never skip and never download a browser."""

from __future__ import annotations

import base64
import functools
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page

from feeds import create_app
from feeds.data.loader import load_schedule
from feeds.data.revisions import ledger_path, update_ledger
from feeds.formats import pages
from feeds.model import Schedule
from feeds.urls import Site

from helpers import (
    ARTIFACTS,
    HOSTILE_ID,
    HOSTILE_TITLE,
    NOW,
    ROOT,
    SEED_DATA,
    FakeClock,
    WsgiServer,
    add_hostile_talk,
    add_talk,
    chromium,
)

AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
ZONES = ("America/New_York", "Asia/Tokyo", "Pacific/Auckland", "Europe/Berlin")
LOCALES = ("en-US", "ja-JP", "de-DE")
SERIES_ZONE = ZoneInfo("Europe/Berlin")
# Before both DST switches of March 2026, between them (US on 8 March, EU on
# 29 March), after both (Auckland leaves summer time on 5 April).
DST_TALKS = ("2026-03-02-walter", "2026-03-09-wen", "2026-03-16-jiang-shinnick",
             "2026-03-30-muennighoff", "2026-04-13-fischer")
# Test talks around the October switches (EU on 25 October, US on 1 November;
# Auckland's summer time from 27 September) and the Tokyo example of issue 14.
AUTUMN_TALKS = {"2026-10-19-autumn": "2026-10-19", "2026-10-26-autumn": "2026-10-26",
                "2026-11-02-autumn": "2026-11-02", "2026-12-07-winter": "2026-12-07"}
# Before every talk above: all of them are upcoming.
EARLY = datetime(2026, 2, 20, 12, 0, tzinfo=timezone.utc)
WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


def wait_until_fitted(page: Page, iframe: str, card: Any) -> None:
    """Until the frame is as tall as its card, both measured afresh each time
    (the card grows as its script fills in the visitor's times)."""
    deadline = time.monotonic() + 15
    while True:
        frame_height = page.locator(iframe).evaluate("n => n.getBoundingClientRect().height")
        card_height = card.evaluate("n => n.getBoundingClientRect().height")
        if abs(frame_height - card_height) < 2:
            return
        assert time.monotonic() < deadline, f"the frame is {frame_height} px, its card {card_height} px"
        page.wait_for_timeout(100)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


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


def served_app(data: Path, now: datetime = NOW) -> Iterator[str]:
    """The feeds app over `data`, its SITE_URL being the address it is served on."""
    server = WsgiServer()
    server.app = create_app({"TESTING": True, "TALKS_FILE": str(data), "SITE_URL": server.url,
                             "CLOCK": FakeClock(now), "CHECK_INTERVAL": 60.0,
                             "BUILD_MODE": "inline",
                             "STATE_DIR": tempfile.mkdtemp(prefix="state-", dir=data.parent)})
    yield server.url
    server.close()


@pytest.fixture(scope="module")
def site(data) -> Iterator[str]:
    yield from served_app(data)


@pytest.fixture(scope="module")
def seed_site(tmp_path_factory) -> Iterator[str]:
    """The seed data alone, as people will see it: for the screenshots and axe."""
    target = tmp_path_factory.mktemp("seed") / "talks.yaml"
    shutil.copy(SEED_DATA, target)
    yield from served_app(target)


@pytest.fixture(scope="module")
def early(tmp_path_factory) -> Iterator[tuple[str, Schedule]]:
    """The seed plus the autumn test talks, seen on 20 February: every DST
    talk is still to come."""
    target = tmp_path_factory.mktemp("early") / "talks.yaml"
    shutil.copy(SEED_DATA, target)
    for talk_id, day in AUTUMN_TALKS.items():
        add_talk(target, id=talk_id, date=day, title=f"Test talk on {day}")
    for url in served_app(target, EARLY):
        yield url, load_schedule(target)


def host_page(site: str, theme: str = "") -> bytes:
    """Another site's page with both snippets exactly as offered, text above
    and below, and a dark background when `theme` is dark."""
    snippets = pages.snippets(load_schedule(SEED_DATA).series, Site(site))
    style = "body { background: #111; color: #eee; }" if theme == "dark" else ""
    filler = "<p>" + "Some text of the host site that the embeds must not push around. " * 12 + "</p>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>A host site</title>
<style>{style} body {{ font: 16px/1.5 sans-serif; margin: 1rem; }}</style></head>
<body><main><h1>Our group's page</h1>{filler}
<h2>Talks in a frame</h2>{snippets["iframe"]}
<h2>Talks in the page</h2>{snippets["script"]}
{filler}{filler}</main></body></html>""".encode()


@pytest.fixture(scope="module")
def stranger(site) -> Iterator[str]:
    """Another origin whose page embeds the schedule both ways (the older
    script snippet too), and tries to frame the series page; /host is a
    page with both snippets as the webmasters' page offers them."""
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

    server = WsgiServer()
    server.app = host
    yield server.url
    server.close()


@pytest.fixture(scope="module")
def seed_host(seed_site) -> Iterator[str]:
    """Another origin (loopback, as Chromium's private network rules want)
    with the host page: /light and /dark."""
    bodies = {"/light": host_page(seed_site), "/dark": host_page(seed_site, "dark")}

    def host(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [bodies.get(environ["PATH_INFO"], bodies["/light"])]

    server = WsgiServer()
    server.app = host
    yield server.url
    server.close()


def open_page(browser: Browser, url: str, console: list[str] | None = None,
              now: datetime = NOW, **context: Any) -> tuple[Page, list[str]]:
    """A page in a fresh context at `now`, with every dialog and script error
    recorded (and the console's messages, if asked)."""
    context.setdefault("locale", "en-US")
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    page.clock.set_fixed_time(now)
    problems: list[str] = []
    if console is not None:
        page.on("console", lambda message: console.append(message.text))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("pageerror", lambda error: problems.append(f"error: {error}"))
    page.goto(url)
    return page, problems


def ready(page: Page) -> None:
    """Wait until the page's script has added local times and the rest."""
    page.wait_for_selector("html[data-feeds-ready]", state="attached")


def gmt(local: datetime) -> str:
    """Chromium's fallback zone name: 'GMT+9', 'GMT-4', 'GMT+5:30'."""
    minutes = int(local.utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"GMT{sign}{hours}" + (f":{rest:02d}" if rest else "")


def expected_your_time(start: datetime, zone: str) -> set[str]:
    """What "your time" may read in `zone`, from the tz database: nothing
    where the viewer's clock shows the series' time; else the clock and the
    zone's English name, led by the viewer's date where it differs."""
    local = start.astimezone(ZoneInfo(zone))
    series = start.astimezone(SERIES_ZONE)
    if local.replace(tzinfo=None) == series.replace(tzinfo=None):
        return {""}
    day = f"{local:%a} {local.day} {local:%b}, " if local.date() != series.date() else ""
    names = {local.tzname() or "", gmt(local)}
    return {f"{day}{local:%H:%M} {name}, your time" for name in names}


# --- the viewer's own time -------------------------------------------------------------------

@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("zone", ZONES)
def test_your_time_shows_the_viewers_date_and_zone_across_both_switches(browser, early, zone, locale):
    site, schedule = early
    page, problems = open_page(browser, site + "/", now=EARLY, timezone_id=zone, locale=locale)
    ready(page)
    shown_zones = set()
    for talk_id in (*DST_TALKS, *AUTUMN_TALKS):
        talk = schedule.talk(talk_id)
        shown = page.locator(f'article[id="{talk_id}"] .yourtime').inner_text()
        assert shown in expected_your_time(talk.start, zone), (talk_id, zone, locale, shown)
        if shown:
            shown_zones.add(shown.split(", your time")[0].rsplit(" ", 1)[1])
    if zone == "Europe/Berlin":
        assert shown_zones == set()  # the series' zone: no "your time" at all
    elif zone == "Asia/Tokyo":
        assert len(shown_zones) == 1  # one name for the zone, whatever the locale
        tokyo = page.locator('article[id="2026-12-07-winter"] .yourtime').inner_text()
        assert tokyo.startswith("Tue 8 Dec, 01:00 ")  # the example: the date is there
    assert "MEZ" not in page.locator("main").inner_text()
    assert problems == []
    page.context.close()


def test_your_time_on_a_talk_page_and_in_the_embed(browser, site, schedule):
    talk = schedule.talk(TALK)
    for url in (f"{site}/talks/{talk.id}/", f"{site}/embed/"):
        page, problems = open_page(browser, url, timezone_id="Asia/Tokyo", locale="ja-JP")
        stamp = f"{talk.start.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}"
        slot = page.locator(f'time[datetime="{stamp}"] + .yourtime')
        page.wait_for_function("document.querySelector('.yourtime').textContent !== ''")
        assert slot.inner_text() in expected_your_time(talk.start, "Asia/Tokyo")
        assert problems == []
        page.context.close()


TALK = "2026-04-13-fischer"


@pytest.mark.parametrize("zone", ("Europe/Berlin", "America/New_York"))
def test_the_next_talk_cue_counts_down_then_says_live_now(browser, site, schedule, zone):
    talk = schedule.talk(TALK)
    viewer = ZoneInfo(zone)
    # While it runs, the label says "Live now" (once) and the line under it when it ends.
    end = talk.end.astimezone(viewer)
    until = f"until {end:%H:%M}" + ("" if zone == "Europe/Berlin" else f" {end.tzname()}")
    moments = [(NOW, None), (talk.start - timedelta(hours=2), None),
               (talk.start - timedelta(days=1), None), (talk.start + timedelta(minutes=5), until)]
    for now, fixed in moments:
        page, problems = open_page(browser, site + "/", now=now, timezone_id=zone)
        ready(page)
        shown = page.locator(".next-cue .countdown").inner_text()
        local = talk.start.astimezone(viewer)
        days = (local.date() - now.astimezone(viewer).date()).days
        clock = f"{local:%H:%M}" + ("" if zone == "Europe/Berlin" else f" {local.tzname()}")
        expected = fixed or ("today at " + clock if days == 0 else
                             "tomorrow at " + clock if days == 1 else f"in {days} days")
        assert shown == expected, (now, zone)
        label = page.locator(".next-cue .cue-label").inner_text().lower()
        assert label == ("live now" if fixed else "next talk")
        assert page.locator(".next-cue").inner_text().lower().count("live now") == (1 if fixed else 0)
        assert problems == []
        page.context.close()


# --- past, cancelled and live, told apart on the page -------------------------------------------

def test_past_cancelled_and_live_talks_look_different(browser, tmp_path):
    data = tmp_path / "talks.yaml"
    shutil.copy(SEED_DATA, data)
    add_talk(data, id="2026-04-20-off", date="2026-04-20", title="A cancelled test talk",
             status="cancelled")
    schedule = load_schedule(data)
    live_now = schedule.talk(TALK).start + timedelta(minutes=10)
    for site in served_app(data, live_now):
        page, problems = open_page(browser, site + "/", now=live_now)
        ready(page)
        live = page.locator(f'article[id="{TALK}"]')
        assert live.locator(".status").inner_text().startswith("Live now")
        assert page.locator(".next-cue .cue-label").inner_text().lower() == "live now"
        cancelled = page.locator('article[id="2026-04-20-off"]')
        assert "Cancelled" in cancelled.locator(".status").inner_text()
        style = cancelled.locator(".title").evaluate(
            "n => [getComputedStyle(n).textDecorationLine, getComputedStyle(n).color]")
        upcoming_colour = page.locator('article[id="2026-04-27-pinson"] .title').evaluate(
            "n => getComputedStyle(n).color")
        # Muted, and readable: a badge says it, no line runs through the title.
        assert style[0] == "none" and style[1] != upcoming_colour
        weight = cancelled.locator(".when").evaluate("n => getComputedStyle(n).fontWeight")
        assert int(weight) < 600  # its date is no longer bold
        past = page.locator('li[id="2026-03-30-muennighoff"]')
        sizes = [past.locator(".past-title").evaluate("n => parseFloat(getComputedStyle(n).fontSize)"),
                 page.locator('article[id="2026-04-27-pinson"] .title').evaluate(
                     "n => parseFloat(getComputedStyle(n).fontSize)")]
        assert sizes[0] < sizes[1]  # past cards are compact
        assert past.locator(".yourtime").count() == 0
        page.goto(f"{site}/talks/2026-03-30-muennighoff/")
        assert page.locator(".status").inner_text().startswith("This talk took place on")
        assert problems == []
        page.context.close()


def static_page(body: bytes) -> Callable[..., Any]:
    """A WSGI app that answers every request with the HTML `body`."""

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body]

    return app


def test_a_moved_and_a_postponed_talk_say_so_in_words_and_pass_axe(browser, tmp_path):
    data = tmp_path / "talks.yaml"
    shutil.copy(SEED_DATA, data)
    update_ledger(ledger_path(data), load_schedule(data), NOW)  # what subscribers saw
    text = data.read_text()
    text = text.replace("  - id: 2026-05-11-mehlig\n    date: 2026-05-11\n",
                        '  - id: 2026-05-11-mehlig\n    date: 2026-05-12\n    time: "18:00"\n')
    text = text.replace("  - id: 2026-04-27-pinson\n    date: 2026-04-27\n",
                        "  - id: 2026-04-27-pinson\n    date: 2026-04-27\n    status: postponed\n"
                        "    note: The speaker's flight was cancelled.\n")
    data.write_text(text)
    later = NOW + timedelta(hours=1)
    for site in served_app(data, later):
        page, problems = open_page(browser, f"{site}/talks/2026-05-11-mehlig/", now=later)
        ready(page)
        notice = page.locator("main article .status").first
        assert notice.is_visible()
        assert notice.inner_text() == ("Moved: This talk moved from Mon 11 May to Tue 12 May, "
                                       "18:00 CEST.")
        assert axe_violations(page) == []
        page.goto(f"{site}/talks/2026-04-27-pinson/")
        ready(page)
        assert page.locator("main article .status").first.inner_text() == (
            "Postponed: This talk is postponed; the new date will be announced here.")
        assert page.locator("main article .status-note").inner_text() == (
            "The speaker's flight was cancelled.")
        assert page.locator("#add").count() == 0  # no copy of an old slot to add
        assert axe_violations(page) == []
        page.goto(f"{site}/")
        ready(page)
        for talk_id in ("2026-05-11-mehlig", "2026-04-27-pinson"):
            assert page.locator(f'#upcoming article[id="{talk_id}"] .status').first.is_visible()
        assert axe_violations(page) == []
        page.goto(f"{site}/embed/")
        assert "the new date will be announced here" in page.locator(".fe-notice").first.inner_text()
        assert axe_violations(page, framed=True) == []
        assert problems == []
        page.context.close()
        # the script embed on another site, long after the postponed talk's old slot
        host = WsgiServer()
        host.app = static_page(host_page(site))
        months_later = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
        try:
            page, problems = open_page(browser, host.url + "/", now=months_later)
            scripted = page.locator("[data-feeds-embed]")
            scripted.locator(".fe-title").first.wait_for()
            first = scripted.locator(".fe-talk").first
            assert "Postponed" not in first.inner_text()  # not the talk's title
            items = scripted.locator(".fe-talk").all_inner_texts()
            postponed = [t for t in items if "the new date will be announced here" in t]
            assert len(postponed) == 1 and "fe-upcoming" in scripted.locator(
                ".fe-talk", has_text="the new date will be announced here").get_attribute("class")
            assert problems == []
            page.context.close()
        finally:
            host.close()


# --- embedding on another origin -------------------------------------------------------------------

def test_another_site_embeds_by_iframe_and_by_script_but_cannot_frame_the_home_page(
        browser, site, stranger, schedule):
    console: list[str] = []
    page, problems = open_page(browser, stranger + "/", console, timezone_id="America/New_York")
    chosen = (schedule.upcoming(NOW) + schedule.past(NOW))
    titles = [t.title for t in chosen]

    framed = page.frame_locator("#framed")
    framed.locator(".fe-title").first.wait_for()
    # Hidden spares wait for the talks shown to end before the next build.
    assert framed.locator("li:not([hidden]) .fe-title").all_inner_texts() == titles[:5]
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


LAYOUT_SHIFT = """() => new Promise(resolve => {
  let total = 0;
  new PerformanceObserver(list => {
    for (const entry of list.getEntries()) if (!entry.hadRecentInput) total += entry.value;
  }).observe({type: "layout-shift", buffered: true});
  setTimeout(() => resolve(total), 300);
})"""


@pytest.mark.parametrize("width", WIDTHS)
def test_a_host_page_with_both_embeds_does_not_move_and_loads_each_file_once(
        browser, seed_host, width):
    requests: list[str] = []
    ctx = browser.new_context(viewport=WIDTHS[width], locale="en-US")
    page = ctx.new_page()
    page.clock.set_fixed_time(NOW)
    page.on("request", lambda request: requests.append(request.url))
    page.goto(seed_host + "/light")
    page.locator("[data-feeds-embed] .fe-title").first.wait_for()
    page.locator("iframe").scroll_into_view_if_needed()  # the frame loads lazily
    page.frame_locator("iframe").locator(".fe-title").first.wait_for()
    page.wait_for_timeout(500)
    shift = page.evaluate(LAYOUT_SHIFT)
    print(f"layout shift at {width}: {shift:.4f}")
    assert shift < 0.1
    paths = [urlsplit(url).path for url in requests]
    assert paths.count("/embed.js") == 1
    assert sum(p.startswith("/static/embed") and p.endswith(".css") for p in paths) == 1
    assert sum(p.endswith("talks.json") for p in paths) == 0  # embed.json is enough
    assert sum(p == "/embed.json" for p in paths) == 1
    # The reserved space and the frame's height hold the three talks.
    box = page.locator("[data-feeds-embed]")
    inner = box.evaluate("n => n.shadowRoot.querySelector('.feeds-embed').getBoundingClientRect().height")
    assert inner <= box.evaluate("n => n.getBoundingClientRect().height") + 0.5
    frame = page.frame_locator("iframe").locator("body")
    assert frame.evaluate("n => n.scrollHeight") <= pages.FRAME_HEIGHT
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"host-{width}.png"), full_page=True)
    ctx.close()


def test_embeds_follow_a_dark_host(browser, seed_host):
    ctx = browser.new_context(color_scheme="dark", locale="en-US")
    page = ctx.new_page()
    page.clock.set_fixed_time(NOW)
    page.goto(seed_host + "/dark")
    page.locator("[data-feeds-embed] .fe-title").first.wait_for()
    page.locator("iframe").scroll_into_view_if_needed()
    framed = page.frame_locator("iframe").locator(".feeds-embed")
    framed.wait_for()
    for background in (page.locator("[data-feeds-embed] .feeds-embed").evaluate(
            "n => getComputedStyle(n).backgroundColor"),
            framed.evaluate("n => getComputedStyle(n).backgroundColor")):
        red, green, blue = (int(x) for x in background.strip("rgba()").split(",")[:3])
        assert red + green + blue < 150, background  # dark cards on a dark site
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "host-dark.png"), full_page=True)
    ctx.close()


# --- dark hosts, the season break, between builds ---------------------------------------------

THEMES = ("auto", "light", "dark")

#: Counts the near-white pixels (each channel above 240) of a PNG screenshot,
#: decoded by the browser's own canvas: in all, and below a given row.
NEAR_WHITE = """async ([png, below]) => {
  const image = new Image();
  image.src = "data:image/png;base64," + png;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width; canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, image.width, image.height).data;
  let all = 0, low = 0;
  for (let i = 0; i < pixels.length; i += 4) {
    if (pixels[i] > 240 && pixels[i + 1] > 240 && pixels[i + 2] > 240) {
      all += 1;
      if (Math.floor(i / 4 / image.width) >= below) low += 1;
    }
  }
  return [all, low, image.width * image.height];
}"""


def dark_host_page(site: str, theme: str) -> bytes:
    """A host page that declares `color-scheme: dark`, with both snippets as
    offered, set to `theme`."""
    snippets = pages.snippets(load_schedule(SEED_DATA).series, Site(site))
    iframe = snippets["iframe"].replace("?limit=3", f"?limit=3&amp;theme={theme}")
    script = snippets["script"].replace("data-limit=", f'data-theme="{theme}" data-limit=')
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>A dark host</title>
<style>:root {{ color-scheme: dark; }}
body {{ background: #15171a; color: #ddd; font: 16px/1.5 sans-serif; margin: 1rem; }}</style></head>
<body><main><h1>A dark site</h1><p>Some text above.</p>
<h2>Talks in a frame</h2><div id="framed">{iframe}</div>
<h2>Talks in the page</h2><div id="scripted">{script}</div>
<p>Some text below.</p></main></body></html>""".encode()


@pytest.fixture(scope="module")
def dark_host(seed_site) -> Iterator[str]:
    """Another origin with /auto, /light and /dark: dark_host_page in each theme."""
    bodies = {f"/{theme}": dark_host_page(seed_site, theme) for theme in THEMES}

    def host(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [bodies[environ["PATH_INFO"]]]

    server = WsgiServer()
    server.app = host
    yield server.url
    server.close()


def near_white(page: Page, selector: str, card_bottom: float) -> tuple[int, int, int]:
    """(near-white pixels, those below the card's bottom, all pixels) of the
    element at `selector` in a screenshot."""
    png = page.locator(selector).screenshot()
    below = max(0, int(card_bottom) + 2)
    return page.evaluate(NEAR_WHITE, [base64.b64encode(png).decode(), below])


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("theme", THEMES)
def test_no_white_slab_on_a_dark_host_in_any_theme(browser, dark_host, theme, width):
    """The host declares color-scheme: dark and the visitor is in light mode
    (the case that painted a white slab): the frame is clear around its card
    and fits it; auto and dark show dark cards, light a light card and
    nothing white beyond it."""
    ctx = browser.new_context(viewport=WIDTHS[width], color_scheme="light", locale="en-US")
    page = ctx.new_page()
    page.clock.set_fixed_time(NOW)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{dark_host}/{theme}")
    page.locator("#scripted .fe-title").first.wait_for()
    page.locator("#framed iframe").scroll_into_view_if_needed()
    frame = page.frame_locator("#framed iframe")
    frame.locator(".fe-title").first.wait_for()
    card = frame.locator(".feeds-embed")
    wait_until_fitted(page, "#framed iframe", card)
    page.wait_for_timeout(200)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dark-host-{theme}-{width}.png"), full_page=True)
    frame_card = card.evaluate("n => n.getBoundingClientRect().bottom")
    box_card = page.locator("#scripted [data-feeds-embed]").evaluate(
        "n => n.shadowRoot.querySelector('.feeds-embed').getBoundingClientRect().height")
    for selector, bottom in (("#framed iframe", frame_card), ("#scripted [data-feeds-embed]", box_card)):
        white, below, total = near_white(page, selector, bottom)
        print(f"{theme} {width} {selector}: {white} near-white of {total}, {below} below the card")
        assert below == 0, f"{selector}: white below the card ({theme}, {width})"
        if theme != "light":
            assert white == 0, f"{selector}: {white} near-white pixels ({theme}, {width})"
    assert problems == []
    ctx.close()


YOUR_TIME_LAYOUT = """root => [...root.querySelectorAll('.fe-when')]
  .filter(w => w.querySelector('.yourtime:not(:empty)')).map(w => {
    const slot = w.querySelector('.yourtime'), clock = w.querySelector('time');
    return {ownLine: slot.getBoundingClientRect().top >= clock.getBoundingClientRect().bottom - 1,
            lead: getComputedStyle(slot, '::before').content};
})"""


@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_your_time_never_starts_a_line_with_a_separator(browser, dark_host, width):
    """ "15:00 UTC, your time" has its own line under the talk's time, not
    led by a stray "·" (it wrapped, dot first, on phones and in long dates)."""
    ctx = browser.new_context(viewport=WIDTHS[width], locale="en-US", timezone_id="UTC")
    page = ctx.new_page()
    page.clock.set_fixed_time(NOW)
    page.goto(f"{dark_host}/auto")
    page.locator("#scripted .yourtime:not(:empty)").first.wait_for()
    frame = page.frame_locator("#framed iframe")
    frame.locator(".yourtime:not(:empty)").first.wait_for()
    lines = (frame.locator("body").evaluate(YOUR_TIME_LAYOUT)
             + page.locator("#scripted [data-feeds-embed]").evaluate(
                 f"n => ({YOUR_TIME_LAYOUT})(n.shadowRoot)"))
    assert lines, "no talk shows the visitor's time"
    for line in lines:
        assert line["ownLine"] and line["lead"] in ("none", "normal"), line
    ctx.close()


def test_with_everything_past_both_embeds_show_the_season_break(browser, seed_site, seed_host):
    """The seed seen after its last talk (8 June 2026): no blank hole, the
    last talk, the latest talks and a prompt to subscribe, in both embeds;
    no "your time" on past talks; axe finds nothing."""
    later = LATER
    schedule = load_schedule(SEED_DATA)
    last = schedule.past(later)[0]
    for width in WIDTHS:
        ctx = browser.new_context(viewport=WIDTHS[width], locale="en-US", timezone_id="Asia/Tokyo")
        page = ctx.new_page()
        page.clock.set_fixed_time(later)
        page.goto(seed_host + "/light")
        page.locator("iframe").scroll_into_view_if_needed()
        frame = page.frame_locator("iframe")
        for root in (frame.locator(".feeds-embed"), page.locator("[data-feeds-embed] .feeds-embed")):
            root.locator(".fe-subscribe").wait_for()
            text = root.inner_text()
            assert "No talk is scheduled right now." in text
            assert "The last talk was on Mon 8 June 2026." in text
            assert "latest talks" in text.lower() and last.title in text
            assert "Subscribe to the calendar" in text
            assert root.locator(".yourtime").count() == 0  # a record needs no "your time"
        # No hole: the frame and the script's box fit their cards.
        wait_until_fitted(page, "iframe", frame.locator(".feeds-embed"))
        box = page.locator("[data-feeds-embed]")
        inner = box.evaluate("n => n.shadowRoot.querySelector('.feeds-embed').getBoundingClientRect().height")
        assert box.evaluate("n => n.getBoundingClientRect().height") - inner < 2
        page.screenshot(path=str(ARTIFACTS / f"season-break-host-{width}.png"), full_page=True)
        ctx.close()
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: npm ci --prefix tests/browser")
    for scheme in ("light", "dark"):  # the frame page on its own, the season break shown
        page, problems = open_page(browser, seed_site + "/embed/?limit=3", now=later,
                                   color_scheme=scheme)
        ready(page)
        assert page.locator(".fe-season").is_visible()
        assert axe_violations(page, framed=True) == []
        page.screenshot(path=str(ARTIFACTS / f"season-break-frame-{scheme}.png"), full_page=True)
        assert problems == []
        page.context.close()


def test_the_frame_moves_talks_by_the_visitors_clock_between_builds(browser, seed_site):
    """Built at NOW (five talks ahead), seen during the second talk: the
    first is past, the second live; seen after the last, with a limit of 3
    (the fourth talk a hidden spare): the season break."""
    schedule = load_schedule(SEED_DATA)
    ahead = schedule.upcoming(NOW)
    first, second = ahead[0], ahead[1]
    during = second.start + (second.end - second.start) / 2
    page, problems = open_page(browser, seed_site + "/embed/?limit=6&show=all", now=during)
    ready(page)
    upcoming = page.locator('ol[data-group="upcoming"] > li:not([hidden]) .fe-title a')
    still = [t.title for t in ahead[1:7]]
    assert upcoming.all_inner_texts() == still
    assert "live now" in page.locator('ol[data-group="upcoming"] > li').first.inner_text().lower()
    # The ended talk leads the past ones; the limit of 6 still holds.
    past = page.locator('ol[data-group="past"] > li:not([hidden]) .fe-title a')
    assert past.all_inner_texts() == [t.title for t in [first] + schedule.past(NOW)][:6 - len(still)]
    assert page.locator('ol[data-group="past"] .yourtime').count() == 0
    page.context.close()
    after = ahead[-1].end + timedelta(hours=1)
    page, problems2 = open_page(browser, seed_site + "/embed/?limit=3", now=after)
    ready(page)
    assert page.locator(".fe-season").is_visible()
    assert not page.locator('ol[data-group="upcoming"]').is_visible()
    assert f"The last talk was on {ahead[-1].start:%a} {ahead[-1].start.day}" in \
        page.locator(".fe-last").inner_text()
    latest = page.locator('ol[data-group="latest"] > li:not([hidden]) .fe-title a').all_inner_texts()
    assert latest[0] == ahead[-1].title and len(latest) == 3
    assert problems == [] and problems2 == []
    page.context.close()


#: After the seed's last talk: everything is past.
LATER = datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)
#: Talks of 2025 added to the seed, so that embed.json leaves past talks out.
OLDER = {f"2025-11-{day:02d}-older": f"2025-11-{day:02d}" for day in (3, 10, 17, 24)}


def record_path(paths: list[str], request: Any) -> None:
    paths.append(urlsplit(request.url).path)


def test_a_past_list_loads_embed_all_json_only_when_it_asks_for_more(browser, tmp_path):
    """16 past talks, embed.json holds the 12 most recent: the default list
    (the season break) and a short past list read embed.json alone; a full
    past list loads embed-all.json once and shows every past talk."""
    data = tmp_path / "talks.yaml"
    shutil.copy(SEED_DATA, data)
    for talk_id, day in OLDER.items():
        add_talk(data, id=talk_id, date=day, title=f"Older talk of {day}")
    schedule = load_schedule(data)
    for url in served_app(data, LATER):
        body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host</title></head>
<body><main><h1>Talks</h1>
<div id="default" data-feeds-embed data-limit="3"></div>
<div id="short" data-feeds-embed data-show="past" data-limit="5"></div>
<div id="full" data-feeds-embed data-show="past"></div>
<script async src="{url}/embed.js"></script></main></body></html>""".encode()
        host = WsgiServer()
        host.app = static_page(body)
        requests: list[str] = []
        try:
            ctx = browser.new_context(locale="en-US")
            page = ctx.new_page()
            page.clock.set_fixed_time(LATER)
            page.on("request", functools.partial(record_path, requests))
            page.goto(host.url + "/")
            page.locator("#full .fe-title").first.wait_for()
            page.locator("#default .fe-subscribe").wait_for()
            assert page.locator("#short .fe-title").all_inner_texts() == \
                [t.title for t in schedule.past(LATER)[:5]]
            assert page.locator("#full .fe-title").count() == len(schedule.past(LATER)) == 16
            assert requests.count("/embed.json") == 1 and requests.count("/embed-all.json") == 1
            ctx.close()
        finally:
            host.close()


def test_a_feed_opened_in_the_browser_explains_itself(browser, seed_site):
    for path in ("/rss.xml", "/atom.xml"):
        page, problems = open_page(browser, seed_site + path)
        title = page.locator("channel > title, feed > title").first
        explanation = title.evaluate("n => getComputedStyle(n, '::after').content")
        assert "This is a news feed" in explanation and "feed reader" in explanation
        assert title.evaluate("n => getComputedStyle(n).display") == "block"
        assert page.locator("item > title, entry > title").first.is_visible()
        page.screenshot(path=str(ARTIFACTS / f"feed-{path.strip('/').replace('.', '-')}.png"))
        assert problems == []
        page.context.close()


def test_the_embed_script_leaks_no_globals(browser, site, stranger):
    ctx = browser.new_context()
    ctx.add_init_script("window.__names = Object.getOwnPropertyNames(window);")
    page = ctx.new_page()  # no fake clock here: it would add a global of its own
    for url in (stranger + "/", site + "/"):
        page.goto(url)
        page.wait_for_selector(".fe-title, html[data-feeds-ready]", state="attached")
        page.wait_for_timeout(200)
        leaked = page.evaluate("""() => Object.getOwnPropertyNames(window)
            .filter(name => !window.__names.includes(name) && name !== '__names' && !/^\\d+$/.test(name))""")
        assert leaked == [], (url, leaked)
    ctx.close()


# --- recordings ---------------------------------------------------------------------------------

def blocker(seen: list[str]) -> Callable[[Any], None]:
    """A route handler that records each request and lets none through."""
    def block(route: Any) -> None:
        seen.append(route.request.url)
        route.abort()
    return block


def test_a_video_recording_plays_on_click_and_loads_nothing_before(browser, tmp_path):
    data = tmp_path / "talks.yaml"
    shutil.copy(SEED_DATA, data)
    # A made-up YouTube address: the seed's talks have no recordings.
    add_talk(data, id="2026-03-23-recorded", date="2026-03-23", title="A recorded test talk",
             recording="https://www.youtube.com/watch?v=abcdefghijk")
    for site in served_app(data):
        outside: list[str] = []
        ctx = browser.new_context()
        page = ctx.new_page()

        page.route(lambda url, site=site: not url.startswith(site), blocker(outside))
        page.goto(f"{site}/talks/2026-03-23-recorded/")
        ready(page)
        assert page.locator("a.watch").inner_text() == "▶ Watch the recording"
        page.wait_for_timeout(300)
        assert outside == []  # nothing from the video site before the click
        page.locator("button.play").click()
        frame = page.locator(".player iframe")
        assert frame.get_attribute("src").startswith("https://www.youtube-nocookie.com/embed/abcdefghijk")
        page.wait_for_timeout(300)
        assert outside and all(urlsplit(u).hostname == "www.youtube-nocookie.com" for u in outside)
        ctx.close()


# --- hostile text ---------------------------------------------------------------------------------

def test_hostile_talk_is_shown_as_text_and_runs_no_script(browser, site, stranger):
    checks = [
        (f"{site}/", f'article[id="{HOSTILE_ID}"] h3'),
        (f"{site}/talks/{HOSTILE_ID}/", "h1"),
        (f"{site}/embed/?show=all", f'.fe-title a[href$="{HOSTILE_ID}/"]'),
        (f"{stranger}/", f'#scripted .fe-title a[href$="{HOSTILE_ID}/"]'),
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
    assert frame.locator(f'.fe-title a[href$="{HOSTILE_ID}/"]').inner_text() == HOSTILE_TITLE
    assert problems == []
    frame_page.context.close()


# --- without JavaScript, conveniences -------------------------------------------------------------

def test_the_series_page_is_complete_without_javascript(browser, site, schedule):
    page, _ = open_page(browser, site + "/", java_script_enabled=False)
    shown = page.locator("article").count() + page.locator("li.past-talk").count()
    assert shown == len(schedule.talks)
    assert page.locator("#subscribe a.button").count() == 5
    assert page.locator("button.copy").first.is_hidden()  # nothing that needs a script shows
    assert page.locator(".yourtime:not(:empty)").count() == 0
    assert "17:00–18:00 CEST" in page.locator(f'article[id="{TALK}"] .when').inner_text()
    page.context.close()


def test_copy_button_copies_and_says_so(browser, site):
    page, problems = open_page(browser, site + "/", permissions=["clipboard-read", "clipboard-write"])
    ready(page)
    button = page.locator('button[data-copy="calendar-url"]')
    assert button.inner_text() == "Copy calendar address"
    button.click()
    assert page.evaluate("navigator.clipboard.readText()") == f"{site}/calendar.ics"
    assert button.inner_text() == "Copied"
    page.wait_for_function("document.getElementById('announce').textContent !== ''")
    assert page.locator("#announce").get_attribute("aria-live") == "polite"
    assert page.locator("#announce").inner_text() == "Copied the calendar address."
    assert problems == []
    page.context.close()


def test_without_a_clipboard_the_hint_names_the_macs_keys(browser, site):
    mac = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/126 Safari/537.36")
    for agent, keys in ((mac, "⌘C"), (None, "Ctrl+C")):
        extra = {"user_agent": agent} if agent else {}
        ctx = browser.new_context(**extra)
        ctx.add_init_script("Object.defineProperty(navigator, 'clipboard', {value: undefined});")
        page = ctx.new_page()
        page.goto(site + "/")
        ready(page)
        page.locator('button[data-copy="calendar-url"]').click()
        assert page.locator('button[data-copy="calendar-url"]').inner_text() == f"Press {keys}"
        ctx.close()


# --- axe-core on every page, both themes, both widths ----------------------------------------------

def every_page(site: str) -> dict[str, str]:
    return {"home": "/", "talk": f"/talks/{TALK}/", "past-talk": "/talks/2026-03-30-muennighoff/",
            "embed": "/embed/", "embed-all": "/embed/?show=all", "website": "/on-your-website/",
            "archive": "/archive/2026/",
            "not-found": "/no/such/page"}


def axe_violations(page: Page, framed: bool = False) -> list[dict[str, Any]]:
    """axe-core's violations; for a page made to be framed, without the one
    rule about top-level pages (a framed page has no <main> of its own, so as
    not to add a second one to the host's)."""
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    rules = "{'landmark-one-main': {enabled: false}}" if framed else "{}"
    result = page.evaluate(f"axe.run(document, {{resultTypes: ['violations'], rules: {rules}}})")
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]} for v in result["violations"]]


@pytest.mark.parametrize("scheme", ("light", "dark"))
@pytest.mark.parametrize("width", WIDTHS)
def test_axe_finds_nothing_and_screenshots_every_page(browser, seed_site, seed_host, width, scheme):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: npm ci --prefix tests/browser")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    mobile = width == "phone"
    page, problems = open_page(browser, seed_site + "/", viewport=WIDTHS[width], is_mobile=mobile,
                               has_touch=mobile, color_scheme=scheme,
                               timezone_id="America/New_York")
    found = {}
    for name, path in every_page(seed_site).items():
        page.goto(seed_site + path)
        if name != "not-found":
            ready(page)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}"
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}-{scheme}.png"), full_page=True)
        violations = axe_violations(page, framed=name.startswith("embed"))
        if violations:
            found[path] = violations
    page.goto(f"{seed_host}/{scheme}")
    page.locator("[data-feeds-embed] .fe-title").first.wait_for()
    page.locator("iframe").scroll_into_view_if_needed()
    page.frame_locator("iframe").locator(".fe-title").first.wait_for()
    violations = axe_violations(page)
    if violations:
        found["host"] = violations
    assert found == {}, json.dumps(found, indent=1)
    assert problems == []
    page.context.close()


# --- the visitor's view, round 3: between seasons, between builds, a way in ------------------------

#: The seed as it is on the day of the audit: every talk is past.
TODAY = datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)
LAST_TALK = "2026-06-08-seleznova"


@pytest.fixture(scope="module")
def seed_today(tmp_path_factory) -> Iterator[str]:
    """The seed alone, served on the audit's day, when every talk is past."""
    target = tmp_path_factory.mktemp("today") / "talks.yaml"
    shutil.copy(SEED_DATA, target)
    yield from served_app(target, TODAY)


def overflow(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("scheme", ("light", "dark"))
@pytest.mark.parametrize("width", WIDTHS)
def test_between_seasons_the_home_page_says_when_the_group_meets_and_last_met(
        browser, seed_today, width, scheme):
    mobile = width == "phone"
    page, problems = open_page(browser, seed_today + "/", now=TODAY, viewport=WIDTHS[width],
                               is_mobile=mobile, has_touch=mobile, color_scheme=scheme)
    ready(page)
    season = page.locator("#season-break")
    assert season.is_visible()
    said = season.inner_text()
    # The seed's last six talks: Mondays, two weeks apart, 17:00 in Berlin.
    assert "Every other Monday at 17:00 Berlin time" in said
    last = load_schedule(SEED_DATA).talk(LAST_TALK)
    assert last.title in said and "Mon 8 June 2026" in said
    assert "Subscribe and the next talk will appear in your calendar" in said
    assert season.locator('a[href="#past"]').is_visible()  # the archive
    cue = page.locator(".season-cue")
    assert cue.is_visible() and "every other monday" in cue.inner_text().lower()
    assert page.locator(".next-cue").is_hidden()
    assert page.locator(".zone-note").is_hidden()  # no times listed to explain
    assert overflow(page) <= 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"season-home-{width}-{scheme}.png"), full_page=True)
    page.screenshot(path=str(ARTIFACTS / f"season-home-{width}-{scheme}-top.png"))
    assert axe_violations(page) == []
    page.goto(f"{seed_today}/talks/{LAST_TALK}/")
    ready(page)
    page.screenshot(path=str(ARTIFACTS / f"season-talk-{width}-{scheme}.png"), full_page=True)
    assert page.locator("main a.button").count() == 1  # one primary action
    assert axe_violations(page) == []
    assert problems == []
    page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_the_calendar_address_shows_whole_with_its_copy_button(browser, seed_today, width):
    page, problems = open_page(browser, seed_today + "/", now=TODAY, viewport=WIDTHS[width])
    ready(page)
    address = page.locator("#calendar-url")
    address.scroll_into_view_if_needed()
    assert address.inner_text() == f"{seed_today}/calendar.ics"
    box = address.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDTHS[width]["width"]
    clipped = address.evaluate("n => n.scrollWidth > n.clientWidth || n.scrollHeight > n.clientHeight")
    assert not clipped
    assert box["width"] >= 250  # a readable box, not a 50 px slot
    assert page.locator('button[data-copy="calendar-url"]').is_visible()
    assert problems == []
    page.context.close()


def test_at_200_percent_text_nothing_runs_off_a_phone_and_the_time_line_keeps_its_parts(
        browser, site, seed_today):
    page, problems = open_page(browser, site + "/", viewport=WIDTHS["phone"], is_mobile=True)
    ready(page)
    # The time line wraps between whole parts: "17:00–18:00 CEST" stays on one line.
    for part in page.locator("#upcoming .when .nowrap").all():
        assert part.evaluate("n => n.getClientRects().length") == 1, part.inner_text()
    pages_to_zoom = [site + "/", f"{site}/talks/{TALK}/", f"{seed_today}/",
                     f"{seed_today}/talks/2026-03-30-muennighoff/"]
    for url in pages_to_zoom:
        page.goto(url)
        ready(page)
        page.evaluate("document.documentElement.style.fontSize = '200%'")
        assert overflow(page) <= 0, url
        for part in page.locator(".when .nowrap, .status .nowrap").all():
            assert part.evaluate("n => n.getClientRects().length") == 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "zoom200-talk-phone.png"), full_page=True)
    assert problems == []
    page.context.close()


def test_on_android_the_quick_button_leads_to_the_address_not_to_googles_link(browser, seed_today):
    android = ("Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/140.0 Mobile Safari/537.36")
    for agent in (android, None):
        extra = {"user_agent": agent} if agent else {}
        page, problems = open_page(browser, seed_today + "/", now=TODAY, viewport=WIDTHS["phone"],
                                   **extra)
        ready(page)
        quick = page.locator(".quick-subscribe a.button").first
        if agent:
            assert quick.get_attribute("href") == "#calendar-url"
            assert "copy the calendar address" in quick.inner_text()
        else:
            assert quick.get_attribute("href").startswith("https://calendar.google.com/")
        # The panel's Google button says where it works, on every device.
        google = page.locator("#subscribe a.button", has_text="Google Calendar")
        assert "on Android, open this page in a browser" in google.inner_text()
        assert problems == []
        page.context.close()


class StaticHost:
    """A folder served by Python's own http.server on 127.0.0.1, as a static host would."""

    def __init__(self, root: Path) -> None:
        import functools
        from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0),
                                        functools.partial(Quiet, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.http.shutdown()
        self.thread.join(timeout=5)


def test_a_static_export_moves_talks_on_with_the_visitors_clock(browser, tmp_path):
    from feeds.publish.export import write_site
    from feeds.publish.snapshot import BuildOptions, build_snapshot

    from helpers import revisions_for

    data = tmp_path / "talks.yaml"
    shutil.copy(SEED_DATA, data)
    add_talk(data, id="2026-12-14-first", date="2026-12-14", title="The first talk of the season")
    add_talk(data, id="2026-12-21-off", date="2026-12-21", title="A cancelled talk",
             status="cancelled")
    add_talk(data, id="2027-01-11-second", date="2027-01-11", title="The second talk")
    schedule = load_schedule(data)
    first, second = schedule.talk("2026-12-14-first"), schedule.talk("2027-01-11-second")
    root = tmp_path / "site"
    root.mkdir()
    host = StaticHost(root)
    try:
        # Built once, a week before the first talk, like the daily static build.
        snapshot = build_snapshot(schedule, revisions_for(schedule, TODAY),
                                  BuildOptions(Site(host.url)), TODAY)
        write_site(snapshot, root / "out", 3600)
        base = host.url + "/out"
        moments = {"before": first.start - timedelta(days=2),
                   "during": first.start + timedelta(minutes=20),
                   "after": first.end + timedelta(hours=2),
                   "season over": second.end + timedelta(days=1)}
        for name, now in moments.items():
            page, problems = open_page(browser, base + "/", now=now, timezone_id="Europe/Berlin")
            page.wait_for_selector("html[data-page-ready]", state="attached")
            # A stale page moves its talks on before it is seen: nothing shifts.
            assert page.evaluate(LAYOUT_SHIFT) < 0.01, name
            cue = page.locator(".next-cue")
            upcoming = page.locator("#upcoming article").evaluate_all("ns => ns.map(n => n.id)")
            if name == "before":
                assert cue.locator(".cue-label").inner_text().lower() == "next talk"
                assert cue.locator(".cue-title").inner_text() == first.title
                assert upcoming[0] == first.id
            elif name == "during":
                assert cue.locator(".cue-label").inner_text().lower() == "live now"
                assert cue.inner_text().lower().count("live now") == 1  # said once
                assert page.locator(f'article[id="{first.id}"] .status.live').is_visible()
            elif name == "after":
                # Past: in the archive, and the next talk (not the cancelled one) moved up.
                assert first.id not in upcoming
                assert page.locator(f'#past li[id="{first.id}"]').is_visible()
                assert cue.locator(".cue-label").inner_text().lower() == "next talk"
                assert cue.locator(".cue-title").inner_text() == second.title
                assert upcoming == ["2026-12-21-off", second.id] or upcoming == [second.id]
            else:
                assert upcoming == []
                assert cue.is_hidden() and page.locator(".season-cue").is_visible()
                season = page.locator("#season-break")
                assert season.is_visible() and second.title in season.inner_text()
                assert page.locator(".season-cue .cue-last").inner_text() == "Last talk: Mon 11 January 2027"
                # The archive's count follows: the seed's 12, and the three added talks.
                assert season.locator(".past-count").inner_text() == "15"
                assert page.locator(f'#past li[id="{second.id}"]').is_visible()
            assert axe_violations(page) == [], name
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"clock-{name.replace(' ', '-')}.png"))
            page.goto(f"{base}/talks/{first.id}/")
            page.wait_for_selector("html[data-page-ready]", state="attached")
            status = page.locator("main article .status").first
            if name == "before":
                assert status.count() == 0 or not status.is_visible()
                assert page.locator("#add").is_visible()
                # "Next talk" leads to a cancelled one: it says so.
                assert page.locator(".neighbours .following .badge").inner_text() == "Cancelled"
            elif name == "during":
                assert status.inner_text().startswith("Live now")
            else:
                assert status.inner_text().startswith("This talk took place on")
                assert page.locator("#add").count() == 0
                page.goto(f"{base}/talks/2026-12-21-off/")
                page.wait_for_selector("html[data-page-ready]", state="attached")
                said = page.locator("main article .status").first.inner_text()
                over = now >= schedule.talk("2026-12-21-off").end
                assert said == ("Cancelled: this talk did not take place." if over
                                else "Cancelled: this talk will not take place.")
            assert problems == []
            page.context.close()
    finally:
        host.close()


def test_a_way_in_links_the_address_and_live_now_offers_the_join_page(browser, tmp_path):
    data = tmp_path / "talks.yaml"
    shutil.copy(SEED_DATA, data)
    join = "https://lists.example.org/join/efficient-ml"  # a made-up sign-up page
    text = data.read_text().replace("  time: \"17:00\"\n", f"  time: \"17:00\"\n  join_url: {join}\n", 1)
    data.write_text(text)
    schedule = load_schedule(data)
    live_now = schedule.talk(TALK).start + timedelta(minutes=10)
    for site in served_app(data, live_now):
        page, problems = open_page(browser, site + "/", now=live_now, timezone_id="Asia/Tokyo")
        ready(page)
        cue = page.locator(".next-cue")
        assert cue.inner_text().lower().count("live now") == 1
        assert cue.locator(f'a[href="{join}"]').is_visible()
        live = page.locator(f'article[id="{TALK}"]')
        assert live.locator(f'a.join[href="{join}"]').is_visible()
        mail = live.locator('.how a[href="mailto:efficientml@gmail.com"]')
        assert mail.inner_text() == "efficientml@gmail.com"
        assert axe_violations(page) == []
        # The talk page spells the visitor's zone as its own zone list does.
        page.goto(f"{site}/talks/2026-04-27-pinson/")
        page.wait_for_selector("html[data-page-ready]", state="attached")
        listed = page.locator('.zones li[data-zone="Asia/Tokyo"]').get_attribute("data-abbr")
        assert listed == "JST"
        mine = page.locator(".when .yourtime").inner_text()
        assert mine.endswith(" JST, your time"), mine
        assert "GMT+9" not in page.locator("main").inner_text()
        assert axe_violations(page) == []
        assert problems == []
        page.context.close()


# --- Lighthouse (slow: about two minutes) ------------------------------------------------------------

@pytest.mark.slow
def test_lighthouse_scores_95_or_more_on_every_page_and_form():
    """bench/lighthouse.py: /, a talk page and /embed/, mobile and desktop;
    /embed/'s noindex is the one audit allowed to fail."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "lighthouse.py")],
                          capture_output=True, text=True, timeout=900)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
