"""When a series usually meets: said by the organisers, or read off the talks."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from feeds.data.loader import parse_schedule
from feeds.formats.rhythm import rhythm
from feeds.model import Schedule

HEAD = """\
series:
  title: Test Series
  contact: x@example.org
  timezone: {zone}
  time: "17:00"
{extra}talks:
"""


def schedule(days: list[date], zone: str = "Europe/Berlin", extra: str = "",
             times: dict[int, str] | None = None, cancelled: tuple[int, ...] = ()) -> Schedule:
    text = HEAD.format(zone=zone, extra=extra)
    for i, day in enumerate(days):
        text += f"  - id: t{i}\n    date: {day.isoformat()}\n    title: Talk {i}\n"
        if i in (times or {}):
            text += f'    time: "{times[i]}"\n'
        if i in cancelled:
            text += "    status: cancelled\n"
    return parse_schedule(text, "talks.yaml")


def every(weeks: int, count: int, first: date = date(2026, 3, 2)) -> list[date]:
    return [first + timedelta(weeks=weeks * i) for i in range(count)]


def test_the_seed_meets_every_other_monday_at_five_in_berlin(seed):
    # The seed's last six talks: 30 March to 8 June 2026, Mondays two weeks apart.
    assert rhythm(seed) == "Every other Monday at 17:00 Berlin time"


@pytest.mark.parametrize("weeks, said", [(1, "Every Monday"), (2, "Every other Monday"),
                                          (4, "Every fourth Monday")])
def test_the_cadence_is_named(weeks, said):
    assert rhythm(schedule(every(weeks, 5))) == f"{said} at 17:00 Berlin time"


def test_a_skipped_week_and_the_dst_switch_keep_the_rhythm():
    days = every(2, 6)  # 2 March to 11 May 2026: Berlin's clocks change on 29 March
    del days[3]  # one session skipped (a four-week gap)
    assert rhythm(schedule(days)) == "Every other Monday at 17:00 Berlin time"


def test_the_time_is_read_in_the_series_zone():
    assert rhythm(schedule(every(1, 4), zone="America/Argentina/Buenos_Aires")) == (
        "Every Monday at 17:00 Buenos Aires time")
    assert rhythm(schedule(every(1, 4), zone="UTC")) == "Every Monday at 17:00 UTC"


@pytest.mark.parametrize("case", ["too few", "other weekday", "other time", "irregular"])
def test_no_rhythm_is_made_up(case):
    days = every(2, 5)
    times = None
    if case == "too few":
        days = days[:2]
    elif case == "other weekday":
        days[-1] += timedelta(days=1)
    elif case == "other time":
        times = {4: "18:00"}
    else:
        days = [date(2026, 3, 2), date(2026, 3, 9), date(2026, 4, 13), date(2026, 5, 25),
                date(2026, 6, 1)]  # gaps of 1, 5, 6 and 1 weeks
    assert rhythm(schedule(days, times=times)) == ""


def test_cancelled_talks_are_not_part_of_the_rhythm():
    days = every(2, 5)
    days.insert(2, days[1] + timedelta(days=3))  # a Thursday, cancelled
    assert rhythm(schedule(days, cancelled=(2,))) == "Every other Monday at 17:00 Berlin time"


def test_the_organisers_words_come_first():
    said = schedule(every(3, 2), extra='  rhythm: "Monthly, usually on a Monday"\n')
    assert rhythm(said) == "Monthly, usually on a Monday"
