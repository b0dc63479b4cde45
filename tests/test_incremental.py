"""Memoised rendering: calendars composed from per-talk serializations are
exactly what icalendar writes, and a rebuild after edits is byte for byte a
cold build, while re-rendering only the talks that changed."""

from __future__ import annotations

import dataclasses
import random
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import NOW, ROOT, SITE_URL, revisions_for
from feeds import ical, pages, snapshot, timezones
from feeds.loader import parse_schedule
from feeds.revisions import advance
from feeds.snapshot import BuildOptions, build_snapshot
from feeds.urls import Site

sys.path.insert(0, str(ROOT / "bench"))
import synthetic  # noqa: E402

SITE = Site(SITE_URL)
CACHES = (ical.event_bytes, ical.vtimezone_bytes,
          snapshot._talk_ics, pages.talk_page, timezones.observances)


def clear_caches() -> None:
    for cached in CACHES:
        cached.cache_clear()


def reference_feed(schedule, revisions, site, join_urls=None) -> bytes:
    """calendar_feed as one icalendar Calendar, serialized by icalendar."""
    return ical.calendar_object(schedule, revisions, site, join_urls).to_ical()


def reference_talk_file(talk, revision, series, site) -> bytes:
    cal = ical._calendar(series, site)
    cal.add_component(ical.vtimezone(talk.zone.key, talk.day, talk.day))
    cal.add_component(ical.talk_event(talk, revision, series, site))
    return cal.to_ical()


def assert_like_icalendar(schedule, site=SITE) -> None:
    revisions = revisions_for(schedule)
    assert ical.calendar_feed(schedule, revisions, site) == reference_feed(schedule, revisions, site)
    joins = {t.id: f"https://meet.example.org/{t.id}" for t in schedule.talks[::2]}
    assert ical.calendar_feed(schedule, revisions, site, join_urls=joins) == \
        reference_feed(schedule, revisions, site, joins)
    for talk in schedule.talks:
        assert ical.talk_file(talk, revisions[talk.id], schedule.series, site) == \
            reference_talk_file(talk, revisions[talk.id], schedule.series, site), talk.id


def test_the_seed_calendars_are_what_icalendar_writes(seed):
    clear_caches()
    assert_like_icalendar(seed)
    assert_like_icalendar(seed)  # and again from the caches


def test_many_zones_and_years_are_what_icalendar_writes():
    """Talks on every weekday of three years, in four zones (the VTIMEZONE of
    a day is kept per year; this checks that every day agrees)."""
    clear_caches()
    text = synthetic.data_text(700).replace("2026-", "2025-", 40)
    schedule = parse_schedule(text)
    assert len({t.zone.key for t in schedule.talks}) == 4
    assert len({t.day.year for t in schedule.talks}) >= 2
    assert_like_icalendar(schedule)


TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\n,;:\\\"\ufeff"),
               max_size=400)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=TEXT.filter(str.strip), abstract=TEXT, note=TEXT)
def test_any_text_is_composed_as_icalendar_writes_it(seed, title, abstract, note):
    talk = dataclasses.replace(seed.talks[3], title=title, abstract=abstract, note=note)
    revision = revisions_for(seed)[talk.id]
    assert ical.talk_file(talk, revision, seed.series, SITE) == \
        reference_talk_file(talk, revision, seed.series, SITE)
    schedule = dataclasses.replace(seed, talks=(*seed.talks[:3], talk, *seed.talks[4:]),
                                   _by_id={})
    revisions = revisions_for(schedule)
    assert ical.calendar_feed(schedule, revisions, SITE) == reference_feed(schedule, revisions, SITE)


# --- incremental rebuilds -----------------------------------------------------------

def edits(text: str, rng: random.Random):
    """A season of edits: retitles, a new talk, a removed talk, a moved
    talk, a cancellation, comments that move every line, a series edit."""
    ids = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("  - id: ")]
    for step in range(8):
        target = rng.choice(ids)
        block_start = text.index(f"  - id: {target}\n")
        kind = step % 6
        if kind == 0:
            text = text.replace(f"  - id: {target}\n", f"  - id: {target}\n    note: edit {step}\n", 1)
        elif kind == 1:
            text = text.replace("talks:\n", "talks:\n# a comment\n\n", 1)  # every line moves
        elif kind == 2:
            text += (f"\n  - id: added-{step}\n    date: 2026-04-20\n"
                     f"    title: Added talk {step}\n")
        elif kind == 3:
            end = text.find("\n  - id: ", block_start + 1)
            text = text[:block_start] + (text[end + 1:] if end != -1 else "")
            ids.remove(target)
        elif kind == 4:
            text = text.replace(f"  - id: {target}\n", f"  - id: {target}\n    status: cancelled\n", 1)
        else:
            text = text.replace("title: Efficient ML Reading Group",
                                f"title: Efficient ML Reading Group {step}", 1)
        yield text


@pytest.mark.parametrize("seed_value", [1, 2])
def test_rebuilds_after_edits_are_cold_builds(seed_value):
    rng = random.Random(seed_value)
    text = (ROOT / "data" / "talks.yaml").read_text()
    options = BuildOptions(SITE)
    revisions: dict = {}
    now = NOW
    for edited in edits(text, rng):
        now += timedelta(days=3)  # talks end between edits, too
        schedule = parse_schedule(edited)
        revisions = advance(revisions, schedule, now)
        warm = build_snapshot(schedule, revisions, options, now)
        clear_caches()
        cold = build_snapshot(schedule, revisions, options, now)
        assert warm.routes.keys() == cold.routes.keys()
        for path in cold.routes:
            assert warm.routes[path] == cold.routes[path], path


def test_an_edit_renders_one_talk_again():
    text = synthetic.data_text(40)
    options = BuildOptions(SITE)
    now = synthetic.now_for(40)
    schedule = parse_schedule(text)
    revisions = advance({}, schedule, now)
    build_snapshot(schedule, revisions, options, now)
    per_talk = (ical.event_bytes, pages.talk_page, pages.talk_article)

    def renders() -> list[int]:
        return [cached.cache_info().misses for cached in per_talk]

    # Comments above every talk move all line numbers: nothing is rendered again.
    before = renders()
    moved = parse_schedule(text.replace("talks:\n", "talks:\n# moved\n# again\n"))
    build_snapshot(moved, advance(revisions, moved, now), options, now)
    assert renders() == before
    # One retitled talk: its event (shared by both calendars), its page, and
    # its article as the series page and its own page show it.
    edited = parse_schedule(synthetic.data_text(40, edited=7))
    build_snapshot(edited, advance(revisions, edited, now), options, now)
    assert [after - was for after, was in zip(renders(), before)] == [1, 1, 2]
