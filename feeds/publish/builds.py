"""Published builds on disk: each good version of the data is rendered once,
into the file tree that `feeds build` writes, and every worker process
serves the current one from there. This module keeps the build directories'
life cycle: open, serve, set aside, publish, prune; the status, the lock and
the private folder.

The state folder of one data file with its settings (FEEDS_STATE_DIR, by
default the app's instance folder, then sources/<key>: see
feeds.server.publisher.state_dir)::

    builds/<seq>-<version>/site/         the `feeds build` tree (feeds.publish.export)
    builds/<seq>-<version>/index.json    header sets, dates, deliveries, version, ...
    builds/<seq>-<version>/routes.sqlite route -> file, header set, ETag, date (feeds.publish.routes)
    builds/<seq>-<version>/context.json  what it is made from, by value (feeds.publish.made_from):
                                         for /embed?…, the members' calendar, a rebuild
    builds/<seq>-<version>/files.json    every site file's digest and date: the next build
                                         hard-links the files that stay the same
    builds/broken-<seq>-<version>/       a build that could not be read, set aside
    builds/.next-<pid>.tmp/site/         the next build's tree, linked ahead by the builder
                                         that stays (PreparedTree); taken by its next build
    current -> builds/<seq>-<version>    replaced with one rename: readers see old or new
    status.json                          the last build attempt (errors for /healthz)
    build.lock                           held by the one process that builds
    builder-<key>.lock                   held by the builder process that stays (one per origin)
    private/                             0700: the members' last good secrets

Each build records its origin (the data file's resolved path and every
setting that changes its bytes); a server serves only builds of its own
origin. A build directory never changes once `current` names it; its files
and directory are synced to disk before the switch. Builds share their
unchanged files as hard links (never written in place, so sharing them
changes nothing). One that cannot be read
(written by an older feeds, or with its context cut short) is never served:
it is set aside and the builder builds again from the data file. Workers read the
files on demand and look a route up in routes.sqlite when it is asked for,
so their memory does not grow with the number of talks, opening a build
costs the same at any size, and the page cache shares the bytes between
them."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from feeds import urls
from feeds.data.yaml_reader import InvalidData
from feeds.files import sync_directory, sync_tree, write_atomically
from feeds.formats import pages
from feeds.formats.delivery import GZIP_SUFFIX, Delivery, Resource, http_date
from feeds.publish import export, hub_made_from
from feeds.publish import hub as hub_build
from feeds.publish.made_from import MadeFrom, check_ends, fingerprint, read_checked
from feeds.publish.routes import (
    BrokenBuild,
    Headers,
    RouteTable,
    Served,
    UnreadableBuild,
    index_of,
    inside,
    write_routes,
)
from feeds.publish.snapshot import EmbedPages, RenderContext, Snapshot
from feeds.timezones import EPOCH

log = logging.getLogger(__name__)

#: The layout of a build directory. Builds of other formats (1: routes in
#: index.json, 2: a pickled model, 3: no precompressed files) are not read:
#: they are built again.
FORMAT = 4
BUILDS = "builds"
CURRENT = "current"
STATUS = "status.json"
LOCK = "build.lock"
PRIVATE = "private"
SITE = "site"
INDEX = "index.json"
ROUTES = "routes.sqlite"
CONTEXT = "context.json"
#: Every site file's digest and date: what the next build compares with, to
#: hard-link the files whose bytes did not change instead of writing them.
FILES = "files.json"
#: A superseded build stays on disk at least this long, for responses under way.
GRACE = 60.0
#: A build that could not be read is renamed with this prefix (kept for a look, then pruned).
BROKEN = "broken-"


def utc(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, timezone.utc)


class PublishedBuild:
    """One build directory, opened read-only from its index and route table."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.name = directory.name
        index = json.loads((directory / INDEX).read_text(encoding="utf-8"))
        self.format: int = index.get("format")
        if self.format != FORMAT:
            raise UnreadableBuild(f"{directory} was written by another version of feeds")
        #: The size and digests of context.json: a build whose context is
        #: missing, cut short or damaged is not opened (its size and both
        #: ends are checked now, at the same cost at any size).
        self._stored: dict[str, Any] = index["context"]
        check_ends(directory / CONTEXT, self._stored)
        self.version: str = index["version"]
        self.seq: int = index["seq"]
        self.talks: int = index["talks"]
        self.loaded_at = utc(index["loaded_at"])
        self.last_modified = utc(index["last_modified"])
        self.valid_until = utc(index["valid_until"])
        self.source: list[int] | None = index["source"]
        self.options: dict[str, Any] = index["options"]
        #: What the build was made from (see `origin`); None: an older feeds wrote it.
        self.origin: dict[str, Any] | None = index.get("origin")
        sets: list[Headers] = [tuple((k, v) for k, v in hs) for hs in index["headers"]]
        dates = [(utc(stamp) or EPOCH, http_date(stamp)) for stamp in index["dates"]]
        deliveries = [Delivery(**fields) for fields in index["deliveries"]]
        site = str(directory / SITE) + "/"
        try:
            self.routes: Mapping[str, Served] = RouteTable(directory / ROUTES, site, sets, dates,
                                                           deliveries)
        except sqlite3.Error as exc:
            raise UnreadableBuild(f"{directory / ROUTES}: {exc}") from exc
        file, hset, delivery = index["not_found"]
        self.not_found = Served(inside(site, file), sets[hset], "", utc(index["last_modified"]) or EPOCH,
                                deliveries[delivery])
        self._made_from: MadeFrom | hub_made_from.HubMadeFrom | None = None
        self._context: RenderContext | hub_made_from.HubContext | None = None
        self._hub_embeds: hub_build.HubEmbeds | None = None
        self._embed: EmbedPages | None = None
        self._lock = threading.Lock()

    # What the build is made from, read only when a page needs it (/embed?…,
    # the members' calendar) or the builder rebuilds it.
    def made_from(self) -> MadeFrom | hub_made_from.HubMadeFrom:
        """What the build is made from (a hub's or one series'); UnreadableBuild
        if it cannot be read."""
        with self._lock:
            if self._made_from is None:
                path = self.directory / CONTEXT
                self._made_from = hub_made_from.read_made_from(read_checked(path, self._stored),
                                                           str(path))
            return self._made_from

    @property
    def context(self) -> RenderContext:
        """What the build's routes were rendered from, rebuilt from what it
        is made from (of a hub: a stand-in, see `hub_context`)."""
        context = self.any_context()
        return context.render_context() if isinstance(context, hub_made_from.HubContext) else context

    @property
    def is_hub(self) -> bool:
        """Whether this is a hub's build (its context.json says so first)."""
        try:
            with open(self.directory / CONTEXT, "rb") as handle:
                return hub_made_from.is_hub_blob(handle.read(32))
        except OSError:
            return False

    @property
    def hub_context(self) -> hub_made_from.HubContext | None:
        """What a hub's build was rendered from; None for one series'."""
        context = self.any_context()
        return context if isinstance(context, hub_made_from.HubContext) else None

    def any_context(self) -> RenderContext | hub_made_from.HubContext:
        made_from = self.made_from()
        with self._lock:
            if self._context is None:
                try:
                    context = made_from.context()
                except InvalidData as exc:
                    raise UnreadableBuild(f"{self.directory / CONTEXT}: {exc}") from exc
                contexts = (context.series.values() if isinstance(context, hub_made_from.HubContext)
                            else [context])
                if any(t.id not in c.revisions for c in contexts for t in c.schedule.talks):
                    raise UnreadableBuild(f"{self.directory / CONTEXT}: a talk has no revision")
                self._context = context
            return self._context

    def hub_embeds(self) -> hub_build.HubEmbeds:
        """/embed of a hub's build and of its series, for query options."""
        context = self.hub_context
        if context is None:
            raise UnreadableBuild(f"{self.directory} is not a hub's build")
        with self._lock:
            if self._hub_embeds is None:
                def default(route: str) -> Resource:
                    return Resource(self.routes[route].body, pages.EMBED_DELIVERY, context.changed)
                self._hub_embeds = hub_build.HubEmbeds(
                    context, default(urls.EMBED_PAGE),
                    lambda slug: default(f"/{slug}{urls.EMBED_PAGE}"))
            return self._hub_embeds

    def embed(self, options: pages.EmbedOptions) -> Served | Resource:
        """/embed for `options`: the published file for the default ones."""
        if options == pages.EmbedOptions():
            return self.routes[urls.EMBED_PAGE]
        if self._embed is None:
            context = self.context
            default = Resource(self.routes[urls.EMBED_PAGE].body, pages.EMBED_DELIVERY,
                               context.changed)
            self._embed = EmbedPages(context, default)
        return self._embed(options)


