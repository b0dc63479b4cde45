"""What `feeds add` makes of the organiser's input (a `NewTalk`), each piece
checked: the speakers, the next free slot of the series, the talk's id and its
time; and `EditError`, which every edit of the data file raises."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from feeds.data.yaml_reader import TIME_PATTERN
from feeds.model import ID_PATTERN, Link, Schedule, Speaker

RECENT = 6  # how many of the last talks set the series' rhythm
_FOLD = str.maketrans({"ß": "ss", "ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe",
                       "Œ": "oe", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "þ": "th", "ı": "i"})


class EditError(ValueError):
    """An edit that cannot be made; nothing was written."""


@dataclass(frozen=True)
class NewTalk:
    """A talk to add, as the organiser gave it."""

    id: str
    day: date
    title: str
    speakers: tuple[Speaker, ...]
    abstract: str = ""
    links: tuple[Link, ...] = ()
    time: str = ""  # "HH:MM", or "" for the series' time


def parse_speaker(text: str) -> Speaker:
    """`Name, Affiliation`: the first comma ends the name; the affiliation may
    hold more commas."""
    name, _, affiliation = text.partition(",")
    name, affiliation = " ".join(name.split()), " ".join(affiliation.split())
    if not name:
        raise EditError(f"--speaker {text!r} has no name; write \"Name, Affiliation\"")
    return Speaker(name=name, affiliation=affiliation)


def next_slot(schedule: Schedule, today: date) -> tuple[date, str]:
    """The series' next regular slot on or after `today` that has no talk yet,
    and how it was chosen. The rhythm is the most common gap in days between
    the last talks (ties: the shorter gap), counted from the last talk."""
    days = sorted({talk.day for talk in schedule.talks})
    if not days:
        raise EditError("the file has no talks to take the series' rhythm from; give --date")
    recent = days[-RECENT:]
    gaps = Counter(b.toordinal() - a.toordinal() for a, b in zip(recent, recent[1:], strict=False))
    gap = min(gaps, key=lambda g: (-gaps[g], g)) if gaps else 7
    weekday = Counter(d.weekday() for d in recent).most_common(1)[0][0]
    taken = set(days)
    last = days[-1]
    if gap % 7 == 0:  # a weekly rhythm: keep to its grid, holes included
        k = -((last - today).days // gap)  # the first grid day on or after today
        day = last + timedelta(days=k * gap)
        while day in taken:
            day += timedelta(days=gap)
        how = f"every {gap} days, counted from the last talk on {last.isoformat()}"
    else:  # an irregular rhythm: the usual weekday
        day = today + timedelta(days=(weekday - today.weekday()) % 7)
        while day in taken:
            day += timedelta(days=7)
        how = "the series' usual weekday"
    return day, f"{day.strftime('%a')} {day.isoformat()}: the next free slot ({how})"


def _slug(name: str) -> str:
    """The ascii-folded, lower-case surname (last word) of `name`."""
    surname = name.split()[-1] if name.split() else ""
    folded = unicodedata.normalize("NFKD", surname.translate(_FOLD))
    ascii_only = folded.encode("ascii", "ignore").decode().lower()
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "", ascii_only)).strip("-")


def make_id(day: date, speakers: tuple[Speaker, ...] | list[Speaker], taken: set[str]) -> str:
    """`2027-01-11-muennighoff`: the date and the speakers' surnames, made unique
    with -2, -3 …"""
    slugs = [s for s in (_slug(sp.name) for sp in speakers) if s]
    base = "-".join([day.isoformat(), *slugs]) if slugs else f"{day.isoformat()}-talk"
    if len(base) > 90:
        base = f"{day.isoformat()}-{slugs[0][:70]}-et-al"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def check_id(talk_id: str, taken: set[str]) -> None:
    """An id given by hand: URL-safe and not used yet."""
    if not ID_PATTERN.fullmatch(talk_id):
        raise EditError(f"id {talk_id!r} is not URL-safe; use letters, digits, '-' and '_' "
                        "only, e.g. 2026-04-13-fischer")
    if talk_id in taken:
        raise EditError(f"id {talk_id!r} is already used by another talk; every talk needs "
                        "its own id")


def check_time(value: str) -> str:
    """A start time given by hand, as HH:MM."""
    if not TIME_PATTERN.fullmatch(value.strip()):
        raise EditError(f"--time {value!r} is not a time of day; write it as HH:MM, e.g. 17:00")
    hours, minutes = value.strip().split(":")
    return f"{int(hours):02d}:{minutes}"
