"""The revision of each talk: a content fingerprint, a SEQUENCE, when it last
changed and when it first appeared, kept in a plain-text ledger beside the
data file so that organisers never keep such counters by hand. A talk's
change history and the formats of the ledger's columns are in `changes`."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from feeds.data.changes import (
    DIGITS,
    MOVED,
    NONE,
    SEQUENCE_LIMIT,
    Change,
    format_changes,
    format_date,
    format_start,
    parse_changes,
    parse_date,
    parse_start,
    same_start,
)
from feeds.files import directory_file_mode, locked, remove_stale_temporaries, write_atomically
from feeds.model import (
    CANCELLED,
    ID_PATTERN,
    POSTPONED,
    SCHEDULED,
    STATUSES,
    Schedule,
    Talk,
    hashed_once,
)
from feeds.timezones import EPOCH, isoformat_utc

log = logging.getLogger(__name__)
HEADER = (
    "# Revision ledger of the talks, kept by `feeds`. Commit it with the data file;\n"
    "# never edit it by hand. Columns: id, fingerprint, sequence, last change,\n"
    "# first seen, recording first seen (UTC), start, status, changes.\n"
)


@hashed_once
@dataclass(frozen=True)
class Revision:
    """What the ledger records of one talk: the one owner of its SEQUENCE
    and of the dates calendars and feed readers see."""

    #: A digest of everything the talk's outputs show.
    fingerprint: str
    #: The iCalendar SEQUENCE: moves by one with each change.
    sequence: int
    #: When the talk last changed (UTC).
    modified: datetime
    #: When the talk first appeared (UTC).
    first_seen: datetime
    #: When its recording first appeared (UTC), if it has one.
    recording_seen: datetime | None = None
    #: The start last published, in the talk's zone (None in a ledger
    #: written before starts were kept: it is filled in on the next update).
    start: datetime | None = None
    #: The status last published ("" where unknown, as `start`).
    status: str = ""
    #: Every move, cancellation and postponement, oldest first.
    changes: tuple[Change, ...] = ()

    @property
    def previous_starts(self) -> tuple[datetime, ...]:
        """Every start the talk had before its current one, oldest first."""
        return tuple(c.previous for c in self.changes if c.previous is not None)

    def moved_from(self, talk: Talk) -> datetime | None:
        """The start before the last move if that move is the talk's latest
        news (it is neither cancelled nor postponed since), else None."""
        last = self.changes[-1] if self.changes else None
        return last.previous if last is not None and talk.status == SCHEDULED else None

    def published(self, talk: Talk) -> datetime:
        """First publication for feeds: a talk back-filled after it took
        place counts as published at its start."""
        return min(self.first_seen, talk.start.astimezone(timezone.utc))


@functools.lru_cache(maxsize=1 << 16)
def fingerprint(talk: Talk) -> str:
    """A digest of everything a talk's outputs show, independent of YAML
    layout (kept per talk: a rebuild after an edit digests only what changed)."""
    data = dataclasses.asdict(talk)
    data.pop("line")
    if not data["tags"]:  # so that files written before tags keep every fingerprint
        data.pop("tags")
    data["start"] = [talk.start.isoformat(), talk.zone.key]
    data["duration"] = talk.duration.total_seconds()
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def ledger_path(data_file: str | Path) -> Path:
    data_file = Path(data_file)
    return data_file.with_name(data_file.stem + ".revisions.tsv")


FINGERPRINT = re.compile(r"[0-9a-f]{20}")
#: How far the clock may be behind the ledger's latest date before it is
#: reported: changes within one second are dated a second apart.
CLOCK_SLACK = timedelta(minutes=1)
ONE_SECOND = timedelta(seconds=1)
#: The fingerprint of a merged revision: no talk's content has it, so
#: `advance` moves a talk that has one on (a removed talk keeps it until it
#: comes back).
CONFLICT = "0" * 20
FIX = ("the ledger is left as it is until it is fixed: restore it from git "
       "(git checkout -- {path}) or correct it by hand")


class LedgerError(Exception):
    """The ledger exists but cannot be read, or has damaged lines; each
    problem names the file (and line)."""

    def __init__(self, problems: list[str]):
        self.problems = tuple(problems)
        super().__init__("\n".join(problems))


@functools.lru_cache(maxsize=1 << 16)
def parse_line(line: str) -> tuple[str, Revision]:
    """One ledger line, every field checked; ValueError saying what is wrong
    (kept per line: a ledger read again after one change parses one line)."""
    fields = line.split("\t")
    if len(fields) not in (6, 9):
        raise ValueError(f"the line has {len(fields)} tab-separated fields instead of 9 "
                         "(id, fingerprint, sequence, last change, first seen, recording, "
                         "start, status, changes) or 6 (a ledger from before starts were kept)")
    talk_id, digest, seq, modified, first, recording = fields[:6]
    start, status, changes = fields[6:] if len(fields) == 9 else (NONE, NONE, NONE)
    problems: list[str] = []
    if not ID_PATTERN.fullmatch(talk_id):
        problems.append(f"the talk id {talk_id!r} is not one a data file can have")
    if not FINGERPRINT.fullmatch(digest):
        problems.append(f"the fingerprint {digest!r} is not 20 hexadecimal digits")
    if not DIGITS.fullmatch(seq) or int(seq) >= SEQUENCE_LIMIT:
        problems.append(f"the sequence {seq!r} is not a whole number from 0 to "
                        f"{SEQUENCE_LIMIT - 1}")
    changed = parse_date(modified, "the last change", problems)
    seen = parse_date(first, "the first appearance", problems)
    recorded = None if recording == NONE else parse_date(
        recording, "the recording's first appearance", problems)
    if changed and seen and seen > changed:
        problems.append("the talk first appeared after its last change")
    if status != NONE and status not in STATUSES:
        problems.append(f"the status {status!r} is not one of {', '.join(STATUSES)}")
    begins: datetime | None = None
    history: tuple[Change, ...] = ()
    try:
        begins = None if start == NONE else parse_start(start)
        history = parse_changes(changes)
    except ValueError as exc:
        problems.append(str(exc))
    if problems or changed is None or seen is None:
        raise ValueError("; ".join(problems))
    return talk_id, Revision(digest, int(seq), changed, seen, recorded, begins,
                             "" if status == NONE else status, history)


def read_ledger(path: Path) -> dict[str, Revision]:
    """The ledger's entries; {} if there is none. LedgerError if it cannot
    be read or decoded, or if any line is damaged: such a ledger must never
    be taken for an empty one and rewritten."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:
        raise LedgerError([f"{path}: the revision ledger is not UTF-8 text ({exc.reason} at "
                           f"byte {exc.start}); " + FIX.format(path=path)]) from None
    except OSError as exc:
        raise LedgerError([f"{path}: cannot read the revision ledger "
                           f"({exc.strerror or exc}); it is left as it is until it can be "
                           "read: check its owner and permissions"]) from None
    return parse_ledger(text, path)


