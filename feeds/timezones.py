"""Every time-zone fact: zone lookup, wall-clock checks, display, and the
transitions that a VTIMEZONE describes. All of it comes from the tz database."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

UTC = timezone.utc
#: The earliest moment any date here takes: "never" for sorting and maxima.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UTC_STAMP = "%Y-%m-%dT%H:%M:%SZ"  # ISO 8601 in UTC, to the second

# Zones shown next to each talk on the pages, besides the series zone.
DISPLAY_ZONES: tuple[tuple[str, str], ...] = (
    ("UTC", "UTC"),
    ("New York", "America/New_York"),
    ("Los Angeles", "America/Los_Angeles"),
    ("Tokyo", "Asia/Tokyo"),
)


class WallClockError(ValueError):
    """A local time that does not exist or happens twice in its zone."""


#: Files in a zone directory that are not zones of the tz database: the
#: machine's own zone, a POSIX default rule and a placeholder zone.
NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@cache
def zone_names() -> frozenset[str]:
    """Every zone of the tz database."""
    return frozenset(available_timezones()) - NOT_ZONES


@cache
def get_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; raises ZoneInfoNotFoundError for a name that is
    not a zone of the tz database (``localtime`` depends on the machine)."""
    if not isinstance(name, str) or name not in zone_names():
        raise ZoneInfoNotFoundError(name)
    try:
        return ZoneInfo(name)
    except (ValueError, OSError) as exc:  # e.g. "../x" or a directory name
        raise ZoneInfoNotFoundError(name) from exc


def localize(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The aware datetime for a wall-clock time, refusing gaps and overlaps."""
    naive = datetime.combine(day, clock)
    early = naive.replace(tzinfo=zone, fold=0)
    late = naive.replace(tzinfo=zone, fold=1)
    if early.utcoffset() != late.utcoffset():
        roundtrip = early.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if roundtrip != naive:
            raise WallClockError(
                f"{clock:%H:%M} on {day} does not exist in {zone.key}: "
                "the clocks jump forward then; pick a time outside the gap"
            )
        raise WallClockError(
            f"{clock:%H:%M} on {day} happens twice in {zone.key}: "
            "the clocks fall back then; pick a time outside that hour"
        )
    return early


def to_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def abbreviation(moment: datetime) -> str:
    """The zone abbreviation in force at `moment`, e.g. CET or CEST."""
    return moment.tzname() or ""


def format_when(moment: datetime, month: str = "%b") -> str:
    """'Mon 13 Apr 2026, 17:00 CEST' in the zone of `moment`."""
    return moment.strftime(f"%a {moment.day} {month} %Y, %H:%M ") + abbreviation(moment)


def when(moment: datetime) -> str:
    """'Mon 13 April 2026, 17:00 CEST': a talk's start as the site shows it."""
    return format_when(moment, month="%B")


def format_clock(moment: datetime) -> str:
    """'11:00 EDT': the time of day with its abbreviation."""
    return f"{moment:%H:%M} {abbreviation(moment)}"


def in_display_zones(moment: datetime) -> list[tuple[str, datetime]]:
    """`moment` as seen in each of DISPLAY_ZONES."""
    return [(label, moment.astimezone(get_zone(key) if key != "UTC" else UTC))
            for label, key in DISPLAY_ZONES]


def isoformat_utc(moment: datetime) -> str:
    """'2026-04-13T15:00:00Z'."""
    return moment.astimezone(UTC).strftime(UTC_STAMP)


_UTC_TEXT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def parse_utc(text: str) -> datetime:
    """The instant of an isoformat_utc() stamp; ValueError if it is not one
    (a stamp in exactly that layout is read by fromisoformat, ten times faster)."""
    if _UTC_TEXT.fullmatch(text):
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    return datetime.strptime(text, UTC_STAMP).replace(tzinfo=UTC)


def basic_utc(moment: datetime) -> str:
    """'20260413T150000Z': ISO 8601 basic format, as calendar links want it."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def isoformat_local(moment: datetime) -> str:
    """'2026-04-13T17:00:00+02:00': the wall-clock time with its offset."""
    return moment.isoformat(timespec="seconds")


def format_clock_beside(moment: datetime, reference: datetime) -> str:
    """format_clock, led by the weekday when `moment` falls on another day
    than `reference` does in its own zone: '00:00 JST' or 'Tue 00:00 JST'."""
    clock = format_clock(moment)
    return clock if moment.date() == reference.date() else f"{moment:%a} {clock}"


def display_clocks(moment: datetime) -> list[str]:
    """'New York 11:00 EDT' for each of DISPLAY_ZONES ('15:00 UTC' where the
    label is the abbreviation), the weekday added where the day differs
    from `moment`'s own."""
    shown = []
    for label, local in in_display_zones(moment):
        clock = format_clock_beside(local, moment)
        shown.append(clock if label == abbreviation(local) else f"{label} {clock}")
    return shown


def clock_range(start: datetime, end: datetime) -> str:
    """'17:00–18:00 CEST' in the zone of `start`; each end keeps its own
    abbreviation across a switch ('01:30 CET–03:30 CEST') and the end its
    weekday on another day ('23:30–Tue 00:30 CET')."""
    end = end.astimezone(start.tzinfo)
    first, last = abbreviation(start), abbreviation(end)
    finish = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%a %H:%M}"
    if first == last:
        return f"{start:%H:%M}–{finish} {first}"
    return f"{start:%H:%M} {first}–{finish} {last}"


def when_range(start: datetime, end: datetime, month: str = "%B") -> str:
    """'Mon 13 April 2026, 17:00–18:00 CEST': a talk's time as the site shows it."""
    return start.strftime(f"%a {start.day} {month} %Y, ") + clock_range(start, end)


def short_when(moment: datetime) -> str:
    """'Mon 14 Dec, 17:00 CET': a start without its year, in the zone of `moment`."""
    return f"{moment:%a} {moment.day} {moment:%b}, {format_clock(moment)}"


def day_month(moment: datetime) -> str:
    """'Mon 14 December': the day without its year, in the zone of `moment`."""
    return f"{moment:%a} {moment.day} {moment:%B}"


def day_label(moment: datetime) -> str:
    """'Mon 13 April 2026': the day alone, in the zone of `moment`."""
    return f"{moment:%a} {moment.day} {moment:%B %Y}"
