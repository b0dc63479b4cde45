"""The revision contract under random histories (Hypothesis stateful testing):
edits, reverts, new and removed talks, restarts, clock jumps, read-only and
full periods, unreadable and damaged ledgers, and several workers writing
one ledger. Read back from the published calendar and Atom feed:

- no talk's SEQUENCE, LAST-MODIFIED or DTSTAMP ever decreases, and one
  (UID, SEQUENCE) pair never shows two different events;
- no UID and no feed id ever changes;
- the ledger is never lost: a damaged one is left byte for byte as it was,
  and a readable one holds every talk ever recorded, at its latest SEQUENCE.

By default each worker keeps its build in memory (MemoryWorker: the
builder's steps — build_due, load_schedule, update_ledger, build_snapshot —
without writing builds to disk), each with its own memory, as separate
servers of one data file would have: the hardest case for the ledger. The
explicit histories at the end and one of the two slow runs use real
Publishers serving published builds from disk (DiskWorker).

The invariant reads each calendar by hand (read_events: the unfolded
lines); every CROSS_CHECK-th check and at teardown icalendar and vobject
must read exactly the same, and the explicit histories also ask libical and
ical.js.

One limit is inherent: a worker that restarts while changes cannot be
recorded has no way to know the SEQUENCE numbers its predecessor showed
but could not write down. From then on the example checks what each
worker shows over its own life and against everything that was recorded
(while /healthz said ok) — not against the lost, unrecorded numbers.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import icalendar
import pytest
import vobject
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from lxml import etree

from feeds import files
from feeds.data import revisions as revisions_module
from feeds.data.loader import load_schedule
from feeds.data.revisions import LedgerError, Revision, ledger_path, read_ledger, update_ledger
from feeds.data.yaml_reader import InvalidData
from feeds.model import Schedule
from feeds.publish import builds
from feeds.publish.builder import BuildJob, build_due, source_of
from feeds.publish.snapshot import BuildOptions, Snapshot, build_snapshot
from feeds.server.publisher import Publisher
from feeds.settings import Settings
from feeds.urls import CALENDAR, Site

from calendar_readers import READERS
from helpers import NOW, SEED_DATA, SEED_ID_AUTHORITY, SITE_URL, FakeClock, talk_uid

OPTIONS = BuildOptions(Site(SITE_URL))
SEED_TALKS = [t.id for t in load_schedule(SEED_DATA).talks][-3:]  # few, so that edits meet
SEED_TITLES = {t.id: t.title for t in load_schedule(SEED_DATA).talks}
EXTRA = ["extra-a", "extra-b"]
ATOM_ID = "{http://www.w3.org/2005/Atom}id"
ATOM_ENTRY = "{http://www.w3.org/2005/Atom}entry"
#: Every this many invariant checks, real parsers read what read_events read.
CROSS_CHECK = 8
UTC = timezone.utc


@dataclass(frozen=True)
class Event:
    """What the contract is about in one VEVENT, and its whole text."""

    uid: str
    sequence: int
    modified: datetime
    stamp: datetime
    url: str
    text: str

    @property
    def talk_id(self) -> str:
        """The talk's id, from its page's address (/talks/<id>): the UID may not show it."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def fields(self) -> tuple[str, int, datetime, datetime, str]:
        return (self.uid, self.sequence, self.modified, self.stamp, self.url)


PROPERTY = re.compile(r"(UID|SEQUENCE|LAST-MODIFIED|DTSTAMP|URL)(?:;[^:]*)?:(.*)")


