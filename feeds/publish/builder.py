"""Serves the current published build (feeds.publish.builds) and keeps it current:
one process at a time builds a changed data file, never inside a request.

Every request follows the ``current`` link (one readlink), so a worker
serves a new build as soon as it is switched in and never an older one
after it. At most once per check interval a worker also looks at the data
file's ``stat``; if it changed (or a talk ended, which moves it from
"upcoming" to "past"), the first worker to take the build lock starts a
builder, by default a background process with a time limit, while every
worker keeps serving the current build.

The builder reads a changed file only once its writer seems done: the file
must not have changed within the last ``settle`` seconds, and must look the
same before and after it is read. A file that does not validate, a build
that fails or one that runs past its time limit leaves the current build
served, and /healthz says why. Every builder makes the same bytes from the
same file: revisions come from the shared ledger, and ``now`` only decides
which talks are over."""

from __future__ import annotations

import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Any

from feeds import files
from feeds.data.loader import load_schedule
from feeds.data.revisions import Revision, latest_date, ledger_path, update_ledger
from feeds.data.yaml_reader import InvalidData
from feeds.files import FileWatch, Signature
from feeds.model import Schedule
from feeds.publish import builds
from feeds.publish.builds import PublishedBuild
from feeds.publish.snapshot import BuildOptions, build_snapshot, last_change
from feeds.settings import utc_now

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


@dataclass(frozen=True)
class Job:
    """What a builder needs to know; passed to a builder process as JSON."""

    data_file: str
    state_dir: str
    site_url: str
    feed_limit: int
    max_age: int
    keep: int
    timeout: float
    settle: float
    #: While changes cannot be recorded in the ledger, seconds between tries.
    ledger_retry: float = 10.0

    @property
    def options(self) -> dict[str, Any]:
        """The settings a published build depends on (recorded in its index)."""
        return {"site": self.site_url, "feed_limit": self.feed_limit, "max_age": self.max_age}

    @property
    def state(self) -> Path:
        return Path(self.state_dir)

    def build_options(self) -> BuildOptions:
        return BuildOptions.from_settings({"SITE_URL": self.site_url,
                                           "FEED_LIMIT": self.feed_limit})


def source_of(job: Job) -> list[int] | None:
    """What a build is made from, as it is now: the data file's signature and
    the ledger's (another process, e.g. `feeds validate`, may write the
    ledger; its revisions then win). None while there is no data file."""
    data = files.stat_signature(Path(job.data_file))
    if data is None:
        return None
    ledger = files.stat_signature(ledger_path(job.data_file))
    return [*data, *(ledger or (0, 0, 0))]


def due(job: Job, current: PublishedBuild | None, source: list[int] | None,
        now: datetime, status: Mapping[str, Any], wall: float = 0.0) -> str:
    """Why a build is due ("reload", "rebuild"), or "" if none is."""
    changed = current is None or current.source != source or current.options != job.options
    tried = (status.get("source") == source and status.get("options") == job.options
             and not status.get("retry"))
    unrecorded = status.get("retry_at") is not None and wall >= status["retry_at"]
    if (changed and not tried) or unrecorded:
        return "reload"
    outdated = current is not None and (
        current.format != builds.FORMAT  # an older feeds wrote it: rewrite it from its model
        or (current.valid_until is not None and now >= current.valid_until))
    if outdated and current is not None and status.get("rebuilt_for") != current.name:
        return "rebuild"
    return ""


def unsettled(signature: Signature | None, settle: float, wall: float) -> float:
    """Seconds to wait before the file's last write is `settle` seconds old."""
    if signature is None:
        return 0.0
    age = wall - signature[0] / 1e9
    return settle - age if 0 <= age < settle else 0.0


class BuildTimeout(BaseException):
    """The build ran past FEEDS_BUILD_TIMEOUT (a BaseException: no handler
    meant for a renderer's bug may swallow it)."""


