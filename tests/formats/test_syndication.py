"""The RSS and Atom feeds, read back by real clients: feedparser, lxml in
strict mode, and newsboat (a terminal feed reader from Debian)."""

from __future__ import annotations

import calendar
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import feedparser
import lxml.html
import pytest
from lxml import etree
from werkzeug.serving import make_server

from feeds.formats.syndication import atom_feed, rss_feed
from feeds.urls import Site

from helpers import NOW, SEED_ID_AUTHORITY, SITE_URL, add_to_talk, newsboat, revisions_for, serving

ATOM_NS = {"a": "http://www.w3.org/2005/Atom"}
RSS_NS = {"atom": "http://www.w3.org/2005/Atom", "dc": "http://purl.org/dc/elements/1.1/"}
FEEDS = ("/rss.xml", "/atom.xml")
LATER = NOW + timedelta(days=2, hours=3)
RECORDING = "https://example.org/rec"
# A past talk of the seed (back-filled) and an upcoming one.
PAST_TALK = "2026-03-09-wen"
PAST_TITLE = "How Does Sharpness-Aware Minimization Minimize Sharpness?"
UPCOMING_TALK = "2026-04-13-fischer"


@dataclass(frozen=True)
class Item:
    """What a reader shows of one entry."""

    id: str
    title: str
    link: str
    published: datetime
    updated: datetime | None
    authors: tuple[str, ...]
    content: str


def utc(parsed) -> datetime:
    return datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc)


def read(body: bytes, content_type: str) -> tuple[feedparser.FeedParserDict, list[Item]]:
    """The feed as feedparser reads it with the served Content-Type."""
    parsed = feedparser.parse(body, response_headers={"content-type": content_type})
    assert not parsed.bozo, parsed.get("bozo_exception")
    atom = parsed.version.startswith("atom")  # RSS items have no `updated`
    items = [Item(e.id, e.title, e.link, utc(e.published_parsed),
                  utc(e.updated_parsed) if atom else None,
                  tuple(a.get("name", "") for a in e.get("authors", [])),
                  e.get("content", [{}])[0].get("value", "") or e.get("summary", ""))
             for e in parsed.entries]
    return parsed, items


def strict(body: bytes) -> etree._Element:
    return etree.fromstring(body, etree.XMLParser(recover=False, resolve_entities=False,
                                                  no_network=True))


def get(client, path: str) -> tuple[feedparser.FeedParserDict, list[Item]]:
    response = client.get(path)
    assert response.status_code == 200
    return read(response.data, response.content_type)