def builds_dir(state: Path) -> Path:
    return state / BUILDS


def current_name(state: Path) -> str | None:
    """The current build's directory name; one readlink."""
    try:
        return os.path.basename(os.readlink(state / CURRENT))
    except OSError:
        return None


def open_current(state: Path) -> PublishedBuild | None:
    name = current_name(state)
    if name is None:
        return None
    return PublishedBuild(builds_dir(state) / name)


def open_build(directory: Path) -> PublishedBuild:
    """Open one build; BrokenBuild if any of its files cannot be read."""
    try:
        return PublishedBuild(directory)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise BrokenBuild(f"{directory.name}: {exc}") from exc


@dataclass
class Opened:
    """What `open_served` found: the build to serve and the damage on the way."""

    build: PublishedBuild | None
    #: The name `current` points at (None: no link).
    current: str | None
    #: Builds that could not be read, `current` first if it is one of them.
    broken: list[str]
    #: Whether `current` names a build of another origin.
    foreign: bool = False


def open_served(state: Path, origin: Mapping[str, Any], skip: Sequence[str] = ()) -> Opened:
    """The build to serve for `origin`: the current one if it opens and was
    made from `origin`, else the newest intact build of `origin` (read only:
    nothing on disk changes). Builds named in `skip` are not tried."""
    name = current_name(state)
    found = Opened(None, name, [])
    tried = set(skip)
    candidates = ([name] if name is not None else []) + [p.name for p in reversed(_builds(state))]
    for candidate in candidates:
        if candidate in tried:
            continue
        tried.add(candidate)
        try:
            build = open_build(builds_dir(state) / candidate)
        except BrokenBuild as exc:
            found.broken.append(candidate)
            if candidate == name:
                log.error("cannot open the published build %s", exc)
            continue
        if build.origin == dict(origin):
            found.build = build
            return found
        if candidate == name:
            found.foreign = True
    return found


