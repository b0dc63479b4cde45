"""Moves, cancellations and postponements: detected from the ledger (never
declared in the data file) and told by every output."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from feeds.data.loader import load_schedule
from feeds.data.revisions import (
    Revision,
    ledger_path,
    parse_line,
    read_ledger,
    render_ledger,
    update_ledger,
)
from feeds.model import Schedule, Talk

from helpers import NOW

MEHLIG = "2026-05-11-mehlig"
BERLIN = ZoneInfo("Europe/Berlin")


def edit(data_file: Path, talk_id: str, old: str, new: str) -> None:
    """Replace `old` by `new` within one talk's lines of the data file."""
    text = data_file.read_text()
    start = text.index(f"- id: {talk_id}\n")
    end = text.find("\n  - id:", start)
    end = len(text) if end < 0 else end
    part = text[start:end]
    assert old in part, (old, part)
    data_file.write_text(text[:start] + part.replace(old, new, 1) + text[end:])


def record(data_file: Path, now: datetime) -> dict[str, Revision]:
    update = update_ledger(ledger_path(data_file), load_schedule(data_file), now)
    assert update.recorded and update.revisions is not None
    return update.revisions


def with_talk(schedule: Schedule, talk: Talk) -> Schedule:
    return replace(schedule, talks=tuple(talk if t.id == talk.id else t for t in schedule.talks),
                   _by_id={}, _position={})


# --- the ledger ------------------------------------------------------------------

def test_a_talk_moved_twice_keeps_both_previous_starts_in_order_across_restarts(data_file):
    first = record(data_file, NOW)[MEHLIG]
    assert first.changes == () and first.start == datetime(2026, 5, 11, 17, 0, tzinfo=BERLIN)
    edit(data_file, MEHLIG, "date: 2026-05-11", "date: 2026-05-12")
    record(data_file, NOW + timedelta(hours=1))
    edit(data_file, MEHLIG, "date: 2026-05-12", 'date: 2026-05-19\n    time: "18:30"')
    record(data_file, NOW + timedelta(hours=2))
    again = read_ledger(ledger_path(data_file))[MEHLIG]  # what a restart reads
    assert again.previous_starts == (datetime(2026, 5, 11, 17, 0, tzinfo=BERLIN),
                                     datetime(2026, 5, 12, 17, 0, tzinfo=BERLIN))
    assert [(c.kind, c.sequence, c.at) for c in again.changes] == [
        ("moved", first.sequence + 1, NOW + timedelta(hours=1)),
        ("moved", first.sequence + 2, NOW + timedelta(hours=2))]
    assert again.start == datetime(2026, 5, 19, 18, 30, tzinfo=BERLIN)
    # nothing new: nothing moves, nothing is written
    before = ledger_path(data_file).read_bytes()
    assert record(data_file, NOW + timedelta(hours=3))[MEHLIG] == again
    assert ledger_path(data_file).read_bytes() == before


def test_a_change_of_zone_alone_is_a_move(data_file):
    record(data_file, NOW)
    edit(data_file, MEHLIG, "date: 2026-05-11", "date: 2026-05-11\n    timezone: Europe/London")
    revision = record(data_file, NOW + timedelta(hours=1))[MEHLIG]
    assert revision.previous_starts == (datetime(2026, 5, 11, 17, 0, tzinfo=BERLIN),)
    assert str(revision.start.tzinfo) == "Europe/London" if revision.start else False


def test_other_edits_are_not_moves(data_file):
    record(data_file, NOW)
    edit(data_file, MEHLIG, "title: Finite-Time", "title: Finite Time")
    revision = record(data_file, NOW + timedelta(hours=1))[MEHLIG]
    assert revision.changes == () and revision.sequence == 1


def test_a_correction_before_the_talk_was_ever_published_is_not_a_move(data_file):
    edit(data_file, MEHLIG, "date: 2026-05-11", "date: 2026-05-18")  # never recorded
    edit(data_file, MEHLIG, "date: 2026-05-18", "date: 2026-05-25")  # corrected at once
    revision = record(data_file, NOW)[MEHLIG]
    assert revision.changes == () and revision.sequence == 0
    assert revision.start == datetime(2026, 5, 25, 17, 0, tzinfo=BERLIN)


def test_cancelling_and_postponing_are_changes_and_a_new_date_is_a_move(data_file):
    record(data_file, NOW)
    edit(data_file, MEHLIG, "date: 2026-05-11", "date: 2026-05-11\n    status: postponed")
    postponed = record(data_file, NOW + timedelta(days=1))[MEHLIG]
    assert [(c.kind, c.previous) for c in postponed.changes] == [("postponed", None)]
    assert postponed.status == "postponed"
    edit(data_file, MEHLIG, "date: 2026-05-11\n    status: postponed", "date: 2026-06-01")
    moved = record(data_file, NOW + timedelta(days=2))[MEHLIG]
    assert [(c.kind, c.previous) for c in moved.changes] == [
        ("postponed", None), ("moved", datetime(2026, 5, 11, 17, 0, tzinfo=BERLIN))]
    edit(data_file, MEHLIG, "date: 2026-06-01", "date: 2026-06-01\n    status: cancelled")
    cancelled = record(data_file, NOW + timedelta(days=3))[MEHLIG]
    assert [c.kind for c in cancelled.changes] == ["postponed", "moved", "cancelled"]
    assert [c.sequence for c in cancelled.changes] == [1, 2, 3]
    assert cancelled.sequence == 3


def test_an_old_ledger_reads_fine_and_gains_the_starts_without_a_new_sequence(data_file):
    record(data_file, NOW)
    path = ledger_path(data_file)
    old_lines = ["\t".join(line.split("\t")[:6]) for line in path.read_text().splitlines()
                 if line and not line.startswith("#")]
    path.write_text("# an old ledger\n" + "\n".join(old_lines) + "\n")
    legacy = read_ledger(path)[MEHLIG]
    assert legacy.start is None and legacy.changes == ()
    edit(data_file, MEHLIG, "date: 2026-05-11", "date: 2026-05-12")
    # the published start is unknown: the first change after the upgrade is no move
    revision = record(data_file, NOW + timedelta(hours=1))[MEHLIG]
    assert revision.sequence == legacy.sequence + 1 and revision.changes == ()
    assert revision.modified >= legacy.modified
    others = read_ledger(path)
    assert all(r.start is not None for r in others.values())
    assert all(r.sequence == 0 for tid, r in others.items() if tid != MEHLIG)
    edit(data_file, MEHLIG, "date: 2026-05-12", "date: 2026-05-13")
    assert record(data_file, NOW + timedelta(hours=2))[MEHLIG].previous_starts == (
        datetime(2026, 5, 12, 17, 0, tzinfo=BERLIN),)


def test_a_ledger_line_round_trips_with_its_changes(data_file):
    record(data_file, NOW)
    edit(data_file, MEHLIG, "date: 2026-05-11", "date: 2026-05-12\n    status: cancelled")
    entries = record(data_file, NOW + timedelta(hours=1))
    text = render_ledger(entries)
    line = next(x for x in text.splitlines() if x.startswith(MEHLIG))
    assert line.split("\t")[6:] == [
        "2026-05-12T17:00:00+02:00[Europe/Berlin]", "cancelled",
        "cancelled,1,2026-04-01T13:00:00Z,2026-05-11T17:00:00+02:00[Europe/Berlin]"]
    assert parse_line(line) == (MEHLIG, entries[MEHLIG])