def _utc(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def read_events(calendar: bytes) -> list[Event]:
    """Every VEVENT's UID, SEQUENCE, LAST-MODIFIED, DTSTAMP and URL, read from
    the unfolded lines (RFC 5545 3.1), and the event's text: cheap enough for
    every step. cross_check holds it to icalendar and vobject."""
    text = calendar.decode("utf-8").replace("\r\n ", "").replace("\r\n\t", "")
    events: list[Event] = []
    depth, values, lines = 0, {}, []
    for line in text.split("\r\n"):
        if depth == 0:
            if line == "BEGIN:VEVENT":
                depth, values, lines = 1, {}, [line]
            continue
        lines.append(line)
        if line.startswith("BEGIN:"):
            depth += 1
        elif line.startswith("END:"):
            depth -= 1
            if depth == 0:
                events.append(Event(values["UID"], int(values["SEQUENCE"]),
                                    _utc(values["LAST-MODIFIED"]), _utc(values["DTSTAMP"]),
                                    values["URL"], "\r\n".join(lines)))
        elif depth == 1 and (match := PROPERTY.fullmatch(line)):
            assert match[1] not in values, f"two {match[1]} in one event: {line}"
            values[match[1]] = match[2]
    return events


def icalendar_fields(calendar: bytes) -> list[tuple[str, int, datetime, datetime, str]]:
    cal = icalendar.Calendar.from_ical(calendar)
    return [(str(e["UID"]), int(e["SEQUENCE"]), e["LAST-MODIFIED"].dt, e["DTSTAMP"].dt,
             str(e["URL"])) for e in cal.walk("VEVENT")]


def vobject_fields(calendar: bytes) -> list[tuple[str, int, datetime, datetime, str]]:
    cal = vobject.readOne(calendar.decode("utf-8"))
    return [(e.uid.value, int(e.sequence.value), e.last_modified.value, e.dtstamp.value,
             e.url.value) for e in cal.contents.get("vevent", [])]


def cross_check(calendar: bytes) -> None:
    """icalendar and vobject read every event's fields as read_events does."""
    mine = [event.fields() for event in read_events(calendar)]
    assert mine, "no events"
    for name, reader in (("icalendar", icalendar_fields), ("vobject", vobject_fields)):
        assert reader(calendar) == mine, f"{name} reads the calendar otherwise"


Shown = dict[str, Event]  # talk id -> its event


def shown_by(calendar: bytes, atom: bytes) -> tuple[Shown, list[str]]:
    """Every event of a calendar by talk id, and the Atom feed's ids."""
    events: Shown = {}
    for event in read_events(calendar):
        assert event.talk_id not in events, f"two events for {event.talk_id}"
        events[event.talk_id] = event
    feed = etree.fromstring(atom)
    ids = [feed.findtext(ATOM_ID)] + [e.findtext(ATOM_ID) for e in feed.iter(ATOM_ENTRY)]
    return events, ids


# --- workers ----------------------------------------------------------------------------

class Worker(Protocol):
    def serves(self) -> Snapshot | None:
        """What it serves now (it looks at the data file and ledger first)."""

    def healthy(self) -> bool:
        """What /healthz says: ok, or degraded (e.g. changes not recorded)."""


class DiskWorker:
    """A server worker: a Publisher serving published builds from the state
    folder that every DiskWorker shares, building inline."""

    def __init__(self, data: Path, clock: FakeClock):
        settings = Settings(talks_file=str(data), site_url=SITE_URL, build_mode="inline",
                            check_interval=0)
        self.publisher = Publisher(settings, data.parent / "state", clock=clock, settle=0)

    def serves(self) -> Snapshot | None:
        return self.publisher.current()

    def healthy(self) -> bool:
        return self.publisher.health().ok


@dataclass(frozen=True)
class KeptBuild:
    """What build_due asks of a published build, for one kept in memory."""

    name: str
    source: list[int] | None
    options: dict[str, Any]
    valid_until: datetime | None
    origin: dict[str, Any]  # the data file and settings it was made from
    format: int = builds.FORMAT


class MemoryWorker:
    """A server worker with its own memory: feeds.publish.builder.run_build's
    steps (build_due, load_schedule, update_ledger with what it published
    as `known`, build_snapshot), with the build and the status kept in
    memory instead of a state folder. The ledger is the real one on disk."""

    def __init__(self, data: Path, clock: FakeClock):
        self.job = BuildJob(str(data), "", SITE_URL, OPTIONS.feed_limit, max_age=3600, keep=1,
                            timeout=60.0, settle=0.0, ledger_retry=0.0)
        self.data = data
        self.clock = clock
        self.current: Snapshot | None = None
        self.kept: KeptBuild | None = None
        self.status: dict[str, Any] = {}
        self.look()

    def serves(self) -> Snapshot | None:
        self.look()
        return self.current

    def healthy(self) -> bool:
        """For the build `serves` returned last (a second look would redo a retry)."""
        return self.current is not None and not self.status.get("errors")

    def look(self) -> None:
        """run_build, in memory."""
        now, source = self.clock(), source_of(self.job)
        reason = build_due(self.job, self.kept, source, now, self.status,  # type: ignore[arg-type]
                           time.time())
        if not reason:
            return
        self.status = {**self.status, "options": self.job.options, "retry": False,
                       "retry_at": None,
                       "source": source if reason == "reload" else self.status.get("source")}
        if reason == "rebuild":
            assert self.current is not None and self.kept is not None
            self.status["rebuilt_for"] = self.kept.name
            self._publish(self.current.context.schedule, self.current.context.revisions, now,
                          self.kept.source)
        else:
            self._reload(now)

    def _reload(self, now: datetime) -> None:
        signature = files.stat_signature(self.data)
        try:
            schedule = load_schedule(self.data)
        except InvalidData as exc:
            self.status["errors"] = [str(p) for p in exc.problems]
            return
        mtime = datetime.fromtimestamp(signature[0] / 1e9, UTC) if signature else now
        try:
            update = update_ledger(ledger_path(self.data), schedule, now,
                                   fallback_now=mtime.replace(microsecond=0),
                                   known=self.current.context.revisions if self.current else None)
        except OSError as exc:
            self.status.update(errors=[f"cannot update the revision ledger: {exc}"], retry=True)
            return
        if update.revisions is None:
            self.status.update(errors=list(update.errors),
                               retry_at=time.time() + self.job.ledger_retry)
            return
        if update.errors:
            self.status["retry_at"] = time.time() + self.job.ledger_retry
        self._publish(schedule, update.revisions, now, source_of(self.job), update.errors)

    def _publish(self, schedule: Schedule, revisions: Mapping[str, Revision], now: datetime,
                 source: list[int] | None, errors: tuple[str, ...] = ()) -> None:
        self.current = build_snapshot(schedule, revisions, OPTIONS, now)
        number = int(self.kept.name) + 1 if self.kept else 1
        self.kept = KeptBuild(str(number), source, self.job.options, self.current.valid_until,
                              self.job.origin)
        self.status["errors"] = list(errors)


# --- the contract -----------------------------------------------------------------------

@dataclass
class History:
    """The highest SEQUENCE and dates shown per talk, and each (UID, SEQUENCE)'s event."""

    top: dict[str, tuple[int, datetime, datetime]] = field(default_factory=dict)
    events: dict[tuple[str, int], str] = field(default_factory=dict)

    def check_and_add(self, shown: Shown, who: str) -> None:
        for talk_id, event in shown.items():
            seq, modified, stamp = event.sequence, event.modified, event.stamp
            if talk_id in self.top:
                old_seq, old_modified, old_stamp = self.top[talk_id]
                assert seq >= old_seq, f"{who}: {talk_id} SEQUENCE {old_seq} -> {seq}"
                assert modified >= old_modified, f"{who}: {talk_id} LAST-MODIFIED went back"
                assert stamp >= old_stamp, f"{who}: {talk_id} DTSTAMP went back"
                assert seq > old_seq or modified == old_modified, f"{who}: {talk_id} redated"
            before = self.events.setdefault((event.uid, seq), event.text)
            assert before == event.text, f"{who}: {event.uid} SEQUENCE {seq} shows two events"
            self.top[talk_id] = max(self.top.get(talk_id, (seq, modified, stamp)),
                                    (seq, modified, stamp))


class LedgerMachine(RuleBasedStateMachine):
    #: How a worker is started: in memory by default, DiskWorker in the slow variant.
    start: Callable[[Path, FakeClock], Worker] = MemoryWorker

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="feeds-states-"))
        self.data = self.folder / "talks.yaml"
        self.text = SEED_DATA.read_text(encoding="utf-8")
        self.ledger = ledger_path(self.data)
        self.clock = FakeClock(NOW)
        self.mtime = time.time()
        self._write_data()
        self.failure: int | None = None  # errno of every ledger write, while it fails
        self._real_write = revisions_module.write_atomically
        revisions_module.write_atomically = self._write_ledger  # type: ignore[assignment]
        self.damaged: bytes | None = None  # the damaged ledger's bytes, while damaged
        self.backup = b""  # the ledger before the damage, as git has it
        self.workers: list[Worker] = []
        self.lives: list[History] = []  # one per worker, since it started
        self.recorded = History()  # everything shown while /healthz said ok
        self.everything = History()  # everything shown, while no worker lost its memory
        self.memory_lost = False
        self.uids: dict[str, str] = {}
        self.feed_id = ""
        self.ledger_top: dict[str, int] = {}
        self.checks = 0
        self._start_worker()

    def teardown(self) -> None:
        try:
            self.cross_check_with_parsers()
        finally:
            revisions_module.write_atomically = self._real_write  # type: ignore[assignment]
            shutil.rmtree(self.folder, ignore_errors=True)

    def cross_check_with_parsers(self) -> None:
        """The newest worker's calendar, read by icalendar and vobject."""
        snapshot = self.workers[-1].serves()
        if snapshot is not None:
            cross_check(snapshot.routes[CALENDAR].body)

    # --- the world --------------------------------------------------------------------

    def _write_ledger(self, path, text, **kwargs):
        if self.failure is not None:
            raise OSError(self.failure, os.strerror(self.failure))
        return self._real_write(path, text, **kwargs)

    def _write_data(self) -> None:
        self.data.write_text(self.text, encoding="utf-8")
        self.mtime = max(self.mtime + 0.001, time.time())
        os.utime(self.data, (self.mtime, self.mtime))

    def _unrecorded(self) -> bool:
        return any(not w.healthy() for w in self.workers if w.serves() is not None)

    def _start_worker(self) -> None:
        self.workers.append(type(self).start(self.data, self.clock))
        self.lives.append(History())

    # --- the rules --------------------------------------------------------------------

    @rule(talk=st.sampled_from(SEED_TALKS), title=st.sampled_from(["Edited", "Edited again", None]))
    def edit_or_revert(self, talk: str, title: str | None) -> None:
        start = self.text.index(f"  - id: {talk}\n")
        line = self.text.index("\n    title: ", start) + 1
        end = self.text.index("\n", line)
        new = title or SEED_TITLES[talk]  # None: the edit is undone
        self.text = self.text[:line] + f"    title: {new!r}" + self.text[end:]
        self._write_data()

    @rule(talk=st.sampled_from(EXTRA), day=st.sampled_from(["2026-07-06", "2026-07-20"]))
    def add_talk(self, talk: str, day: str) -> None:
        if f"  - id: {talk}\n" in self.text:
            return
        self.text = self.text.replace("talks:\n", f"talks:\n  - id: {talk}\n    date: {day}\n"
                                      f"    title: A new talk\n    speakers:\n"
                                      f"      - name: Ada Lovelace\n\n", 1)
        self._write_data()

    @rule(talk=st.sampled_from(EXTRA))
    def remove_talk(self, talk: str) -> None:
        marker = f"  - id: {talk}\n"
        if marker in self.text:
            start = self.text.index(marker)
            self.text = self.text[:start] + self.text[self.text.index("\n\n", start) + 2:]
            self._write_data()

    @rule(which=st.integers(0, 2))
    def restart(self, which: int) -> None:
        which %= len(self.workers)
        if self._unrecorded():
            self.memory_lost = True  # see the module's docstring
        self.workers.pop(which)
        self.lives.pop(which)
        self._start_worker()

    @precondition(lambda self: len(self.workers) < 3)
    @rule()
    def another_worker(self) -> None:
        if self._unrecorded():
            self.memory_lost = True  # it cannot know what the others show unrecorded
        self._start_worker()

    @rule(hours=st.sampled_from([-24 * 30, -5, -1, 1, 6, 24 * 400]))
    def clock_jump(self, hours: int) -> None:
        self.clock.now += timedelta(hours=hours)

    @rule(failure=st.sampled_from([None, errno.EROFS, errno.ENOSPC]))
    def ledger_writes(self, failure: int | None) -> None:
        self.failure = failure

    @precondition(lambda self: self.damaged is None)
    @rule(kind=st.sampled_from(["undecodable", "bad sequence", "half a line"]))
    def damage_ledger(self, kind: str) -> None:
        if not self.ledger.exists():
            return
        self.backup = self.ledger.read_bytes()
        if kind == "undecodable":
            damaged = self.backup[:300] + b"\xff" + self.backup[300:]
        elif kind == "bad sequence":
            damaged = self.backup.replace(b"\t0\t", b"\t-5\t", 1).replace(b"\t1\t", b"\t-5\t", 1)
        else:
            damaged = self.backup + b"2026-06-08-seleznova\t12ab"
        self.ledger.write_bytes(damaged)
        self.damaged = damaged

    @precondition(lambda self: self.damaged is not None)
    @rule()
    def repair_ledger(self) -> None:
        """The operator restores the committed ledger (git checkout)."""
        self.ledger.write_bytes(self.backup)
        self.damaged = None

    # --- what subscribers see -----------------------------------------------------------

    @invariant()
    def nothing_goes_backwards_and_no_identity_changes(self) -> None:
        self.checks += 1
        for number, (worker, life) in enumerate(zip(self.workers, self.lives, strict=True)):
            snapshot = worker.serves()
            if snapshot is None:
                assert self.damaged is not None  # only a worker that cannot read the ledger
                continue
            calendar = snapshot.routes[CALENDAR].body
            if self.checks % CROSS_CHECK == number:  # one worker's at a time
                cross_check(calendar)
            events, feed_ids = shown_by(calendar, snapshot.routes["/atom.xml"].body)
            who = f"worker {number}"
            life.check_and_add(events, who)
            if worker.healthy():
                self.recorded.check_and_add(events, who + " (recorded)")
            if not self.memory_lost:
                self.everything.check_and_add(events, who + " (all)")
            for talk_id, event in events.items():
                assert event.uid == self.uids.setdefault(talk_id, event.uid) \
                    == talk_uid(talk_id)
            assert len(set(self.uids.values())) == len(self.uids), "two talks share a UID"
            assert feed_ids[0] == (self.feed_id or feed_ids[0])
            self.feed_id = feed_ids[0]
            assert all(i.startswith(f"tag:{SEED_ID_AUTHORITY},2026:") for i in feed_ids)

    @invariant()
    def the_ledger_is_never_lost(self) -> None:
        if self.damaged is not None:
            assert self.ledger.read_bytes() == self.damaged
            return
        try:
            entries = read_ledger(self.ledger)
        except LedgerError as exc:  # pragma: no cover - a failure to report
            raise AssertionError(f"the ledger was damaged by a write: {exc}") from None
        assert set(self.ledger_top) <= set(entries), "a talk vanished from the ledger"
        for talk_id, seq in self.ledger_top.items():
            assert entries[talk_id].sequence >= seq, f"{talk_id} went back in the ledger"
        self.ledger_top = {talk_id: r.sequence for talk_id, r in entries.items()}
        assert not [p for p in self.folder.iterdir() if p.name.endswith(".tmp")]