def set_aside(state: Path, name: str) -> None:
    """Rename a build that cannot be read out of the way (the caller holds the build lock)."""
    with contextlib.suppress(FileNotFoundError):
        os.rename(builds_dir(state) / name, builds_dir(state) / f"{BROKEN}{name}")
        log.warning("set aside the damaged build %s as %s%s", name, BROKEN, name)


def point_current(state: Path, name: str) -> None:
    """Make `name` the current build: one rename of a new link, then synced."""
    link = state / f".{CURRENT}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    os.symlink(f"{BUILDS}/{name}", link)
    os.replace(link, state / CURRENT)  # the switch: one rename
    sync_directory(state)


def remove_temporaries(state: Path, keep: str = "") -> None:
    """Remove build directories a killed builder left half written (the
    caller holds the build lock, so nobody is writing one), but `keep`."""
    with contextlib.suppress(FileNotFoundError):
        for entry in builds_dir(state).iterdir():
            if entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.name != keep:
                shutil.rmtree(entry, ignore_errors=True)


def _builds(state: Path) -> list[Path]:
    """The finished build directories, oldest first."""
    found = []
    with contextlib.suppress(FileNotFoundError):
        for entry in builds_dir(state).iterdir():
            head = entry.name.split("-", 1)[0]
            if head.isdigit() and entry.is_dir():
                found.append(entry)
    return sorted(found, key=lambda p: int(p.name.split("-", 1)[0]))


def _next_seq(state: Path) -> int:
    """One more than any build's number, set-aside builds included: a name
    is never used twice."""
    seqs = [0]
    for entry in builds_dir(state).iterdir():
        head = entry.name.removeprefix(BROKEN).split("-", 1)[0]
        if head.isdigit():
            seqs.append(int(head))
    return max(seqs) + 1