def get_url(url: str) -> list[Item]:
    """The feed at `url`, fetched over real HTTP."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return read(response.read(), response.headers["Content-Type"])[1]


def fetch_all(client) -> dict[str, list[Item]]:
    return {path: get(client, path)[1] for path in FEEDS}


def by_id(items: list[Item]) -> dict[str, Item]:
    return {item.id: item for item in items}


def only(items: list[Item], talk_id: str, recording: bool = False) -> Item:
    [item] = [i for i in items if talk_id in i.id and "/revision/" not in i.id
              and i.title.startswith("Recording: ") == recording]
    return item


# --- serving ----------------------------------------------------------------

def test_feeds_are_served_as_xml_with_a_stylesheet_for_browsers(client):
    """Sent as application/xml (what static hosts send for .xml; a browser
    styles it, while it shows application/rss+xml as raw text), with an
    xml-stylesheet instruction naming a stylesheet the site serves."""
    for path in ("/rss.xml", "/atom.xml"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.mimetype == "application/xml"
        tree = etree.fromstring(response.data).getroottree()
        [instruction] = [node for node in tree.getroot().itersiblings(preceding=True)
                         if isinstance(node, etree._ProcessingInstruction)]
        assert instruction.target == "xml-stylesheet"
        assert instruction.get("type") == "text/css"
        style = client.get("/" + instruction.get("href"))  # relative to the feed, at the root
        assert style.status_code == 200 and style.mimetype == "text/css"
        assert b"news feed" in style.data
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert b"<![CDATA[" not in response.data
        strict(response.data)  # well-formed XML, no recovery


def test_every_request_gets_the_same_bytes_while_the_data_does_not_change(client, clock):
    first = {path: client.get(path).data for path in FEEDS}
    assert {path: client.get(path).data for path in FEEDS} == first
    clock.now = datetime(2026, 4, 20, tzinfo=timezone.utc)  # a talk ended: the site rebuilds
    assert {path: client.get(path).data for path in FEEDS} == first


# --- what readers see ----------------------------------------------------------

def test_both_feeds_give_feedparser_the_same_entries(client, seed):
    feeds = fetch_all(client)
    rss, atom = feeds["/rss.xml"], feeds["/atom.xml"]
    assert len(atom) == len(seed.talks)  # one entry per talk, no recording yet
    same = lambda i: (i.id, i.title, i.link, i.published, i.authors)  # noqa: E731
    assert [same(i) for i in rss] == [same(i) for i in atom]
    for talk in seed.talks:
        item = only(atom, talk.id)
        assert item.id.startswith(f"tag:{SEED_ID_AUTHORITY},2026:")
        assert item.link.startswith(SITE_URL + "/") and talk.id in item.link
        assert item.title.startswith(talk.title)
        assert item.authors == tuple(s.name for s in talk.speakers)


def test_titles_show_the_time_in_the_series_zone(client):
    atom = get(client, "/atom.xml")[1]
    assert only(atom, "2026-04-13-fischer").title.endswith("Mon 13 Apr 2026, 17:00 CEST")
    assert only(atom, "2026-01-12-han").title.endswith("Mon 12 Jan 2026, 17:00 CET")


def test_entries_are_dated_by_announcement_and_the_archive_at_its_start(client):
    for path in FEEDS:
        feed, items = get(client, path)
        # Announced at NOW (a new ledger): upcoming talks are new today ...
        assert only(items, UPCOMING_TALK).published == NOW
        # ... while talks that were over when they were added keep their start.
        assert only(items, "2026-01-12-han").published == datetime(2026, 1, 12, 16, tzinfo=timezone.utc)
        muennighoff = only(items, "2026-03-30-muennighoff")
        assert muennighoff.published == datetime(2026, 3, 30, 15, tzinfo=timezone.utc)
        published = [i.published for i in items]
        assert published == sorted(published, reverse=True)  # newest first
        assert max(published) <= NOW
        assert utc(feed.feed.updated_parsed) == NOW


def test_content_holds_the_talk_details_and_links(client):
    for path in FEEDS:
        item = only(get(client, path)[1], "2026-02-09-zhang")
        html = lxml.html.fromstring(item.content)
        text = html.text_content()
        assert "Gatsby Computational Neuroscience Unit" in text
        assert "Mon 9 Feb 2026, 17:00–18:00 CET" in text and "16:00–17:00 UTC" in text
        assert "Where: Online" in text and "Contact us for questions" in text
        assert "Muon Yedi" in text  # the note
        hrefs = html.xpath("//a/@href")
        assert "https://arxiv.org/pdf/2512.20607" in hrefs
        assert f"{SITE_URL}/talks/2026-02-09-zhang" in hrefs
        assert f"{SITE_URL}/talks/2026-02-09-zhang.ics" in hrefs


def test_markup_in_the_data_is_shown_as_text(data_file, make_app):
    add_to_talk(data_file, UPCOMING_TALK, 'note: "<script>alert(1)</script> & <b>bold</b>"')
    client = make_app().test_client()
    for path in FEEDS:
        root = strict(client.get(path).data)
        content = root.xpath("//a:entry[a:id[contains(., $t)]]/a:content/text() | "
                             "//item[guid[contains(., $t)]]/description/text()",
                             namespaces=ATOM_NS, t=UPCOMING_TALK)
        html = lxml.html.fromstring(content[0])
        assert not html.xpath("//script | //b")
        assert "<script>alert(1)</script> & <b>bold</b>" in html.text_content()


# --- structure -------------------------------------------------------------------

def absolute(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def test_atom_structure(client, seed):
    root = strict(client.get("/atom.xml").data)
    x = lambda path, node=root: node.xpath(path, namespaces=ATOM_NS)  # noqa: E731
    assert x("/a:feed/a:title/text()") == [seed.series.title]
    assert x("/a:feed/a:subtitle/text()") == [" ".join(seed.series.description.split())]
    assert x("/a:feed/a:author/a:name/text()") == [seed.series.title]
    assert x("/a:feed/@xml:lang") == ["en"]
    assert x("/a:feed/a:link[@rel='self']/@href") == [f"{SITE_URL}/atom.xml"]
    assert x("/a:feed/a:link[@rel='alternate']/@href") == [f"{SITE_URL}/"]
    ids = x("//a:entry/a:id/text()") + x("/a:feed/a:id/text()")
    assert len(ids) == len(set(ids))
    for entry in x("//a:entry"):
        assert len(x("a:link", entry)) == 1
        assert len(x("a:link[not(@rel) or @rel='alternate']", entry)) == 1
    assert all(absolute(href) for href in x("//a:link/@href"))
    for stamp in x("//a:updated/text() | //a:published/text()"):
        moment = datetime.fromisoformat(stamp)
        assert moment.tzinfo is not None and moment <= NOW


def test_rss_structure(client, seed):
    root = strict(client.get("/rss.xml").data)
    x = lambda path, node=root: node.xpath(path, namespaces=RSS_NS)  # noqa: E731
    assert x("/rss/channel/title/text()") == [seed.series.title]
    assert x("/rss/channel/link/text()") == [f"{SITE_URL}/"]
    assert x("/rss/channel/atom:link[@rel='self']/@href") == [f"{SITE_URL}/rss.xml"]
    assert x("/rss/channel/language/text()") == ["en"]
    assert seed.series.contact in x("/rss/channel/managingEditor/text()")[0]
    assert parsedate_to_datetime(x("/rss/channel/lastBuildDate/text()")[0]) == NOW
    guids = x("//item/guid/text()")
    assert len(guids) == len(set(guids)) == len(seed.talks)
    assert set(x("//item/guid/@isPermaLink")) == {"false"}
    assert guids == strict(client.get("/atom.xml").data).xpath("//a:entry/a:id/text()",
                                                               namespaces=ATOM_NS)
    assert all(absolute(url) for url in x("//item/link/text() | //atom:link/@href"))
    for stamp in x("//pubDate/text() | //lastBuildDate/text()"):
        moment = parsedate_to_datetime(stamp)
        assert moment.tzinfo is not None and moment <= NOW
    talk = seed.talk("2026-05-25-iofinova-jovanovic")
    assert x(f"//item[guid[contains(., '{talk.id}')]]/dc:creator/text()") == [
        s.name for s in talk.speakers]


# --- changes ---------------------------------------------------------------------

def test_a_recording_gets_its_own_entry_and_updates_the_talk_in_place(data_file, make_app, clock):
    client = make_app().test_client()
    before = fetch_all(client)
    add_to_talk(data_file, PAST_TALK, f"recording: {RECORDING}")
    clock.now = LATER
    after = fetch_all(client)

    for path in FEEDS:
        old, new = by_id(before[path]), by_id(after[path])
        added = set(new) - set(old)
        assert len(added) == 1 and set(old) <= set(new)
        [recording] = [new[i] for i in added]
        assert after[path][0] == recording  # the newest entry
        assert recording.title == f"Recording: {PAST_TITLE}"
        assert recording.link == RECORDING
        assert recording.published == LATER
        assert PAST_TALK in recording.id

        talk = only(after[path], PAST_TALK)
        assert talk.id == only(before[path], PAST_TALK).id
        assert talk.published == only(before[path], PAST_TALK).published
        assert RECORDING in lxml.html.fromstring(talk.content).xpath("//a/@href")
        if path == "/atom.xml":
            assert talk.updated == LATER > only(before[path], PAST_TALK).updated
        unchanged = set(old) - {talk.id}
        assert {i: new[i] for i in unchanged} == {i: old[i] for i in unchanged}


def test_an_archived_talk_that_comes_with_its_recording_is_not_news(data_file, make_app):
    """Importing the archive with its recordings floods no reader: the
    recording entry is dated with the talk, at its start."""
    add_to_talk(data_file, PAST_TALK, f"recording: {RECORDING}")
    for _path, items in fetch_all(make_app().test_client()).items():
        start = datetime(2026, 3, 9, 16, tzinfo=timezone.utc)
        assert only(items, PAST_TALK, recording=True).published == start
        assert only(items, PAST_TALK).published == start
        assert items[0].published == NOW  # the newest is still an announcement


def test_a_cancelled_talk_is_updated_in_place(data_file, make_app, clock):
    client = make_app().test_client()
    before = fetch_all(client)
    add_to_talk(data_file, UPCOMING_TALK, "status: cancelled")
    clock.now = LATER
    after = fetch_all(client)
    for path in FEEDS:
        # the talk's entry keeps its id; the cancellation is one entry of its own, the newest
        news, *rest = after[path]
        assert [i.id for i in rest] == [i.id for i in before[path]]
        assert news.id.endswith(f"talk/{UPCOMING_TALK}/revision/1")
        assert news.title == "Cancelled: Sustainable Development and Energy Efficiency in Deep Learning"
        assert news.published == LATER
        talk, old = only(after[path], UPCOMING_TALK), only(before[path], UPCOMING_TALK)
        assert "cancelled" in talk.title.lower() and "cancelled" not in old.title.lower()
        assert "cancelled" in lxml.html.fromstring(talk.content).text_content().lower()
        assert talk.published == old.published
        if path == "/atom.xml":
            assert talk.updated == LATER


def test_ids_survive_changes_of_title_time_site_path_and_recording(data_file, make_app, clock):
    before = fetch_all(make_app().test_client())
    text = data_file.read_text(encoding="utf-8")
    data_file.write_text(text.replace("title: Sustainable Development", "title: Greener")
                         .replace("date: 2026-04-13", "date: 2026-04-14\n    time: \"18:30\""),
                         encoding="utf-8")
    add_to_talk(data_file, UPCOMING_TALK, f"recording: {RECORDING}")
    clock.now = LATER
    after = fetch_all(make_app(SITE_URL=SITE_URL + "/reading-group").test_client())
    for path in FEEDS:
        old, new = only(before[path], UPCOMING_TALK), only(after[path], UPCOMING_TALK)
        assert new.title.startswith("Greener") and "Tue 14 Apr 2026, 18:30 CEST" in new.title
        assert new.id == old.id


def test_the_feeds_carry_the_most_recent_entries_up_to_the_limit(make_app):
    full = fetch_all(make_app().test_client())
    limited = fetch_all(make_app(FEED_LIMIT=3).test_client())
    for path in FEEDS:
        assert limited[path] == full[path][:3]


def test_no_date_lies_in_the_future(seed):
    """A ledger written by a machine whose clock ran ahead."""
    ahead = revisions_for(seed, NOW + timedelta(days=30))
    site = Site(SITE_URL)
    for body, media_type in ((rss_feed(seed, ahead, site, NOW), "application/rss+xml"),
                             (atom_feed(seed, ahead, site, NOW), "application/atom+xml")):
        feed, items = read(body, media_type)
        assert items
        for item in items:
            assert item.published <= NOW and (item.updated or NOW) <= NOW
        assert utc(feed.feed.updated_parsed) <= NOW


# --- newsboat ----------------------------------------------------------------

@pytest.fixture
def served(make_app) -> Iterator[str]:
    """The app on a real HTTP server on 127.0.0.1; yields its base URL."""
    with serving(make_server("127.0.0.1", 0, make_app(), threaded=True)) as url:
        yield url


def test_newsboat_shows_every_entry_once_with_its_dates(served, data_file, clock, tmp_path):
    assert shutil.which("newsboat"), "newsboat is missing: apt-get install newsboat"
    for path in FEEDS:
        home = tmp_path / path.strip("/")
        shown = newsboat(served + path, home)
        expected = get_url(served + path)
        assert len(shown) == len(expected) == len({row[0] for row in shown})
        assert {row[0]: (row[1], row[2], row[3]) for row in shown} == {
            i.id: (i.title, i.link, int(i.published.timestamp())) for i in expected}

    add_to_talk(data_file, PAST_TALK, f"recording: {RECORDING}")
    clock.now = LATER
    for path in FEEDS:
        shown = newsboat(served + path, tmp_path / path.strip("/"))
        guids = [row[0] for row in shown]
        assert len(guids) == len(set(guids)) == len(get_url(served + path))
        newest = shown[0]
        assert newest[1] == f"Recording: {PAST_TITLE}"
        assert newest[3] == int(LATER.timestamp())

