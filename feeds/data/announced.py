"""The ledger of sent announcements: `talks.announced.tsv` beside the data
file (talk, kind, SEQUENCE, when, to whom), so that `feeds announce` never
sends the same message twice, and what a daily run has still to send."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from feeds import timezones
from feeds.data.revisions import Revision
from feeds.model import Schedule, Talk

ANNOUNCEMENT = "announcement"
REMINDER = "reminder"
#: The news that an announced talk moved, was cancelled or was postponed.
UPDATE = "update"
KINDS = (ANNOUNCEMENT, REMINDER, UPDATE)
SENT_HEADER = (
    "# Announcements sent by `feeds announce`. Commit it with the data file; never\n"
    "# edit it by hand. Columns: talk id, kind, SEQUENCE, sent at (UTC), recipients.\n"
)


class AnnounceError(Exception):
    """Something the organiser has to fix; the message says what."""


@dataclass(frozen=True)
class Sent:
    """One message that went out."""

    talk_id: str
    kind: str
    #: The talk's SEQUENCE in the message's attachment.
    sequence: int
    sent_at: datetime
    #: The recipients' addresses, lower-case, sorted, comma-separated.
    to: str


def sent_path(data_file: str | Path) -> Path:
    """`talks.announced.tsv` beside `talks.yaml` (and its revision ledger)."""
    data_file = Path(data_file)
    return data_file.with_name(data_file.stem + ".announced.tsv")


def read_sent(path: Path) -> list[Sent]:
    """The ledger's entries, oldest first; none if there is no ledger yet. A
    damaged line stops everything: sending on without it could send twice."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnounceError(f"cannot read {path}: {exc}") from None
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            talk_id, kind, sequence, sent_at, to = line.split("\t")
            if kind not in KINDS:
                raise ValueError(kind)
            entries.append(Sent(talk_id, kind, int(sequence), timezones.parse_utc(sent_at), to))
        except ValueError:
            raise AnnounceError(f"{path}:{number}: a damaged line; restore the file from git "
                                "(it records what was sent) before announcing") from None
    return entries


def render_sent(entries: Iterable[Sent]) -> str:
    return SENT_HEADER + "".join(
        "\t".join((e.talk_id, e.kind, str(e.sequence), timezones.isoformat_utc(e.sent_at), e.to))
        + "\n" for e in entries)


def last_sent(entries: Iterable[Sent], talk_id: str, to: str) -> Sent | None:
    """The latest message about `talk_id` that went to `to`."""
    found = [e for e in entries if e.talk_id == talk_id and e.to == to]
    return max(found, key=lambda e: e.sent_at, default=None)


def already_sent(entries: Iterable[Sent], talk_id: str, kind: str, sequence: int,
                 to: str) -> Sent | None:
    """The same message (talk, kind, SEQUENCE, recipients), if it went out."""
    return next((e for e in entries if (e.talk_id, e.kind, e.sequence, e.to)
                 == (talk_id, kind, sequence, to)), None)


def due_messages(schedule: Schedule, entries: Iterable[Sent], now: datetime, days: int,
        to: str) -> list[tuple[Talk, str]]:
    """What a daily run at `now` sends: the announcement of each upcoming
    talk from `days` days before its day, the reminder on its day (before it
    starts), each once per recipient list. Cancelled and postponed talks get
    neither."""
    done = {(e.talk_id, e.kind) for e in entries if e.to == to}
    found = []
    for talk in schedule.talks:
        if talk.cancelled or talk.postponed or talk.start <= now:
            continue
        today = now.astimezone(talk.zone).date()
        if today == talk.day:
            kind = REMINDER
        elif talk.day - timedelta(days=days) <= today:
            kind = ANNOUNCEMENT
        else:
            continue
        if (talk.id, kind) not in done:
            found.append((talk, kind))
    return found


def due_updates(schedule: Schedule, revisions: Mapping[str, Revision], entries: Iterable[Sent],
                to: str) -> list[tuple[Talk, str]]:
    """The updates a run sends: one for each talk that `to` was told of (an
    announcement or a reminder) and that moved, was cancelled or was
    postponed since the last message about it to `to`, once. A talk never
    announced to `to` gets none."""
    told: dict[str, int] = {}
    for e in entries:
        if e.to == to:
            told[e.talk_id] = max(told.get(e.talk_id, -1), e.sequence)
    found = []
    for talk in schedule.talks:
        revision = revisions.get(talk.id)
        if talk.id not in told or revision is None:
            continue
        if any(change.sequence > told[talk.id] for change in revision.changes):
            found.append((talk, UPDATE))
    return found