class PreparedTree:
    """The next build's tree, made ahead while the builder that stays waits
    for an edit: a new build is a new tree, and under load each folder (one
    per talk) costs a `mkdir` of up to a millisecond and each hard link a
    tenth of that, most of an edit's time at 20 000 talks. A thread makes,
    in a temporary directory, the site folders of the current build and
    hard-links its files there (each checked as `export.write_files` checks
    a link); the next `publish` of this process stops it and takes what is
    made so far as its own (export.Prepared): it keeps the files that are
    unchanged, replaces the others and removes what it does not use."""

    def __init__(self, state: Path):
        self.directory = builds_dir(state) / f".next-{os.getpid()}.tmp"
        #: The build it is made from.
        self.source = current_name(state)
        self.made = export.Prepared()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._make, args=(state,), name="next-tree",
                                        daemon=True)

    def _make(self, state: Path) -> None:
        name = self.source
        if name is None:
            return
        try:
            known = json.loads((builds_dir(state) / name / FILES).read_text(encoding="utf-8"))
            source = str(builds_dir(state) / name / SITE) + "/"
            shutil.rmtree(self.directory, ignore_errors=True)
            site = self.directory / SITE
            site.mkdir(parents=True)
            base = str(site) + "/"
            made = {""}
            for relative, (digest, stamp) in known.items():
                if self._stop.is_set():
                    return
                export.relative_file(relative)
                for parent in _ancestors(os.path.dirname(relative)):
                    if parent not in made:
                        os.mkdir(base + parent)
                        made.add(parent)
                        self.made.folders.append(parent)
                if not _link_checked(source + relative, base + relative):
                    continue
                self.made.files[relative] = (digest, stamp)
                if _link_checked(source + relative + GZIP_SUFFIX, base + relative + GZIP_SUFFIX,
                                 empty=False):
                    self.made.packed.add(relative)
        except (OSError, ValueError, TypeError, export.ExportError):
            self.made = export.Prepared()  # removed under us, or unreadable: not used

    def start(self) -> PreparedTree:
        self._thread.start()
        return self

    def wait(self) -> None:
        """Until the whole tree is made."""
        self._thread.join()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def claim(self, target: Path) -> export.Prepared:
        """Stop making the tree and move it to `target` (absent); returns
        what is now under `target`/site (nothing if it could not be moved)."""
        self.stop()
        if not self.made.folders and not self.made.files:
            return export.Prepared()
        try:
            os.rename(self.directory, target)
        except OSError:
            return export.Prepared()
        return self.made


def _link_checked(source: str, target: str, empty: bool = True) -> bool:
    """Hard-link `source` at `target` if it is a regular file (never a
    symbolic link), `empty` or not; False, with nothing at `target`, if not."""
    try:
        os.link(source, target, follow_symlinks=False)
    except FileNotFoundError:
        return False
    found = os.lstat(target)
    if stat.S_ISREG(found.st_mode) and (empty or found.st_size > 0):
        return True
    os.unlink(target)
    return False


def _ancestors(folder: str) -> list[str]:
    """'a/b/c' -> ['a', 'a/b', 'a/b/c']; [] for ''."""
    if not folder:
        return []
    parts = folder.split("/")
    return ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]


#: The tree being made for this process's next build (`prepare_next`).
_prepared: PreparedTree | None = None


def prepare_next(state: Path) -> PreparedTree:
    """Start making the next build's tree (see PreparedTree): the builder
    that stays calls it once a build is published."""
    global _prepared
    if _prepared is not None:
        if _prepared.source == current_name(state) and not _prepared.stopped:
            return _prepared  # no new build since (one failed): still good
        _prepared.stop()  # its tree is made again, or removed by remove_temporaries
    _prepared = PreparedTree(state).start()
    return _prepared


def _claim_prepared(state: Path, target: Path) -> export.Prepared:
    """The tree made ahead for `state`, moved to `target` (nothing if none is)."""
    global _prepared
    prepared, _prepared = _prepared, None
    if prepared is None:
        return export.Prepared()
    if prepared.directory.parent != builds_dir(state):  # another state folder's
        prepared.stop()
        return export.Prepared()
    return prepared.claim(target)