def run_build(job: Job, clock: Clock = utc_now, wall: Callable[[], float] = time.time) -> float:
    """Build and publish if a build is due; the caller holds the build lock.
    Returns seconds after which to look again (0: as usual)."""
    state, data_file = job.state, Path(job.data_file)
    status = builds.read_status(state)
    if status.get("state") == "building":  # the builder before us died
        status = _failed(job, status, f"building {data_file} stopped before it finished "
                         f"(killed, or past FEEDS_BUILD_TIMEOUT={job.timeout:g} s); "
                         "the last good build is still served")
    current = builds.open_current(state)
    signature = files.stat_signature(data_file)
    source = source_of(job)
    now = clock()
    reason = due(job, current, source, now, status, wall())
    if not reason:
        return 0.0
    if reason == "reload":
        wait = unsettled(signature, job.settle, wall())
        if wait:
            return wait  # still being written, perhaps
    attempt = {**status, "state": "building", "started": wall(),
               "source": source if reason == "reload" else status.get("source"),
               "options": job.options, "retry": False, "retry_at": None}
    if reason == "rebuild":
        assert current is not None
        attempt["rebuilt_for"] = current.name
    builds.write_status(state, attempt)
    try:
        if reason == "reload":
            return _reload(job, attempt, signature, now, current, wall())
        assert current is not None
        model = current.model()
        _publish(job, attempt, model["schedule"], model["revisions"], now,
                 current.source, current.loaded_at or now)
    except BuildTimeout:
        _failed(job, attempt, f"building {data_file} took longer than FEEDS_BUILD_TIMEOUT="
                f"{job.timeout:g} s; the last good build is still served")
    return 0.0


def _reload(job: Job, attempt: dict[str, Any], signature: Signature | None,
            now: datetime, current: PublishedBuild | None, wall: float) -> float:
    data_file = Path(job.data_file)
    try:
        schedule: Schedule | None = load_schedule(data_file)
        problems: tuple[str, ...] = ()
    except InvalidData as exc:
        schedule, problems = None, tuple(str(p) for p in exc.problems)
    if files.stat_signature(data_file) != signature:  # written to while we read it
        builds.write_status(job.state, {**attempt, "state": "idle", "retry": True})
        return job.settle
    if schedule is None:
        _failed(job, attempt, *problems, why=f"{data_file} has errors")
        return 0.0
    mtime = datetime.fromtimestamp(signature[0] / 1e9, timezone.utc) if signature else now
    try:
        # The revisions last published are the memory that survives restarts:
        # nothing subscribers saw goes backwards, even while the ledger is
        # unreadable or cannot be written.
        update = update_ledger(ledger_path(data_file), schedule, now,
                               fallback_now=mtime.replace(microsecond=0),
                               known=current.revisions if current else None)
    except OSError as exc:  # e.g. the lock file cannot be locked: try again later
        _failed(job, {**attempt, "retry": True}, f"cannot update the revision ledger: {exc}",
                why="the ledger failed")
        return 0.0
    attempt["warnings"] = list(update.warnings)
    if update.revisions is None:
        _failed(job, {**attempt, "retry_at": wall + job.ledger_retry}, *update.errors,
                why="the revision ledger cannot be read")
        return 0.0
    if update.errors:  # published, but not recorded: degraded, and tried again
        attempt["retry_at"] = wall + job.ledger_retry
    _publish(job, attempt, schedule, update.revisions, now, source_of(job), now,
             errors=update.errors)
    return 0.0


