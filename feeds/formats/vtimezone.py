"""VTIMEZONE observances from the tz database: a zone's transitions over a
span of years, read from its TZif file (RFC 8536) and POSIX TZ footer where
it has one (searched with zoneinfo otherwise), grouped into the yearly
STANDARD and DAYLIGHT rules that calendar clients read."""

from __future__ import annotations

import calendar
import importlib.resources
import os
import re
import struct
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from feeds.timezones import UTC


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
    until: datetime | None = None  # aware UTC: UNTIL_MARGIN after the last occurrence


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


def _search_transitions(zone: ZoneInfo, first: date, last: date) -> list[_Transition]:
    """Transitions found by asking `zone` every 12 hours, then bisecting to the
    second: slow (about 0.85 s for a thousand years), used only where the
    zone's TZif file cannot be read."""
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


# --- the TZif file (RFC 8536) that zoneinfo reads ----------------------------

class TZifError(ValueError):
    """A TZif file or POSIX TZ footer this module cannot read."""


def tzif_bytes(key: str) -> bytes | None:
    """The TZif file zoneinfo loads for `key`: the first match on
    zoneinfo.TZPATH, else the tzdata package's copy; None if neither has it."""
    if not key or key.startswith("/") or ".." in key.split("/"):
        return None
    for root in zoneinfo.TZPATH:
        path = os.path.join(root, key)
        if os.path.isfile(path):
            with open(path, "rb") as handle:
                return handle.read()
    try:
        resource = importlib.resources.files("tzdata.zoneinfo").joinpath(*key.split("/"))
        return resource.read_bytes() if resource.is_file() else None
    except (ModuleNotFoundError, OSError, ValueError):
        return None


def _tzif_table(data: bytes) -> tuple[list[int], str]:
    """The transition instants (Unix seconds) of a TZif file and its POSIX TZ
    footer ('' for a version 1 file): the 64-bit block where there is one."""
    header = struct.Struct(">4sc15x6l")
    if len(data) < header.size or data[:4] != b"TZif":
        raise TZifError("not a TZif file")
    _, version, isut, isstd, leap, count, types, chars = header.unpack_from(data)
    width = 4
    offset = header.size
    if version != b"\0":  # skip the 32-bit block to the 64-bit one
        offset += count * 5 + types * 6 + chars + leap * 8 + isstd + isut
        _, _, isut, isstd, leap, count, types, chars = header.unpack_from(data, offset)
        offset += header.size
        width = 8
    times = list(struct.unpack_from(f">{count}{'q' if width == 8 else 'l'}", data, offset))
    if version == b"\0":
        return times, ""
    offset += count * (width + 1) + types * 6 + chars + leap * (width + 4) + isstd + isut
    footer = data[offset:].split(b"\n")
    if len(footer) < 3 or footer[0] != b"":
        raise TZifError("no POSIX TZ footer")
    return times, footer[1].decode("ascii")


_POSIX_NAME = r"(?:[A-Za-z]{3,}|<[+\-A-Za-z0-9]{3,}>)"
_POSIX_CLOCK = r"[+-]?\d{1,3}(?::\d{1,2}){0,2}"
_POSIX_DATE = r"(?:M\d{1,2}\.\d\.\d|J\d{1,3}|\d{1,3})"
_POSIX_TZ = re.compile(
    rf"(?P<std>{_POSIX_NAME})(?P<stdoff>{_POSIX_CLOCK})"
    rf"(?:(?P<dst>{_POSIX_NAME})(?P<dstoff>{_POSIX_CLOCK})?"
    rf",(?P<start>{_POSIX_DATE})(?:/(?P<starttime>{_POSIX_CLOCK}))?"
    rf",(?P<end>{_POSIX_DATE})(?:/(?P<endtime>{_POSIX_CLOCK}))?)?")


def _posix_seconds(text: str) -> int:
    """'-2', '5:30', '+167:59:59' as signed seconds."""
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")] + [0, 0]
    return sign * (parts[0] * 3600 + parts[1] * 60 + parts[2])