def parse_ledger(text: str, path: Path | str) -> dict[str, Revision]:
    """The entries of a ledger's `text` (read from `path`, for messages);
    LedgerError if any line is damaged."""
    entries: dict[str, Revision] = {}
    lines: dict[str, int] = {}
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            talk_id, revision = parse_line(line)
        except ValueError as exc:
            problems.append(f"{path}:{number}: a damaged ledger line: {exc}")
            continue
        if talk_id in entries:
            problems.append(f"{path}:{number}: talk {talk_id} is already on line "
                            f"{lines[talk_id]}; the ledger has one line per talk")
            continue
        entries[talk_id], lines[talk_id] = revision, number
    if problems:
        problems.append(FIX.format(path=path))
        raise LedgerError(problems)
    return entries


def render_ledger(entries: Mapping[str, Revision]) -> str:
    """The ledger's text (the last one kept: a build writes it, then stores it)."""
    global _last_rendered
    last = _last_rendered
    if last is not None and last[0] == entries:
        return last[1]
    text = HEADER + "".join(render_line(talk_id, entries[talk_id]) for talk_id in sorted(entries))
    _last_rendered = (dict(entries), text)
    return text


_last_rendered: tuple[dict[str, Revision], str] | None = None


@functools.lru_cache(maxsize=1 << 16)
def render_line(talk_id: str, r: Revision) -> str:
    """One talk's ledger line (kept: a ledger written again after one change renders one line)."""
    fields = [talk_id, r.fingerprint, str(r.sequence), format_date(r.modified),
              format_date(r.first_seen), format_date(r.recording_seen)]
    if r.start is not None or r.status or r.changes:
        fields += [format_start(r.start) if r.start else NONE, r.status or NONE,
                   format_changes(r.changes)]
    return "\t".join(fields) + "\n"