def _publish(job: Job, attempt: dict[str, Any], schedule: Schedule,
             revisions: Mapping[str, Revision], now: datetime, source: list[int] | None,
             loaded_at: datetime, errors: tuple[str, ...] = ()) -> None:
    """Render every route, write the build and switch it in; on failure keep the current one."""
    options = job.build_options()
    try:
        snapshot = build_snapshot(schedule, revisions, options, now)
        model = {"schedule": schedule, "revisions": snapshot.revisions, "site": snapshot.site,
                 "now": now, "feed_limit": options.feed_limit,
                 "dated_until": max(now, latest_date(revisions)),
                 "changed": last_change(schedule, revisions, now)}
        name = builds.publish(job.state, snapshot, job.max_age, source=source,
                                 options=job.options, loaded_at=loaded_at, model=model,
                                 keep=job.keep)
    except Exception as exc:  # a bug must not take the last good version down
        log.exception("keeping the last good version; building %s failed", job.data_file)
        _failed(job, attempt, f"building the site failed: {exc!r}")
        return
    builds.write_status(job.state, {**attempt, "state": "idle", "errors": list(errors),
                                       "ok_at": time.time()})
    log.info("published %d talks from %s (build %s)", len(schedule.talks), job.data_file, name)


def _failed(job: Job, attempt: Mapping[str, Any], *problems: str,
            why: str = "") -> dict[str, Any]:
    log.error("keeping the last good version; %s:\n%s", why or problems[0], "\n".join(problems))
    status = {**attempt, "state": "idle", "errors": list(problems), "failed_at": time.time()}
    builds.write_status(job.state, status)
    return status


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise BuildTimeout


def main(argv: list[str] | None = None) -> int:
    """A builder process: `python -c 'from feeds.server.publisher import main; main()' JOB LOCK_FD`.
    It holds the build lock it inherited until it exits."""
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="[builder %(process)d] %(levelname)s %(message)s")
    job = Job(**json.loads(args[0]))
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(max(1, math.ceil(job.timeout)))
    try:
        run_build(job)
    finally:
        signal.alarm(0)
    return 0


class Publisher:
    """The current published build of one data file, for one worker process."""

    def __init__(self, data_file: str | Path, options: BuildOptions, state_dir: str | Path,
                 clock: Clock = utc_now, check_interval: float = 1.0,
                 settle: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, *, max_age: int = 3600,
                 mode: str = "process", timeout: float = 60.0, keep: int = 3,
                 sleep: Callable[[float], None] = time.sleep):
        self.data_file = Path(data_file)
        self.state = Path(state_dir)
        self.clock = clock
        self.mode = mode
        self.settle = min(SETTLE, check_interval) if settle is None else settle
        self.job = Job(str(self.data_file), str(self.state), options.site.base,
                       options.feed_limit, max_age, keep, timeout, self.settle,
                       ledger_retry=10 * check_interval)
        self._watch = FileWatch(self.data_file, check_interval, monotonic)
        self._wall = wall
        self._sleep = sleep
        self._name: str | None = None
        self._current: PublishedBuild | None = None
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

    def snapshot(self) -> PublishedBuild | None:
        """The build to serve this request from; callers keep it for a whole response."""
        self.follow()
        self._watch.check(self._look)
        return self._current

    def follow(self) -> PublishedBuild | None:
        """Switch to the build that ``current`` names, if it moved."""
        name = builds.current_name(self.state)
        if name != self._name and name is not None:
            try:
                build = PublishedBuild(builds.builds_dir(self.state) / name)
            except (OSError, ValueError) as exc:
                log.error("cannot open the published build %s: %s", name, exc)
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
                reason = due(self.job, self.follow(), source_of(self.job), self.clock(), status,
                             self._wall())
                if not reason:
                    return
                wait = unsettled(signature, self.settle, self._wall())
                if reason == "reload" and wait:
                    self._watch.retry_in(wait)
                    return
            self._child = subprocess.Popen(
                [sys.executable, "-c", "from feeds.server.publisher import main; main()",
                 json.dumps(asdict(self.job))], pass_fds=(fd,), stdin=subprocess.DEVNULL)
            self._child_started = time.monotonic()

    def health(self) -> Health:
        build = self.snapshot()
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


def state_dir(configured: str, instance_path: str) -> Path:
    """FEEDS_STATE_DIR, or the app's instance folder."""
    return Path(configured or instance_path).absolute()

