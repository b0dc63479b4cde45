"""Every time-zone fact: zone lookup, wall-clock checks, display, and the
transitions that a VTIMEZONE describes. All of it comes from the tz database."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import cache, lru_cache
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


def parse_utc(text: str) -> datetime:
    """The instant of an isoformat_utc() stamp; ValueError if it is not one."""
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


# --- VTIMEZONE observances -------------------------------------------------

@dataclass(frozen=True)
class Observance:
    """One STANDARD or DAYLIGHT block: a transition that recurs yearly
    (``byday`` set) from ``start`` until ``until``, or happens once."""

    daylight: bool
    name: str
    offset_from: timedelta
    offset_to: timedelta
    start: datetime  # naive local wall-clock time, in offset_from
    month: int = 0
    byday: str = ""  # e.g. "-1SU" or "2SU"; empty for a single transition
    until: datetime | None = None  # aware UTC of the last occurrence


@dataclass(frozen=True)
class _Transition:
    at: datetime  # aware UTC instant
    offset_from: timedelta
    offset_to: timedelta
    name: str
    daylight: bool

    @property
    def local(self) -> datetime:
        return (self.at + self.offset_from).replace(tzinfo=None)


def _state(zone: ZoneInfo, moment: datetime) -> tuple[timedelta, str, bool]:
    local = moment.astimezone(zone)
    return local.utcoffset() or timedelta(0), local.tzname() or "", bool(local.dst())


def _transitions(zone: ZoneInfo, first: date, last: date) -> list[_Transition]:
    step = timedelta(hours=12)
    moment = datetime.combine(first, time(), UTC)
    end = datetime.combine(last, time(), UTC)
    found: list[_Transition] = []
    state = _state(zone, moment)
    while moment < end:
        nxt = moment + step
        new = _state(zone, nxt)
        if new != state:
            low, high = moment, nxt  # state(low) == old, state(high) == new
            while high - low > timedelta(seconds=1):
                mid = low + (high - low) / 2
                mid = mid.replace(microsecond=0)
                if mid <= low:
                    break
                if _state(zone, mid) == state:
                    low = mid
                else:
                    high = mid
            found.append(_Transition(high, state[0], new[0], new[1], new[2]))
            state = new
        moment = nxt
    return found


def _weekday_rules(day: date) -> set[str]:
    """The RRULE BYDAY values that name `day` within its month."""
    code = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[day.weekday()]
    rules = {f"{(day.day - 1) // 7 + 1}{code}"}
    if day.day + 7 > calendar.monthrange(day.year, day.month)[1]:
        rules.add(f"-1{code}")
    return rules


@lru_cache(maxsize=256)
def observances(zone: ZoneInfo, first: date, last: date) -> tuple[Observance, ...]:
    """Observances that describe `zone` correctly for every day from `first`
    to `last`, each transition pattern as one yearly rule (the form Outlook
    reads). A zone without transitions gets one fixed observance."""
    span_start = date(first.year - 1, 1, 1)
    span_end = date(last.year + 2, 1, 1)
    transitions = _transitions(zone, span_start, span_end)
    if not transitions:
        offset, name, daylight = _state(zone, datetime.combine(first, time(), UTC))
        return (Observance(daylight, name, offset, offset, datetime(1970, 1, 1)),)

    groups: list[tuple[list[_Transition], set[str]]] = []
    for tr in transitions:
        key = (tr.daylight, tr.name, tr.offset_from, tr.offset_to,
               tr.local.month, tr.local.time())
        rules = _weekday_rules(tr.local.date())
        for members, common in groups:
            prev = members[-1]
            prev_key = (prev.daylight, prev.name, prev.offset_from, prev.offset_to,
                        prev.local.month, prev.local.time())
            if prev_key == key and prev.local.year + 1 == tr.local.year and common & rules:
                members.append(tr)
                common &= rules
                break
        else:
            groups.append(([tr], rules))

    # A pattern still running in the span's last year continues: no UNTIL.
    last_year = span_end.year - 1
    result = []
    for members, common in groups:
        head, tail = members[0], members[-1]
        # Prefer "last Sunday" over "5th Sunday" where both fit.
        byday = max(common, key=lambda r: r.startswith("-")) if len(members) > 1 else ""
        ongoing = tail.local.year >= last_year
        result.append(Observance(
            daylight=head.daylight, name=head.name,
            offset_from=head.offset_from, offset_to=head.offset_to,
            start=head.local, month=head.local.month if byday else 0, byday=byday,
            until=None if (ongoing or not byday) else tail.at,
        ))
    return tuple(sorted(result, key=lambda o: o.start))
