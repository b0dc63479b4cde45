"""The HTML pages, /embed and /talks.json through the Flask test client, read
back with real parsers: lxml for HTML, json, and icalendar for the feed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, quote, urljoin, urlsplit
from zoneinfo import ZoneInfo

import lxml.html
import pytest
from icalendar import Calendar

from feeds.formats import pages, talk_links

from helpers import (
    HOSTILE_ABSTRACT,
    HOSTILE_ID,
    HOSTILE_TITLE,
    NOW,
    SITE_URL,
    add_hostile_talk,
    add_talk,
    snapshot_for,
    talk_id_of,
)

TALK = "2026-04-13-fischer"
BERLIN = ZoneInfo("Europe/Berlin")
DISPLAY = {"New York": "America/New_York", "Los Angeles": "America/Los_Angeles",
           "Tokyo": "Asia/Tokyo"}


# --- helpers --------------------------------------------------------------------

def page(client, path: str, status: int = 200):
    response = client.get(path)
    assert response.status_code == status, (path, response.data[:200])
    return response, lxml.html.document_fromstring(response.data)


def text(node) -> str:
    return " ".join(node.text_content().split())


def article(doc, talk_id: str):
    found = doc.xpath(f'//article[@id="{talk_id}"]')
    assert len(found) == 1, talk_id
    return found[0]


def expected_clock(start_utc: datetime, zone: str, series_day) -> str:
    """'11:00 EDT', led by the weekday when the day differs from the series'."""
    local = start_utc.astimezone(ZoneInfo(zone))
    clock = f"{local:%H:%M} {local.tzname()}"
    return clock if local.date() == series_day else f"{local:%a} {clock}"


# --- the series page ------------------------------------------------------------------

def test_home_lists_upcoming_in_full_then_past_compact_by_year(client, seed):
    _, doc = page(client, "/")
    upcoming = [a.get("id") for a in doc.xpath('//section[@id="upcoming"]//article')]
    past = [li.get("id") for li in doc.xpath('//section[@id="past"]//li[contains(@class, "past-talk")]')]
    assert upcoming == [t.id for t in seed.upcoming(NOW)]
    assert past == [t.id for t in seed.past(NOW)]
    assert upcoming[0] == TALK and past[0] == "2026-03-30-muennighoff"
    assert set(upcoming) | set(past) == {t.id for t in seed.talks}
    years = [text(h) for h in doc.xpath('//section[@id="past"]//h3')]
    assert years == sorted({str(t.start.year) for t in seed.past(NOW)}, reverse=True)
    # A past talk is a compact line: its day, title, speakers; no abstract, no time row.
    item = doc.xpath('//li[@id="2026-03-30-muennighoff"]')[0]
    talk = seed.talk("2026-03-30-muennighoff")
    assert text(item.xpath('.//p[@class="past-when"]')[0]) == f"Mon {talk.start.day} March 2026"
    assert not item.xpath(".//details | .//*[@class='yourtime']")


def test_home_shows_the_series_contact_and_nominations(client, seed):
    _, doc = page(client, "/")
    series = seed.series
    assert doc.xpath("string(//h1)") == series.title
    assert doc.get("lang") == "en"
    body = text(doc.body)
    assert series.description in body
    assert series.nominations in body
    assert doc.xpath(f'//section[@id="contact"]//a[@href="mailto:{series.contact}"]')


def test_each_upcoming_talk_shows_its_time_range_place_and_how_to_join(client, seed):
    _, doc = page(client, "/")
    assert seed.series.attend  # the seed says how to join
    for talk in seed.upcoming(NOW):
        node = article(doc, talk.id)
        time = node.xpath(".//time")[0]
        assert time.get("datetime") == talk.start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        end = talk.end.astimezone(talk.zone)
        assert time.text_content() == (talk.start.strftime(f"%a {talk.start.day} %B %Y, %H:%M–")
                             + f"{end:%H:%M} {end.tzname()}")
        assert talk.title == text(node.xpath(".//h3")[0])
        for speaker in talk.speakers:
            assert speaker.name in text(node) and speaker.affiliation in text(node)
        for link in talk.links:
            assert node.xpath(".//a[@href=$url]", url=link.url)[0].text == link.label
        if talk.abstract:
            assert " ".join(talk.abstract.split()) in text(node)
        attend = text(node.xpath('.//div[@class="attend"]')[0])
        assert f"Where {talk.location}" in attend
        assert " ".join(seed.series.attend.split()) in attend
    assert text(article(doc, TALK).xpath(".//time")[0]) == "Mon 13 April 2026, 17:00–18:00 CEST"


def test_past_talk_details_are_on_its_page(client, seed):
    talk = seed.talk("2026-02-09-zhang")
    _, doc = page(client, f"/talks/{talk.id}/")
    node = article(doc, talk.id)
    assert doc.xpath('//div[@class="note"]//a/@href') == ["https://arxiv.org/abs/2603.00742"]
    for link in talk.links:
        assert node.xpath(".//a[@href=$url]", url=link.url)[0].text == link.label
    assert " ".join(talk.abstract.split()) in text(node)