def publish(state: Path, snapshot: Snapshot, max_age: int, *, source: list[int] | None,
            options: dict[str, Any], loaded_at: datetime,
            made_from: MadeFrom | hub_made_from.HubMadeFrom,
            keep: int = 3, origin: Mapping[str, Any] | None = None) -> str:
    """Write `snapshot`, rendered from `made_from`, as a new build, sync it to
    disk and make it current; returns its name. The caller holds the build lock."""
    builds = builds_dir(state)
    builds.mkdir(parents=True, exist_ok=True)
    seq = _next_seq(state)
    name = f"{seq:06d}-{snapshot.version}"
    tmp = builds / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    prepared = _claim_prepared(state, tmp)
    remove_temporaries(state, keep=tmp.name)
    try:
        written = export.write_files(tmp / SITE, export.site_files(snapshot, max_age),
                                     reuse=unchanged_in(state), prepared=prepared)
        (tmp / FILES).write_text(json.dumps(written, separators=(",", ":")), encoding="utf-8")
        index = {"format": FORMAT, "version": snapshot.version, "seq": seq,
                 "talks": len(snapshot.context.schedule.talks),
                 "loaded_at": loaded_at.timestamp(),
                 "last_modified": snapshot.last_modified.timestamp(),
                 "valid_until": snapshot.valid_until.timestamp() if snapshot.valid_until else None,
                 "source": source, "options": options,
                 "origin": dict(origin) if origin is not None else None,
                 **index_of(snapshot, max_age)}
        write_routes(tmp / ROUTES, index.pop("routes"))
        stored = made_from.to_json()
        (tmp / CONTEXT).write_bytes(stored)
        index["context"] = fingerprint(stored)
        (tmp / INDEX).write_text(json.dumps(index, separators=(",", ":")), encoding="utf-8")
        sync_tree(tmp)  # a power cut after the switch must not leave a damaged build current
        os.rename(tmp, builds / name)
        sync_directory(builds)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    point_current(state, name)
    prune(state, keep)
    return name


def unchanged_in(state: Path) -> export.Reuse | None:
    """Finds a file with the same digest and date in the current build, if
    it says what its files are (a build without FILES is not linked from)."""
    name = current_name(state)
    if name is None:
        return None
    directory = builds_dir(state) / name
    try:
        known = json.loads((directory / FILES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(known, dict):
        return None
    site = str(directory / SITE) + "/"

    def reuse(relative: str, digest: str, stamp: float | None) -> str | None:
        return site + relative if known.get(relative) == [digest, stamp] else None
    return reuse


def prune(state: Path, keep: int, grace: float = GRACE, wall: float | None = None) -> None:
    """Delete builds older than the newest `keep`, once superseded for `grace` s."""
    now = time.time() if wall is None else wall
    builds = _builds(state)
    current = current_name(state)
    for old, newer in zip(builds[:-keep], builds[1:], strict=False):
        if old.name != current and now - newer.stat().st_mtime >= grace:
            shutil.rmtree(old, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        for entry in builds_dir(state).iterdir():
            if entry.name.startswith(BROKEN) and now - entry.stat().st_mtime >= grace:
                shutil.rmtree(entry, ignore_errors=True)


# --- the build status, shared by every process ---------------------------------

def read_status(state: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((state / STATUS).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def write_status(state: Path, status: Mapping[str, Any]) -> None:
    state.mkdir(parents=True, exist_ok=True)
    write_atomically(state / STATUS, json.dumps(dict(status), indent=1))


@contextlib.contextmanager
def build_lock(state: Path) -> Iterator[int | None]:
    """The builder's lock, taken without waiting: yields its descriptor, or
    None when another process holds it."""
    state.mkdir(parents=True, exist_ok=True)
    fd = os.open(state / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            yield None
            return
        yield fd
    finally:
        os.close(fd)


def _warm_lock_path(state: Path, origin: Mapping[str, Any]) -> Path:
    key = hashlib.sha256(json.dumps(dict(origin), sort_keys=True).encode()).hexdigest()[:16]
    return state / f"builder-{key}.lock"


@contextlib.contextmanager
def warm_lock(state: Path, origin: Mapping[str, Any], tries: int = 10) -> Iterator[bool]:
    """Held by the one builder process that stays for `origin` (the warm
    builder) for as long as it lives: yields whether this process holds it
    (a few tries: a worker may be looking at it this instant)."""
    state.mkdir(parents=True, exist_ok=True)
    fd = os.open(_warm_lock_path(state, origin), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for attempt in range(tries):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if attempt < tries - 1:
                    time.sleep(0.02)
                continue
            yield True
            return
        yield False
    finally:
        os.close(fd)


def warm_builder(state: Path, origin: Mapping[str, Any]) -> bool:
    """Whether a builder process stays for `origin`: it looks for builds
    itself, so no other needs starting."""
    try:
        fd = os.open(_warm_lock_path(state, origin), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def private_dir(state: Path) -> Path:
    """A directory only the server's user can read (mode 0700). On a state
    folder that cannot be written it is used as it is (a copy in it is read)."""
    path = state / PRIVATE
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    except OSError as exc:
        log.warning("cannot make %s private (mode 0700): %s", path, exc)
    return path
