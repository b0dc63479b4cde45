"""The builder: one process (or, in tests, one thread) that reads a
changed data file, records its revisions and publishes every route as a new
build (feeds.publish.builds), never inside a request.

The builder reads a changed file only once its writer seems done: the file
must not have changed within the last ``settle`` seconds, and must look the
same before and after it is read. A file that does not validate, a build
that fails or one that runs past its time limit leaves the current build
served, and the build status says why. Every builder makes the same bytes
from the same file: revisions come from the shared ledger, and ``now`` only
decides which talks are over.

A build that was killed or ran past its time limit is tried again with a
growing delay (and at once after a restart); a current build that cannot be
read is set aside and the newest intact one put back before building. A
builder process dies with the process that started it.

The builder process itself (its entry, its time limit, and the loop of the
builder that stays) is in feeds.publish.builder_process."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from feeds import files, urls
from feeds.data.hub import is_hub
from feeds.data.recorded import record
from feeds.data.revisions import Revision, ledger_path
from feeds.data.yaml_reader import InvalidData
from feeds.files import Signature
from feeds.publish import build_status, builds, hub_load, hub_made_from, layout
from feeds.publish import hub as hub_build
from feeds.publish.builds import PublishedBuild
from feeds.publish.made_from import MadeFrom
from feeds.publish.routes import UnreadableBuild
from feeds.publish.snapshot import BuildOptions, RenderContext, render_snapshot
from feeds.settings import utc_now

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
#: A build that was killed or timed out is tried again after this many
#: seconds, doubled after each failure up to RETRY_MAX.
RETRY_FIRST = 2.0
RETRY_MAX = 300.0


def retry_delay(failures: int) -> float:
    """Seconds before the next try after `failures` failures in a row."""
    return min(RETRY_FIRST * 2 ** max(failures - 1, 0), RETRY_MAX)


@dataclass(frozen=True)
class BuildJob:
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
    #: When the server started (wall clock): a build that was killed or timed
    #: out before then is tried again at once.
    server_start: float = 0.0
    #: A builder process stays, looking for a build due every `interval`
    #: seconds and keeping what it rendered for the next build (0: it builds
    #: once and exits).
    interval: float = 0.0

    @property
    def options(self) -> dict[str, Any]:
        """The settings a published build depends on (recorded in its index)."""
        return job_options(self.site_url, self.feed_limit, self.max_age)

    @property
    def origin(self) -> dict[str, Any]:
        """What a build is made from: the data file (its resolved path) and
        every setting that changes its bytes. Only builds of the same origin
        are served, and only their revisions are taken as known."""
        return origin_of(self.data_file, self.options)

    @property
    def state(self) -> Path:
        return Path(self.state_dir)

    def build_options(self) -> BuildOptions:
        return BuildOptions(urls.Site(self.site_url), self.feed_limit)


def job_options(site_url: str, feed_limit: int, max_age: int) -> dict[str, Any]:
    """The settings that change a build's bytes."""
    return {"site": site_url, "feed_limit": feed_limit, "max_age": max_age}


def origin_of(data_file: str | Path, options: Mapping[str, Any]) -> dict[str, Any]:
    return {"data_file": str(Path(data_file).resolve()), **options}


def source_of(job: BuildJob) -> list[int] | None:
    """What a build is made from, as it is now: the data file's signature and
    the ledger's (another process, e.g. `feeds validate`, may write the
    ledger; its revisions then win); of a hub, every file's. None while
    there is no data file."""
    if is_hub(job.data_file):
        return hub_load.signature(job.data_file)
    data = files.stat_signature(Path(job.data_file))
    if data is None:
        return None
    ledger = files.stat_signature(ledger_path(job.data_file))
    return [*data, *(ledger or (0, 0, 0))]


def build_due(job: BuildJob, current: PublishedBuild | None, source: list[int] | None,
        now: datetime, status: Mapping[str, Any], wall: float = 0.0) -> str:
    """Why a build is due ("reload", "rebuild"), or "" if none is."""
    changed = current is None or current.source != source or current.origin != job.origin
    # This source failed already (a success does not count: its build may
    # have been set aside since).
    tried = (status.get("source") == source and status.get("options") == job.options
             and bool(status.get("errors")) and not status.get("retry"))
    # A try to repeat: changes not recorded, a build killed or timed out
    # (after its delay, or at once after a restart).
    again = status.get("retry_at") is not None and (
        wall >= status["retry_at"] or status.get("failed_at", wall) < job.server_start)
    if (changed and not tried) or again:
        return "reload"
    outdated = current is not None and current.valid_until is not None and \
        now >= current.valid_until
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


