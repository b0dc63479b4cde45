"""The hub's own views, as pure functions: the subscription window,
CATEGORIES, tags, the embed's options and the series' rhythm."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import icalendar
import pytest

from feeds import urls
from feeds.data.hub import HubInfo
from feeds.data.loader import parse_schedule
from feeds.data.revisions import advance
from feeds.formats import hub, hub_calendars, hub_feeds, hub_pages, ical

from helpers import NOW, hub_series_text

INFO = HubInfo(title="Hub", contact="hub@example.org", id_authority="hub.example.org")
SITE = urls.Site("https://hub.example.org", "hub.example.org")


def view(slug: str, zone: str, tags: tuple[str, ...], talks: int, first: str = "2026-03-02"
         ) -> hub.SeriesView:
    schedule = parse_schedule(hub_series_text(slug, slug.title(), zone, "10:00",
                                              f"{slug}.example.org", tags, talks, first), slug)
    return hub.SeriesView(slug, schedule, advance({}, schedule, NOW),
                          urls.Site(f"https://hub.example.org/{slug}", f"{slug}.example.org"), NOW)


def test_categories_hold_the_series_title_then_its_tags_and_the_talks():
    v = view("alpha", "UTC", ("one", "two"), 2)
    first, second = v.schedule.talks
    assert hub.categories(v.series, first) == ("Alpha", "one", "two")
    assert hub.categories(v.series, second) == ("Alpha", "one", "two", "alpha-special")


def test_items_and_tags_across_series():
    views = [view("alpha", "UTC", ("one",), 2), view("beta", "Asia/Tokyo", ("one", "two"), 2)]
    assert hub.all_tags(views) == {"alpha-special": 1, "beta-special": 1, "one": 4, "two": 2}
    tagged = hub.items(views, "two")
    assert {(i.view.slug, i.talk.id) for i in tagged} == {("beta", "talk-1"), ("beta", "talk-2")}
    starts = [i.talk.start for i in hub.items(views)]
    assert starts == sorted(starts)


def test_the_subscription_keeps_the_soonest_upcoming_talks_within_its_budget():
    views = [view(f"s{n}", "Europe/Berlin", (), 40, first="2026-05-04") for n in range(5)]
    found = hub.items(views)
    head = hub_calendars.calendar_head(INFO, SITE, "Hub", urls.CALENDAR, urls.HOME)
    whole = hub_calendars.combined_calendar(head, found)
    budget = len(whole) // 3
    body = hub_calendars.subscription_calendar(head, found, NOW, budget=budget)
    assert len(body) <= budget
    kept = [e for e in icalendar.Calendar.from_ical(body).walk("VEVENT")]
    assert 0 < len(kept) < len(found)
    latest_kept = max(e["DTSTART"].dt for e in kept)
    left_out = [i for i in found if i.view.site.uid(i.talk.id) not in {str(e["UID"]) for e in kept}]
    assert all(i.talk.start >= latest_kept for i in left_out)  # the soonest are kept


def test_the_subscription_adds_the_latest_past_talks_when_there_is_room():
    views = [view("alpha", "UTC", (), 6, first="2026-02-02")]
    found = hub.items(views)
    head = hub_calendars.calendar_head(INFO, SITE, "Hub", urls.CALENDAR, urls.HOME)
    body = hub_calendars.subscription_calendar(head, found, NOW)
    assert len(icalendar.Calendar.from_ical(body).walk("VEVENT")) == 6


def test_embed_options_from_a_query():
    options = hub_pages.HubEmbedOptions.from_query(
        [("series", "b,a,b"), ("tag", "x"), ("limit", "2")], ["a", "b"], ["x"])
    assert (options.series, options.tag, options.limit) == (("a", "b"), "x", 2)
    for bad in ([("series", "c")], [("tag", "y")], [("tag", "x"), ("tag", "x")],
                [("show", "never")], [("series", ",")]):
        with pytest.raises(ValueError):
            hub_pages.HubEmbedOptions.from_query(bad, ["a", "b"], ["x"])


def test_the_hub_page_says_when_each_series_meets():
    views = [view("alpha", "America/New_York", (), 4), view("beta", "UTC", (), 1)]
    page = hub_pages.home(INFO, SITE, views, hub.items(views), NOW - timedelta(days=60)).decode()
    assert "Every other Monday at 10:00 New York time" in page
    assert page.count('class="rhythm"') == 1  # one talk shows no rhythm


def test_the_hub_page_escapes_what_the_files_say():
    hostile = HubInfo(title='<script>alert(1)</script> "Hub"', description="<b>bold</b>")
    v = view("alpha", "UTC", (), 1)
    page = hub_pages.home(hostile, SITE, [v], hub.items([v]), NOW - timedelta(days=60)).decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert "<b>bold</b>" not in page


def test_the_combined_feed_keeps_each_series_ids_and_names_its_hub():
    v = view("alpha", "UTC", ("one",), 2)
    where = hub_feeds.FeedAddresses("Hub", "", SITE.tag("feed"), urls.RSS, urls.ATOM, urls.HOME)
    body = hub_feeds.combined_feed(INFO, SITE, hub_feeds.entries(hub.items([v])), where, 100,
                                   rss=False)
    assert b"tag:alpha.example.org,2026:talk/talk-1" in body
    assert b"<id>tag:hub.example.org,2026:feed</id>" in body


@pytest.mark.parametrize("series_categories", [(), ("Efficient ML", "Reading group"),
                                               ("Z, z; " * 30,)])
@pytest.mark.parametrize("names", [("Alpha",), ("Alpha", "one", "two"),
                                   ("Ä long, comma; name " * 6, "x" * 90, "ünïcode")])
def test_an_events_categories_are_replaced_as_icalendar_writes_them(series_categories, names):
    """The hub's event is its series' serialized event with another
    CATEGORIES line: byte for byte what ical.talk_event writes with them."""
    v = view("alpha", "Europe/Berlin", ("one",), 2)
    for talk in v.schedule.talks:
        series = dataclasses.replace(v.series, categories=series_categories)
        revision = v.revisions[talk.id]
        event = ical.event_bytes(talk, revision, series, v.site)
        expected = ical.event_bytes(talk, revision,
                                    dataclasses.replace(series, categories=names), v.site)
        assert hub_calendars.with_categories(event, hub_calendars.categories_line(names)) == expected
