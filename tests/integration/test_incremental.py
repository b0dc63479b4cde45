"""Memoised rendering: calendars composed from per-talk serializations are
exactly what icalendar writes, and a rebuild after edits is byte for byte a
cold build, while re-rendering only the talks that changed."""

from __future__ import annotations

import dataclasses
import random
import sys
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.data.loader import parse_schedule
from feeds.data.revisions import advance
from feeds.formats import ical, pages
from feeds.formats.memo import Kept
from feeds.publish.snapshot import BuildOptions, build_snapshot
from feeds.urls import Site

from helpers import NOW, ROOT, SITE_URL, revisions_for

sys.path.insert(0, str(ROOT / "bench"))
import synthetic  # noqa: E402

SITE = Site(SITE_URL)


class CountingMemo(Kept):
    """A memo that counts, per function, the calls it did not have kept."""

    def __init__(self) -> None:
        super().__init__()
        self.misses: dict[object, int] = {}

    def __call__(self, function, /, *args):
        if (function, *args) not in self:
            self.misses[function] = self.misses.get(function, 0) + 1
        return super().__call__(function, *args)


def reference_feed(schedule, revisions, site, join_urls=None) -> bytes:
    """calendar_feed as one icalendar Calendar, serialized by icalendar."""
    return ical.calendar_object(schedule, revisions, site, join_urls).to_ical()


def reference_talk_file(talk, revision, series, site) -> bytes:
    cal = ical._calendar(site)
    cal.add_component(ical.vtimezone(talk.zone.key, talk.day, talk.day))
    cal.add_component(ical.talk_event(talk, revision, series, site))
    return cal.to_ical()


def assert_like_icalendar(schedule, site=SITE, memo=None) -> None:
    memo = memo or Kept()
    revisions = revisions_for(schedule)
    assert ical.calendar_feed(schedule, revisions, site, memo=memo) == \
        reference_feed(schedule, revisions, site)
    joins = {t.id: f"https://meet.example.org/{t.id}" for t in schedule.talks[::2]}
    assert ical.calendar_feed(schedule, revisions, site, join_urls=joins, memo=memo) == \
        reference_feed(schedule, revisions, site, joins)
    for talk in schedule.talks:
        assert ical.talk_file(talk, revisions[talk.id], schedule.series, site, memo) == \
            reference_talk_file(talk, revisions[talk.id], schedule.series, site), talk.id


def test_the_seed_calendars_are_what_icalendar_writes(seed):
    memo = Kept()
    assert_like_icalendar(seed, memo=memo)
    assert_like_icalendar(seed, memo=memo)  # and again from what was kept


def test_many_zones_and_years_are_what_icalendar_writes():
    """Talks on every weekday of three years, in four zones (the VTIMEZONE of
    a day is kept per year; this checks that every day agrees)."""
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
    warm_memo = Kept()
    for edited in edits(text, rng):
        now += timedelta(days=3)  # talks end between edits, too
        schedule = parse_schedule(edited)
        revisions = advance(revisions, schedule, now)
        warm = build_snapshot(schedule, revisions, options, now, warm_memo)
        cold = build_snapshot(schedule, revisions, options, now, Kept())
        assert warm.routes.keys() == cold.routes.keys()
        for path in cold.routes:
            assert warm.routes[path] == cold.routes[path], path


def test_an_edit_renders_one_talk_again():
    text = synthetic.data_text(40)
    options = BuildOptions(SITE)
    now = synthetic.now_for(40)
    schedule = parse_schedule(text)
    revisions = advance({}, schedule, now)
    memo = CountingMemo()
    build_snapshot(schedule, revisions, options, now, memo)
    per_talk = (ical.event_bytes, pages.talk_page, pages.talk_article, pages.past_item)

    def renders() -> list[int]:
        return [memo.misses.get(function, 0) for function in per_talk]

    # Comments above every talk move all line numbers: nothing is rendered again.
    before = renders()
    moved = parse_schedule(text.replace("talks:\n", "talks:\n# moved\n# again\n"))
    build_snapshot(moved, advance(revisions, moved, now), options, now, memo)
    assert renders() == before
    # One retitled talk: its event (shared by both calendars), its page and
    # the pages of its neighbours (which link it by title), and the talk as
    # the series page and its own page show it.
    edited = parse_schedule(synthetic.data_text(40, edited=7))
    (changed,) = set(edited.talks) - set(schedule.talks)
    neighbours = sum(t is not None for t in edited.neighbours(changed))
    build_snapshot(edited, advance(revisions, edited, now), options, now, memo)
    events, talk_pages, articles, past_items = (
        after - was for after, was in zip(renders(), before, strict=True))
    assert (events, talk_pages, articles + past_items) == (1, 1 + neighbours, 2)