@pytest.mark.parametrize("talk_id, new_york", [
    ("2026-04-13-fischer", "11:00 EDT"),
])
def test_new_york_time_on_an_upcoming_talk_page(client, seed, talk_id, new_york):
    talk = seed.talk(talk_id)
    start = talk.start.astimezone(timezone.utc)
    assert new_york == expected_clock(start, "America/New_York", talk.day)  # the table agrees with tzdata
    _, doc = page(client, f"/talks/{talk_id}/")
    assert f"New York {new_york}" in text(doc.xpath('//details[@class="zones"]')[0])


def test_other_zones_are_computed_from_the_tz_database_and_folded_away(client, seed):
    for talk in seed.upcoming(NOW):
        _, doc = page(client, f"/talks/{talk.id}/")
        shown = [text(li) for li in doc.xpath('//details[@class="zones"]//li')]
        start = talk.start.astimezone(timezone.utc)
        expected = [f"{start:%H:%M} UTC"] + [
            f"{label} {expected_clock(start, zone, talk.day)}" for label, zone in DISPLAY.items()]
        assert shown == expected, talk.id
    _, home = page(client, "/")
    assert not home.xpath('//*[contains(@class, "zones")]')  # no fixed row of zones on the list


def test_without_upcoming_talks_the_page_says_so_and_points_to_the_feeds(make_app, clock):
    clock.now = datetime(2026, 9, 1, tzinfo=timezone.utc)
    _, doc = page(make_app().test_client(), "/")
    section = doc.xpath('//section[@id="upcoming"]')[0]
    assert not section.xpath(".//article")
    assert "The next talk will be announced here" in text(section)
    assert "Subscribe and the next talk will appear in your calendar" in text(section)
    hrefs = section.xpath(".//a/@href")
    assert "rss.xml" in hrefs and "atom.xml" in hrefs and "#subscribe" in hrefs
    # The time-zone note speaks of listed talks: none here.
    assert len(section.xpath('.//p[@class="zone-note"][@hidden]')) == 1
    assert len(doc.xpath('//p[contains(@class, "next-cue")][@hidden]')) == 1
    assert not doc.xpath('//div[@id="season-break"]/@hidden')


def test_subscribe_panel_offers_every_app_and_folds_the_help(client):
    _, doc = page(client, "/")
    panel = doc.xpath('//section[@id="subscribe"]')[0]
    hrefs = panel.xpath(".//a/@href")
    webcal = "webcal://talks.example.org/calendar.ics"
    https = f"{SITE_URL}/calendar.ics"
    google = f"https://calendar.google.com/calendar/r?cid={quote(webcal, safe='')}"
    assert google in hrefs
    buttons = {text(a): a.get("href") for a in panel.xpath('.//a[contains(@class, "button")]')}
    assert buttons["Apple Calendar iPhone, iPad, Mac"] == webcal
    # The new Outlook strips webcal:, Outlook for Mac cannot subscribe, and
    # on Android the Calendar app swallows Google's link: the labels say so.
    assert buttons["Outlook for Windows (classic) on a Mac, use Apple Calendar"] == webcal
    assert buttons["Google Calendar on a computer; on Android, open this page in a browser"] == google
    for host in ("https://outlook.live.com", "https://outlook.office.com"):
        link = next(h for h in hrefs if h.startswith(f"{host}/calendar/0/addfromweb?"))
        query = parse_qs(urlsplit(link).query)
        assert query == {"url": [https], "name": ["Efficient ML Reading Group"]}
    android = text(panel.xpath('.//p[contains(., "Android")]')[0])
    assert "Google Calendar" in android
    assert [text(n) for n in panel.xpath('.//*[@id="calendar-url"]')] == [https]
    assert text(panel.xpath('.//button[@data-copy="calendar-url"]')[0]) == "Copy calendar address"
    assert "rss.xml" in hrefs and "atom.xml" in hrefs
    trouble = panel.xpath('.//details[@class="trouble"]')[0]
    assert text(trouble.xpath("summary")[0]) == "Trouble subscribing?"
    assert "every 12 to 24 hours" in text(trouble) and "never updates" in text(trouble)
    guide = trouble.xpath('.//a[contains(., "subscribers’ guide")]/@href')
    assert guide == ["https://github.com/efficient-ml-reading-group/feeds/blob/main/"
                     "docs/subscribers/index.md"]
    # One tap to subscribe near the top, before any talk.
    quick = doc.xpath('//header//p[@class="quick-subscribe"]//a/@href')
    assert google in quick and webcal in quick


