"""The revision contract under random histories (Hypothesis stateful testing):
edits, reverts, new and removed talks, restarts, clock jumps, read-only and
full periods, unreadable and damaged ledgers, and several workers writing
one ledger. Read back from the published calendar and Atom feed:

- no talk's SEQUENCE or LAST-MODIFIED ever decreases, and one (UID,
  SEQUENCE) pair never shows two different events;
- no UID and no feed id ever changes;
- the ledger is never lost: a damaged one is left byte for byte as it was,
  and a readable one holds every talk ever recorded, at its latest SEQUENCE.

One limit is inherent: a worker that restarts while changes cannot be
recorded has no way to know the SEQUENCE numbers its predecessor showed
but could not write down. From then on the example checks what each
worker shows over its own life and against everything that was recorded
(while /healthz said ok) — not against the lost, unrecorded numbers.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from lxml import etree

from feeds.data import revisions as revisions_module
from feeds.data.loader import load_schedule
from feeds.data.revisions import LedgerError, ledger_path, read_ledger
from feeds.server.publisher import Publisher
from feeds.settings import Settings

from helpers import NOW, SEED_DATA, SEED_ID_AUTHORITY, SITE_URL, FakeClock, talk_id_of, talk_uid

SEED_TALKS = [t.id for t in load_schedule(SEED_DATA).talks][-3:]  # few, so that edits meet
SEED_TITLES = {t.id: t.title for t in load_schedule(SEED_DATA).talks}
EXTRA = ["extra-a", "extra-b"]
ATOM_ID = "{http://www.w3.org/2005/Atom}id"
ATOM_ENTRY = "{http://www.w3.org/2005/Atom}entry"
Published = dict[str, tuple[str, int, datetime, bytes]]  # talk id -> (UID, SEQUENCE, LAST-MODIFIED, event)


def published(pub: Publisher) -> tuple[Published, list[str]] | None:
    """What a worker serves now: every event, and the Atom feed's ids."""
    snapshot = pub.current()
    if snapshot is None:
        return None
    events: Published = {}
    for event in icalendar.Calendar.from_ical(snapshot.routes["/calendar.ics"].body).walk("VEVENT"):
        uid = str(event["UID"])
        talk_id = talk_id_of(event)
        events[talk_id] = (uid, int(event["SEQUENCE"]), event["LAST-MODIFIED"].dt, event.to_ical())
    atom = etree.fromstring(snapshot.routes["/atom.xml"].body)
    ids = [atom.findtext(ATOM_ID)] + [e.findtext(ATOM_ID) for e in atom.iter(ATOM_ENTRY)]
    return events, ids


@dataclass
class History:
    """The highest SEQUENCE and date shown per talk, and each (UID, SEQUENCE)'s event."""

    top: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    events: dict[tuple[str, int], bytes] = field(default_factory=dict)

    def check_and_add(self, shown: Published, who: str) -> None:
        for talk_id, (uid, seq, modified, event) in shown.items():
            if talk_id in self.top:
                old_seq, old_modified = self.top[talk_id]
                assert seq >= old_seq, f"{who}: {talk_id} SEQUENCE {old_seq} -> {seq}"
                assert modified >= old_modified, f"{who}: {talk_id} LAST-MODIFIED went back"
                assert seq > old_seq or modified == old_modified, f"{who}: {talk_id} redated"
            before = self.events.setdefault((uid, seq), event)
            assert before == event, f"{who}: {uid} SEQUENCE {seq} shows two events"
            self.top[talk_id] = max(self.top.get(talk_id, (seq, modified)), (seq, modified))


class LedgerMachine(RuleBasedStateMachine):
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
        self.workers: list[Publisher] = []
        self.lives: list[History] = []  # one per worker, since it started
        self.recorded = History()  # everything shown while /healthz said ok
        self.everything = History()  # everything shown, while no worker lost its memory
        self.memory_lost = False
        self.uids: dict[str, str] = {}
        self.feed_id = ""
        self.ledger_top: dict[str, int] = {}
        self._start_worker()

    def teardown(self) -> None:
        revisions_module.write_atomically = self._real_write  # type: ignore[assignment]
        shutil.rmtree(self.folder, ignore_errors=True)

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
        return any(not pub.health().ok for pub in self.workers if pub.current() is not None)

    def _start_worker(self) -> None:
        settings = Settings(talks_file=str(self.data), site_url=SITE_URL, build_mode="inline",
                            check_interval=0)
        self.workers.append(Publisher(settings, self.data.parent / "state", clock=self.clock,
                                      settle=0))
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
        for number, (pub, life) in enumerate(zip(self.workers, self.lives, strict=True)):
            shown = published(pub)
            if shown is None:
                assert self.damaged is not None  # only a worker that cannot read the ledger
                continue
            events, feed_ids = shown
            who = f"worker {number}"
            life.check_and_add(events, who)
            if pub.health().ok:
                self.recorded.check_and_add(events, who + " (recorded)")
            if not self.memory_lost:
                self.everything.check_and_add(events, who + " (all)")
            for talk_id, (uid, *_rest) in events.items():
                assert uid == self.uids.setdefault(talk_id, uid) == talk_uid(talk_id)
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
test_the_revision_contract_holds_over_longer_histories = pytest.mark.slow(LongerHistories.TestCase)
