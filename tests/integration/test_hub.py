"""A hub of three series in three zones, served by the app: each series
exactly as served alone, the combined and per-tag calendars and feeds read
by real clients, the hub's JSON and embeds, and identity across a move
into the hub."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urljoin
from wsgiref.simple_server import WSGIRequestHandler, make_server
from zoneinfo import ZoneInfo

import feedparser
import icalendar
import pytest
from lxml import etree

from feeds import create_app
from feeds.data.loader import load_schedule
from feeds.data.revisions import ledger_path

from calendar_readers import READERS
from helpers import (
    HUB_SERIES,
    NOW,
    SITE_URL,
    FakeClock,
    newsboat,
    routes,
    serving,
    talk_uid,
    write_hub,
)

SLUGS = [slug for slug, *_ in HUB_SERIES]
TITLES = {slug: title for slug, title, *_ in HUB_SERIES}
AUTHORITIES = {slug: authority for slug, _, _, _, authority, _ in HUB_SERIES}
SERIES_TAGS = {slug: tags for slug, *_, tags in HUB_SERIES}


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    return write_hub(tmp_path / "hub")


def app_for(data: Path, clock: FakeClock, site: str = SITE_URL, state: Path | None = None) -> Any:
    return create_app({"TESTING": True, "TALKS_FILE": str(data), "SITE_URL": site,
                       "CLOCK": clock, "CHECK_INTERVAL": 0.0, "BUILD_MODE": "inline",
                       "STATE_DIR": str(state or data.parent / f"state-{data.name}")})


@pytest.fixture
def hub_app(hub: Path, clock: FakeClock) -> Any:
    return app_for(hub, clock)


@pytest.fixture
def client(hub_app: Any) -> Any:
    return hub_app.test_client()


def expected_talks(tag: str | None = None) -> dict[str, tuple[str, str]]:
    """UID -> (series, talk id) of every talk of the generated hub with
    `tag`, from the files (not from what the hub serves)."""
    found = {}
    for slug in SLUGS:
        schedule = load_schedule(hub_file(slug))
        for talk in schedule.talks:
            if tag is None or tag in SERIES_TAGS[slug] or tag in talk.tags:
                found[talk_uid(talk.id, AUTHORITIES[slug])] = (slug, talk.id)
    return found


_HUB: list[Path] = []


def hub_file(slug: str) -> Path:
    return _HUB[-1] / "series" / f"{slug}.yaml"


@pytest.fixture(autouse=True)
def remember(hub: Path) -> None:
    _HUB.append(hub)


def alone(hub: Path, slug: str, tmp_path: Path) -> Path:
    """A copy of one series of the hub as a single data file, with its ledger."""
    folder = tmp_path / f"alone-{slug}"
    folder.mkdir()
    shutil.copy(hub / "series" / f"{slug}.yaml", folder / "talks.yaml")
    shutil.copy(ledger_path(hub / "series" / f"{slug}.yaml"), ledger_path(folder / "talks.yaml"))
    return folder / "talks.yaml"


def test_each_series_is_served_under_its_slug_exactly_as_alone(hub_app, client, hub, tmp_path,
                                                               clock):
    served = routes(hub_app)
    for slug in SLUGS:
        lone = app_for(alone(hub, slug, tmp_path), clock, f"{SITE_URL}/{slug}")
        lone_client = lone.test_client()
        lone_routes = list(routes(lone))
        assert "/calendar.ics" in lone_routes and "/talks/talk-1/" in lone_routes
        for route in lone_routes:
            assert f"/{slug}{route}" in served, route
            mine, theirs = client.get(f"/{slug}{route}"), lone_client.get(route)
            assert mine.status_code == theirs.status_code == 200, route
            assert mine.data == theirs.data, route
            assert mine.headers["ETag"] == theirs.headers["ETag"], route


@pytest.mark.parametrize("tag", [None, "machine-learning", "theory-special", "language"])
def test_combined_and_tag_calendars_hold_exactly_the_right_talks(client, tag):
    path = "/calendar.ics" if tag is None else f"/tags/{tag}/calendar.ics"
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    cal = icalendar.Calendar.from_ical(response.data)
    expected = expected_talks(tag)
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert set(events) == set(expected)
    name = "Talks of the Network" + ("" if tag is None else f": {tag}")
    assert str(cal["X-WR-CALNAME"]) == name
    for uid, (slug, talk_id) in expected.items():
        categories = [str(c) for c in events[uid]["CATEGORIES"].cats]
        talk = load_schedule(hub_file(slug)).talk(talk_id)
        assert talk is not None
        assert categories[0] == TITLES[slug]
        assert set(SERIES_TAGS[slug]) | set(talk.tags) <= set(categories)
        assert str(events[uid]["URL"]) == f"{SITE_URL}/{slug}/talks/{talk_id}"


def test_the_archive_holds_every_talk(client):
    cal = icalendar.Calendar.from_ical(client.get("/archive.ics").data)
    assert {str(e["UID"]) for e in cal.walk("VEVENT")} == set(expected_talks())


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("path", ["/calendar.ics", "/tags/machine-learning/calendar.ics"])
def test_every_reader_reads_the_combined_calendars_at_zoneinfos_instants(client, reader: str,
                                                                          path):
    instants = READERS[reader](client.get(path).data)
    expected = {}
    tag = path.split("/")[2] if path.startswith("/tags/") else None
    for uid, (slug, talk_id) in expected_talks(tag).items():
        talk = load_schedule(hub_file(slug)).talk(talk_id)
        assert talk is not None
        expected[uid] = talk.start.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert instants == expected
    zones = {zone for _, _, zone, *_ in HUB_SERIES}
    assert len(zones) == 3


@pytest.mark.parametrize("path", ["/rss.xml", "/atom.xml", "/tags/language/rss.xml",
                                  "/tags/mathematics/atom.xml"])
def test_feed_readers_read_the_combined_feeds_with_the_series_ids(client, path):
    feed = feedparser.parse(client.get(path).data)
    assert not feed.bozo, feed.bozo_exception
    tag = path.split("/")[2] if path.startswith("/tags/") else None
    wanted = {f"tag:{AUTHORITIES[slug]},2026:talk/{talk_id}"
              for slug, talk_id in expected_talks(tag).values()}
    talk_entries = {e.id for e in feed.entries if "/revision/" not in e.id
                    and ":recording/" not in e.id}
    assert talk_entries == wanted
    for entry in feed.entries:
        terms = {t.term for t in entry.tags}
        assert any(TITLES[slug] in terms for slug in SLUGS)
    # A browser shows the feed as a page for people: the site's feed stylesheet, found.
    tree = etree.fromstring(client.get(path).data).getroottree()
    sheet = tree.getroot().getprevious()
    assert sheet is not None and sheet.target == "xml-stylesheet"
    href = sheet.get("href")
    assert client.get(urljoin(path, href)).status_code == 200, href


def test_newsboat_reads_the_combined_and_tag_feeds(hub_app, client, tmp_path):
    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = make_server("127.0.0.1", 0, hub_app, handler_class=Quiet)
    with serving(server) as url:
        for path in ("/rss.xml", "/tags/machine-learning/atom.xml"):
            items = newsboat(url + path, tmp_path / f"nb{path.count('/')}")
            tag = path.split("/")[2] if path.startswith("/tags/") else None
            assert {guid for guid, *_ in items} >= {
                f"tag:{AUTHORITIES[slug]},2026:talk/{talk_id}"
                for slug, talk_id in expected_talks(tag).values()}


def test_talks_json_lists_the_series_and_every_talk(client):
    document = client.get("/talks.json").get_json()
    assert [s["slug"] for s in document["series"]] == sorted(SLUGS)
    for record in document["series"]:
        assert record["title"] == TITLES[record["slug"]]
        assert record["url"] == f"{SITE_URL}/{record['slug']}/"
        assert tuple(record["tags"]) == SERIES_TAGS[record["slug"]]
    assert document["hub"]["title"] == "Talks of the Network"
    talks = {(t["series"], t["id"]) for t in document["talks"]}
    assert talks == set(expected_talks().values())
    assert [t["start"] for t in document["talks"]] == sorted(t["start"] for t in document["talks"])


def test_the_hub_page_shows_every_series_and_the_tags(client):
    page = client.get("/").get_data(as_text=True)
    for slug in SLUGS:
        assert f'href="{slug}/"' in page
        assert TITLES[slug] in page
    for tag in ("machine-learning", "mathematics", "language", "theory-special"):
        assert f'href="tags/{tag}/"' in page
    tag_page = client.get("/tags/language/").get_data(as_text=True)
    assert "Kyoto NLP" in tag_page and "Theory Seminar" not in tag_page


def test_the_embed_takes_series_and_tag_filters(client, clock):
    clock.now = NOW.replace(year=2025)  # every talk is to come
    every = client.get("/embed/?show=all").get_data(as_text=True)
    assert all(TITLES[slug] in every for slug in SLUGS)
    theory = client.get("/embed/?series=theory&show=all").get_data(as_text=True)
    assert "Theory Seminar talk" in theory and "Kyoto NLP talk" not in theory
    two = client.get("/embed/?series=theory,kyoto-nlp&show=all").get_data(as_text=True)
    assert "Theory Seminar talk" in two and "Kyoto NLP talk" in two and "Efficient ML talk" not in two
    language = client.get("/embed/?tag=language&show=all").get_data(as_text=True)
    assert "Kyoto NLP talk" in language and "Efficient ML talk" not in language
    for bad in ("series=nope", "tag=nope", "series=", "colour=red", "series=a&series=b"):
        response = client.get(f"/embed/?{bad}")
        assert response.status_code == 400, bad


def test_a_series_embed_with_options_is_the_one_served_alone(client, hub, tmp_path, clock):
    lone = app_for(alone(hub, "theory", tmp_path), clock, f"{SITE_URL}/theory").test_client()
    for query in ("show=all&limit=2", "show=past&theme=dark"):
        mine = client.get(f"/theory/embed/?{query}")
        assert mine.status_code == 200
        assert mine.data == lone.get(f"/embed/?{query}").data
    assert client.get("/theory/embed/?limit=zero").status_code == 400


def test_a_series_moved_into_a_hub_keeps_every_uid_and_feed_id(tmp_path, clock):
    """A single-file site, then the same file (and ledger) as a series of a hub."""
    hub = write_hub(tmp_path / "moved-hub")
    single = tmp_path / "single" / "talks.yaml"
    single.parent.mkdir()
    shutil.copy(hub / "series" / "theory.yaml", single)
    before_app = app_for(single, clock).test_client()
    before_cal = icalendar.Calendar.from_ical(before_app.get("/archive.ics").data)
    before_feed = feedparser.parse(before_app.get("/atom.xml").data)
    (hub / "series" / "theory.yaml").unlink()
    shutil.copy(single, hub / "series" / "theory.yaml")
    shutil.copy(ledger_path(single), ledger_path(hub / "series" / "theory.yaml"))
    after = app_for(hub, clock).test_client()
    for path in ("/theory/archive.ics", "/archive.ics"):
        cal = icalendar.Calendar.from_ical(after.get(path).data)
        uids = {(str(e["UID"]), int(e["SEQUENCE"])) for e in cal.walk("VEVENT")
                if "Theory" in str(e["SUMMARY"])}
        assert uids == {(str(e["UID"]), int(e["SEQUENCE"])) for e in before_cal.walk("VEVENT")}
    for path in ("/theory/atom.xml", "/atom.xml"):
        feed = feedparser.parse(after.get(path).data)
        ids = {e.id for e in feed.entries if "theory" in e.link}
        assert ids == {e.id for e in before_feed.entries}


def test_an_unknown_address_gets_the_hub_404(client):
    response = client.get("/nope/")
    assert response.status_code == 404
    assert "Talks of the Network" in response.get_data(as_text=True)


def break_file(path: Path) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace("timezone: ", "timezone: Mars/"),
                    encoding="utf-8")


def test_a_broken_series_keeps_its_last_good_version_while_another_is_edited(client, hub):
    theory_before = client.get("/theory/calendar.ics").data
    break_file(hub / "series" / "theory.yaml")
    efficient = hub / "series" / "efficient-ml.yaml"
    efficient.write_text(efficient.read_text(encoding="utf-8").replace(
        "title: Efficient ML talk 1", "title: A renamed first talk"), encoding="utf-8")
    assert "A renamed first talk" in client.get("/efficient-ml/talks/talk-1/").get_data(as_text=True)
    assert "A renamed first talk" in client.get("/calendar.ics").get_data(as_text=True)
    assert client.get("/theory/calendar.ics").data == theory_before
    health = client.get("/healthz")
    assert health.status_code == 503
    state = health.get_json()
    assert state["status"] == "degraded"
    assert any("series/theory.yaml:4:" in error for error in state["errors"])
    assert not any("efficient-ml" in error for error in state["errors"])
    # Mended: healthy again, and the edit stays.
    theory = hub / "series" / "theory.yaml"
    theory.write_text(theory.read_text(encoding="utf-8").replace("Mars/", ""), encoding="utf-8")
    assert client.get("/healthz").status_code == 200
    assert "A renamed first talk" in client.get("/").get_data(as_text=True) or \
        "A renamed first talk" in client.get("/efficient-ml/").get_data(as_text=True)


def test_a_series_broken_from_the_start_is_left_out_and_named(hub, clock):
    break_file(hub / "series" / "kyoto-nlp.yaml")
    client = app_for(hub, clock).test_client()
    assert client.get("/theory/calendar.ics").status_code == 200
    assert client.get("/kyoto-nlp/calendar.ics").status_code == 404
    cal = icalendar.Calendar.from_ical(client.get("/calendar.ics").data)
    assert not any("Kyoto" in str(e["SUMMARY"]) for e in cal.walk("VEVENT"))
    errors = client.get("/healthz").get_json()["errors"]
    assert any("series/kyoto-nlp.yaml" in error for error in errors)


def test_a_hub_without_a_valid_site_yaml_publishes_nothing_and_says_why(hub, clock):
    (hub / "site.yaml").write_text("description: no title\n", encoding="utf-8")
    client = app_for(hub, clock).test_client()
    response = client.get("/")
    assert response.status_code == 503
    assert "site.yaml" in client.get("/healthz").get_data(as_text=True)


def test_a_series_added_or_removed_appears_or_leaves_with_its_routes(client, hub):
    extra = hub / "series" / "late-comers.yaml"
    extra.write_text((hub / "series" / "theory.yaml").read_text(encoding="utf-8").replace(
        "title: Theory Seminar", "title: Late Comers"), encoding="utf-8")
    assert client.get("/late-comers/calendar.ics").status_code == 200
    assert "Late Comers" in client.get("/").get_data(as_text=True)
    assert any(s["slug"] == "late-comers" for s in client.get("/talks.json").get_json()["series"])
    (hub / "series" / "theory.yaml").unlink()
    assert client.get("/theory/calendar.ics").status_code == 404
    cal = icalendar.Calendar.from_ical(client.get("/calendar.ics").data)
    assert not any(str(e["SUMMARY"]).startswith("Theory Seminar") for e in cal.walk("VEVENT"))
    assert client.get("/healthz").status_code == 200


def test_a_series_that_would_repeat_another_series_uids_is_kept_out(hub, clock):
    theory = hub / "series" / "theory.yaml"
    theory.write_text(theory.read_text(encoding="utf-8").replace(
        "id_authority: theory.example.org", "id_authority: efficient@example.org"),
        encoding="utf-8")
    client = app_for(hub, clock).test_client()
    cal = icalendar.Calendar.from_ical(client.get("/archive.ics").data)
    uids = [str(e["UID"]) for e in cal.walk("VEVENT")]
    assert len(uids) == len(set(uids)) == 8  # efficient-ml and kyoto-nlp only
    errors = client.get("/healthz").get_json()["errors"]
    assert any("series/theory.yaml" in e for e in errors)