def test_next_talk_cue_and_live_now(make_app, clock, seed):
    talk = seed.talk(TALK)
    _, doc = page(make_app().test_client(), "/")
    cue = doc.xpath('//header//p[contains(@class, "next-cue")]')[0]
    assert "Next talk" in text(cue) and talk.title in text(cue)
    # The talk, and how to join it (the seed's attend text, on the talk's page).
    assert cue.xpath('.//a/@href') == [f"talks/{TALK}/", f"talks/{TALK}/#join"]
    assert doc.xpath("/html/@data-stale-after") == [talk.start.astimezone(timezone.utc)
                                                    .strftime("%Y-%m-%dT%H:%M:%SZ")]
    clock.now = talk.start + timedelta(minutes=10)
    client = make_app().test_client()
    _, live = page(client, "/")
    cue = live.xpath('//header//p[contains(@class, "next-cue")]')[0]
    assert "Live now" in text(cue)
    assert "Live now" in text(article(live, TALK).xpath('.//p[contains(@class, "status")]')[0])
    assert live.xpath("/html/@data-stale-after") == [talk.end.astimezone(timezone.utc)
                                                     .strftime("%Y-%m-%dT%H:%M:%SZ")]
    _, own = page(client, f"/talks/{TALK}/")
    assert "Live now" in text(own.xpath("//article")[0])
    assert own.xpath('//*[@id="join"]//a/@href') == ["mailto:efficientml@gmail.com"]
    _, frame = page(client, "/embed/")
    assert "Live now" in text(frame.xpath('//li[contains(@class, "fe-live")]')[0])


def test_the_snapshot_is_rebuilt_when_a_talk_starts_and_when_it_ends(seed):
    talk = seed.talk(TALK)
    assert snapshot_for(seed).valid_until == talk.start
    assert snapshot_for(seed, now=talk.start).valid_until == talk.end


def test_webmaster_page_offers_the_embed_snippets_ready_to_copy(client):
    _, home = page(client, "/")
    assert not home.xpath('//pre[@id="snippet-iframe"]')  # not on the series page
    assert home.xpath('//footer//a[@href="on-your-website/"]')
    _, doc = page(client, "/on-your-website/")
    iframe = doc.xpath('string(//pre[@id="snippet-iframe"])')
    script = doc.xpath('string(//pre[@id="snippet-script"])')
    frame, fitter = lxml.html.fragments_fromstring(iframe)
    # The final address (no redirect); the script fits the frame to its list.
    assert frame.tag == "iframe" and frame.get("src") == f"{SITE_URL}/embed/?limit=3"
    assert frame.get("data-feeds-frame") is not None
    assert fitter.tag == "script" and fitter.get("src") == f"{SITE_URL}/embed.js"
    assert fitter.get("async") is not None
    assert int(frame.get("height")) >= 567  # what three talks need on a phone, without the script
    box, tag = lxml.html.fragments_fromstring(script)
    assert box.tag == "div" and box.get("data-limit") == "3" and "min-height" in box.get("style")
    assert tag.tag == "script" and tag.get("src") == f"{SITE_URL}/embed.js"
    assert tag.get("async") is not None
    assert text(doc.xpath('//button[@data-copy="snippet-iframe"]')[0]) == "Copy frame snippet"
    assert text(doc.xpath('//button[@data-copy="snippet-script"]')[0]) == "Copy script snippet"


# --- talk pages --------------------------------------------------------------------------

def test_talk_page_has_add_to_calendar_links(client, seed):
    talk = seed.talk(TALK)
    _, doc = page(client, f"/talks/{TALK}/")
    assert text(doc.xpath("//h1")[0]) == talk.title
    hrefs = doc.xpath('//section[@id="add"]//a/@href')
    assert f"{SITE_URL}/talks/{TALK}.ics" in hrefs
    google = parse_qs(urlsplit(next(h for h in hrefs if "calendar.google.com" in h)).query)
    assert google["action"] == ["TEMPLATE"]
    assert google["dates"] == ["20260413T150000Z/20260413T160000Z"]
    assert google["ctz"] == ["Europe/Berlin"]
    assert google["text"][0].startswith(talk.title)
    assert f"{SITE_URL}/talks/{TALK}" in google["details"][0]
    assert "Contact us for questions" in google["details"][0]  # the attend text goes along
    for host in ("outlook.live.com", "outlook.office.com"):
        link = urlsplit(next(h for h in hrefs if host in h))
        query = parse_qs(link.query)
        assert link.path == "/calendar/0/deeplink/compose"
        assert query["rru"] == ["addevent"]
        assert query["startdt"] == ["2026-04-13T15:00:00Z"]
        assert query["enddt"] == ["2026-04-13T16:00:00Z"]
        assert query["subject"][0].startswith(talk.title)
    assert "never updates" in text(doc.xpath('//section[@id="add"]')[0])


