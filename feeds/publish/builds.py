"""Published builds on disk: each good version of the data is rendered once,
into the file tree that `feeds build` writes, and every worker process
serves the current one from there. This module keeps the build directories'
life cycle: open, serve, set aside, publish, prune. The state folder's
layout is in feeds.publish.layout, the next build's tree made ahead in
feeds.publish.prepared, the status and the locks in feeds.publish.status.

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
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from feeds import urls
from feeds.data.yaml_reader import InvalidData
from feeds.files import sync_directory, sync_tree
from feeds.formats import pages
from feeds.formats.delivery import Delivery, Resource, http_date
from feeds.publish import export, hub_made_from
from feeds.publish import hub as hub_build
from feeds.publish.layout import (
    BUILDS,
    CONTEXT,
    CURRENT,
    FILES,
    INDEX,
    ROUTES,
    SITE,
    builds_dir,
    current_name,
)
from feeds.publish.made_from import MadeFrom, check_ends, fingerprint, read_checked
from feeds.publish.prepared import claim_prepared, remember_written, unchanged_in
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
    prepared = claim_prepared(state, tmp)
    remove_temporaries(state, keep=tmp.name)
    try:
        files = export.site_files(snapshot, max_age)
        written = export.write_files(tmp / SITE, files, reuse=unchanged_in(state),
                                     prepared=prepared)
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
    remember_written(name, files)
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


