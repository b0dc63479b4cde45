"""One build step: the model of one data version, rendered into every route's
bytes with their ETag and Last-Modified. The server and the static export
both publish exactly this.

Every route is a row of one table: its path, the function that renders it
and the delivery its format declares. The build is a loop over the table."""

from __future__ import annotations

import hashlib
import posixpath
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feeds import urls
from feeds.data.revisions import Revision, latest_date
from feeds.formats import ical, pages, schema, syndication, talks_json
from feeds.formats.delivery import Delivery, Resource
from feeds.formats.memo import KEPT, Kept, Memo
from feeds.model import Schedule, Talk
from feeds.timezones import EPOCH, to_utc


@dataclass(frozen=True)
class BuildOptions:
    """The settings a build depends on."""

    site: urls.Site
    feed_limit: int = 100

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> BuildOptions:
        return cls(site=urls.Site(settings["SITE_URL"]), feed_limit=int(settings["FEED_LIMIT"]))


@dataclass(frozen=True)
class Build:
    """What every route of one build is rendered from."""

    schedule: Schedule
    revisions: Mapping[str, Revision]
    #: The site, minting ids under the series' own id_authority.
    site: urls.Site
    now: datetime
    feed_limit: int
    #: The data's last change, or a talk's end since: every route's Last-Modified.
    changed: datetime
    memo: Memo
    #: No date in the feeds is later than this: `now`, or the ledger's
    #: latest date if the clock is behind it (dates never go backwards).
    dated_until: datetime


Render = Callable[[Build], bytes]
RenderTalk = Callable[[Build, Talk], bytes]

#: Routes with one document for the whole schedule.
DOCUMENTS: tuple[tuple[str, Render, Delivery], ...] = (
    (urls.CALENDAR, lambda b: ical.subscription_feed(b.schedule, b.revisions, b.site, b.now,
                                                     memo=b.memo), ical.FEED),
    (urls.ARCHIVE, lambda b: ical.calendar_feed(b.schedule, b.revisions, b.site, memo=b.memo,
                                                archive=True), ical.FEED),
    (urls.RSS, lambda b: syndication.rss_feed(b.schedule, b.revisions, b.site, b.dated_until,
                                              b.feed_limit, b.memo), syndication.RSS),
    (urls.ATOM, lambda b: syndication.atom_feed(b.schedule, b.revisions, b.site, b.dated_until,
                                                b.feed_limit, b.memo), syndication.ATOM),
    (urls.HOME, lambda b: pages.home(b.schedule, b.site, b.now, b.memo), pages.PAGE),
    (urls.EMBED_PAGE, lambda b: pages.embed(b.schedule, b.site, b.now, pages.EmbedOptions(),
                                            b.memo), pages.EMBED),
    (urls.WEBSITE, lambda b: b.memo(pages.website, b.schedule.series, b.site, b.memo), pages.PAGE),
    (urls.JSON, lambda b: talks_json.render(b.schedule, b.site, b.memo), talks_json.DELIVERY),
    (urls.SCHEMA, lambda b: schema.render(), schema.DELIVERY),
    (urls.EMBED_JSON, lambda b: talks_json.render_embed(b.schedule, b.site, b.memo),
     talks_json.DELIVERY),
)
#: Routes with one document per talk; the last column says whether the
#: route is dated by the talk's own last change rather than the schedule's.
TALK_ROUTES: tuple[tuple[Callable[[str], str], RenderTalk, Delivery, bool], ...] = (
    (urls.talk_ics, lambda b, t: b.memo(ical.talk_file, t, b.revisions[t.id], b.schedule.series,
                                        b.site, b.memo), ical.TALK_FILE, True),
    (urls.talk_route, lambda b, t: b.memo(pages.talk_page, t, b.schedule.series, b.site,
                                          pages.talk_state(t, b.now), *b.schedule.neighbours(t),
                                          b.memo), pages.PAGE, False),
)
#: The same file at a second address: the one-line embed script.
ALIASES = {urls.EMBED_JS: urls.asset(pages.SCRIPT)}