def _posix_day(rule: str, year: int) -> date:
    """The day a POSIX TZ date (Mm.w.d, Jn or n) names in `year`."""
    if rule.startswith("M"):
        month, week, weekday = (int(p) for p in rule[1:].split("."))
        first = date(year, month, 1)
        day = 1 + (weekday - (first.weekday() + 1) % 7) % 7 + (week - 1) * 7
        length = calendar.monthrange(year, month)[1]
        while day > length:  # week 5 is the month's last such weekday
            day -= 7
        return date(year, month, day)
    if rule.startswith("J"):  # 1..365, February 29 never counted
        number = int(rule[1:])
        leap_shift = 1 if calendar.isleap(year) and number >= 60 else 0
        return date(year, 1, 1) + timedelta(days=number - 1 + leap_shift)
    # n, February 29 counted: POSIX counts from 0, CPython's zoneinfo from 1
    # (Jan 1 + n - 1); zoneinfo is what the talks' instants come from, so
    # follow it. zic never writes this form.
    return date(year, 1, 1) + timedelta(days=int(rule) - 1)


def _posix_transitions(footer: str, first_year: int, last_year: int) -> list[int]:
    """The instants (Unix seconds) at which a POSIX TZ rule switches, in the
    years `first_year` to `last_year`; [] for a rule without DST."""
    match = _POSIX_TZ.fullmatch(footer)
    if match is None:
        raise TZifError(f"unreadable POSIX TZ footer {footer!r}")
    if not match["dst"]:
        return []
    if not match["start"]:
        raise TZifError(f"POSIX TZ footer {footer!r} has DST without a rule")
    std = -_posix_seconds(match["stdoff"])
    dst = -_posix_seconds(match["dstoff"]) if match["dstoff"] else std + 3600
    rules = ((match["start"], match["starttime"], std),  # given in standard time
             (match["end"], match["endtime"], dst))  # given in daylight time
    epoch = date(1970, 1, 1)
    found = []
    for year in range(first_year, last_year + 1):
        for rule, clock, offset in rules:
            days = (_posix_day(rule, year) - epoch).days
            found.append(days * 86400 + _posix_seconds(clock or "2") - offset)
    return sorted(found)


def _file_transitions(zone: ZoneInfo, data: bytes, first: date,
                      last: date) -> list[_Transition] | None:
    """The transitions of `zone` from `first` to `last`: candidate instants
    from its TZif `data` (table, then footer), each one's states before and
    after taken from `zone` itself. None if the file and `zone` disagree
    anywhere (a change between two candidates), so that nothing wrong is
    ever returned."""
    times, footer = _tzif_table(data)
    low = calendar.timegm(first.timetuple())
    high = calendar.timegm(last.timetuple())
    candidates = [t for t in times if low < t < high]
    if footer:
        after = times[-1] if times else low
        start_year = datetime.fromtimestamp(max(after, low), UTC).year - 1
        end_year = datetime.fromtimestamp(high, UTC).year + 1
        candidates += [t for t in _posix_transitions(footer, start_year, end_year)
                       if max(after, low) < t < high]
    one = timedelta(seconds=1)
    found: list[_Transition] = []
    state = _state(zone, datetime.fromtimestamp(low, UTC))
    for stamp in candidates:
        moment = datetime.fromtimestamp(stamp, UTC)
        if _state(zone, moment - one) != state:
            return None  # a change the file did not announce
        new = _state(zone, moment)
        if new != state:
            found.append(_Transition(moment, state[0], new[0], new[1], new[2]))
            state = new
    if _state(zone, datetime.fromtimestamp(high, UTC)) != state:
        return None
    return found