def test_every_talk_page_links_its_neighbours_and_offers_to_subscribe(client, seed):
    talks = list(seed.talks)
    for i, talk in enumerate(talks):
        _, doc = page(client, f"/talks/{talk.id}/")
        nav = doc.xpath('//nav[@class="neighbours"]')[0]
        previous = nav.xpath('.//a[@rel="prev"]/@href')
        following = nav.xpath('.//a[@rel="next"]/@href')
        assert previous == ([f"../../talks/{talks[i - 1].id}/"] if i else [])
        assert following == ([f"../../talks/{talks[i + 1].id}/"] if i + 1 < len(talks) else [])
        assert "../../" in nav.xpath(".//a/@href")
        prompt = doc.xpath('//section[contains(@class, "subscribe-prompt")]')[0]
        assert "webcal://talks.example.org/calendar.ics" in prompt.xpath(".//a/@href")


def test_past_talk_page_says_it_took_place(client, seed):
    talk = seed.talk("2026-03-30-muennighoff")
    _, doc = page(client, f"/talks/{talk.id}/")
    status = text(doc.xpath('//p[contains(@class, "status")]')[0])
    assert status == "This talk took place on Mon 30 March 2026, 17:00–18:00 CEST."
    assert not doc.xpath('//section[@id="add"]') and not doc.xpath('//*[@class="attend"]')


def test_talk_page_carries_json_ld_event_and_sharing_tags(client, seed):
    talk = seed.talk("2026-05-25-iofinova-jovanovic")
    _, doc = page(client, f"/talks/{talk.id}/")
    (raw,) = doc.xpath('//script[@type="application/ld+json"]/text()')
    event = json.loads(raw)
    assert event["@context"] == "https://schema.org" and event["@type"] == "Event"
    assert event["name"] == talk.title
    assert datetime.fromisoformat(event["startDate"]) == talk.start
    assert datetime.fromisoformat(event["endDate"]) == talk.end
    assert event["eventAttendanceMode"] == "https://schema.org/OnlineEventAttendanceMode"
    assert event["eventStatus"] == "https://schema.org/EventScheduled"
    assert [p["name"] for p in event["performer"]] == [s.name for s in talk.speakers]
    assert event["performer"][0]["affiliation"]["name"] == talk.speakers[0].affiliation
    assert event["url"] == f"{SITE_URL}/talks/{talk.id}/"
    assert event["location"]["@type"] == "VirtualLocation"
    og = {m.get("property"): m.get("content") for m in doc.xpath("//meta[@property]")}
    assert og["og:title"] == talk.title
    assert og["og:url"] == f"{SITE_URL}/talks/{talk.id}/"
    assert doc.xpath('string(//link[@rel="canonical"]/@href)') == og["og:url"]
    assert og["og:type"] == "article" and og["og:site_name"] == "Efficient ML Reading Group"
    for speaker in talk.speakers:
        assert speaker.name in og["og:description"]
    assert "Mon 25 May 2026, 17:00–18:00 CEST" in og["og:description"]  # the series zone
    twitter = {m.get("name"): m.get("content") for m in doc.xpath("//meta[starts-with(@name, 'twitter:')]")}
    assert twitter == {"twitter:card": "summary", "twitter:title": talk.title,
                       "twitter:description": og["og:description"]}


def test_cancelled_talk_is_marked_and_offers_no_calendar_copy(make_app, data_file):
    add_talk(data_file, id="2026-04-20-off", date="2026-04-20", title="Gone", status="cancelled")
    client = make_app().test_client()
    _, home = page(client, "/")
    node = article(home, "2026-04-20-off")
    assert "is-cancelled" in node.get("class") and "Cancelled" in text(node)
    assert not node.xpath('.//*[@class="attend"]')  # nothing to attend
    _, doc = page(client, "/talks/2026-04-20-off/")
    assert "Cancelled" in text(doc.xpath("//article")[0])
    assert not doc.xpath('//section[@id="add"]')
    assert json.loads(doc.xpath('//script[@type="application/ld+json"]/text()')[0])["eventStatus"] \
        == "https://schema.org/EventCancelled"
    _, embed = page(client, "/embed/")
    assert "Cancelled" in text(embed.xpath('//li[contains(@class, "fe-cancelled")]')[0])
    record = next(t for t in client.get("/talks.json").get_json()["talks"] if t["id"] == "2026-04-20-off")
    assert record["status"] == "cancelled"


def test_recording_comes_first_once_it_exists(make_app, data_file):
    add_talk(data_file, id="2026-03-23-recorded", date="2026-03-23", title="Recorded",
             recording="https://video.example.org/watch?v=1&t=2")  # a made-up address
    client = make_app().test_client()
    _, doc = page(client, "/")
    link = doc.xpath('//li[@id="2026-03-23-recorded"]//p[@class="past-recording"]/a')[0]
    assert link.get("href") == "https://video.example.org/watch?v=1&t=2"
    assert "Watch the recording" in text(link)
    assert not doc.xpath('//li[@id="2026-03-30-muennighoff"]//p[@class="past-recording"]')
    _, own = page(client, "/talks/2026-03-23-recorded/")
    first = own.xpath('//article//a[contains(@class, "watch")]')[0]
    assert text(first) == "▶ Watch the recording"
    assert not own.xpath('//*[@data-player]')  # not a video site we know: a link only