@dataclass(frozen=True)
class Snapshot:
    """Everything published for one version of the data."""

    schedule: Schedule
    revisions: Mapping[str, Revision]
    site: urls.Site
    #: The moment the build saw the schedule at: it decides what is upcoming.
    built_at: datetime
    routes: Mapping[str, Resource]
    #: The data's last change, or a talk's end since.
    last_modified: datetime
    #: When a talk starts or ends next ("live", "upcoming" change) and a rebuild is due.
    valid_until: datetime | None
    #: The friendly page sent with every 404, not a route.
    not_found: Resource
    #: /embed for other query options.
    embed: EmbedPages = field(compare=False, repr=False)
    #: A digest of every route and its ETag: the same in every process that
    #: serves the same bytes.
    version: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256()
        for path in sorted(self.routes):
            digest.update(f"{path}\0{self.routes[path].etag}\n".encode())
        object.__setattr__(self, "version", digest.hexdigest()[:16])


class EmbedPages:
    """/embed for each query's options, rendered on first request and kept
    for the snapshot's lifetime (at most LIMIT of them)."""

    LIMIT = 64

    def __init__(self, build: Build, default: Resource):
        self._build = build
        self._pages: dict[pages.EmbedOptions, Resource] = {pages.EmbedOptions(): default}
        self._lock = threading.Lock()

    def __call__(self, options: pages.EmbedOptions) -> Resource:
        page = self._pages.get(options)
        if page is None:
            b = self._build
            page = Resource(pages.embed(b.schedule, b.site, b.now, options, b.memo), pages.EMBED,
                            b.changed)
            with self._lock:
                if len(self._pages) < self.LIMIT:
                    self._pages[options] = page
        return page


def turning_points(schedule: Schedule) -> list[datetime]:
    """When the pages change by themselves: a talk's start ("live now") and
    its end (from "upcoming" to "past")."""
    return [moment for t in schedule.talks for moment in (t.start, t.end)]


def last_change(schedule: Schedule, revisions: Mapping[str, Revision], now: datetime) -> datetime:
    """The latest of the talks' last changes and of the talk starts and ends
    already passed (which make talks live, then past)."""
    moments = [revisions[t.id].modified for t in schedule.talks]
    moments += [moment for moment in turning_points(schedule) if moment <= now]
    return to_utc(max(moments, default=EPOCH))


def build_snapshot(schedule: Schedule, revisions: Mapping[str, Revision],
                   options: BuildOptions, now: datetime, memo: Kept = KEPT) -> Snapshot:
    """Render every public route for `schedule` as seen at `now`; `memo`
    keeps what this build renders for the next one."""
    memo.next_generation()
    site = options.site.for_series(schedule.series.id_authority)
    build = Build(schedule, dict(revisions), site, now, options.feed_limit,
                  last_change(schedule, revisions, now), memo,
                  dated_until=max(to_utc(now), latest_date(revisions)))
    routes = {path: Resource(render(build), delivery, build.changed)
              for path, render, delivery in DOCUMENTS}
    for talk in schedule.talks:
        for path_of, render_talk, delivery, own_date in TALK_ROUTES:
            path = path_of(talk.id)
            routes[path] = memo(Resource, render_talk(build, talk), delivery,
                                revisions[talk.id].modified if own_date else build.changed,
                                posixpath.basename(path) if delivery.download else "")
    for name, body in pages.static_files().items():
        routes[urls.asset(name)] = Resource(body, pages.asset_delivery(name), build.changed)
        routes[urls.asset(pages.fingerprinted(name))] = Resource(
            body, pages.asset_delivery(name, immutable=True), build.changed)
    for alias, path in ALIASES.items():
        routes[alias] = routes[path]
    due = [moment for moment in turning_points(schedule) if moment > now]
    return Snapshot(schedule, build.revisions, site, now, routes, build.changed,
                    min(due, default=None),
                    not_found=Resource(pages.not_found(schedule, site, memo), pages.NOT_FOUND,
                                       build.changed),
                    embed=EmbedPages(build, routes[urls.EMBED_PAGE]))
