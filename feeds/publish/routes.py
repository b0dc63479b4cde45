"""A published build's routes: where each route's file is and the headers
it is sent with (`index_of`), stored one row per route in routes.sqlite
(`write_routes`) and looked up one at a time when asked for (`RouteTable`).
A route table is never trusted to name a file outside its build; a build
that cannot be read raises BrokenBuild."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from feeds.formats.delivery import Delivery, Resource, content_disposition, quoted_etag
from feeds.publish import export
from feeds.publish.snapshot import Snapshot

log = logging.getLogger(__name__)

#: Stands for the download's Content-Disposition in a shared header set.
DOWNLOAD = "<download>"
Headers = tuple[tuple[str, str], ...]


class BrokenBuild(ValueError):
    """A build on disk that cannot be read (truncated, missing files)."""


class UnreadableBuild(BrokenBuild):
    """A build directory that cannot be read whole: it is never served, and
    the builder builds again from the data file."""


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
    #: Its gzip'd bytes are beside it, in `file` + ".gz" (Delivery.precompresses).
    gzip: bool = False

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
    download name, gzip; the indexes point into index.json's lists) as
    `Served`; ValueError for a file outside the build."""
    file, hset, etag, date, delivery, download, gzip = row
    path = inside(site, file)
    moment, text = dates[date]
    headers = sets[hset]
    if download:  # the one header that differs per talk file
        headers = tuple((k, content_disposition(download) if v == DOWNLOAD else v)
                        for k, v in headers)
    return Served(path, headers + (("ETag", quoted_etag(etag)), ("Last-Modified", text)),
                  etag, moment, deliveries[delivery], download, bool(gzip))


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


_LOOKUP = ("SELECT file, hset, etag, date, delivery, download, gzip FROM routes "
           "WHERE route = ?")


_TABLE = ("CREATE TABLE routes (position INTEGER PRIMARY KEY, route TEXT NOT NULL "
          "UNIQUE, file TEXT NOT NULL, hset INTEGER NOT NULL, etag TEXT NOT NULL, "
          "date INTEGER NOT NULL, delivery INTEGER NOT NULL, download TEXT NOT NULL, "
          "gzip INTEGER NOT NULL)")
_COLUMNS = ("file", "hset", "etag", "date", "delivery", "download", "gzip")


class RouteTables:
    """Writes each build's route table from the last one, kept in memory:
    when the routes are the same, in the same order, only the rows that
    changed are updated before the table is copied to its file (one row
    for a talk edited among 20 000, not 60 000 inserts)."""

    #: More changed rows than this share of the routes: the table is made anew.
    PATCHED_UP_TO = 0.25

    def __init__(self) -> None:
        self._db: sqlite3.Connection | None = None
        self._rows: dict[str, list[Any]] = {}

    def write(self, database: Path, routes: Mapping[str, list[Any]]) -> None:
        """The table of `routes` (`served_from`'s rows) at `database`."""
        changed = self._changed(routes)
        if changed is None:
            self._made_anew(routes)
        elif changed:
            assert self._db is not None
            self._db.executemany(
                f"UPDATE routes SET {', '.join(f'{c} = ?' for c in _COLUMNS)} WHERE route = ?",
                ((*routes[route], route) for route in changed))
            self._db.commit()
        self._rows = dict(routes)
        assert self._db is not None
        with contextlib.closing(sqlite3.connect(database)) as target:
            self._db.backup(target)

    def _changed(self, routes: Mapping[str, list[Any]]) -> list[str] | None:
        """The routes whose rows changed, or None if the table is made anew."""
        if self._db is None or list(routes) != list(self._rows):
            return None
        rows = self._rows
        changed = [route for route, row in routes.items() if rows[route] != row]
        return None if len(changed) > self.PATCHED_UP_TO * len(routes) else changed

    def _made_anew(self, routes: Mapping[str, list[Any]]) -> None:
        if self._db is not None:
            self._db.close()
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(_TABLE)
        self._db.executemany(
            f"INSERT INTO routes (route, {', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((route, *row) for route, row in routes.items()))
        self._db.commit()


#: The route tables this process writes.
_TABLES = RouteTables()


def write_routes(database: Path, routes: Mapping[str, list[Any]]) -> None:
    """A build's route table: one row per route, in `served_from`'s order."""
    _TABLES.write(database, routes)


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

    kinds: dict[tuple[Delivery, bool], int] = {}

    def kind(resource: Resource) -> int:
        """The header set of a route: its delivery's, with or without a download name."""
        key = (resource.delivery, bool(resource.download_name))
        found = kinds.get(key)
        if found is None:
            found = kinds[key] = header_set(shared_headers(resource))
        return found

    routes = {route: [export.file_path(route, r), kind(r), r.etag,
                      date(r.last_modified), delivery(r), r.download_name,
                      r.delivery.precompresses(len(r.body))]
              for route, r in snapshot.routes.items()}
    page = snapshot.not_found
    missing = {**page.headers(0), "Cache-Control": "no-cache"}
    return {"routes": routes, "not_found": [export.NOT_FOUND, header_set(missing), delivery(page)],
            "headers": [list(map(list, hs)) for hs in sets], "dates": list(dates),
            "deliveries": [asdict(d) for d in deliveries]}
