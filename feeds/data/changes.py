"""A talk's change history (moves, cancellations, postponements) and how the
revision ledger writes its columns: dates, starts and changes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfoNotFoundError

from feeds.model import TALK_YEARS
from feeds.timezones import get_zone, isoformat_utc, parse_utc

NONE = "-"  # a date not seen yet
#: iCalendar's SEQUENCE is an INTEGER (RFC 5545 3.3.8): at most 2^31 - 1.
SEQUENCE_LIMIT = 2**31
#: Years a ledger date may fall in: moments a build saw a change (not talk dates).
YEARS = range(1970, 3000)
DIGITS = re.compile(r"[0-9]{1,10}")
STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")

ChangeKind = Literal["moved", "cancelled", "postponed"]
MOVED: ChangeKind = "moved"
CHANGE_KINDS: tuple[ChangeKind, ...] = (MOVED, "cancelled", "postponed")


@dataclass(frozen=True)
class Change:
    """A change subscribers must be told of: a talk moved, was cancelled or
    was postponed, detected by comparing it with its last published revision."""

    kind: ChangeKind
    #: The SEQUENCE of the revision that made the change.
    sequence: int
    #: When it was made (UTC): the revision's date.
    at: datetime
    #: The start before the change, in its zone, if the start changed.
    previous: datetime | None = None


def format_date(moment: datetime | None) -> str:
    """A ledger date: UTC to the second, or NONE for a date not seen yet."""
    return isoformat_utc(moment) if moment else NONE


#: A start as the ledger keeps it: the wall-clock time with its offset and
#: zone (RFC 9557), e.g. 2026-12-14T17:00:00+01:00[Europe/Berlin].
START = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2})"
                   r"\[([A-Za-z0-9_+/-]+)\]")


def format_start(start: datetime) -> str:
    """'2026-12-14T17:00:00+01:00[Europe/Berlin]'."""
    return f"{start.isoformat(timespec='seconds')}[{getattr(start.tzinfo, 'key', 'UTC')}]"


def parse_start(text: str) -> datetime:
    """The aware start of a format_start() text; ValueError if it is not one."""
    match = START.fullmatch(text)
    if not match:
        raise ValueError(f"the start {text!r} is not a time such as "
                         "2026-12-14T17:00:00+01:00[Europe/Berlin]")
    try:
        zone = get_zone(match.group(2))
    except ZoneInfoNotFoundError:
        raise ValueError(f"the start {text!r} names no zone of the tz database") from None
    moment = datetime.fromisoformat(match.group(1))
    if moment.year not in TALK_YEARS:
        raise ValueError(f"the start {text!r} is not between {TALK_YEARS.start} and "
                         f"{TALK_YEARS.stop - 1}")
    return moment.astimezone(zone)


def same_start(a: datetime, b: datetime) -> bool:
    """Whether two starts are the same wall-clock time in the same zone."""
    return format_start(a) == format_start(b)


def format_changes(changes: tuple[Change, ...]) -> str:
    """'moved,3,2026-12-01T10:00:00Z,2026-12-14T17:00:00+01:00[Europe/Berlin] cancelled,4,…'."""
    return " ".join(",".join([c.kind, str(c.sequence), isoformat_utc(c.at)]
                             + ([format_start(c.previous)] if c.previous else []))
                    for c in changes) or NONE


def parse_changes(text: str) -> tuple[Change, ...]:
    """The changes of a format_changes() text; ValueError saying what is wrong."""
    if text == NONE:
        return ()
    changes = []
    for item in text.split(" "):
        parts = item.split(",")
        if len(parts) not in (3, 4) or parts[0] not in CHANGE_KINDS \
                or not DIGITS.fullmatch(parts[1]) or int(parts[1]) >= SEQUENCE_LIMIT \
                or not STAMP.fullmatch(parts[2]):
            raise ValueError(f"the change {item!r} is not kind,sequence,date[,previous start]")
        problems: list[str] = []
        at = parse_date(parts[2], "the change's date", problems)
        if at is None:
            raise ValueError("; ".join(problems))
        previous = parse_start(parts[3]) if len(parts) == 4 else None
        kind = next(k for k in CHANGE_KINDS if k == parts[0])
        changes.append(Change(kind, int(parts[1]), at, previous))
    return tuple(changes)


def parse_date(text: str, what: str, problems: list[str]) -> datetime | None:
    """A ledger date; appends a problem and returns None if it is not one."""
    try:
        moment = parse_utc(text) if STAMP.fullmatch(text) else None
    except ValueError:
        moment = None
    if moment is None or moment.year not in YEARS:
        problems.append(f"{what} {text!r} is not a UTC time such as 2026-04-13T15:00:00Z "
                        f"between {YEARS.start} and {YEARS.stop - 1}")
        return None
    return moment