@pytest.mark.parametrize("recording, player", [  # made-up video addresses
    ("https://www.youtube.com/watch?v=abcdefghijk&t=5", "https://www.youtube-nocookie.com/embed/abcdefghijk?autoplay=1"),
    ("https://youtu.be/abcdefghijk", "https://www.youtube-nocookie.com/embed/abcdefghijk?autoplay=1"),
    ("https://vimeo.com/123456", "https://player.vimeo.com/video/123456?dnt=1&autoplay=1"),
    ("https://example.org/video.mp4", ""),
    ("https://www.youtube.com/watch?v=bad", ""),
])
def test_players_use_the_privacy_enhanced_addresses(recording, player):
    assert talk_links.player_url(recording) == player


def test_unknown_talk_gets_the_friendly_404_page(client):
    for path in ("/talks/no-such-talk", "/talks/no-such-talk/", "/no/such/page",
                 "/talks/no-such-talk.ics", "/talks/no-such-talk.html"):
        response, doc = page(client, path, status=404)
        assert response.mimetype == "text/html"
        assert "Page not found" in text(doc.xpath("//h1")[0])
        assert f"{SITE_URL}/" in doc.xpath("//main//a/@href")  # sent at any address: absolute
        assert doc.xpath("//head/style") and not doc.xpath('//link[@rel="stylesheet"]')
        assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
        assert response.headers["Cache-Control"] == "no-cache"
    snapshot = client.application.extensions["feeds"].current()
    assert "/404" not in snapshot.routes  # not a page of its own


@pytest.mark.parametrize("old, new", [
    (f"/talks/{TALK}", f"/talks/{TALK}/"), (f"/talks/{TALK}.html", f"/talks/{TALK}/"),
    ("/embed", "/embed/"), ("/embed.html", "/embed/"), ("/embed?limit=2", "/embed/?limit=2"),
    ("/index.html", "/"),
])
def test_older_addresses_redirect_to_the_page(client, old, new):
    response = client.get(old)
    assert response.status_code in (301, 308)
    followed = urljoin(SITE_URL + old, response.headers["Location"])  # as browsers do
    assert followed == SITE_URL + new
    assert client.get(followed).status_code == 200


def test_redirects_stay_within_a_path_prefix(make_app):
    app = make_app(PROXY_FIX=1)
    response = app.test_client().get(f"/talks/{TALK}", headers={"X-Forwarded-Prefix": "/group"})
    asked = f"https://example.org/group/talks/{TALK}"
    assert urlsplit(urljoin(asked, response.headers["Location"])).path == f"/group/talks/{TALK}/"


# --- every page's head, and headers ------------------------------------------------------

@pytest.mark.parametrize("path, status, up", [
    ("/", 200, ""), (f"/talks/{TALK}/", 200, "../../"), ("/embed/", 200, "../"),
    ("/embed/?show=past&theme=dark", 200, "../"), ("/on-your-website/", 200, "../")])
def test_every_page_links_the_feeds_and_its_assets_relatively(client, path, status, up):
    _, doc = page(client, path, status)
    alternates = {link.get("type"): link.get("href") for link in doc.xpath('//head/link[@rel="alternate"]')}
    assert alternates["application/rss+xml"] == f"{up}rss.xml"
    assert alternates["application/atom+xml"] == f"{up}atom.xml"
    assert alternates["text/calendar"] == f"{up}calendar.ics"
    for url in doc.xpath('//link[@rel="stylesheet"]/@href | //script/@src'):
        assert url.startswith(f"{up}static/")
    assert doc.xpath("string(/html/@lang)") == "en"
    assert doc.xpath('//head/meta[@name="viewport"]')


def test_the_404_page_links_the_feeds_absolutely(client):
    _, doc = page(client, "/nope", 404)
    alternates = {link.get("type"): link.get("href") for link in doc.xpath('//head/link[@rel="alternate"]')}
    assert alternates["application/rss+xml"] == f"{SITE_URL}/rss.xml"


def test_only_the_embed_may_be_framed_and_only_feeds_are_shared(client):
    for path in ("/", f"/talks/{TALK}/", "/on-your-website/"):
        assert client.get(path).headers["Content-Security-Policy"] == "frame-ancestors 'none'"
        assert "Access-Control-Allow-Origin" not in client.get(path).headers
    for path in ("/embed/", "/embed/?limit=2&theme=dark"):
        assert "Content-Security-Policy" not in client.get(path).headers
    for path in ("/talks.json", "/embed.json"):
        response = client.get(path)
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.mimetype == "application/json"


