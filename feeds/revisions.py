"""The revision of each talk: a content fingerprint, a SEQUENCE, when it last
changed and when it first appeared, kept in a plain-text ledger beside the
data file so that organisers never keep such counters by hand."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .files import locked, write_atomically
from .model import Schedule, Talk
from .timezones import isoformat_utc, parse_utc

log = logging.getLogger(__name__)
HEADER = (
    "# Revision ledger of the talks, kept by `feeds`. Commit it with the data file;\n"
    "# never edit it by hand. Columns: id, fingerprint, sequence, last change,\n"
    "# first seen, recording first seen (UTC).\n"
)


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

    def published(self, talk: Talk) -> datetime:
        """First publication for feeds: a talk back-filled after it took
        place counts as published at its start."""
        return min(self.first_seen, talk.start.astimezone(timezone.utc))


def fingerprint(talk: Talk) -> str:
    """A digest of everything a talk's outputs show, independent of YAML layout."""
    data = dataclasses.asdict(talk)
    data.pop("line")
    data["start"] = [talk.start.isoformat(), talk.zone.key]
    data["duration"] = talk.duration.total_seconds()
    blob = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def ledger_path(data_file: str | Path) -> Path:
    data_file = Path(data_file)
    return data_file.with_name(data_file.stem + ".revisions.tsv")


NONE = "-"  # a date not seen yet


def _stamp(moment: datetime | None) -> str:
    return isoformat_utc(moment) if moment else NONE


def _parse_line(line: str) -> tuple[str, Revision]:
    """One ledger line; ValueError if it is damaged."""
    talk_id, digest, seq, modified, first, recording = line.split("\t")
    return talk_id, Revision(digest, int(seq), parse_utc(modified), parse_utc(first),
                             None if recording == NONE else parse_utc(recording))


def read_ledger(path: Path) -> dict[str, Revision]:
    """The ledger's entries; a missing file or a damaged line is skipped."""
    entries: dict[str, Revision] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return entries
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("cannot read the revision ledger %s: %s", path, exc)
        return entries
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            talk_id, revision = _parse_line(line)
            entries[talk_id] = revision
        except ValueError:
            log.warning("%s:%d: skipping a damaged ledger line", path, number)
    return entries


def render_ledger(entries: Mapping[str, Revision]) -> str:
    lines = [HEADER]
    for talk_id in sorted(entries):
        r = entries[talk_id]
        lines.append("\t".join((talk_id, r.fingerprint, str(r.sequence), _stamp(r.modified),
                                _stamp(r.first_seen), _stamp(r.recording_seen))) + "\n")
    return "".join(lines)


def advance(entries: Mapping[str, Revision], schedule: Schedule,
            now: datetime) -> dict[str, Revision]:
    """The ledger after seeing `schedule` at `now`: new talks start at
    SEQUENCE 0, a changed talk moves by one, an unchanged one keeps all."""
    now = now.astimezone(timezone.utc).replace(microsecond=0)
    result = dict(entries)
    for talk in schedule.talks:
        digest = fingerprint(talk)
        old = entries.get(talk.id)
        if old is None:
            new = Revision(digest, 0, now, now, now if talk.recording else None)
        elif old.fingerprint != digest:
            new = Revision(digest, old.sequence + 1, now, old.first_seen,
                           old.recording_seen or (now if talk.recording else None))
        else:
            continue
        result[talk.id] = new
    return result


def update_ledger(path: Path, schedule: Schedule, now: datetime,
                  fallback_now: datetime | None = None) -> tuple[dict[str, Revision], str]:
    """Record `schedule` in the ledger at `path` and return every talk's
    revision, plus a warning when the ledger could not be written.

    When the ledger cannot be written, changes are dated `fallback_now` (the
    data file's mtime) so that every worker still computes the same bytes."""
    with locked(path):
        entries = read_ledger(path)
        updated = advance(entries, schedule, now)
        if updated == entries:
            return updated, ""
        try:
            write_atomically(path, render_ledger(updated))
            return updated, ""
        except OSError as exc:
            warning = f"cannot write the revision ledger {path}: {exc.strerror or exc}"
            log.warning("%s; serving with revisions kept in memory", warning)
            return advance(entries, schedule, fallback_now or now), warning
