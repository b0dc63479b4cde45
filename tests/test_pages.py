"""The HTML pages, /embed and /talks.json through the Flask test client, read
back with real parsers: lxml for HTML, json, and icalendar for the feed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import lxml.html
import pytest
from icalendar import Calendar

from feeds import pages

from helpers import NOW, SITE_URL, snapshot_for

TALK = "2026-04-13-fischer"
HOSTILE_TITLE = '<script>alert(1)</script> "Quoted" & <b>bold</b>'
HOSTILE_ABSTRACT = '</script><script>alert(2)</script> "q" & <img src=x onerror=alert(3)>'
HOSTILE_ID = "2026-04-20-hostile"
BERLIN = ZoneInfo("Europe/Berlin")
DISPLAY = {"New York": "America/New_York", "Los Angeles": "America/Los_Angeles",
           "Tokyo": "Asia/Tokyo"}


# --- helpers --------------------------------------------------------------------

def add_talk(data_file: Path, **fields: object) -> None:
    """Append a talk to the data file; strings are written JSON-quoted,
    which YAML reads back exactly."""
    lines = [f"  - id: {fields.pop('id')}"]
    lines += [f"    {key}: {json.dumps(value)}" for key, value in fields.items()]
    data_file.write_text(data_file.read_text() + "\n" + "\n".join(lines) + "\n")


def add_hostile_talk(data_file: Path) -> None:
    add_talk(data_file, id=HOSTILE_ID, date="2026-04-20", title=HOSTILE_TITLE,
             abstract=HOSTILE_ABSTRACT,
             speakers=[{"name": 'Eve "<i>" & Co', "affiliation": "A&B <Lab>"}],
             note='See <a href="javascript:alert(4)">this</a> & https://example.org/?a=1&b=2.')


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

def test_home_lists_upcoming_soonest_first_then_past_newest_first(client, seed):
    _, doc = page(client, "/")
    upcoming = [a.get("id") for a in doc.xpath('//section[@id="upcoming"]//article')]
    past = [a.get("id") for a in doc.xpath('//section[@id="past"]//article')]
    assert upcoming == [t.id for t in seed.upcoming(NOW)]
    assert past == [t.id for t in seed.past(NOW)]
    assert upcoming[0] == TALK and past[0] == "2026-03-30-muennighoff"
    assert set(upcoming) | set(past) == {t.id for t in seed.talks}


def test_home_shows_the_series_contact_and_nominations(client, seed):
    _, doc = page(client, "/")
    series = seed.series
    assert doc.xpath("string(//h1)") == series.title
    assert doc.get("lang") == "en"
    body = text(doc.body)
    assert series.description in body
    assert series.nominations in body
    assert doc.xpath(f'//section[@id="contact"]//a[@href="mailto:{series.contact}"]')


def test_each_talk_shows_its_time_speakers_abstract_links_and_note(client, seed):
    _, doc = page(client, "/")
    for talk in seed.talks:
        node = article(doc, talk.id)
        time = node.xpath(".//time")[0]
        assert time.get("datetime") == talk.start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert time.text == talk.start.strftime(f"%a {talk.start.day} %B %Y, %H:%M ") + talk.start.tzname()
        assert talk.title == text(node.xpath(".//h3")[0])
        for speaker in talk.speakers:
            assert speaker.name in text(node) and speaker.affiliation in text(node)
        for link in talk.links:
            assert node.xpath(".//a[@href=$url]", url=link.url)[0].text == link.label
        if talk.abstract:
            assert " ".join(talk.abstract.split()) in text(node)
    fischer = article(doc, TALK)
    assert fischer.xpath("string(.//time)") == "Mon 13 April 2026, 17:00 CEST"
    zhang = article(doc, "2026-02-09-zhang")
    assert zhang.xpath('.//div[@class="note"]//a/@href') == ["https://arxiv.org/abs/2603.00742"]


@pytest.mark.parametrize("talk_id, new_york", [
    ("2026-03-02-walter", "11:00 EST"),  # both zones on standard time
    ("2026-03-09-wen", "12:00 EDT"),  # the US switched on 8 March, the EU not yet
    ("2026-03-16-jiang-shinnick", "12:00 EDT"),
    ("2026-03-30-muennighoff", "11:00 EDT"),  # the EU switched on 29 March
    ("2026-04-13-fischer", "11:00 EDT"),
])
def test_new_york_time_is_right_across_the_dst_switches(client, seed, talk_id, new_york):
    talk = seed.talk(talk_id)
    start = talk.start.astimezone(timezone.utc)
    assert new_york == expected_clock(start, "America/New_York", talk.day)  # the table agrees with tzdata
    _, doc = page(client, "/")
    assert f"New York {new_york}" in article(doc, talk_id).xpath('string(.//p[@class="zones"])')


def test_every_display_zone_is_computed_from_the_tz_database(client, seed):
    _, doc = page(client, "/")
    for talk in seed.talks:
        shown = [text(span) for span in article(doc, talk.id).xpath('.//p[@class="zones"]/span')]
        start = talk.start.astimezone(timezone.utc)
        expected = [f"{start:%H:%M} UTC"] + [
            f"{label} {expected_clock(start, zone, talk.day)}" for label, zone in DISPLAY.items()]
        assert shown == expected, talk.id
    assert "EST" not in text(article(doc, "2026-03-16-jiang-shinnick"))


def test_without_upcoming_talks_the_page_says_so_and_points_to_the_feeds(make_app, clock):
    clock.now = datetime(2026, 9, 1, tzinfo=timezone.utc)
    _, doc = page(make_app().test_client(), "/")
    section = doc.xpath('//section[@id="upcoming"]')[0]
    assert not section.xpath(".//article")
    assert "the next talk will be announced here" in text(section)
    hrefs = section.xpath(".//a/@href")
    assert f"{SITE_URL}/rss.xml" in hrefs and f"{SITE_URL}/atom.xml" in hrefs and "#subscribe" in hrefs


def test_subscribe_panel_offers_every_app_and_honest_help(client):
    _, doc = page(client, "/")
    panel = doc.xpath('//section[@id="subscribe"]')[0]
    hrefs = panel.xpath(".//a/@href")
    webcal = "webcal://talks.example.org/calendar.ics"
    https = f"{SITE_URL}/calendar.ics"
    assert f"https://calendar.google.com/calendar/r?cid={quote(webcal, safe='')}" in hrefs
    assert webcal in hrefs
    for host in ("https://outlook.live.com", "https://outlook.office.com"):
        link = next(h for h in hrefs if h.startswith(f"{host}/calendar/0/addfromweb?"))
        query = parse_qs(urlsplit(link).query)
        assert query == {"url": [https], "name": ["Efficient ML Reading Group"]}
    assert panel.xpath('.//input[@id="calendar-url"]/@value') == [https]
    assert panel.xpath('.//button[@data-copy="calendar-url"]')
    assert f"{SITE_URL}/rss.xml" in hrefs and f"{SITE_URL}/atom.xml" in hrefs
    help_text = text(panel)
    assert "every 12 to 24 hours" in help_text
    assert "never updates" in help_text


def test_home_offers_the_embed_snippets_ready_to_copy(client):
    _, doc = page(client, "/")
    iframe = doc.xpath('string(//pre[@id="snippet-iframe"])')
    script = doc.xpath('string(//pre[@id="snippet-script"])')
    frame = lxml.html.fragment_fromstring(iframe)
    assert frame.tag == "iframe" and frame.get("src") == f"{SITE_URL}/embed?limit=3"
    tag = lxml.html.fragment_fromstring(script)
    assert tag.tag == "script" and tag.get("src") == f"{SITE_URL}/embed.js"
    assert tag.get("data-limit") == "3"
    assert doc.xpath('//button[@data-copy="snippet-iframe"]')
    assert doc.xpath('//button[@data-copy="snippet-script"]')


# --- talk pages --------------------------------------------------------------------------

def test_talk_page_has_add_to_calendar_links(client, seed):
    talk = seed.talk(TALK)
    _, doc = page(client, f"/talks/{TALK}")
    assert text(doc.xpath("//h1")[0]) == talk.title
    hrefs = doc.xpath('//section[@id="add"]//a/@href')
    assert f"{SITE_URL}/talks/{TALK}.ics" in hrefs
    google = parse_qs(urlsplit(next(h for h in hrefs if "calendar.google.com" in h)).query)
    assert google["action"] == ["TEMPLATE"]
    assert google["dates"] == ["20260413T150000Z/20260413T160000Z"]
    assert google["ctz"] == ["Europe/Berlin"]
    assert google["text"][0].startswith(talk.title)
    assert f"{SITE_URL}/talks/{TALK}" in google["details"][0]
    for host in ("outlook.live.com", "outlook.office.com"):
        link = urlsplit(next(h for h in hrefs if host in h))
        query = parse_qs(link.query)
        assert link.path == "/calendar/0/deeplink/compose"
        assert query["rru"] == ["addevent"]
        assert query["startdt"] == ["2026-04-13T15:00:00Z"]
        assert query["enddt"] == ["2026-04-13T16:00:00Z"]
        assert query["subject"][0].startswith(talk.title)
    assert "never updates" in text(doc.xpath('//section[@id="add"]')[0])


def test_talk_page_carries_json_ld_event_and_opengraph(client, seed):
    talk = seed.talk("2026-05-25-iofinova-jovanovic")
    _, doc = page(client, f"/talks/{talk.id}")
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
    assert event["url"] == f"{SITE_URL}/talks/{talk.id}"
    assert event["location"]["@type"] == "VirtualLocation"
    og = {m.get("property"): m.get("content") for m in doc.xpath("//meta[@property]")}
    assert og["og:title"].startswith(talk.title)
    assert og["og:url"] == f"{SITE_URL}/talks/{talk.id}"
    assert og["og:type"] == "website" and og["og:site_name"] == "Efficient ML Reading Group"
    assert talk.speakers[0].name in og["og:description"]


def test_cancelled_talk_is_marked_and_offers_no_calendar_copy(make_app, data_file):
    add_talk(data_file, id="2026-04-20-off", date="2026-04-20", title="Gone", status="cancelled")
    client = make_app().test_client()
    _, home = page(client, "/")
    node = article(home, "2026-04-20-off")
    assert "is-cancelled" in node.get("class") and "Cancelled" in text(node)
    _, doc = page(client, "/talks/2026-04-20-off")
    assert "Cancelled" in text(doc.xpath("//article")[0])
    assert not doc.xpath('//section[@id="add"]')
    assert json.loads(doc.xpath('//script[@type="application/ld+json"]/text()')[0])["eventStatus"] \
        == "https://schema.org/EventCancelled"
    _, embed = page(client, "/embed")
    assert "Cancelled" in text(embed.xpath('//li[contains(@class, "fe-cancelled")]')[0])
    record = next(t for t in client.get("/talks.json").get_json()["talks"] if t["id"] == "2026-04-20-off")
    assert record["status"] == "cancelled"


def test_recording_is_labelled_once_it_exists(make_app, data_file):
    add_talk(data_file, id="2026-03-23-recorded", date="2026-03-23", title="Recorded",
             recording="https://video.example.org/watch?v=1&t=2")
    _, doc = page(make_app().test_client(), "/")
    link = article(doc, "2026-03-23-recorded").xpath('.//li[@class="recording"]/a')[0]
    assert link.get("href") == "https://video.example.org/watch?v=1&t=2"
    assert "Recording" in link.text
    assert not article(doc, "2026-03-30-muennighoff").xpath('.//li[@class="recording"]')


def test_unknown_talk_gets_the_friendly_404_page(client):
    for path in ("/talks/no-such-talk", "/no/such/page", "/talks/no-such-talk.ics"):
        response, doc = page(client, path, status=404)
        assert response.mimetype == "text/html"
        assert "Page not found" in text(doc.xpath("//h1")[0])
        assert f"{SITE_URL}/" in doc.xpath("//main//a/@href")
        assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
        assert response.headers["Cache-Control"] == "no-cache"
    snapshot = client.application.extensions["feeds"].snapshot()
    assert "/404" not in snapshot.routes  # not a page of its own


# --- every page's head, and headers ------------------------------------------------------

@pytest.mark.parametrize("path, status", [("/", 200), (f"/talks/{TALK}", 200), ("/embed", 200),
                                          ("/embed?show=past&theme=dark", 200), ("/nope", 404)])
def test_every_page_head_links_the_feeds(client, path, status):
    _, doc = page(client, path, status)
    alternates = {link.get("type"): link.get("href") for link in doc.xpath('//head/link[@rel="alternate"]')}
    assert alternates["application/rss+xml"] == f"{SITE_URL}/rss.xml"
    assert alternates["application/atom+xml"] == f"{SITE_URL}/atom.xml"
    assert alternates["text/calendar"] == f"{SITE_URL}/calendar.ics"
    assert doc.xpath("string(/html/@lang)") == "en"
    assert doc.xpath('//head/meta[@name="viewport"]')


def test_only_the_embed_may_be_framed_and_only_feeds_are_shared(client):
    for path in ("/", f"/talks/{TALK}"):
        assert client.get(path).headers["Content-Security-Policy"] == "frame-ancestors 'none'"
        assert "Access-Control-Allow-Origin" not in client.get(path).headers
    for path in ("/embed", "/embed?limit=2&theme=dark"):
        assert "Content-Security-Policy" not in client.get(path).headers
    response = client.get("/talks.json")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.mimetype == "application/json"


def test_static_files_and_the_script_are_served(client):
    _, doc = page(client, "/")
    for url in doc.xpath('//link[@rel="stylesheet"]/@href') + doc.xpath("//script/@src"):
        assert url.startswith(f"{SITE_URL}/static/") and "?v=" in url
        response = client.get(urlsplit(url).path)
        assert response.status_code == 200 and response.data
    script = client.get("/embed.js")
    assert script.mimetype == "text/javascript"
    assert script.data == client.get("/static/embed.js").data
    assert client.get("/static/style.css").mimetype == "text/css"


# --- /embed ------------------------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "show=soon", "show=", "limit=0", "limit=-1", "limit=abc", "limit=1.5", "limit=",
    "limit=1001", "limit=%EF%BC%93", "theme=blue", "show=all&show=past", "colour=red",
    "limit=99999999999999999999999",
])
def test_embed_rejects_bad_parameters_with_400(client, query):
    response = client.get(f"/embed?{query}")
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.data.strip()


def test_embed_shows_upcoming_past_or_all_with_a_limit(client, seed):
    def shown(query: str) -> list[str]:
        _, doc = page(client, f"/embed?{query}")
        return [a.get("href").rsplit("/", 1)[1] for a in doc.xpath('//p[@class="fe-title"]/a')]

    upcoming = [t.id for t in seed.upcoming(NOW)]
    past = [t.id for t in seed.past(NOW)]
    assert shown("") == upcoming
    assert shown("show=upcoming&limit=2") == upcoming[:2]
    assert shown("show=past") == past
    assert shown("show=past&limit=1") == past[:1]
    assert shown("show=all") == upcoming + past
    assert shown("show=all&limit=7") == (upcoming + past)[:7]
    _, dark = page(client, "/embed?theme=dark")
    assert dark.xpath('string(//*[@class="feeds-embed"]/@data-theme)') == "dark"
    assert dark.xpath('string(//base/@target)') == "_blank"


def test_embed_variants_are_rendered_once_per_snapshot(client):
    snapshot = client.application.extensions["feeds"].snapshot()
    options = pages.EmbedOptions(show="past", limit=2, theme="dark")
    first = client.get("/embed?show=past&limit=2&theme=dark")
    assert snapshot.embed(options) is snapshot.embed(options)
    assert first.headers["ETag"] == f'"{snapshot.embed(options).etag}"'
    assert client.get("/embed").data == snapshot.routes["/embed"].body
    assert snapshot.embed(pages.EmbedOptions()) is snapshot.routes["/embed"]


def test_pages_render_without_a_request_context(seed):
    snapshot = snapshot_for(seed)  # no app, no request: as the static export runs
    assert b"Efficient ML Reading Group" in snapshot.routes["/"].body
    assert pages.home(seed, pages.urls.Site(SITE_URL), NOW) == snapshot.routes["/"].body


# --- hostile text -------------------------------------------------------------------------------

def test_hostile_talk_shows_as_text_everywhere(make_app, data_file):
    add_hostile_talk(data_file)
    client = make_app().test_client()
    for path in ("/", f"/talks/{HOSTILE_ID}", "/embed", "/embed?show=all&theme=dark"):
        response, doc = page(client, path)
        assert b"<script>alert" not in response.data, path
        assert b"<img src=x" not in response.data and b"<b>bold" not in response.data, path
        assert not doc.xpath("//b | //img | //i"), path
        assert not doc.xpath('//a[starts-with(@href, "javascript:")]'), path
        titles = [text(a) for a in doc.xpath(f'//a[contains(@href, "{HOSTILE_ID}")]')] + \
            [text(h) for h in doc.xpath("//h1")]
        assert HOSTILE_TITLE in titles, path
        scripts = doc.xpath("//script[not(@type)]")
        assert all(s.get("src") and not (s.text or "").strip() for s in scripts), path
    _, home = page(client, "/")
    assert HOSTILE_ABSTRACT in home.xpath(f'string(//article[@id="{HOSTILE_ID}"]//details)')
    _, talk = page(client, f"/talks/{HOSTILE_ID}")
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
    assert [t["id"] for t in document["talks"]] == [t.id for t in seed.talks]
    for record, talk in zip(document["talks"], seed.talks, strict=False):
        assert set(record) == {"id", "title", "status", "start", "end", "start_local", "timezone",
                               "when", "duration_minutes", "location", "speakers", "byline",
                               "abstract", "links", "recording", "note", "url", "ics"}
        assert record["title"] == talk.title and record["status"] == talk.status
        assert record["start"].endswith("Z") and record["end"].endswith("Z")
        assert record["timezone"] == talk.zone.key
        assert datetime.fromisoformat(record["start_local"]) == talk.start
        assert datetime.fromisoformat(record["start_local"]).utcoffset() == talk.start.utcoffset()
        assert record["duration_minutes"] == 60
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
    feed = {str(event["UID"]).split("@")[0]: (event.decoded("DTSTART"), event.decoded("DTEND"))
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
    _, before = page(client, f"/talks/{TALK}")
    assert before.xpath('//section[@id="add"]')
    clock.now = NOW + timedelta(days=30)
    _, after = page(client, f"/talks/{TALK}")
    assert not after.xpath('//section[@id="add"]')
