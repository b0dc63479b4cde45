"""The builder process (feeds.publish.builder builds; this runs it): its
entry (`main`, run as BUILDER_COMMAND), its time limit, the watch on the
process that started it, and the loop of the builder that stays.

The server's builder process stays after its first build (`stay`): it
watches the data file itself and keeps what it rendered (the memo), so an
edit renders only what changed, and each build hard-links the files that
did not change from the current build (feeds.publish.builds)."""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

from feeds.data import loader
from feeds.publish import build_status, builder, prepared

log = logging.getLogger(__name__)
#: The command line that runs a builder process: ``BUILDER_COMMAND + [job JSON]``.
BUILDER_COMMAND = [sys.executable, "-c",
                   "import sys; from feeds.publish.builder_process import main; sys.exit(main())"]


class Stopped(BaseException):
    """The server that started this builder has gone (SIGTERM)."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise builder.BuildTimeout


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise Stopped


#: How often a builder that stays looks at the data file's and the ledger's stat.
WATCH = 0.05
#: How often a builder checks that the process that started it is still there.
PARENT_CHECK = 0.25


def die_with_parent(parent: int, interval: float = PARENT_CHECK) -> bool:
    """SIGTERM to this process once the process that started it has ended
    (a thread polls getppid: Linux's PR_SET_PDEATHSIG would fire when the
    starting *thread* ends, e.g. a request thread). False if it is gone already."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    if os.getppid() != parent:
        return False
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    return True


def main(argv: list[str] | None = None) -> int:
    """A builder process (BUILDER_COMMAND, with the build lock's descriptor inherited).
    It holds the build lock it inherited until its first build is done,
    then, if the job has an interval, stays as the warm builder of its state
    folder (see `stay`); it ends with the process that started it (its
    half-written build is removed). Exits 1, with one line in the log, when
    the state folder cannot be written."""
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="[builder %(process)d] %(levelname)s %(message)s")
    job = builder.BuildJob(**json.loads(args[0]))
    parent = int(args[1]) if len(args) > 1 else os.getppid()
    inherited = int(args[2]) if len(args) > 2 else None
    signal.signal(signal.SIGTERM, _stopped)
    if not die_with_parent(parent):
        return 1
    signal.signal(signal.SIGALRM, _alarm)
    loader.keep_talks()  # the next reading reads only the talks that changed
    try:
        _timed_build(job)
        if job.interval <= 0 or inherited is None or \
                build_status.read_status(job.state).get("builder") != os.getpid():
            return 0  # asked for one build, or none was due
        with build_status.warm_lock(job.state, job.origin) as warm:
            os.close(inherited)  # the build lock: other builds may start now
            if not warm:
                return 0  # another builder stays already
            stay(job)
    except Stopped:
        log.info("stopped: the server that started this builder has gone")
        return 1
    except OSError as exc:  # e.g. the status cannot be written: a full or read-only disk
        log.error("cannot build in %s: %s", job.state_dir, exc)
        return 1
    return 0


def _timed_build(job: builder.BuildJob) -> float:
    """One `run_build`, stopped at the job's time limit."""
    signal.alarm(max(1, math.ceil(job.timeout)))
    try:
        return builder.run_build(job)
    finally:
        signal.alarm(0)


#: Every this many builds, the builder that stays collects all its objects.
FULL_COLLECTION = 10


def collect(full: bool) -> None:
    """Collect the cyclic garbage a build left, once it is served. What is
    alive then is frozen (gc.freeze): the next collection looks only at
    what later builds made, not again at every kept part (a second at
    20 000 talks). A `full` one unfreezes first, so that nothing a build
    let go stays for more than FULL_COLLECTION builds."""
    if full:
        gc.unfreeze()
    gc.collect()
    gc.freeze()


def stay(job: builder.BuildJob, sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.monotonic) -> None:
    """The warm builder: build when a build is due and nobody else builds,
    keeping the rendered work (the memo) from one build to the next, so an
    edit renders only what it changed. It looks every `job.interval`
    seconds (a talk that starts or ends, a retry), and at once when the data
    file or the ledger changes (two stats every WATCH seconds). A build that
    fails or times out leaves the published build served, as in a fresh
    builder; a builder that dies is replaced by a fresh one."""
    seen, due_at = builder.source_of(job), clock() + job.interval
    builds = 0
    collect(full=True)
    prepared.prepare_next(job.state)
    while True:
        sleep(min(WATCH, max(due_at - clock(), 0.0)))
        source = builder.source_of(job)
        if source == seen and clock() < due_at:
            continue
        seen = source
        with build_status.build_lock(job.state) as fd:
            if fd is None:
                due_at = clock() + job.interval
                continue
            before = build_status.read_status(job.state).get("started")
            with prepared.paused():
                wait = _timed_build(job)
            built = build_status.read_status(job.state).get("started") != before
        # Still being written (wait): look again once it has settled.
        due_at = clock() + (wait if wait > 0 else job.interval)
        if wait > 0:
            seen = None
        if built:
            builds += 1
            collect(full=builds % FULL_COLLECTION == 0)
            prepared.prepare_next(job.state)