def run_build(job: BuildJob, clock: Clock = utc_now, wall: Callable[[], float] = time.time) -> float:
    """Build and publish if a build is due; the caller holds the build lock.
    Returns seconds after which to look again (0: as usual)."""
    state, data_file = job.state, Path(job.data_file)
    status = build_status.read_status(state)
    if status.get("state") == "building":  # the builder before us died
        status = _failed(job, status, f"building {data_file} stopped before it finished "
                         f"(killed, or past FEEDS_BUILD_TIMEOUT={job.timeout:g} s); "
                         "the last good build is still served", again=True, wall=wall(),
                         began=status.get("started"))
    current = heal(job)
    signature = (hub_load.newest(data_file) if is_hub(data_file)
                 else files.stat_signature(data_file))
    source = source_of(job)
    now = clock()
    reason = build_due(job, current, source, now, status, wall())
    if not reason:
        return 0.0
    if reason == "reload":
        wait = unsettled(signature, job.settle, wall())
        if wait:
            return wait  # still being written, perhaps
    # A rebuild (a talk started or ended) re-renders the current build: what
    # is known about the data file, its errors and a pending ledger retry, stays.
    attempt = {**status, "state": "building", "started": wall(), "builder": os.getpid(),
               "source": source if reason == "reload" else status.get("source"),
               "options": job.options, "retry": False,
               "retry_at": None if reason == "reload" else status.get("retry_at")}
    if reason == "rebuild":
        assert current is not None
        attempt["rebuilt_for"] = current.name
    build_status.write_status(state, attempt)
    try:
        with collector_paused():
            if reason == "rebuild":
                assert current is not None
                try:  # from what the current build is made from, seen now
                    made_from = replace(current.made_from(), options=job.build_options(),
                                        now=now)
                    context = made_from.context()
                except (UnreadableBuild, InvalidData) as exc:
                    log.warning("building %s again from %s: %s", current.name, data_file, exc)
                    attempt["source"] = source
                    return _reload(job, attempt, signature, now, None, wall())
                _publish(job, attempt, made_from, context, current.source,
                         current.loaded_at or now, errors=tuple(status.get("errors", ())))
                return 0.0
            return _reload(job, attempt, signature, now, current, wall())
    except BuildTimeout:
        _failed(job, attempt, f"building {data_file} took longer than FEEDS_BUILD_TIMEOUT="
                f"{job.timeout:g} s; the last good build is still served", again=True,
                wall=wall())
    return 0.0


def heal(job: BuildJob) -> PublishedBuild | None:
    """The build of this origin to build on (the caller holds the build
    lock): a current build that cannot be read is set aside and `current`
    pointed at the newest intact build of this origin, which is returned."""
    opened = builds.open_served(job.state, job.origin)
    for name in opened.broken:
        builds.set_aside(job.state, name)
    if opened.foreign or opened.current == (opened.build.name if opened.build else None):
        return opened.build
    if opened.build is not None:
        builds.point_current(job.state, opened.build.name)
        log.warning("serving the intact build %s while %s is rebuilt", opened.build.name,
                    job.data_file)
    elif opened.current is not None:  # nothing intact: no link rather than a dangling one
        (job.state / layout.CURRENT).unlink()
    return opened.build


#: The build this process published last, with the revisions it was made
#: from: a builder that stays reads them from memory, not from its context.json.
_last_published: tuple[str, str, Mapping[str, Revision]] | None = None


def _known(current: PublishedBuild | None) -> Mapping[str, Revision] | None:
    """The revisions last published from this origin (never another's), if readable."""
    if current is None or current.origin is None:
        return None
    if _last_published is not None and _last_published[:2] == (str(current.directory),
                                                                current.version):
        return _last_published[2]
    try:
        made = current.made_from()
        return made.revisions if isinstance(made, MadeFrom) else None
    except UnreadableBuild as exc:
        log.warning("the revisions of %s cannot be read: %s", current.name, exc)
        return None


def _reload_hub(job: BuildJob, attempt: dict[str, Any], now: datetime,
                current: PublishedBuild | None, wall: float) -> float:
    """Record every series of a hub and publish it; a broken series (or
    site.yaml) keeps its version from the current build."""
    previous = None
    if current is not None and current.origin is not None:
        try:
            made = current.made_from()
            previous = made if isinstance(made, hub_made_from.HubMadeFrom) else None
        except UnreadableBuild as exc:
            log.warning("the revisions of %s cannot be read: %s", current.name, exc)
    try:
        loaded = hub_load.load(job.data_file, job.build_options(), now, previous)
    except OSError as exc:
        _failed(job, {**attempt, "retry": True}, f"cannot update a revision ledger: {exc}",
                why="a ledger failed")
        return 0.0
    attempt["warnings"] = list(loaded.warnings)
    if loaded.retry:
        attempt["retry_at"] = wall + job.ledger_retry
    if loaded.made_from is None:
        _failed(job, attempt, *loaded.errors, why=f"{job.data_file} has errors",
                details="\n".join(loaded.details or loaded.errors))
        return 0.0
    if loaded.details:
        log.error("publishing the last good version of the broken files of %s:\n%s",
                  job.data_file, "\n".join(loaded.details))
    _publish(job, attempt, loaded.made_from, loaded.context(), source_of(job), now,
             errors=loaded.errors)
    return 0.0