def _transitions(zone: ZoneInfo, first: date, last: date) -> list[_Transition]:
    """Every change of offset, name or DST flag of `zone` from `first` to
    `last`, from its TZif file where it can be read, else by search."""
    data = tzif_bytes(zone.key) if zone.key else None
    if data is not None:
        try:
            found = _file_transitions(zone, data, first, last)
        except (TZifError, struct.error, ValueError, OverflowError):
            found = None
        if found is not None:
            return found
    return _search_transitions(zone, first, last)


def _weekday_rules(day: date) -> set[str]:
    """The RRULE BYDAY values that name `day` within its month."""
    code = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[day.weekday()]
    rules = {f"{(day.day - 1) // 7 + 1}{code}"}
    if day.day + 7 > calendar.monthrange(day.year, day.month)[1]:
        rules.add(f"-1{code}")
    return rules


UNTIL_MARGIN = timedelta(days=1)
"""How far after a rule's last onset its UNTIL lies: more than any UTC offset,
so that a reader taking the UTC UNTIL for wall-clock time (vobject) still
keeps the last onset, and far less than the year to the rule's next one."""


def _key(tr: _Transition) -> tuple[object, ...]:
    local = tr.local
    return (tr.daylight, tr.name, tr.offset_from, tr.offset_to, local.month, local.time())


@lru_cache(maxsize=256)
def observances(zone: ZoneInfo, first: date, last: date) -> tuple[Observance, ...]:
    """Observances that describe `zone` correctly for every instant from
    `first` to `last`, each transition pattern as one yearly rule (the form
    Outlook reads). The earliest one starts before `first`: where no change
    happens early enough, a fixed observance from the year before `first`
    holds the state in force then (a reader knows no offset before the first
    observance)."""
    span_start = date(first.year - 1, 1, 1)
    span_end = date(last.year + 2, 1, 1)
    last_year = span_end.year - 1
    result = sorted((_observance(members, common, last_year) for members, common in
                     _yearly_groups(_transitions(zone, span_start, span_end))),
                    key=lambda o: o.start)
    cover_from = datetime.combine(first, time()) - UNTIL_MARGIN
    if not result or result[0].start > cover_from:
        result.insert(0, _fixed_from(zone, datetime.combine(span_start, time(), UTC)))
    return tuple(result)


Group = tuple[list[_Transition], set[str]]


def _yearly_groups(transitions: list[_Transition]) -> list[Group]:
    """Transitions grouped into runs, one a year, alike in kind, month, time
    and a weekday rule they all share (the rules narrowed as runs grow)."""
    groups: list[Group] = []
    by_key: dict[tuple[object, ...], list[Group]] = {}
    for tr in transitions:
        key = _key(tr)
        rules = _weekday_rules(tr.local.date())
        for members, common in reversed(by_key.get(key, [])):
            if members[-1].local.year + 1 == tr.local.year and common & rules:
                members.append(tr)
                common &= rules  # in place: the group keeps the narrowed set
                break
        else:
            group = ([tr], rules)
            groups.append(group)
            by_key.setdefault(key, []).append(group)
    return groups


def _observance(members: list[_Transition], common: set[str], last_year: int) -> Observance:
    """One group as an observance: a yearly rule, or a single change. A rule
    still running in the span's last year continues (no UNTIL)."""
    head, tail = members[0], members[-1]
    # Prefer "last Sunday" over "5th Sunday" where both fit.
    byday = max(sorted(common), key=lambda r: r.startswith("-")) if len(members) > 1 else ""
    ongoing = tail.local.year >= last_year
    return Observance(
        daylight=head.daylight, name=head.name,
        offset_from=head.offset_from, offset_to=head.offset_to,
        start=head.local, month=head.local.month if byday else 0, byday=byday,
        until=None if (ongoing or not byday) else tail.at + UNTIL_MARGIN,
    )


def _fixed_from(zone: ZoneInfo, since: datetime) -> Observance:
    """The state in force at `since`, as an observance that changes nothing."""
    offset, name, daylight = _state(zone, since)
    return Observance(daylight, name, offset, offset, (since + offset).replace(tzinfo=None))