def _dates(revision: Revision) -> Iterator[datetime]:
    yield revision.modified
    yield revision.first_seen
    if revision.recording_seen:
        yield revision.recording_seen


def latest_date(entries: Mapping[str, Revision]) -> datetime:
    """The latest date the ledger holds: every change is dated after it."""
    return max((d for r in entries.values() for d in _dates(r)), default=EPOCH)


def _ahead(a: Revision, b: Revision) -> bool:
    """Whether `a` comes after `b` for every subscriber: a later SEQUENCE, no earlier date."""
    return a.sequence > b.sequence and a.modified >= b.modified


def merge(recorded: Mapping[str, Revision], known: Mapping[str, Revision]) -> dict[str, Revision]:
    """The ledger on disk joined with the revisions a process already
    published. Per talk, the revision that is ahead in both SEQUENCE and
    date wins. Two that are not (two workers that numbered one change
    differently while it could not be recorded) become one revision that
    `advance` moves past both: the next SEQUENCE, dated after both, so that
    neither worker's subscribers see anything go back."""
    result = dict(recorded)
    for talk_id, mine in known.items():
        theirs = result.get(talk_id)
        if theirs is None or mine == theirs or _ahead(mine, theirs):
            result[talk_id] = mine
        elif not _ahead(theirs, mine):
            seen = [d for d in (mine.recording_seen, theirs.recording_seen) if d]
            longer = mine if len(mine.changes) >= len(theirs.changes) else theirs
            result[talk_id] = Revision(CONFLICT, max(mine.sequence, theirs.sequence),
                                       max(mine.modified, theirs.modified),
                                       min(mine.first_seen, theirs.first_seen),
                                       min(seen, default=None), longer.start, longer.status,
                                       longer.changes)
    return result


def advance(entries: Mapping[str, Revision], schedule: Schedule,
            now: datetime) -> dict[str, Revision]:
    """The ledger after seeing `schedule` at `now`: new talks start at
    SEQUENCE 0, a changed talk moves by one, an unchanged one keeps all.

    A change is dated `now`, or a second after the ledger's latest date if
    the clock is behind it: dates never go backwards, even with the clock."""
    now = now.astimezone(timezone.utc).replace(microsecond=0)
    latest = latest_date(entries)
    stamp = now if now > latest else latest + ONE_SECOND
    result = dict(entries)
    for talk in schedule.talks:
        digest = fingerprint(talk)
        old = entries.get(talk.id)
        if old is None:
            new = Revision(digest, 0, stamp, stamp, stamp if talk.recording else None,
                           talk.start, talk.status)
        elif old.fingerprint != digest:
            sequence = min(old.sequence + 1, SEQUENCE_LIMIT - 1)
            new = Revision(digest, sequence, stamp,
                           old.first_seen, old.recording_seen or (stamp if talk.recording else None),
                           talk.start, talk.status, old.changes + detect_change(old, talk, sequence,
                                                                                 stamp))
        elif old.start is None or not old.status:  # a ledger from before starts were kept
            new = dataclasses.replace(old, start=talk.start, status=talk.status)
        else:
            continue
        result[talk.id] = new
    return result


