"""The talk model: upcoming and past, bylines, defaults and identity."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from feeds.model import (
    CANCELLED,
    DEFAULT_DURATION,
    DEFAULT_LOCATION,
    ID_PATTERN,
    Schedule,
    Series,
    Speaker,
    Talk,
)

BERLIN = ZoneInfo("Europe/Berlin")
SERIES = Series("Series", "", "a@example.org", BERLIN)


def talk(talk_id: str, day: int, **fields) -> Talk:
    return Talk(talk_id, f"Talk {talk_id}", datetime(2026, 4, day, 17, tzinfo=BERLIN),
                DEFAULT_DURATION, **fields)


def test_a_talk_is_upcoming_until_it_ends():
    first, second = talk("a", 13), talk("b", 20)
    schedule = Schedule(SERIES, (first, second))
    during = first.start.astimezone(timezone.utc) + timedelta(minutes=30)
    assert schedule.upcoming(during) == [first, second]
    assert schedule.past(first.end) == [first] and schedule.upcoming(first.end) == [second]
    assert schedule.past(second.end + timedelta(days=1)) == [second, first]  # newest first


def test_byline_with_and_without_affiliations():
    two = talk("a", 13, speakers=(Speaker("Ada", "Analytical Engines"), Speaker("Grace")))
    assert two.byline() == "Ada (Analytical Engines), Grace"
    assert two.byline(affiliations=False) == "Ada, Grace"


def test_defaults_and_status():
    plain = talk("a", 13)
    assert plain.location == DEFAULT_LOCATION == "Online"
    assert plain.duration == timedelta(minutes=60) and not plain.cancelled
    assert dataclasses.replace(plain, status=CANCELLED).cancelled
    assert plain.end - plain.start == plain.duration and plain.zone is BERLIN


def test_the_line_in_the_file_is_not_part_of_a_talks_identity():
    assert talk("a", 13, line=5) == talk("a", 13, line=50)
    assert hash(talk("a", 13, line=5)) == hash(talk("a", 13, line=50))
    assert talk("a", 13) != talk("a", 13, note="changed")


def test_ids_are_url_safe():
    assert ID_PATTERN.fullmatch("2026-04-13-fischer")
    for bad in ("", "-x", "a b", "a/b", "../x", "x" * 101, "é"):
        assert not ID_PATTERN.fullmatch(bad), bad


def test_talks_are_found_by_id():
    schedule = Schedule(SERIES, (talk("a", 13),))
    assert schedule.talk("a") is schedule.talks[0] and schedule.talk("b") is None
