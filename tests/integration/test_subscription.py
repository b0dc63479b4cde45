"""/calendar.ics stays readable by Google Calendar at any archive size: every
upcoming talk, then the most recent past talks that fit well below 1 MB;
/archive.ics keeps every talk. Read back by four calendar readers."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import icalendar
import pytest

from feeds import urls
from feeds.data.loader import parse_schedule
from feeds.data.revisions import advance
from feeds.formats import ical
from feeds.formats.delivery import Resource
from feeds.formats.memo import Kept
from feeds.publish.snapshot import DOCUMENTS, BuildOptions, RenderContext
from feeds.urls import Site

from calendar_readers import READERS
from helpers import ROOT, SITE_URL

sys.path.insert(0, str(ROOT / "bench"))
import synthetic  # noqa: E402

GOOGLE_LIMIT = 1_000_000  # bytes at which Google Calendar stopped reading (researchseminars #777)


@dataclass(frozen=True)
class Calendars:
    """The two calendar routes of a build, rendered as build_snapshot renders
    them (its DOCUMENTS rows), without the 4000 pages these tests never read."""

    site: Site
    routes: dict[str, Resource]


@pytest.fixture(scope="module")
def big():
    """2000 talks, 50 of them still to come."""
    schedule = parse_schedule(synthetic.data_text(2000))
    now = datetime.combine(synthetic.talk_day(1950), datetime.min.time(), timezone.utc)
    revisions = advance({}, schedule, now)
    context = RenderContext.of(schedule, revisions, BuildOptions(Site(SITE_URL)), now)
    memo = Kept()
    routes = {path: Resource(render(context, memo), delivery, context.changed)
              for path, render, delivery in DOCUMENTS if path in (urls.CALENDAR, urls.ARCHIVE)}
    return schedule, now, Calendars(context.site, routes)


def uids(body: bytes) -> list[str]:
    return [str(e["UID"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")]


def test_the_subscription_stays_well_below_googles_limit_with_every_upcoming_talk(big):
    schedule, now, snapshot = big
    body = snapshot.routes["/calendar.ics"].body
    assert len(body) <= ical.SUBSCRIPTION_BYTES < GOOGLE_LIMIT * 0.6
    shown = set(uids(body))
    site = snapshot.site
    upcoming = [t for t in schedule.talks if t.end > now]
    assert len(upcoming) >= 50 and {site.uid(t.id) for t in upcoming} <= shown
    past = [t for t in reversed(schedule.talks) if t.end <= now]
    kept = [t for t in past if site.uid(t.id) in shown]
    assert kept and kept == past[:len(kept)]  # the most recent past talks, none skipped
    assert len(kept) < len(past)


def test_the_archive_holds_every_talk_under_the_same_uids(big):
    schedule, _, snapshot = big
    archive = icalendar.Calendar.from_ical(snapshot.routes["/archive.ics"].body)
    assert len(archive.walk("VEVENT")) == len(schedule.talks)
    assert str(archive["SOURCE"]) == SITE_URL + "/archive.ics"
    subscription = icalendar.Calendar.from_ical(snapshot.routes["/calendar.ics"].body)
    assert str(subscription["SOURCE"]) == SITE_URL + "/calendar.ics"
    by_uid = {str(e["UID"]): e for e in archive.walk("VEVENT")}
    for event in subscription.walk("VEVENT"):
        same = by_uid[str(event["UID"])]
        assert event["SEQUENCE"] == same["SEQUENCE"] and event.start == same.start


def test_only_talks_cancelled_in_the_data_are_marked_cancelled(big):
    schedule, _, snapshot = big
    events = icalendar.Calendar.from_ical(snapshot.routes["/calendar.ics"].body).walk("VEVENT")
    marked = {str(e["UID"]) for e in events if str(e["STATUS"]) == "CANCELLED"}
    shown = {str(e["UID"]) for e in events}
    assert marked == {snapshot.site.uid(t.id) for t in schedule.talks if t.cancelled} & shown


@pytest.mark.parametrize("reader", sorted(READERS))
def test_every_reader_reads_the_windowed_subscription_right(big, reader):
    schedule, _, snapshot = big
    body = snapshot.routes["/calendar.ics"].body
    site = snapshot.site
    expected = {site.uid(t.id): t.start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                for t in schedule.talks}
    got = READERS[reader](body)
    assert got and all(got[uid] == expected[uid] for uid in got)


def test_upcoming_talks_alone_too_big_get_shorter_abstracts(seed):
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)  # every seed talk is upcoming
    revisions = advance({}, seed, now)
    site = Site(SITE_URL)
    full = ical.subscription_feed(seed, revisions, site, now)
    short = ical.subscription_feed(seed, revisions, site, now, budget=len(full) // 2)
    assert len(uids(short)) == len(seed.talks)  # nobody dropped
    events = {str(e["UID"]): e for e in icalendar.Calendar.from_ical(short).walk("VEVENT")}
    glorot = events[site.uid("2026-06-08-seleznova")]
    description = str(glorot["DESCRIPTION"])
    assert "…" in description or "Abstract" not in description
    assert "Talk page: " + SITE_URL + "/talks/2026-06-08-seleznova" in description
    assert len(description) < len(seed.talk("2026-06-08-seleznova").abstract)


def test_the_window_follows_the_clock(seed):
    site = Site(SITE_URL)
    revisions = advance({}, seed, datetime(2026, 1, 1, tzinfo=timezone.utc))
    late = max(t.end for t in seed.talks) + timedelta(days=1)
    tiny = ical.subscription_feed(seed, revisions, site, late, budget=6000)
    shown = uids(tiny)
    newest_first = [site.uid(t.id) for t in reversed(seed.talks)]
    assert shown and set(shown) == set(newest_first[:len(shown)])
    assert len(tiny) <= 6000


def test_a_season_of_upcoming_talks_keeps_every_talk_and_sheds_abstracts_last():
    """Even 600 upcoming talks are all in the subscription, abstracts shortened."""
    schedule = parse_schedule(synthetic.data_text(600))
    now = datetime.combine(synthetic.talk_day(0), datetime.min.time(), timezone.utc)
    body = ical.subscription_feed(schedule, advance({}, schedule, now), Site(SITE_URL), now)
    assert len(body) <= ical.SUBSCRIPTION_BYTES
    assert len(uids(body)) == len(schedule.talks)


def test_the_subscribe_panel_offers_the_full_archive(client):
    import lxml.html

    page = lxml.html.fromstring(client.get("/").data)
    links = page.xpath('//section[@id="subscribe"]//a/@href')
    assert SITE_URL + "/archive.ics" in links
    assert client.get("/archive.ics").status_code == 200
