"""One build step: the model of one data version, rendered into every route's
bytes with their ETag and Last-Modified. The server and the static export
both publish exactly this."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Callable, Mapping

from . import ical, pages, syndication, talks_json, urls
from .model import Schedule, Series, Talk
from .revisions import Revision

ICS = "text/calendar; charset=utf-8"
CACHE_SIZE = 1 << 14  # per-talk routes kept across builds: an edit re-renders one talk


@dataclass(frozen=True)
class Resource:
    """The bytes of one route and how to send them."""

    body: bytes
    media_type: str
    last_modified: datetime
    download_name: str = ""  # offered as a download (Content-Disposition)
    cors: bool = False  # readable from any origin
    framable: bool = False  # may be shown in another site's iframe
    etag: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "etag", hashlib.sha256(self.body).hexdigest()[:32])

    def headers(self, max_age: int) -> dict[str, str]:
        """Headers besides the validators (ETag, Last-Modified): what the
        server sends and what static hosts are told to send."""
        cache = f"public, max-age={max_age}"
        if self.media_type.startswith("text/calendar"):
            cache += ", no-transform"  # no proxy or CDN may gzip it: Outlook fails on that
        result = {"Content-Type": self.media_type, "Cache-Control": cache}
        if self.download_name:
            result["Content-Disposition"] = f'attachment; filename="{self.download_name}"'
        if self.cors:
            result["Access-Control-Allow-Origin"] = "*"
        if not self.framable:
            result["Content-Security-Policy"] = "frame-ancestors 'none'"
        return result


@dataclass(frozen=True)
class Snapshot:
    """Everything published for one version of the data."""

    schedule: Schedule
    revisions: Mapping[str, Revision]
    routes: Mapping[str, Resource]
    last_modified: datetime  # the data's last change, or a talk's end since
    valid_until: datetime | None  # when "upcoming" changes and a rebuild is due
    not_found: Resource  # the friendly page sent with every 404, not a route
    # /embed for other query options, each rendered once for this snapshot
    embed: Callable[[pages.EmbedOptions], Resource] = field(compare=False, repr=False)


@dataclass(frozen=True)
class BuildOptions:
    site: urls.Site
    feed_limit: int = 100


def last_change(schedule: Schedule, revisions: Mapping[str, Revision], now: datetime) -> datetime:
    """The latest of the talks' last changes and of the talk ends already
    passed (which move talks from "upcoming" to "past")."""
    moments = [revisions[t.id].modified for t in schedule.talks]
    moments += [t.end for t in schedule.talks if t.end <= now]
    return max(moments, default=datetime(1970, 1, 1, tzinfo=timezone.utc)).astimezone(timezone.utc)


@lru_cache(maxsize=CACHE_SIZE)
def _talk_ics(talk: Talk, revision: Revision, series: Series, site: urls.Site) -> Resource:
    """/talks/<id>.ics, kept per version of the talk."""
    return Resource(ical.talk_file(talk, revision, series, site), ICS, revision.modified,
                    download_name=f"{talk.id}.ics", cors=True)


def build_snapshot(schedule: Schedule, revisions: Mapping[str, Revision],
                   options: BuildOptions, now: datetime) -> Snapshot:
    """Render every public route for `schedule` as seen at `now`."""
    site = options.site.for_series(schedule.series.uid_domain)
    changed = last_change(schedule, revisions, now)
    routes: dict[str, Resource] = {}

    routes[urls.CALENDAR] = Resource(ical.calendar_feed(schedule, revisions, site), ICS,
                                     changed, cors=True)
    for talk in schedule.talks:
        routes[urls.talk_ics(talk.id)] = _talk_ics(talk, revisions[talk.id],
                                                   schedule.series, site)
    for path, render, media_type in ((urls.RSS, syndication.rss_feed, syndication.RSS_TYPE),
                                     (urls.ATOM, syndication.atom_feed, syndication.ATOM_TYPE)):
        routes[path] = Resource(render(schedule, revisions, site, now, options.feed_limit),
                                f"{media_type}; charset=utf-8", changed, cors=True)

    routes[urls.HOME] = Resource(pages.home(schedule, site, now), pages.HTML, changed)
    for talk in schedule.talks:
        page = pages.talk_page(talk, schedule.series, site, talk.end > now)
        routes[urls.talk_page(talk.id)] = Resource(page, pages.HTML, changed)
    embed = lru_cache(maxsize=64)(lambda options: Resource(
        pages.embed(schedule, site, now, options), pages.HTML, changed, framable=True))
    routes[urls.EMBED] = embed(pages.EmbedOptions())
    routes[urls.JSON] = Resource(talks_json.render(schedule, site), talks_json.MEDIA_TYPE,
                                 changed, cors=True)
    for name, body in pages.static_files().items():
        routes[urls.asset(name)] = Resource(body, pages.media_type(name), changed)
    routes[urls.EMBED_JS] = routes[urls.asset(pages.SCRIPT)]
    not_found = Resource(pages.not_found(schedule, site), pages.HTML, changed)

    upcoming_ends = [t.end for t in schedule.talks if t.end > now]
    return Snapshot(schedule, dict(revisions), routes, changed, min(upcoming_ends, default=None),
                    not_found=not_found, embed=embed)
