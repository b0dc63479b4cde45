"""The members' calendars of a hub: each series' at /<slug>/members/<token>/calendar.ics.

FEEDS_SECRETS_FILE names a folder laid out like the hub's data:

    site.yaml            tokens valid for every series of the hub (its join links are not used)
    series/<slug>.yaml   an ordinary secrets file of one series: its join links, and
                         tokens valid for that series only

A series' members' calendar is its public calendar plus each talk's join
link from that series' own secrets file. Each file is watched, kept and
reported as the one secrets file of a single series is (feeds.server.members)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from feeds.data.hub import SERIES_FOLDER, SITE_FILE
from feeds.data.secrets_file import Secrets
from feeds.formats.delivery import Resource
from feeds.publish.builds import PublishedBuild
from feeds.publish.snapshot import RenderContext
from feeds.server.members import Members, render_calendar
from feeds.server.publisher import Health


class _SeriesPublished:
    """One series of a hub's build, as the members' calendar renders it."""

    def __init__(self, context: RenderContext, last_modified: datetime | None):
        self._context, self._last_modified = context, last_modified

    @property
    def context(self) -> RenderContext:
        return self._context

    @property
    def last_modified(self) -> datetime | None:
        return self._last_modified


class HubMembers:
    """The hub's secrets (hub-wide tokens) and each series', reloaded when a
    file changes; each series' members' calendar rendered once per build
    and secrets version."""

    def __init__(self, folder: str | Path | None, check_interval: float = 1.0,
                 private: Path | None = None):
        self.folder = Path(folder) if folder else None
        self._interval, self._private = check_interval, private
        self._lock = threading.Lock()
        self._series: dict[str, Members] = {}
        self._cache: dict[str, tuple[PublishedBuild, Secrets, Resource]] = {}
        self.hub = self._members(self.folder / SITE_FILE) if self.folder else None

    def _members(self, path: Path) -> Members | None:
        if not path.exists():
            return None
        return Members(path, "", self._interval, private=self._private)

    def series(self, slug: str) -> Members | None:
        """The secrets of one series, if it has a secrets file."""
        if self.folder is None:
            return None
        with self._lock:
            if slug not in self._series:
                members = self._members(self.folder / SERIES_FOLDER / f"{slug}.yaml")
                if members is None:
                    return None
                self._series[slug] = members
            return self._series[slug]

    def calendar(self, build: PublishedBuild, slug: str, token: str) -> Resource | None:
        """The members' calendar of series `slug` for `token` (valid for the
        series or for the hub), or None for an unknown token or series."""
        context = build.hub_context
        if context is None or slug not in context.series:
            return None
        own = self.series(slug)
        secrets = own.current() if own is not None else Secrets()
        allowed = secrets.find(token) is not None or (
            self.hub is not None and self.hub.current().find(token) is not None)
        if not allowed:
            return None
        with self._lock:
            cached = self._cache.get(slug)
            if cached is None or cached[0] is not build or cached[1] is not secrets:
                published = _SeriesPublished(context.series[slug], build.last_modified)
                cached = (build, secrets, render_calendar(published, secrets))
                self._cache[slug] = cached
        return cached[2]

    def annotate(self, health: Health) -> Health:
        """`health` with every secrets file's problems as warnings."""
        if self.folder is not None and not self.folder.is_dir():
            health = replace(health, warnings=health.warnings + (
                f"FEEDS_SECRETS_FILE={self.folder} is not a folder: a hub's secrets are a "
                "folder with site.yaml and series/<slug>.yaml; no members' calendar is served",))
        for members in [self.hub, *self._series.values()]:
            if members is not None:
                health = members.annotate(health)
        return health
