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
class RenderContext:
    """What every route of one build is rendered from: the schedule and its
    revisions as seen at `now` for one site. A published build stores what
    it is made from and rebuilds this with `of` (feeds.publish.builds)."""

    schedule: Schedule
    revisions: Mapping[str, Revision]
    #: The site, minting UIDs in the series' own domain where it pins one.
    site: urls.Site
    #: The moment the build saw the schedule at: it decides what is upcoming.
    now: datetime
    feed_limit: int
    #: The data's last change, or a talk's end since: every route's Last-Modified.
    changed: datetime
    #: No date in the feeds is later than this: `now`, or the ledger's
    #: latest date if the clock is behind it (dates never go backwards).
    dated_until: datetime

    @classmethod
    def of(cls, schedule: Schedule, revisions: Mapping[str, Revision], options: BuildOptions,
           now: datetime) -> RenderContext:
        """The context of `schedule` and its `revisions` seen at `now` with `options`."""
        return cls(schedule, dict(revisions), options.site.for_series(schedule.series.uid_domain),
                   now, options.feed_limit, last_change(schedule, revisions, now),
                   dated_until=max(to_utc(now), latest_date(revisions)))


Render = Callable[[RenderContext, Memo], bytes]
RenderTalk = Callable[[RenderContext, Memo, Talk], bytes]

#: Routes with one document for the whole schedule.
DOCUMENTS: tuple[tuple[str, Render, Delivery], ...] = (
    (urls.CALENDAR, lambda c, m: ical.subscription_feed(c.schedule, c.revisions, c.site, c.now,
                                                        memo=m), ical.FEED),
    (urls.ARCHIVE, lambda c, m: ical.calendar_feed(c.schedule, c.revisions, c.site, memo=m,
                                                   archive=True), ical.FEED),
    (urls.RSS, lambda c, m: syndication.rss_feed(c.schedule, c.revisions, c.site, c.dated_until,
                                                 c.feed_limit, m), syndication.RSS),
    (urls.ATOM, lambda c, m: syndication.atom_feed(c.schedule, c.revisions, c.site, c.dated_until,
                                                   c.feed_limit, m), syndication.ATOM),
    (urls.HOME, lambda c, m: pages.home(c.schedule, c.site, c.now, m), pages.PAGE),
    (urls.EMBED_PAGE, lambda c, m: pages.embed(c.schedule, c.site, c.now, pages.EmbedOptions(),
                                               m), pages.EMBED),
    (urls.WEBSITE, lambda c, m: m(pages.website, c.schedule.series, c.site, m), pages.PAGE),
    (urls.JSON, lambda c, m: talks_json.render(c.schedule, c.site, m), talks_json.DELIVERY),
    (urls.SCHEMA, lambda c, m: schema.render(), schema.DELIVERY),
    (urls.EMBED_JSON, lambda c, m: talks_json.render_embed(c.schedule, c.site, m),
     talks_json.DELIVERY),
)
#: Routes with one document per talk; the last column says whether the
#: route is dated by the talk's own last change rather than the schedule's.
TALK_ROUTES: tuple[tuple[Callable[[str], str], RenderTalk, Delivery, bool], ...] = (
    (urls.talk_ics, lambda c, m, t: m(ical.talk_file, t, c.revisions[t.id], c.schedule.series,
                                      c.site, m), ical.TALK_FILE, True),
    (urls.talk_route, lambda c, m, t: m(pages.talk_page, t, c.schedule.series, c.site,
                                        pages.talk_state(t, c.now), *c.schedule.neighbours(t),
                                        m), pages.PAGE, False),
)
#: The same file at a second address: the one-line embed script.
ALIASES = {urls.EMBED_JS: urls.asset(pages.SCRIPT)}


@dataclass(frozen=True)
class Snapshot:
    """Everything published for one version of the data."""

    #: What every route was rendered from.
    context: RenderContext
    routes: Mapping[str, Resource]
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

    @property
    def last_modified(self) -> datetime:
        """The data's last change, or a talk's end since."""
        return self.context.changed


class EmbedPages:
    """/embed for each query's options, rendered on first request and kept
    for the snapshot's lifetime (at most LIMIT of them)."""

    LIMIT = 64

    def __init__(self, context: RenderContext, default: Resource, memo: Memo = KEPT):
        self._context, self._memo = context, memo
        self._pages: dict[pages.EmbedOptions, Resource] = {pages.EmbedOptions(): default}
        self._lock = threading.Lock()

    def __call__(self, options: pages.EmbedOptions) -> Resource:
        page = self._pages.get(options)
        if page is None:
            c = self._context
            page = Resource(pages.embed(c.schedule, c.site, c.now, options, self._memo),
                            pages.EMBED, c.changed)
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
    return render_snapshot(RenderContext.of(schedule, revisions, options, now), memo)


def render_snapshot(context: RenderContext, memo: Kept = KEPT) -> Snapshot:
    """Render every public route from `context`; `memo` keeps what this
    build renders for the next one."""
    memo.next_generation()
    schedule, changed = context.schedule, context.changed
    routes = {path: Resource(render(context, memo), delivery, changed)
              for path, render, delivery in DOCUMENTS}
    for talk in schedule.talks:
        for path_of, render_talk, delivery, own_date in TALK_ROUTES:
            path = path_of(talk.id)
            routes[path] = memo(Resource, render_talk(context, memo, talk), delivery,
                                context.revisions[talk.id].modified if own_date else changed,
                                posixpath.basename(path) if delivery.download else "")
    for name, body in pages.static_files().items():
        routes[urls.asset(name)] = Resource(body, pages.asset_delivery(name), changed)
        routes[urls.asset(pages.fingerprinted(name))] = Resource(
            body, pages.asset_delivery(name, immutable=True), changed)
    for alias, path in ALIASES.items():
        routes[alias] = routes[path]
    due = [moment for moment in turning_points(schedule) if moment > context.now]
    return Snapshot(context, routes, min(due, default=None),
                    not_found=Resource(pages.not_found(schedule, context.site, memo),
                                       pages.NOT_FOUND, changed),
                    embed=EmbedPages(context, routes[urls.EMBED_PAGE], memo))
