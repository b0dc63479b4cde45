"""Keeps the current snapshot: loads the data file, records revisions, builds,
and swaps the result in atomically. A bad edit leaves the last good version."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from .loader import InvalidData, load_schedule
from .revisions import ledger_path, update_ledger
from .snapshot import BuildOptions, Snapshot, build_snapshot

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Health:
    ok: bool
    data_file: str
    talks: int
    loaded_at: datetime | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "status": "ok" if self.ok else "degraded",
            "data_file": self.data_file,
            "talks": self.talks,
            "last_good_load": self.loaded_at.isoformat() if self.loaded_at else None,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }


class Publisher:
    """The current snapshot of one data file, rebuilt when the file changes."""

    def __init__(self, data_file: str | Path, options: BuildOptions,
                 clock: Clock = utc_now, check_interval: float = 1.0):
        self.data_file = Path(data_file)
        self.options = options
        self.clock = clock
        self.check_interval = check_interval
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._signature: tuple[int, int, int] | None = None
        self._next_check = 0.0
        self._loaded_at: datetime | None = None
        self._errors: tuple[str, ...] = ()
        self._warnings: tuple[str, ...] = ()
        self.refresh(force=True)

    def snapshot(self) -> Snapshot | None:
        """The current snapshot; looks at the data file at most once per interval."""
        if time.monotonic() >= self._next_check:
            self.refresh()
        return self._snapshot

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.data_file)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def refresh(self, force: bool = False) -> None:
        """Reload if the file changed, rebuild if time moved a talk to the past."""
        if not self._lock.acquire(blocking=force):
            return  # another thread is already on it; keep serving
        try:
            self._next_check = time.monotonic() + self.check_interval
            signature = self._stat()
            current = self._snapshot
            now = self.clock()
            if force or signature != self._signature:
                self._signature = signature
                self._load(signature, now)
            elif current and current.valid_until and now >= current.valid_until:
                self._snapshot = build_snapshot(current.schedule, current.revisions,
                                                self.options, now)
        finally:
            self._lock.release()

    def _load(self, signature: tuple[int, int, int] | None, now: datetime) -> None:
        try:
            schedule = load_schedule(self.data_file)
        except InvalidData as exc:
            self._errors = tuple(str(p) for p in exc.problems)
            log.error("keeping the last good version; %s has errors:\n%s", self.data_file, exc)
            return
        mtime = datetime.fromtimestamp(signature[0] / 1e9, timezone.utc) if signature else now
        revisions, warning = update_ledger(ledger_path(self.data_file), schedule, now,
                                           fallback_now=mtime.replace(microsecond=0))
        self._snapshot = build_snapshot(schedule, revisions, self.options, now)
        self._loaded_at = now
        self._errors = ()
        self._warnings = (warning,) if warning else ()
        log.info("serving %d talks from %s", len(schedule.talks), self.data_file)

    def health(self) -> Health:
        self.snapshot()
        snap = self._snapshot
        return Health(
            ok=snap is not None and not self._errors,
            data_file=str(self.data_file),
            talks=len(snap.schedule.talks) if snap else 0,
            loaded_at=self._loaded_at,
            errors=self._errors,
            warnings=self._warnings,
        )