def detect_change(old: Revision, talk: Talk, sequence: int, at: datetime) -> tuple[Change, ...]:
    """The change `talk` makes to what its published revision `old` said:
    cancelled or postponed if its status became so, else moved if its start
    changed (date, time or zone); () for any other edit. A talk whose
    published start is unknown (a ledger from before starts were kept) is
    not taken for moved."""
    previous = old.start if old.start is not None and not same_start(old.start, talk.start) \
        else None
    if talk.status != old.status and talk.status in (CANCELLED, POSTPONED) and old.status:
        return (Change(talk.status, sequence, at, previous),)  # type: ignore[arg-type]
    if previous is not None:
        return (Change(MOVED, sequence, at, previous),)
    return ()


@dataclass(frozen=True)
class LedgerUpdate:
    """What recording a schedule in the ledger gave."""

    #: Every talk's revision (removed talks included), or None if there are
    #: none that may be published: the ledger cannot be read, and this
    #: process has published nothing yet.
    revisions: dict[str, Revision] | None
    #: Why changes are not recorded (the ledger is unreadable, damaged or
    #: cannot be written): the server is degraded, `feeds validate` fails.
    errors: tuple[str, ...] = ()
    #: What is odd but recorded, e.g. a clock behind the ledger.
    warnings: tuple[str, ...] = ()

    @property
    def recorded(self) -> bool:
        """Whether the ledger on disk holds every revision returned."""
        return not self.errors


def _clock_warnings(path: Path, entries: Mapping[str, Revision], now: datetime) -> tuple[str, ...]:
    latest = latest_date(entries)
    if now + CLOCK_SLACK >= latest:
        return ()
    warning = (f"the clock says {isoformat_utc(now)}, but {path} already has a change dated "
               f"{isoformat_utc(latest)}: the clock went backwards (or was ahead then); "
               "changes are dated after that")
    log.warning("%s", warning)
    return (warning,)


def update_ledger(path: Path, schedule: Schedule, now: datetime,
                  fallback_now: datetime | None = None,
                  known: Mapping[str, Revision] | None = None) -> LedgerUpdate:
    """Record `schedule` in the ledger at `path`, on top of the revisions
    `known` that this process already published, if any.

    A ledger that cannot be read is never overwritten: the revisions are
    then advanced from `known` in memory only (or are None without them).
    When the ledger cannot be written, changes are dated `fallback_now` (the
    data file's mtime) so that every worker still computes the same bytes.
    SEQUENCE and dates never decrease in what is returned."""
    unrecorded = "; changes are kept in memory and not recorded"
    with locked(path) as held:
        try:
            recorded = read_ledger(path)
        except LedgerError as exc:
            log.error("the revision ledger cannot be used:\n%s", exc)
            if known is None:
                return LedgerUpdate(None, exc.problems)
            return LedgerUpdate(advance(known, schedule, fallback_now or now),
                                exc.problems + (f"{path} is not rewritten{unrecorded}",))
        base = merge(recorded, known or {})
        warnings = _clock_warnings(path, base, now)
        updated = advance(base, schedule, now)
        if updated == recorded:
            return LedgerUpdate(updated, (), warnings)
        try:
            if held:  # no other writer is at work: a temporary file left is a dead one's
                remove_stale_temporaries(path)
            write_atomically(path, render_ledger(updated), new_mode=directory_file_mode(path))
            return LedgerUpdate(updated, (), warnings)
        except OSError as exc:
            error = f"cannot write the revision ledger {path}: {exc.strerror or exc}{unrecorded}"
            log.warning("%s", error)
            return LedgerUpdate(advance(base, schedule, fallback_now or now), (error,), warnings)
