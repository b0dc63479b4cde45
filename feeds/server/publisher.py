"""Serves the current published build (feeds.publish.builds) and keeps it
current: one process at a time builds a changed data file (feeds.publish.builder),
never inside a request.

Every request follows the ``current`` link (one readlink), so a worker
serves a new build as soon as it is switched in and never an older one
after it. At most once per check interval a worker also looks at the data
file's ``stat``; if it changed (or a talk ended, which moves it from
"upcoming" to "past"), the first worker to take the build lock starts a
builder, by default a background process with a time limit, while every
worker keeps serving the current build. After its first build that process
stays (feeds.publish.builder_process.stay) and builds every later change itself,
keeping its rendered work; workers start another only when none stays.

A worker serves only builds of its own origin (data file and settings). A
current build that cannot be read is passed over for the newest intact one.
Until the first build of a data file is published, requests wait for it
(up to FEEDS_BUILD_TIMEOUT). A builder that fails without recording why
(a full or read-only state folder) is started again after a growing delay."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from feeds.files import FileWatch
from feeds.publish import build_status, builds, layout
from feeds.publish.builder import (
    BuildJob,
    build_due,
    job_options,
    origin_of,
    retry_delay,
    run_build,
    source_of,
    unsettled,
)
from feeds.publish.builder_process import BUILDER_COMMAND
from feeds.publish.builds import PublishedBuild
from feeds.publish.snapshot import BuildOptions
from feeds.settings import Settings, utc_now

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
SETTLE = 0.25  # seconds a changed file must stay unchanged before it is read
#: A builder process that ignores its own alarm is killed this much later.
KILL_GRACE = 10.0
#: How often a request that waits for the first build looks for it.
FIRST_BUILD_POLL = 0.05
#: What /healthz calls the served build: the data file's current version, the
#: last good version while the file is broken, a build under way, nothing.
CURRENT, STALE, BUILDING, NONE = "current", "stale", "building", "none"


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
    #: CURRENT, STALE, BUILDING or NONE.
    state: str = NONE
    #: What the served build was made from (data file, site, settings).
    source: dict[str, object] | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "status": "ok" if self.ok else "degraded",
            "state": self.state,
            "data_file": self.data_file,
            "talks": self.talks,
            "last_good_load": self.loaded_at.isoformat() if self.loaded_at else None,
            "version": self.version,
            "source": self.source,
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
                            ledger_retry=10 * check_interval, server_start=wall(),
                            interval=check_interval if self.mode == "process" else 0.0)
        self.origin = self.job.origin
        self._watch = FileWatch(self.data_file, check_interval, monotonic)
        self._wall = wall
        self._sleep = sleep
        self._monotonic = monotonic
        self._name: str | None = None
        self._current: PublishedBuild | None = None
        self._broken: set[str] = set()
        self._child: subprocess.Popen[bytes] | None = None
        self._child_started = 0.0
        #: Problems outside the build status: the state folder, the builder.
        self._problems: dict[str, str] = {}
        self._failures = 0  # builders in a row that ended without success
        self._failed_wall = 0.0  # when the last of them ended (wall clock)
        self._hold_until = 0.0  # no builder is started before this (monotonic)
        self._watcher_pid = 0
        self.refresh()
        if mode == "inline":
            self._first_inline_build()
        if mode == "process":  # look even while no request comes
            self._start_watcher()

    def _first_inline_build(self, attempts: int = 20) -> None:
        """Inline (one process: tests, `feeds serve`): wait out a file that
        was written just now, so that the first requests find a build."""
        for _ in range(attempts):
            if self._current is not None or not self.data_file.exists():
                return
            wait = self._build_inline()
            self.follow()
            if not wait:
                return
            self._sleep(wait)

    def _start_watcher(self) -> None:
        """The watcher thread of this process. Started here, in the process
        that serves (a forked copy starts its own at its first request),
        never from an at-fork hook: under gevent that hook runs in the child
        that subprocess forks to run the builder, and starting a thread
        there ran the worker's loop in that child (gunicorn's misleading
        "Parent changed, shutting down" and "Worker exiting")."""
        self._watcher_pid = os.getpid()
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
        if self.mode == "process" and self._watcher_pid != os.getpid():
            self._start_watcher()  # a forked copy (gunicorn --preload)
        self.follow()
        self._watch.check(self._look)
        return self._current

    def ready(self, timeout: float | None = None) -> PublishedBuild | None:
        """The build to serve; while nothing is published for this data file
        and its first build is under way, wait for it (at most `timeout`,
        by default FEEDS_BUILD_TIMEOUT plus the builder's grace)."""
        build = self.current()
        if build is not None or self.mode != "process":
            return build
        limit = self.job.timeout + KILL_GRACE if timeout is None else timeout
        deadline = self._monotonic() + limit
        while build is None and self._first_build_pending() and self._monotonic() < deadline:
            self._sleep(FIRST_BUILD_POLL)
            build = self.current()
        return build

    def _first_build_pending(self) -> bool:
        """Whether a build of the data file as it is now may still come."""
        if self._problems:
            return False
        status = build_status.read_status(self.state)
        if status.get("state") == "building" or status.get("retry") or status.get("retry_at"):
            return True  # under way, or tried again soon
        return not (status.get("source") == source_of(self.job)
                    and status.get("options") == self.job.options and status.get("errors"))

    def follow(self) -> PublishedBuild | None:
        """Switch to the build of this origin that ``current`` names, if it
        moved; a current build that cannot be read or is another origin's
        is passed over for the newest intact build of this origin."""
        name = layout.current_name(self.state)
        if name != self._name:
            self._open(name)
        return self._current

    def _open(self, name: str | None) -> None:
        opened = builds.open_served(self.state, self.origin, skip=tuple(self._broken))
        self._broken.update(opened.broken)
        if opened.foreign:
            log.warning("%s/current is a build of another data file or other settings; "
                        "it is not served", self.state)
        self._name, self._current = name, opened.build

    def discard(self, build: PublishedBuild, exc: BaseException) -> PublishedBuild | None:
        """`build` turned out damaged while it was served: pass it over for
        the newest intact build, and let the builder set it aside."""
        log.error("the published build %s is damaged (%s); passing it over", build.name, exc)
        self._broken.add(build.name)
        if self._current is build:
            self._open(layout.current_name(self.state))
        self._watch.retry_in(0)
        return self._current

    def refresh(self) -> None:
        """Look now: follow the current build, start a build if one is due."""
        self._watch.check(self._look, force=True)

    def _look(self) -> None:
        if self.mode == "inline":
            wait = self._build_inline()
            if wait:
                self._watch.retry_in(wait)
        else:
            self._start_builder()
        self.follow()

    def _build_inline(self) -> float:
        """Build in this thread if due (inline mode); seconds to look again after."""
        try:
            with build_status.build_lock(self.state) as fd:
                if fd is None:
                    return 0.0
                self._problems.pop("state", None)
                wait = run_build(self.job, self.clock, self._wall)
        except OSError as exc:
            self._state_unwritable(exc)
            return 0.0
        return wait

    def _state_unwritable(self, exc: OSError) -> None:
        problem = (f"the state folder {self.state} cannot be written ({exc.strerror or exc}); "
                   "the last good build is served, but edits are not published")
        if self._problems.get("state") != problem:
            log.error("%s", problem)
        self._problems["state"] = problem

    def _start_builder(self) -> None:
        """Start a builder process if a build is due and nobody is building."""
        if self._child is not None:
            code = self._child.poll()
            if code is None:
                self._builder_recovered(build_status.read_status(self.state))
                if self._overdue(self._child.pid):
                    self._child.kill()  # it ignored its alarm; the next look records it
                return
            self._child = None
            self._builder_ended(code)
        if self._monotonic() < self._hold_until:
            return
        if build_status.warm_builder(self.state, self.origin):
            self._builder_recovered(build_status.read_status(self.state))
            return  # a builder stays and looks by itself
        try:
            with build_status.build_lock(self.state) as fd:
                if fd is None:
                    return  # another process builds
                self._problems.pop("state", None)
                status = build_status.read_status(self.state)
                signature = self._watch.signature()
                damaged = layout.current_name(self.state) in self._broken  # to be set aside
                if status.get("state") != "building" and not damaged:
                    reason = build_due(self.job, self.follow(), source_of(self.job), self.clock(),
                                       status, self._wall())
                    if not reason:
                        return
                    wait = unsettled(signature, self.settle, self._wall())
                    if reason == "reload" and wait:
                        self._watch.retry_in(wait)
                        return
                self._child = subprocess.Popen(
                    [*BUILDER_COMMAND, json.dumps(asdict(self.job)), str(os.getpid()), str(fd)],
                    pass_fds=(fd,), stdin=subprocess.DEVNULL)
                self._child_started = self._monotonic()
        except OSError as exc:  # the lock cannot be taken: a read-only or full state folder
            self._state_unwritable(exc)

    def _overdue(self, pid: int) -> bool:
        """Whether this worker's builder ran past its time limit and the
        grace after it: its build under way started too long ago, or, before
        it started one, the process did."""
        limit = self.job.timeout + KILL_GRACE
        status = build_status.read_status(self.state)
        if status.get("builder") == pid:  # its build, or its last one
            return status.get("state") == "building" and \
                self._wall() - float(status.get("started") or 0) > limit
        return self._monotonic() - self._child_started > limit

    def _builder_recovered(self, status: Mapping[str, Any]) -> None:
        """Forget this worker's failed builders once a build succeeded since
        (by a builder that stays, and so never ends with success)."""
        if self._failures and float(status.get("ok_at") or 0) > self._failed_wall:
            self._failures, self._hold_until = 0, 0.0
            self._problems.pop("builder", None)

    def _builder_ended(self, code: int) -> None:
        """Count a builder that failed without recording why; start the
        next one only after a growing delay, logging each kind of failure once."""
        if code == 0:
            self._failures, self._hold_until = 0, 0.0
            self._problems.pop("builder", None)
            return
        self._failures += 1
        self._failed_wall = self._wall()
        delay = retry_delay(self._failures)
        self._hold_until = self._monotonic() + delay
        problem = (f"the builder for {self.data_file} ended with status {code} "
                   "(see the server log); it is started again after a growing delay")
        if self._problems.get("builder") != problem:
            log.error("%s; next try in %g s", problem, delay)
        self._problems["builder"] = problem
        self._watch.retry_in(delay)

    def health(self) -> Health:
        build = self.current()
        status = build_status.read_status(self.state)
        self._builder_recovered(status)
        source = source_of(self.job)
        # Only errors about the data file as it is now: not a version
        # already replaced, nor another file's.
        about_now = status.get("source") == source and status.get("options") == self.job.options
        errors = tuple(status.get("errors", ())) if about_now else ()
        errors += tuple(self._problems.values())
        building = status.get("state") == "building" or (
            not errors and build_due(self.job, build, source, self.clock(), status,
                                     self._wall()) == "reload")
        if build is None:
            state = BUILDING if building and not errors else NONE
            if not errors:
                errors = (f"nothing is published yet; building {self.data_file} …"
                          if building else f"nothing is published for {self.data_file}",)
        elif build.source == source:
            state = CURRENT
        else:
            state = BUILDING if building else STALE
        return Health(
            ok=build is not None and not errors,
            data_file=str(self.data_file),
            talks=build.talks if build else 0,
            loaded_at=build.loaded_at if build else None,
            errors=errors,
            warnings=tuple(status.get("warnings", ())) if about_now else (),
            version=build.version if build else "",
            state=state,
            source=dict(build.origin) if build is not None and build.origin else None,
        )


def state_dir(configured: str, instance_path: str, data_file: str | Path,
              options: BuildOptions, max_age: int) -> Path:
    """The state folder of this data file with these settings: a folder
    named by a digest of the file's resolved path and `options` (what
    changes a build's bytes), in FEEDS_STATE_DIR or else the app's instance
    folder. Servers of two data files, or of one file with two site
    addresses, never share builds, status or the last good secrets."""
    base = Path(configured or instance_path).absolute()
    settings = job_options(options.site.base, options.feed_limit, max_age)
    key = json.dumps(origin_of(data_file, settings), sort_keys=True)
    return base / "sources" / hashlib.sha256(key.encode()).hexdigest()[:16]