def _reload(job: BuildJob, attempt: dict[str, Any], signature: Signature | None,
            now: datetime, current: PublishedBuild | None, wall: float) -> float:
    if is_hub(job.data_file):
        return _reload_hub(job, attempt, now, current, wall)
    data_file = Path(job.data_file)
    mtime = datetime.fromtimestamp(signature[0] / 1e9, timezone.utc) if signature else now
    try:
        # The revisions last published are the memory that survives restarts:
        # nothing subscribers saw goes backwards, even while the ledger is
        # unreadable or cannot be written.
        recorded = record(data_file, now, fallback_now=mtime.replace(microsecond=0),
                          known=_known(current),
                          settled=lambda: files.stat_signature(data_file) == signature)
    except OSError as exc:  # e.g. the lock file cannot be locked: try again later
        _failed(job, {**attempt, "retry": True}, f"cannot update the revision ledger: {exc}",
                why="the ledger failed")
        return 0.0
    if recorded.unsettled:  # written to while we read it
        build_status.write_status(job.state, {**attempt, "state": "idle", "retry": True})
        return job.settle
    if recorded.schedule is None or recorded.text is None:
        # /healthz is public and the file may be a link to a private one:
        # the status names line and kind only; the log has the details.
        _failed(job, attempt, *(p.public for p in recorded.problems),
                why=f"{data_file} has errors",
                details="\n".join(str(p) for p in recorded.problems))
        return 0.0
    attempt["warnings"] = [*(p.public for p in recorded.data_warnings), *recorded.warnings]
    if recorded.revisions is None:
        _failed(job, {**attempt, "retry_at": wall + job.ledger_retry}, *recorded.errors,
                why="the revision ledger cannot be read")
        return 0.0
    if recorded.errors:  # published, but not recorded: degraded, and tried again
        attempt["retry_at"] = wall + job.ledger_retry
    made_from = MadeFrom(recorded.text, str(data_file), recorded.revisions, job.build_options(), now)
    _publish(job, attempt, made_from, made_from.context(recorded.schedule), source_of(job), now,
             errors=recorded.errors)
    return 0.0


def _publish(job: BuildJob, attempt: dict[str, Any], made_from: MadeFrom | hub_made_from.HubMadeFrom,
             context: RenderContext | hub_made_from.HubContext, source: list[int] | None,
             loaded_at: datetime, errors: tuple[str, ...] = ()) -> None:
    """Render every route, write the build and switch it in; on failure keep the current one."""
    try:
        snapshot = (hub_build.render_hub(context) if isinstance(context, hub_made_from.HubContext)
                    else render_snapshot(context))
        name = builds.publish(job.state, snapshot, job.max_age, source=source,
                              options=job.options, loaded_at=loaded_at, made_from=made_from,
                              keep=job.keep, origin=job.origin)
        global _last_published
        _last_published = ((str(layout.builds_dir(job.state) / name), snapshot.version,
                            made_from.revisions) if isinstance(made_from, MadeFrom) else None)
    except OSError as exc:  # e.g. a full disk: tried again later
        _failed(job, attempt, f"cannot write the build to {job.state_dir}: {exc}; "
                "the last good build is still served", again=True)
        return
    except Exception as exc:  # a bug must not take the last good version down
        log.exception("keeping the last good version; building %s failed", job.data_file)
        _failed(job, attempt, f"building the site failed: {exc!r}")
        return
    build_status.write_status(job.state, {**attempt, "state": "idle", "errors": list(errors),
                                             "ok_at": time.time(), "failures": 0,
                                             "source": source})  # the ledger may have moved on
    log.info("published %d talks from %s (build %s)", len(snapshot.context.schedule.talks),
             job.data_file, name)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection during a build. A build makes millions
    of objects that live to its end (the YAML's node tree, the model, every
    route's bytes) on top of the rendered work kept from the last build: each
    full collection scanned them all again, several times per build (most of
    the time of parsing YAML). The little cyclic garbage a build leaves is
    collected after it, once it is served (builder_process.stay), or by the next collection."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _failed(job: BuildJob, attempt: Mapping[str, Any], *problems: str, why: str = "",
            details: str = "", again: bool = False, wall: float | None = None,
            began: float | None = None) -> dict[str, Any]:
    """Record a failed try: `problems` in the status (public), `details`
    (default: the problems) in the log; `again`: try the same source again
    after a delay that grows with each failure in a row (a kill, a time-out,
    a full disk), or at once after a restart if the try `began` before it."""
    log.error("keeping the last good version; %s:\n%s", why or problems[0],
              details or "\n".join(problems))
    at = time.time() if wall is None else wall
    status = {**attempt, "state": "idle", "errors": list(problems),
              "failed_at": min(at, began) if began is not None else at}
    if again:
        failures = int(attempt.get("failures") or 0) + 1
        status.update(failures=failures, retry_at=at + retry_delay(failures))
    build_status.write_status(job.state, status)
    return status
