"""One build step: the model of one data version, rendered into every route's
bytes with their ETag and Last-Modified. The server and the static export
both publish exactly this."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Mapping

from . import ical, syndication, urls
from .model import Schedule
from .revisions import Revision

ICS = "text/calendar; charset=utf-8"


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


@dataclass(frozen=True)
class Snapshot:
    """Everything published for one version of the data."""

    schedule: Schedule
    revisions: Mapping[str, Revision]
    routes: Mapping[str, Resource]
    last_modified: datetime  # the data's last change, or a talk's end since
    valid_until: datetime | None  # when "upcoming" changes and a rebuild is due


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


def build_snapshot(schedule: Schedule, revisions: Mapping[str, Revision],
                   options: BuildOptions, now: datetime) -> Snapshot:
    """Render every public route for `schedule` as seen at `now`."""
    site = options.site.for_series(schedule.series.uid_domain)
    changed = last_change(schedule, revisions, now)
    routes: dict[str, Resource] = {}

    routes[urls.CALENDAR] = Resource(ical.calendar_feed(schedule, revisions, site), ICS,
                                     changed, cors=True)
    for talk in schedule.talks:
        rev = revisions[talk.id]
        routes[urls.talk_ics(talk.id)] = Resource(
            ical.talk_file(talk, rev, schedule.series, site), ICS,
            rev.modified, download_name=f"{talk.id}.ics", cors=True)
    for path, render, media_type in ((urls.RSS, syndication.rss_feed, syndication.RSS_TYPE),
                                     (urls.ATOM, syndication.atom_feed, syndication.ATOM_TYPE)):
        routes[path] = Resource(render(schedule, revisions, site, now, options.feed_limit),
                                f"{media_type}; charset=utf-8", changed, cors=True)

    upcoming_ends = [t.end for t in schedule.talks if t.end > now]
    return Snapshot(schedule, dict(revisions), routes, changed, min(upcoming_ends, default=None))