def test_static_files_are_fingerprinted_and_immutable(client):
    _, doc = page(client, "/")
    assets = doc.xpath('//link[@rel="stylesheet"]/@href') + doc.xpath("//script/@src")
    assert len(assets) == 3  # style.css, embed.js (local times, copy) and page.js (the clock)
    _, website = page(client, "/on-your-website/")
    assert len(website.xpath("//script/@src")) == 1  # no talks there to move on
    for url in assets:
        response = client.get("/" + url)
        assert response.status_code == 200 and response.data
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        name = url.rsplit("/", 1)[1]
        plain = client.get("/static/" + name.split(".")[0] + "." + name.rsplit(".", 1)[1])
        assert plain.data == response.data  # the same file, under its plain name too
        assert "immutable" not in plain.headers["Cache-Control"]
    script = client.get("/embed.js")
    assert script.mimetype == "text/javascript"
    assert script.data == client.get("/static/embed.js").data
    assert "immutable" not in script.headers["Cache-Control"]  # other sites' snippets name it
    assert client.get("/static/style.css").mimetype == "text/css"


# --- /embed ------------------------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "show=soon", "show=", "limit=0", "limit=-1", "limit=abc", "limit=1.5", "limit=",
    "limit=1001", "limit=%EF%BC%93", "theme=blue", "show=all&show=past", "colour=red",
    "limit=99999999999999999999999",
])
def test_embed_rejects_bad_parameters_with_400(client, query):
    response = client.get(f"/embed/?{query}")
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.data.strip()


def test_embed_shows_upcoming_past_or_all_with_a_limit(client, seed):
    def shown(query: str) -> list[str]:
        _, doc = page(client, f"/embed/?{query}")
        shown = doc.xpath('//ol[@data-group="upcoming" or @data-group="past"]'
                          '/li[not(@hidden)]//p[@class="fe-title"]/a')
        return [a.get("href").split("/")[-2] for a in shown]

    upcoming = [t.id for t in seed.upcoming(NOW)]
    past = [t.id for t in seed.past(NOW)]
    assert shown("") == upcoming
    assert shown("show=upcoming&limit=2") == upcoming[:2]
    assert shown("show=past") == past
    assert shown("show=past&limit=1") == past[:1]
    assert shown("show=all") == upcoming + past
    assert shown("show=all&limit=7") == (upcoming + past)[:7]
    _, dark = page(client, "/embed/?theme=dark")
    assert dark.xpath('string(//*[@class="feeds-embed"]/@data-theme)') == "dark"
    assert dark.xpath('string(//base/@target)') == "_blank"
    _, auto = page(client, "/embed/")
    assert auto.xpath('string(//*[@class="feeds-embed"]/@data-theme)') == "auto"


def test_embed_has_a_heading_no_main_and_is_not_indexed(client, seed):
    _, doc = page(client, "/embed/")
    assert text(doc.xpath("//h1")[0]) == f"{seed.series.title}: upcoming talks"
    assert not doc.xpath("//main")
    assert doc.xpath('string(//meta[@name="robots"]/@content)') == "noindex"
    assert doc.xpath('string(//meta[@name="description"]/@content)')
    # Inline: the frame loads nothing more, so a host page that also uses
    # embed.js loads the script and its styles once.
    assert not doc.xpath("//script/@src | //link[@rel='stylesheet']")
    assert doc.xpath("string(//style)") == pages.static_files()["embed.css"].decode()
    assert doc.xpath("string(//script)") == pages.static_files()["embed.js"].decode()
    for talk in seed.upcoming(NOW):
        item = doc.xpath(f'//li[.//a[contains(@href, "{talk.id}")]]')[0]
        assert "17:00–18:00 CEST" in text(item) and talk.location in text(item)
        assert " ".join(seed.series.attend.split()) in text(item)


def test_embed_json_carries_what_the_script_shows_and_no_more(client, seed):
    small = client.get("/embed.json")
    full = client.get("/talks.json")
    document = small.get_json()
    assert document["series"] == {"title": seed.series.title, "url": f"{SITE_URL}/",
                                  "attend": seed.series.attend,
                                  # the group's page: every other Monday at 17:00 Berlin time
                                  "rhythm": "Every other Monday at 17:00 Berlin time"}
    assert [t["title"] for t in document["talks"]] == [t.title for t in seed.talks]
    assert document["left_out"] == {"upcoming": 0, "past": 0}  # the seed is small: all of it
    for record in document["talks"]:
        assert set(record) - {"notice", "recording"} == {
            "title", "status", "start", "end", "timezone", "when", "location", "byline", "url",
            "previous_starts"}
    assert len(small.data) * 2 < len(full.data)  # no abstracts


