"""Serves the current published build (feeds.publish.builds) and keeps it
current: one process at a time builds a changed data file (feeds.publish.builder),
never inside a request.

Every request follows the ``current`` link (one readlink), so a worker
serves a new build as soon as it is switched in and never an older one
after it. At most once per check interval a worker also looks at the data
file's ``stat``; if it changed (or a talk ended, which moves it from
"upcoming" to "past"), the first worker to take the build lock starts a
builder, by default a background process with a time limit, while every
worker keeps serving the current build."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from feeds.files import FileWatch
from feeds.publish import builds
from feeds.publish.builder import BUILDER_COMMAND, BuildJob, build_due, run_build, source_of, unsettled
from feeds.publish.builds import PublishedBuild
from feeds.publish.snapshot import BuildOptions
from feeds.settings import Settings, utc_now

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
SETTLE = 0.25  # seconds a changed file must stay unchanged before it is read
#: A builder process that ignores its own alarm is killed this much later.
KILL_GRACE = 10.0


@dataclass(frozen=True)
class Health:
    """What /healthz reports."""

    ok: bool
    data_file: str
    talks: int
    loaded_at: datetime | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    #: The served build's version: the same in every process.
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
    """The current published build of one data file, for one worker process."""

    def __init__(self, settings: Settings, state_dir: str | Path, *, clock: Clock = utc_now,
                 settle: float | None = None, monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        self.data_file = Path(settings.talks_file)
        self.state = Path(state_dir)
        self.clock = clock
        self.mode = mode = settings.build_mode
        check_interval = settings.check_interval
        self.settle = min(SETTLE, check_interval) if settle is None else settle
        options = BuildOptions.from_settings(settings)
        self.job = BuildJob(str(self.data_file), str(self.state), options.site.base,
                            options.feed_limit, settings.cache_max_age, settings.keep_builds,
                            settings.build_timeout, self.settle,
                            ledger_retry=10 * check_interval)
        self._watch = FileWatch(self.data_file, check_interval, monotonic)
        self._wall = wall
        self._sleep = sleep
        self._name: str | None = None
        self._current: PublishedBuild | None = None
        #: A current build that cannot be read (never served; built again).
        self._unreadable = ""
        self._child: subprocess.Popen[bytes] | None = None
        self._child_started = 0.0
        self.refresh()
        if mode == "inline":
            self._first_inline_build()
        if mode == "process":  # look even while no request comes
            self._start_watcher()
            os.register_at_fork(after_in_child=self._start_watcher)

    def _first_inline_build(self, attempts: int = 20) -> None:
        """Inline (one process: tests, `feeds serve`): wait out a file that
        was written just now, so that the first requests find a build."""
        for _ in range(attempts):
            if self._current is not None or not self.data_file.exists():
                return
            with builds.build_lock(self.state) as fd:
                wait = run_build(self.job, self.clock, self._wall) if fd is not None else 0.0
            self.follow()
            if not wait:
                return
            self._sleep(wait)

    def _start_watcher(self) -> None:
        threading.Thread(target=self._watching, name="feeds-watch", daemon=True).start()

    def _watching(self) -> None:
        while True:
            time.sleep(max(self._watch.interval, 0.05))
            try:
                self._watch.check(self._look)
            except Exception:  # never let the watcher die
                log.exception("looking at %s failed", self.data_file)

    def current(self) -> PublishedBuild | None:
        """The build to serve this request from; callers keep it for a whole response."""
        self.follow()
        self._watch.check(self._look)
        return self._current

    def follow(self) -> PublishedBuild | None:
        """Switch to the build that ``current`` names, if it moved."""
        name = builds.current_name(self.state)
        if name != self._name and name is not None and name != self._unreadable:
            try:
                build = PublishedBuild(builds.builds_dir(self.state) / name)
            except (OSError, ValueError, KeyError) as exc:
                log.error("cannot open the published build %s: %s", name, exc)
                self._unreadable = name
            else:
                self._name, self._current = name, build
        return self._current

    def refresh(self) -> None:
        """Look now: follow the current build, start a build if one is due."""
        self._watch.check(self._look, force=True)

    def _look(self) -> None:
        if self.mode == "inline":
            with builds.build_lock(self.state) as fd:
                if fd is not None:
                    wait = run_build(self.job, self.clock, self._wall)
                    if wait:
                        self._watch.retry_in(wait)
        else:
            self._start_builder()
        self.follow()

    def _start_builder(self) -> None:
        """Start a builder process if a build is due and nobody is building."""
        if self._child is not None:
            if self._child.poll() is None:
                if time.monotonic() - self._child_started > self.job.timeout + KILL_GRACE:
                    self._child.kill()  # it ignored its alarm; the next look records it
                return
            self._child = None
        with builds.build_lock(self.state) as fd:
            if fd is None:
                return  # another process builds
            status = builds.read_status(self.state)
            signature = self._watch.signature()
            if status.get("state") != "building":
                current = self.follow()
                unreadable = self._unreadable if self._unreadable == builds.current_name(
                    self.state) else ""
                reason = build_due(self.job, current, source_of(self.job), self.clock(), status,
                                   self._wall(), unreadable)
                if not reason:
                    return
                wait = unsettled(signature, self.settle, self._wall())
                if reason == "reload" and wait:
                    self._watch.retry_in(wait)
                    return
            self._child = subprocess.Popen(
                [*BUILDER_COMMAND, json.dumps(asdict(self.job))], pass_fds=(fd,), stdin=subprocess.DEVNULL)
            self._child_started = time.monotonic()

    def health(self) -> Health:
        build = self.current()
        status = builds.read_status(self.state)
        errors = tuple(status.get("errors", ()))
        if build is None and not errors:
            errors = (f"nothing is published yet; building {self.data_file} …",)
        return Health(
            ok=build is not None and not errors,
            data_file=str(self.data_file),
            talks=build.talks if build else 0,
            loaded_at=build.loaded_at if build else None,
            errors=errors,
            warnings=tuple(status.get("warnings", ())),
            version=build.version if build else "",
        )


def state_dir(configured: str, instance_path: str, data_file: str | Path) -> Path:
    """FEEDS_STATE_DIR, or a folder of the app's instance folder that belongs
    to this data file alone (named by a digest of its resolved path), so that
    servers of two data files never share builds."""
    if configured:
        return Path(configured).absolute()
    digest = hashlib.sha256(str(Path(data_file).resolve()).encode()).hexdigest()[:16]
    return Path(instance_path).absolute() / "sources" / digest
