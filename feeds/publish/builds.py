"""Published builds on disk: each good version of the data is rendered once,
into the file tree that `feeds build` writes, and every worker process
serves the current one from there.

The state folder of one data file with its settings (FEEDS_STATE_DIR, by
default the app's instance folder, then sources/<key>: see
feeds.server.publisher.state_dir)::

    builds/<seq>-<version>/site/         the `feeds build` tree (feeds.publish.export)
    builds/<seq>-<version>/index.json    header sets, dates, deliveries, version, ...
    builds/<seq>-<version>/routes.sqlite route -> file, header set, ETag, date (one row each)
    builds/<seq>-<version>/context.json  what it is made from, by value (`MadeFrom`):
                                         for /embed?…, the members' calendar, a rebuild
    builds/broken-<seq>-<version>/       a build that could not be read, set aside
    current -> builds/<seq>-<version>    replaced with one rename: readers see old or new
    status.json                          the last build attempt (errors for /healthz)
    build.lock                           held by the one process that builds
    private/                             0700: the members' last good secrets

Each build records its origin (the data file's resolved path and every
setting that changes its bytes); a server serves only builds of its own
origin. A build directory never changes once `current` names it; its files
and directory are synced to disk before the switch. One that cannot be read
(written by an older feeds, or with its context cut short) is never served:
it is set aside and the builder builds again from the data file. Workers read the
files on demand and look a route up in routes.sqlite when it is asked for,
so their memory does not grow with the number of talks, opening a build
costs the same at any size, and the page cache shares the bytes between
them."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from feeds import urls
from feeds.data.loader import parse_schedule
from feeds.data.revisions import LedgerError, Revision, parse_ledger, render_ledger
from feeds.data.yaml_reader import InvalidData
from feeds.files import write_atomically
from feeds.formats import pages
from feeds.formats.delivery import Delivery, Resource, content_disposition, http_date, quoted_etag
from feeds.model import Schedule
from feeds.publish import export
from feeds.publish.snapshot import BuildOptions, EmbedPages, RenderContext, Snapshot
from feeds.timezones import EPOCH

log = logging.getLogger(__name__)

#: The layout of a build directory. Builds of other formats (1: routes in
#: index.json, 2: a pickled model) are not read: they are built again.
FORMAT = 3
#: Stands for the download's Content-Disposition in a shared header set.
DOWNLOAD = "<download>"
BUILDS = "builds"
CURRENT = "current"
STATUS = "status.json"
LOCK = "build.lock"
PRIVATE = "private"
SITE = "site"
INDEX = "index.json"
ROUTES = "routes.sqlite"
CONTEXT = "context.json"
#: A superseded build stays on disk at least this long, for responses under way.
GRACE = 60.0
#: A build that could not be read is renamed with this prefix (kept for a look, then pruned).
BROKEN = "broken-"
Headers = tuple[tuple[str, str], ...]


class BrokenBuild(ValueError):
    """A build on disk that cannot be read (truncated, missing files)."""


def utc(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, timezone.utc)


class UnreadableBuild(BrokenBuild):
    """A build directory that cannot be read whole: it is never served, and
    the builder builds again from the data file."""


@dataclass(frozen=True)
class MadeFrom:
    """What a build is made from, stored by value (data, never code): the
    data file's text, read again with the normal loader, the ledger's rows
    and the few settings and the moment the build depends on."""

    #: The data file's text, as it was parsed.
    text: str
    #: Where it was read from (for the loader's messages).
    data_file: str
    revisions: Mapping[str, Revision]
    options: BuildOptions
    now: datetime

    def context(self, schedule: Schedule | None = None) -> RenderContext:
        """The render context (`schedule`: the text's, if already parsed);
        InvalidData if the text does not parse."""
        if schedule is None:
            schedule = parse_schedule(self.text, self.data_file)
        return RenderContext.of(schedule, self.revisions, self.options, self.now)

    def to_json(self) -> bytes:
        return json.dumps({"data_file": self.data_file, "data": self.text,
                           "ledger": render_ledger(self.revisions), "now": self.now.isoformat(),
                           "site": self.options.site.base, "feed_limit": self.options.feed_limit},
                          ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, blob: bytes, name: str) -> MadeFrom:
        """`blob` as written by `to_json`; UnreadableBuild naming `name` if it is not."""
        try:
            fields = json.loads(blob)
            return cls(str(fields["data"]), str(fields["data_file"]),
                       parse_ledger(str(fields["ledger"]), name),
                       BuildOptions(urls.Site(str(fields["site"])), int(fields["feed_limit"])),
                       datetime.fromisoformat(str(fields["now"])))
        except (ValueError, TypeError, KeyError, LedgerError) as exc:
            raise UnreadableBuild(f"{name}: {exc}") from exc


def _digest(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


#: Bytes at each end of context.json checked when a build is opened (the
#: whole file is checked when it is read).
ENDS = 4096


def _ends(head: bytes, tail: bytes) -> str:
    return _digest(head + b"\0" + tail)


@dataclass(frozen=True)
class Served:
    """One route of a published build: its file and how to send it."""

    file: str
    #: Every header but Content-Length, validators included.
    headers: Headers
    etag: str
    last_modified: datetime
    delivery: Delivery
    download_name: str = ""

    @property
    def body(self) -> bytes:
        with open(self.file, "rb") as handle:
            return handle.read()

    @property
    def media_type(self) -> str:
        return dict(self.headers)["Content-Type"]


def inside(site: str, file: str) -> str:
    """The path of `file`, a route table's name relative to the build's site
    folder `site` (ending in '/'); ValueError unless it stays inside: no
    absolute path, no '..' or '.' part, no empty part, no backslash or NUL.
    A route table written by anyone but the builder is never trusted."""
    parts = file.split("/") if isinstance(file, str) else [""]
    if any(part in ("", ".", "..") or "\\" in part or "\0" in part for part in parts):
        raise ValueError(f"the route file {file!r} is not inside the build")
    return site + file


def served_from(row: Sequence[Any], site: str, sets: list[Headers],
                dates: list[tuple[datetime, str]], deliveries: list[Delivery]) -> Served:
    """One row of a route table (file, header set, ETag, date, delivery,
    download name; the indexes point into index.json's lists) as `Served`;
    ValueError for a file outside the build."""
    file, hset, etag, date, delivery, download = row
    path = inside(site, file)
    moment, text = dates[date]
    headers = sets[hset]
    if download:  # the one header that differs per talk file
        headers = tuple((k, content_disposition(download) if v == DOWNLOAD else v)
                        for k, v in headers)
    return Served(path, headers + (("ETag", quoted_etag(etag)), ("Last-Modified", text)),
                  etag, moment, deliveries[delivery], download)


class RouteTable(Mapping[str, Served]):
    """A build's routes, looked up one at a time in its SQLite table (opened
    read-only and immutable: a build never changes), so opening a build costs
    the same for 20 routes as for 20 000, and a worker keeps only the few it
    answered lately. Iterates in the order the build wrote them."""

    #: Routes kept as `Served` after a lookup (the feeds and pages most asked for).
    RECENT = 256

    def __init__(self, database: Path, site: str, sets: list[Headers],
                 dates: list[tuple[datetime, str]], deliveries: list[Delivery]):
        self._site, self._sets, self._dates, self._deliveries = site, sets, dates, deliveries
        self._uri = f"{database.resolve().as_uri()}?mode=ro&immutable=1"
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, Served | None] = OrderedDict()
        # Opened now: a build pruned later still answers from the open file.
        self._db, self._pid = self._connect(), os.getpid()
        with self._lock:
            self._count: int = self._db.execute("SELECT count(*) FROM routes").fetchone()[0]

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._uri, uri=True, check_same_thread=False)

    def _query(self, sql: str, *args: str) -> sqlite3.Cursor:
        """Run `sql` (the caller holds the lock); a forked child opens its own
        connection, as SQLite asks."""
        if self._pid != os.getpid():
            self._db, self._pid = self._connect(), os.getpid()
        return self._db.execute(sql, args)

    def _served(self, row: Sequence[Any]) -> Served:
        return served_from(row, self._site, self._sets, self._dates, self._deliveries)

    def get(self, route: str, default: Any = None) -> Any:  # one query per route not seen lately
        with self._lock:
            if route in self._recent:
                self._recent.move_to_end(route)
                served = self._recent[route]
            else:
                try:
                    row = self._query(_LOOKUP, route).fetchone()
                except sqlite3.DatabaseError as exc:  # damaged on disk after it was opened
                    raise BrokenBuild(f"{self._uri}: {exc}") from exc
                try:
                    served = None if row is None else self._served(row)
                except ValueError as exc:  # planted: never served
                    log.error("%s: %s", self._uri, exc)
                    served = None
                self._recent[route] = served
                if len(self._recent) > self.RECENT:
                    self._recent.popitem(last=False)
        return default if served is None else served

    def __getitem__(self, route: str) -> Served:
        served = self.get(route)
        if served is None:
            raise KeyError(route)
        return served

    def __contains__(self, route: object) -> bool:
        return isinstance(route, str) and self.get(route) is not None

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            routes = [route for (route,) in self._query(
                "SELECT route FROM routes ORDER BY position")]
        return iter(routes)

    def __len__(self) -> int:
        return self._count


_LOOKUP = "SELECT file, hset, etag, date, delivery, download FROM routes WHERE route = ?"


def write_routes(database: Path, routes: Mapping[str, list[Any]]) -> None:
    """A build's route table: one row per route, in `served_from`'s order."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("CREATE TABLE routes (position INTEGER PRIMARY KEY, route TEXT NOT NULL "
                   "UNIQUE, file TEXT NOT NULL, hset INTEGER NOT NULL, etag TEXT NOT NULL, "
                   "date INTEGER NOT NULL, delivery INTEGER NOT NULL, download TEXT NOT NULL)")
        db.executemany("INSERT INTO routes (route, file, hset, etag, date, delivery, download) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       ((route, *row) for route, row in routes.items()))
        db.commit()


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
        self._check_context()
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
        self._made_from: MadeFrom | None = None
        self._context: RenderContext | None = None
        self._embed: EmbedPages | None = None
        self._lock = threading.Lock()

    # What the build is made from, read only when a page needs it (/embed?…,
    # the members' calendar) or the builder rebuilds it.
    def _check_context(self) -> None:
        path = self.directory / CONTEXT
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                head = handle.read(ENDS)
                handle.seek(max(0, size - ENDS))
                tail = handle.read(ENDS)
        except OSError as exc:
            raise UnreadableBuild(f"{path}: {exc.strerror or exc}") from exc
        if size != self._stored["bytes"] or _ends(head, tail) != self._stored["ends"]:
            raise UnreadableBuild(f"{path} is not the file its build wrote "
                                  f"({size} bytes of {self._stored['bytes']})")

    def _read_context(self) -> bytes:
        """context.json, checked whole against the index; UnreadableBuild if it is not."""
        path = self.directory / CONTEXT
        try:
            blob = path.read_bytes()
        except OSError as exc:
            raise UnreadableBuild(f"{path}: {exc.strerror or exc}") from exc
        if len(blob) != self._stored["bytes"] or _digest(blob) != self._stored["sha256"]:
            raise UnreadableBuild(f"{path} is not the file its build wrote "
                                  f"({len(blob)} bytes of {self._stored['bytes']})")
        return blob

    def made_from(self) -> MadeFrom:
        """What the build is made from; UnreadableBuild if it cannot be read."""
        with self._lock:
            if self._made_from is None:
                self._made_from = MadeFrom.from_json(self._read_context(),
                                                     str(self.directory / CONTEXT))
            return self._made_from

    @property
    def context(self) -> RenderContext:
        """What the build's routes were rendered from, rebuilt from what it is made from."""
        made_from = self.made_from()
        with self._lock:
            if self._context is None:
                try:
                    context = made_from.context()
                except InvalidData as exc:
                    raise UnreadableBuild(f"{self.directory / CONTEXT}: {exc}") from exc
                if any(t.id not in context.revisions for t in context.schedule.talks):
                    raise UnreadableBuild(f"{self.directory / CONTEXT}: a talk has no revision")
                self._context = context
            return self._context

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


def index_of(snapshot: Snapshot, max_age: int) -> dict[str, Any]:
    """Where each route's file is and the headers it is sent with."""
    sets: dict[Headers, int] = {}
    dates: dict[float, int] = {}
    deliveries: dict[Delivery, int] = {}

    def header_set(headers: Mapping[str, str]) -> int:
        return sets.setdefault(tuple(headers.items()), len(sets))

    def date(moment: datetime) -> int:
        return dates.setdefault(moment.timestamp(), len(dates))

    def delivery(resource: Resource) -> int:
        return deliveries.setdefault(resource.delivery, len(deliveries))

    def shared_headers(resource: Resource) -> dict[str, str]:
        """The route's headers, its download name left out so that every
        talk file shares one header set (one per route would grow with talks)."""
        headers = resource.headers(max_age)
        if resource.download_name:
            headers["Content-Disposition"] = DOWNLOAD
        return headers

    routes = {route: [export.file_path(route, r), header_set(shared_headers(r)), r.etag,
                      date(r.last_modified), delivery(r), r.download_name]
              for route, r in snapshot.routes.items()}
    page = snapshot.not_found
    missing = {**page.headers(0), "Cache-Control": "no-cache"}
    return {"routes": routes, "not_found": [export.NOT_FOUND, header_set(missing), delivery(page)],
            "headers": [list(map(list, hs)) for hs in sets], "dates": list(dates),
            "deliveries": [asdict(d) for d in deliveries]}


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
    _sync_directory(state)


def _sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_tree(root: Path) -> None:
    """Every file and directory under `root` on disk: one syncfs(2) of its
    file system where Linux offers it (one call at any number of files),
    else an fsync per file; then each directory."""
    if not _syncfs(root):
        for file in root.rglob("*"):
            if file.is_file():
                fd = os.open(file, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
    for directory in [root, *(d for d in root.rglob("*") if d.is_dir())]:
        _sync_directory(directory)


def _syncfs(path: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return bool(syncfs(fd) == 0)
    finally:
        os.close(fd)


def remove_temporaries(state: Path) -> None:
    """Remove build directories a killed builder left half written (the
    caller holds the build lock, so nobody is writing one)."""
    with contextlib.suppress(FileNotFoundError):
        for entry in builds_dir(state).iterdir():
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
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


def publish(state: Path, snapshot: Snapshot, max_age: int, *, source: list[int] | None,
            options: dict[str, Any], loaded_at: datetime, made_from: MadeFrom,
            keep: int = 3, origin: Mapping[str, Any] | None = None) -> str:
    """Write `snapshot`, rendered from `made_from`, as a new build, sync it to
    disk and make it current; returns its name. The caller holds the build lock."""
    builds = builds_dir(state)
    builds.mkdir(parents=True, exist_ok=True)
    remove_temporaries(state)
    seq = _next_seq(state)
    name = f"{seq:06d}-{snapshot.version}"
    tmp = builds / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        export.write_files(tmp / SITE, export.site_files(snapshot, max_age))
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
        index["context"] = {"bytes": len(stored), "sha256": _digest(stored),
                            "ends": _ends(stored[:ENDS], stored[-ENDS:])}
        (tmp / INDEX).write_text(json.dumps(index, separators=(",", ":")), encoding="utf-8")
        _sync_tree(tmp)  # a power cut after the switch must not leave a damaged build current
        os.rename(tmp, builds / name)
        _sync_directory(builds)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    point_current(state, name)
    prune(state, keep)
    return name


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