def test_embed_variants_are_rendered_once_per_snapshot(client):
    snapshot = client.application.extensions["feeds"].current()
    options = pages.EmbedOptions(show="past", limit=2, theme="dark")
    first = client.get("/embed/?show=past&limit=2&theme=dark")
    assert snapshot.embed(options) is snapshot.embed(options)
    assert first.headers["ETag"] == f'"{snapshot.embed(options).etag}"'
    assert client.get("/embed/").data == snapshot.routes["/embed/"].body
    assert snapshot.embed(pages.EmbedOptions()) is snapshot.routes["/embed/"]


def test_pages_render_without_a_request_context(seed):
    snapshot = snapshot_for(seed)  # no app, no request: as the static export runs
    assert b"Efficient ML Reading Group" in snapshot.routes["/"].body
    assert pages.home(seed, pages.urls.Site(SITE_URL), NOW) == snapshot.routes["/"].body


# --- hostile text -------------------------------------------------------------------------------

def test_hostile_talk_shows_as_text_everywhere(make_app, data_file):
    add_hostile_talk(data_file)
    client = make_app().test_client()
    for path in ("/", f"/talks/{HOSTILE_ID}/", "/embed/", "/embed/?show=all&theme=dark"):
        response, doc = page(client, path)
        assert b"<script>alert" not in response.data, path
        assert b"<img src=x" not in response.data and b"<b>bold" not in response.data, path
        assert not doc.xpath("//b | //img | //i"), path
        assert not doc.xpath('//a[starts-with(@href, "javascript:")]'), path
        titles = [text(a) for a in doc.xpath(f'//a[contains(@href, "{HOSTILE_ID}")]')] + \
            [text(h) for h in doc.xpath("//h1")]
        assert HOSTILE_TITLE in titles, path
        scripts = doc.xpath("//script[not(@type)]")
        inline = pages.static_files()["embed.js"].decode()
        assert all(s.get("src") and not (s.text or "").strip() or s.text == inline
                   for s in scripts), path
    _, home = page(client, "/")
    assert HOSTILE_ABSTRACT in home.xpath(f'string(//article[@id="{HOSTILE_ID}"]//details)')
    _, talk = page(client, f"/talks/{HOSTILE_ID}/")
    assert HOSTILE_ABSTRACT in text(talk.xpath('//section[@class="abstract"]')[0])
    assert 'Eve "<i>" & Co' in text(talk.xpath('//ul[@class="speakers"]')[0])
    event = json.loads(talk.xpath('//script[@type="application/ld+json"]/text()')[0])
    assert event["name"] == HOSTILE_TITLE and event["description"] == HOSTILE_ABSTRACT
    assert talk.xpath('string(//title)').startswith(HOSTILE_TITLE)
    assert talk.xpath('string(//meta[@property="og:title"]/@content)').startswith(HOSTILE_TITLE)
    note = talk.xpath('//div[@class="note"]')[0]
    assert note.xpath(".//a/@href") == ["https://example.org/?a=1&b=2"]  # the real address only
    record = next(t for t in client.get("/talks.json").get_json()["talks"] if t["id"] == HOSTILE_ID)
    assert record["title"] == HOSTILE_TITLE and record["abstract"] == HOSTILE_ABSTRACT


# --- /talks.json -----------------------------------------------------------------------------------

def test_json_carries_every_field_of_every_talk(client, seed):
    document = client.get("/talks.json").get_json()
    assert document["series"]["title"] == seed.series.title
    assert document["series"]["calendar"] == f"{SITE_URL}/calendar.ics"
    assert document["series"]["webcal"] == "webcal://talks.example.org/calendar.ics"
    assert document["series"]["timezone"] == "Europe/Berlin"
    assert document["series"]["attend"] == seed.series.attend
    assert [t["id"] for t in document["talks"]] == [t.id for t in seed.talks]
    for record, talk in zip(document["talks"], seed.talks, strict=False):
        assert set(record) == {"id", "title", "status", "start", "end", "start_local", "timezone",
                               "when", "when_range", "duration_minutes", "location", "speakers", "byline",
                               "abstract", "links", "recording", "note", "url", "ics",
                               "previous_starts", "notice"}
        assert record["title"] == talk.title and record["status"] == talk.status
        assert record["start"].endswith("Z") and record["end"].endswith("Z")
        assert record["timezone"] == talk.zone.key
        assert datetime.fromisoformat(record["start_local"]) == talk.start
        assert datetime.fromisoformat(record["start_local"]).utcoffset() == talk.start.utcoffset()
        assert record["duration_minutes"] == 60
        end = talk.end.astimezone(talk.zone)
        assert record["when_range"].endswith(f"{talk.start:%H:%M}–{end:%H:%M} {end.tzname()}")
        assert [s["name"] for s in record["speakers"]] == [s.name for s in talk.speakers]
        assert record["links"] == [{"label": k.label, "url": k.url} for k in talk.links]
        assert record["abstract"] == (talk.abstract or None)
        assert record["recording"] is None
        assert record["url"] == f"{SITE_URL}/talks/{talk.id}"
        assert record["ics"] == f"{SITE_URL}/talks/{talk.id}.ics"
        assert client.get(urlsplit(record["ics"]).path).status_code == 200