LedgerMachine.TestCase.settings = settings(max_examples=20, stateful_step_count=12, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
test_the_revision_contract_holds_over_random_histories = LedgerMachine.TestCase


class LongerHistories(LedgerMachine):
    pass


LongerHistories.TestCase.settings = settings(max_examples=60, stateful_step_count=25,
                                             deadline=None,
                                             suppress_health_check=[HealthCheck.too_slow])
test_the_revision_contract_holds_over_longer_histories = pytest.mark.slow(
    LongerHistories.TestCase)


class LongerHistoriesOnDisk(LedgerMachine):
    start = DiskWorker


LongerHistoriesOnDisk.TestCase.settings = settings(max_examples=20, stateful_step_count=25,
                                                   deadline=None,
                                                   suppress_health_check=[HealthCheck.too_slow])
test_the_revision_contract_holds_over_longer_histories_on_disk = pytest.mark.slow(
    LongerHistoriesOnDisk.TestCase)


# --- explicit histories, published to disk ------------------------------------------------

class OnDisk(LedgerMachine):
    start = DiskWorker


FIRST, SECOND, THIRD = SEED_TALKS
HISTORIES = {
    "read-only, a rebuild and restarts": [
        ("edit_or_revert", {"talk": FIRST, "title": "Edited"}),
        ("ledger_writes", {"failure": errno.EROFS}),
        ("edit_or_revert", {"talk": SECOND, "title": "Edited"}),
        ("clock_jump", {"hours": 24 * 400}),
        ("restart", {"which": 0}),
        ("another_worker", {}),
        ("ledger_writes", {"failure": None}),
        ("edit_or_revert", {"talk": FIRST, "title": None}),
        ("add_talk", {"talk": EXTRA[0], "day": "2026-07-06"}),
        ("remove_talk", {"talk": EXTRA[0]}),
    ],
    "a damaged ledger": [
        ("add_talk", {"talk": EXTRA[1], "day": "2026-07-20"}),
        ("damage_ledger", {"kind": "bad sequence"}),
        ("edit_or_revert", {"talk": THIRD, "title": "Edited again"}),
        ("another_worker", {}),
        ("clock_jump", {"hours": -24 * 30}),
        ("repair_ledger", {}),
        ("edit_or_revert", {"talk": THIRD, "title": "Edited"}),
        ("restart", {"which": 1}),
        ("damage_ledger", {"kind": "undecodable"}),
        ("restart", {"which": 0}),
        ("repair_ledger", {}),
        ("edit_or_revert", {"talk": SECOND, "title": "Edited"}),
    ],
    "a full disk and three workers": [
        ("another_worker", {}),
        ("another_worker", {}),
        ("ledger_writes", {"failure": errno.ENOSPC}),
        ("edit_or_revert", {"talk": FIRST, "title": "Edited"}),
        ("edit_or_revert", {"talk": FIRST, "title": "Edited again"}),
        ("restart", {"which": 2}),
        ("clock_jump", {"hours": -5}),
        ("ledger_writes", {"failure": None}),
        ("edit_or_revert", {"talk": FIRST, "title": None}),
        ("damage_ledger", {"kind": "half a line"}),
        ("clock_jump", {"hours": 6}),
        ("repair_ledger", {}),
    ],
}


@pytest.mark.parametrize("history", HISTORIES)
def test_the_revision_contract_holds_for_builds_published_to_disk(history: str) -> None:
    """Explicit histories through real Publishers and published builds; at the
    end every calendar reader finds the events read_events read, at one instant each."""
    machine = OnDisk()
    try:
        machine.nothing_goes_backwards_and_no_identity_changes()
        machine.the_ledger_is_never_lost()
        for step, arguments in HISTORIES[history]:
            getattr(machine, step)(**arguments)
            machine.nothing_goes_backwards_and_no_identity_changes()
            machine.the_ledger_is_never_lost()
        snapshot = machine.workers[0].serves()
        assert snapshot is not None
        calendar = snapshot.routes[CALENDAR].body
        uids = {event.uid for event in read_events(calendar)}
        instants = {name: reader(calendar) for name, reader in READERS.items()}
        for name, found in instants.items():
            assert set(found) == uids, f"{name} reads other events"
            assert found == instants["icalendar"], f"{name} reads other instants"
        assert len(machine.everything.top) >= len(SEED_TALKS)
    finally:
        machine.teardown()
