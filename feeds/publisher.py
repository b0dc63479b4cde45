"""Keeps the current snapshot: loads the data file, records revisions, builds,
and swaps the result in atomically. A bad edit leaves the last good version.

Each request costs at most one ``stat`` per check interval (files.FileWatch).
A changed file is read only once its writer seems done: the file must look
the same before and after it is read, and must not have changed within the
last ``settle`` seconds, so that a half-written file is not mistaken for an
edit. Every process builds the same bytes from the same file: revisions come
from the shared ledger, and ``now`` only decides which talks are over."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .files import FileWatch, Signature, stat_signature
from .loader import load_schedule
from .model import Schedule
from .reader import InvalidData
from .revisions import Revision, ledger_path, update_ledger
from .settings import utc_now
from .snapshot import BuildOptions, Snapshot, build_snapshot

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
SETTLE = 0.25  # seconds a changed file must stay unchanged before it is read
BOOT_SETTLE_TRIES = 20  # at start, how many times to wait for a file still being written


@dataclass(frozen=True)
class Health:
    """What /healthz reports."""

    ok: bool
    data_file: str
    talks: int
    loaded_at: datetime | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    #: The served snapshot's version: the same in every process that serves the same bytes.
    version: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "status": "ok" if self.ok else "degraded",
            "data_file": self.data_file,
            "talks": self.talks,
            "last_good_load": self.loaded_at.isoformat() if self.loaded_at else None,
            "version": self.version,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }


class Publisher:
    """The current snapshot of one data file, rebuilt when the file changes."""

    def __init__(self, data_file: str | Path, options: BuildOptions,
                 clock: Clock = utc_now, check_interval: float = 1.0,
                 settle: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        self.data_file = Path(data_file)
        self.options = options
        self.clock = clock
        self.settle = min(SETTLE, check_interval) if settle is None else settle
        self._watch = FileWatch(self.data_file, check_interval, monotonic)
        self._wall = wall  # compared with the file's mtime
        self._snapshot: Snapshot | None = None
        self._loaded_at: datetime | None = None
        self._errors: tuple[str, ...] = ()
        self._warnings: tuple[str, ...] = ()
        #: Why changes are not recorded in the ledger, if they are not.
        self._ledger_errors: tuple[str, ...] = ()
        self._ledger = ledger_path(self.data_file)
        self._ledger_seen: Signature | None = None
        self._sleep = sleep
        self.refresh(force=True)

    def snapshot(self) -> Snapshot | None:
        """The current snapshot; looks at the data file at most once per interval.
        Callers keep the returned object for a whole response."""
        self._watch.check(self._refresh)
        return self._snapshot

    def refresh(self, force: bool = False) -> None:
        """Reload if the file changed, rebuild if time moved a talk to the past."""
        self._watch.check(lambda: self._refresh(force), force=True)

    def _refresh(self, force: bool = False) -> None:
        signature = self._watch.signature()
        now = self.clock()
        current = self._snapshot
        if force or signature != self._watch.seen or self._ledger_changed():
            self._reload(signature, now, force)
        elif current and current.valid_until and now >= current.valid_until:
            self._build(current.schedule, current.revisions, now)

    def _ledger_changed(self) -> bool:
        """Whether another process wrote the ledger since this one last read
        it: after a time when changes could not be recorded, workers may
        have numbered them differently, and the ledger now reconciles them."""
        return stat_signature(self._ledger) != self._ledger_seen

    def _unsettled(self, signature: Signature | None) -> float:
        """Seconds to wait before the file's last write is `settle` seconds old."""
        if signature is None:
            return 0.0
        age = self._wall() - signature[0] / 1e9
        return self.settle - age if 0 <= age < self.settle else 0.0

    def _settle_at_start(self, signature: Signature | None) -> Signature | None:
        """At start there is nothing else to serve: wait (a few times
        `settle` at most) until the file has stopped changing."""
        for _ in range(BOOT_SETTLE_TRIES):
            wait = self._unsettled(signature)
            if not wait:
                break
            self._sleep(wait)
            signature = self._watch.signature()
        return signature

    def _reload(self, signature: Signature | None, now: datetime, force: bool) -> None:
        for _ in range(BOOT_SETTLE_TRIES if force and self._snapshot is None else 1):
            if force and self._snapshot is None:  # at start: wait here, nothing else to serve
                signature = self._settle_at_start(signature)
            wait = self._unsettled(signature)
            if wait and not force:
                self._watch.retry_in(wait)  # still being written, perhaps
                return
            try:
                schedule: Schedule | None = load_schedule(self.data_file)
                problems: tuple[str, ...] = ()
            except InvalidData as exc:
                schedule, problems = None, tuple(str(p) for p in exc.problems)
            if self._watch.signature() == signature:
                break
            if not force:
                self._watch.retry_in(self.settle)  # written to while we read it
                return
            signature = self._watch.signature()
        self._watch.seen = signature
        if schedule is None:
            self._fail(problems, f"{self.data_file} has errors")
            return
        revisions = self._record(schedule, signature, now)
        if revisions is not None and self._build(schedule, revisions, now):
            self._loaded_at = now
            self._errors = ()
            assert self._snapshot is not None
            log.info("serving %d talks from %s (version %s)", len(schedule.talks),
                     self.data_file, self._snapshot.version)

    def _record(self, schedule: Schedule, signature: Signature | None,
                now: datetime) -> Mapping[str, Revision] | None:
        """The revisions of `schedule`, recorded in the ledger on top of the
        ones last published; None if there are none that may be published.
        While changes are not recorded the file is looked at again on every
        check, so that recording resumes as soon as it can."""
        mtime = datetime.fromtimestamp(signature[0] / 1e9, timezone.utc) if signature else now
        known = self._snapshot.revisions if self._snapshot else None
        try:
            update = update_ledger(self._ledger, schedule, now,
                                   fallback_now=mtime.replace(microsecond=0), known=known)
            self._ledger_seen = stat_signature(self._ledger)
        except OSError as exc:  # e.g. the lock file cannot be locked: try again later
            self._watch.seen = None
            self._fail((f"cannot update the revision ledger: {exc}",), "the ledger failed")
            return None
        self._warnings, self._ledger_errors = update.warnings, update.errors
        if update.errors:
            self._watch.seen = None
        if update.revisions is None:
            self._fail(update.errors, "the revision ledger cannot be read")
        return update.revisions

    def _fail(self, problems: tuple[str, ...], why: str) -> None:
        self._errors = problems
        log.error("keeping the last good version; %s:\n%s", why, "\n".join(problems))

    def _build(self, schedule: Schedule, revisions: Mapping[str, Revision],
               now: datetime) -> bool:
        """Build and swap in a new snapshot; on failure keep the current one."""
        try:
            snapshot = build_snapshot(schedule, revisions, self.options, now)
        except Exception as exc:  # a bug must not take the last good version down
            log.exception("keeping the last good version; building %s failed", self.data_file)
            self._errors = (f"building the site failed: {exc!r}",)
            return False
        self._snapshot = snapshot  # one assignment: readers see old or new, never a mix
        return True

    def health(self) -> Health:
        snap = self.snapshot()
        return Health(
            ok=snap is not None and not self._errors and not self._ledger_errors,
            data_file=str(self.data_file),
            talks=len(snap.schedule.talks) if snap else 0,
            loaded_at=self._loaded_at,
            errors=tuple(dict.fromkeys(self._errors + self._ledger_errors)),
            warnings=self._warnings,
            version=snap.version if snap else "",
        )