def test_json_instants_equal_the_calendar_feed(make_app, data_file):
    add_hostile_talk(data_file)
    client = make_app().test_client()
    calendar = Calendar.from_ical(client.get("/calendar.ics").data)
    feed = {talk_id_of(event): (event.decoded("DTSTART"), event.decoded("DTEND"))
            for event in calendar.walk("VEVENT")}
    records = client.get("/talks.json").get_json()["talks"]
    assert {r["id"] for r in records} == set(feed)
    for record in records:
        start, end = feed[record["id"]]
        assert datetime.fromisoformat(record["start"].replace("Z", "+00:00")) == start, record["id"]
        assert datetime.fromisoformat(record["end"].replace("Z", "+00:00")) == end, record["id"]
        assert datetime.fromisoformat(record["start_local"]) == start
        assert datetime.fromisoformat(record["start_local"]).utcoffset() == start.utcoffset()


def test_json_is_valid_utf8_and_readable_from_any_origin(client):
    response = client.get("/talks.json", headers={"Origin": "https://elsewhere.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    document = json.loads(response.data.decode("utf-8"))
    assert "—" in document["series"]["description"]  # not \u2014-escaped, still valid
    assert response.data.endswith(b"\n")


def test_talk_pages_follow_the_clock(make_app, clock):
    """Past talks lose their "add to calendar" links once the snapshot moves on."""
    client = make_app().test_client()
    _, before = page(client, f"/talks/{TALK}/")
    assert before.xpath('//section[@id="add"]')
    clock.now = NOW + timedelta(days=30)
    _, after = page(client, f"/talks/{TALK}/")
    assert not after.xpath('//section[@id="add"]')


# --- a way in -------------------------------------------------------------------------------------

def test_addresses_in_attend_note_and_nominations_are_links(make_app, data_file, clock):
    nominations = "    welcome: write to talks@example.org or see https://example.org/propose.\n"
    data_file.write_text(data_file.read_text().replace("    welcome.\n", nominations, 1))
    add_talk(data_file, id="2026-04-20-noted", date="2026-04-20", title="A noted talk",
             note="Slides from ada@example.org <b>soon</b>.")
    _, doc = page(make_app().test_client(), "/")
    how = article(doc, TALK).xpath('.//div[@class="how"]')[0]
    assert how.xpath(".//a/@href") == ["mailto:efficientml@gmail.com"]
    assert text(how.xpath(".//a")[0]) == "efficientml@gmail.com"
    note = article(doc, "2026-04-20-noted").xpath('.//div[@class="note"]')[0]
    assert note.xpath(".//a/@href") == ["mailto:ada@example.org"]
    assert not note.xpath(".//b") and "<b>soon</b>" in text(note)  # still text, not markup
    nominations = doc.xpath('//div[@class="nominations"]')[0]
    assert nominations.xpath(".//a/@href") == ["mailto:talks@example.org", "https://example.org/propose"]


def test_a_join_url_gives_upcoming_and_live_talks_a_way_in_and_past_ones_none(
        make_app, data_file, clock, seed):
    join = "https://lists.example.org/join"  # a made-up sign-up page
    data_file.write_text(data_file.read_text().replace(
        '  time: "17:00"\n', f'  time: "17:00"\n  join_url: {join}\n', 1))
    clock.now = seed.talk(TALK).start + timedelta(minutes=5)  # live
    client = make_app().test_client()
    _, doc = page(client, "/")
    for talk in seed.upcoming(clock.now):
        assert article(doc, talk.id).xpath(".//a[contains(@class, 'join')]/@href") == [join]
    assert doc.xpath('//p[contains(@class, "next-cue")]//a[@class="cue-join"]/@href') == [join]
    cue = text(doc.xpath('//p[contains(@class, "next-cue")]')[0])
    assert cue.lower().count("live now") == 1
    _, past = page(client, "/talks/2026-03-30-muennighoff/")
    assert join not in lxml.html.tostring(past).decode()
    _, own = page(client, f"/talks/{TALK}/")
    assert own.xpath('//article//a[contains(@class, "join")]/@href') == [join]


def test_the_season_break_names_the_latest_recordings(make_app, data_file, clock):
    clock.now = datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)
    add_talk(data_file, id="2026-06-22-recorded", date="2026-06-22", title="A recorded talk",
             recording="https://www.youtube.com/watch?v=abcdefghijk")  # a made-up recording
    _, doc = page(make_app().test_client(), "/")
    season = doc.xpath('//div[@id="season-break"]')[0]
    assert season.xpath('.//ul[@class="season-recordings"]//a/@href') == [
        "https://www.youtube.com/watch?v=abcdefghijk"]
    assert "A recorded talk" in text(season.xpath('.//div[@class="season-last"]')[0])
    assert "Every other Monday at 17:00 Berlin time" in text(season)
