"""One build step: the model of one data version, rendered into every route's
bytes with their ETag and Last-Modified. The server and the static export
both publish exactly this.

Every route is a row of one table: its path, the function that renders it
and the delivery its format declares. The build is a loop over the table."""

from __future__ import annotations

import hashlib
import posixpath
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple

from feeds import urls
from feeds.data.revisions import Revision, latest_date
from feeds.formats import ical, pages, rhythm, schema, syndication, talks_json
from feeds.formats.delivery import Delivery, Resource
from feeds.formats.memo import KEPT, Kept, Memo
from feeds.model import Schedule, Series, Talk
from feeds.settings import Settings
from feeds.timezones import EPOCH, to_utc


@dataclass(frozen=True)
class BuildOptions:
    """The settings a build depends on."""

    site: urls.Site
    feed_limit: int = 100

    @classmethod
    def from_settings(cls, settings: Settings) -> BuildOptions:
        return cls(site=urls.Site(settings.site_url), feed_limit=settings.feed_limit)


@dataclass(frozen=True)
class RenderContext:
    """What every route of one build is rendered from: the schedule and its
    revisions as seen at `now` for one site. A published build stores what
    it is made from and rebuilds this with `of` (feeds.publish.builds)."""

    schedule: Schedule
    revisions: Mapping[str, Revision]
    #: The site, minting ids under the series' own id_authority.
    site: urls.Site
    #: The moment the build saw the schedule at: it decides what is upcoming.
    now: datetime
    feed_limit: int
    #: The data's last change, or a talk's end since: every route's Last-Modified.
    changed: datetime
    #: No date in the feeds is later than this: `now`, or the ledger's
    #: latest date if the clock is behind it (dates never go backwards).
    dated_until: datetime
    #: What more than one route is made from, made once (`feed_entries`).
    _shared: dict[str, Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    def feed_entries(self, memo: Memo) -> list[syndication.Entry]:
        """Every feed entry, newest first: /rss.xml and /atom.xml take theirs from one list."""
        if "entries" not in self._shared:
            self._shared["entries"] = syndication.entries(self.schedule, self.revisions,
                                                          self.site, self.dated_until, memo)
        found: list[syndication.Entry] = self._shared["entries"]
        return found

    @classmethod
    def of(cls, schedule: Schedule, revisions: Mapping[str, Revision], options: BuildOptions,
           now: datetime) -> RenderContext:
        """The context of `schedule` and its `revisions` seen at `now` with `options`."""
        return cls(schedule, dict(revisions), options.site.for_series(schedule.series.id_authority),
                   now, options.feed_limit, last_change(schedule, revisions, now),
                   dated_until=max(to_utc(now), latest_date(revisions)))


Render = Callable[[RenderContext, Memo], bytes]

#: Routes with one document for the whole schedule.
DOCUMENTS: tuple[tuple[str, Render, Delivery], ...] = (
    (urls.CALENDAR, lambda c, m: ical.subscription_feed(c.schedule, c.revisions, c.site, c.now,
                                                        memo=m), ical.FEED_DELIVERY),
    (urls.ARCHIVE, lambda c, m: ical.calendar_feed(c.schedule, c.revisions, c.site, memo=m,
                                                   archive=True), ical.FEED_DELIVERY),
    (urls.RSS, lambda c, m: syndication.rss_feed(c.schedule, c.revisions, c.site, c.dated_until,
                                                 c.feed_limit, m, c.feed_entries(m)),
     syndication.RSS_DELIVERY),
    (urls.ATOM, lambda c, m: syndication.atom_feed(c.schedule, c.revisions, c.site, c.dated_until,
                                                   c.feed_limit, m, c.feed_entries(m)),
     syndication.ATOM_DELIVERY),
    (urls.HOME, lambda c, m: pages.home(c.schedule, c.site, c.now, m, c.revisions),
     pages.PAGE_DELIVERY),
    (urls.EMBED_PAGE, lambda c, m: pages.embed(c.schedule, c.site, c.now, pages.EmbedOptions(),
                                               m, c.revisions), pages.EMBED_DELIVERY),
    (urls.WEBSITE, lambda c, m: m(pages.website, c.schedule.series, c.site, m),
     pages.PAGE_DELIVERY),
    (urls.JSON, lambda c, m: talks_json.render(c.schedule, c.site, m, c.revisions),
     talks_json.JSON_DELIVERY),
    (urls.SCHEMA, lambda c, m: schema.render(), schema.SCHEMA_DELIVERY),
    (urls.EMBED_JSON, lambda c, m: talks_json.render_embed(
        c.schedule, c.site, c.now, m, c.revisions, rhythm.rhythm(c.schedule)),
     talks_json.JSON_DELIVERY),
    (urls.EMBED_ALL_JSON, lambda c, m: talks_json.render_embed_all(
        c.schedule, c.site, m, c.revisions, rhythm.rhythm(c.schedule)),
     talks_json.JSON_DELIVERY),
)


class TalkView(NamedTuple):
    """What one talk's own documents are made from, and so the key they are
    kept by: an edit of another talk leaves them as they were (a tuple: one
    is made per talk and build)."""

    talk: Talk
    revision: Revision
    series: Series
    site: urls.Site
    state: pages.State
    previous: Talk | None
    next: Talk | None
    #: The neighbours' last changes (the page links them by title).
    neighbour_changes: tuple[datetime, ...]
    #: The talk's start and end, where already passed ("live", then past).
    passed: tuple[datetime, ...]


def talk_view(context: RenderContext, talk: Talk) -> TalkView:
    """`talk` as its own pages show it in `context`."""
    neighbours = context.schedule.neighbours(talk)
    return TalkView(talk, context.revisions[talk.id], context.schedule.series, context.site,
                    pages.talk_state(talk, context.now), *neighbours,
                    tuple(context.revisions[t.id].modified for t in neighbours if t is not None),
                    tuple(moment for moment in (talk.start, talk.end) if moment <= context.now))


def own_change(view: TalkView) -> datetime:
    """A talk's own last change: the date of what shows only that talk."""
    return view.revision.modified


def page_change(view: TalkView) -> datetime:
    """The last change a talk page shows: the talk's own, its neighbours'
    (linked by title), and its start and end once passed ("live", then
    past). An edit of another talk leaves it, and its file, as they were."""
    return to_utc(max((view.revision.modified, *view.neighbour_changes, *view.passed)))


RenderTalk = Callable[[TalkView, Memo], bytes]
#: Routes with one document per talk; the last column dates each (its Last-Modified).
TALK_ROUTES: tuple[tuple[Callable[[str], str], RenderTalk, Delivery,
                         Callable[[TalkView], datetime]], ...] = (
    (urls.talk_ics, lambda v, m: m(ical.talk_file, v.talk, v.revision, v.series, v.site, m),
     ical.TALK_FILE_DELIVERY, own_change),
    (urls.talk_route, lambda v, m: m(pages.talk_page, v.talk, v.series, v.site, v.state,
                                     v.previous, v.next, m, v.revision),
     pages.PAGE_DELIVERY, page_change),
)


def talk_routes(view: TalkView, memo: Memo) -> tuple[tuple[str, Resource], ...]:
    """Every route of one talk (TALK_ROUTES), kept per talk by the builder."""
    found = []
    for path_of, render, delivery, dated in TALK_ROUTES:
        path = path_of(view.talk.id)
        found.append((path, Resource(render(view, memo), delivery, dated(view),
                                     posixpath.basename(path) if delivery.download else "")))
    return tuple(found)


#: Routes with one document per year with past talks (pages.archive_years):
#: the archive, which the series page links instead of listing every talk.
YEAR_ROUTES: tuple[tuple[Callable[[int], str], Callable[[RenderContext, Memo, int], bytes],
                         Delivery], ...] = (
    (urls.archive_year, lambda c, m, y: pages.archive_page(c.schedule, c.site, c.now, y, m),
     pages.PAGE_DELIVERY),
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


class EmbedBusy(Exception):
    """Too much /embed rendering lately; try again in `retry_after` seconds."""

    def __init__(self, retry_after: float):
        super().__init__(f"try again in {retry_after:.1f} s")
        self.retry_after = retry_after


class RenderBudget:
    """A token bucket of rendering time: at most `capacity` seconds at once,
    refilled at `rate` seconds per second. It bounds what a stream of new
    /embed option sets can cost a worker (the rest of the site shares its CPU)."""

    def __init__(self, capacity: float, rate: float,
                 clock: Callable[[], float] = time.monotonic):
        self.capacity, self.rate, self.clock = capacity, rate, clock
        self._left, self._at = capacity, clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self._left = min(self.capacity, self._left + (now - self._at) * self.rate)
        self._at = now

    def wait(self) -> float:
        """0 if a render may start now, else the seconds until one may."""
        with self._lock:
            self._refill()
            return 0.0 if self._left > 0 else -self._left / self.rate + 0.01

    def spend(self, seconds: float) -> None:
        with self._lock:
            self._refill()
            self._left -= seconds


#: Per process: 2 s of /embed rendering at once, then a fifth of one CPU.
EMBED_BUDGET = RenderBudget(capacity=2.0, rate=0.2)


class EmbedPages:
    """/embed for each query's options, rendered on first request.

    The cost of a render grows with the talks shown. Each option set is
    first made canonical (a limit at or above the talks shown is no limit),
    so the expensive pages, those without a limit, are at most one per
    show and theme: they are kept for the snapshot's lifetime. Pages with a
    limit are kept while among the LIMIT used most recently. Every render
    draws on a render budget; while it is spent, a new option set is
    refused (EmbedBusy, sent as 503 with Retry-After) instead of rendered,
    and the published /embed/ and every kept page are still served."""

    LIMIT = 64

    def __init__(self, context: RenderContext, default: Resource, memo: Memo = KEPT,
                 budget: RenderBudget | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        self._context, self._memo = context, memo
        self._budget = EMBED_BUDGET if budget is None else budget
        self._clock = clock
        self._whole: dict[pages.EmbedOptions, Resource] = {pages.EmbedOptions(): default}
        self._recent: OrderedDict[pages.EmbedOptions, Resource] = OrderedDict()
        self._shown: dict[str, int] | None = None
        self._lock = threading.Lock()

    def canonical(self, options: pages.EmbedOptions) -> pages.EmbedOptions:
        """`options`, without a limit that cuts nothing (the same page)."""
        if options.limit is None:
            return options
        if self._shown is None:
            c = self._context
            upcoming, past = len(c.schedule.upcoming(c.now)), len(c.schedule.past(c.now))
            self._shown = {"upcoming": upcoming, "past": past, "all": upcoming + past}
        if options.limit >= self._shown[options.show]:
            return replace(options, limit=None)
        return options

    def __call__(self, options: pages.EmbedOptions) -> Resource:
        options = self.canonical(options)
        with self._lock:
            page = self._whole.get(options) or self._recent.get(options)
            if page is not None and options in self._recent:
                self._recent.move_to_end(options)
        if page is not None:
            return page
        wait = self._budget.wait()
        if wait:
            raise EmbedBusy(wait)
        c = self._context
        started = self._clock()
        try:
            page = Resource(pages.embed(c.schedule, c.site, c.now, options, self._memo,
                                        c.revisions), pages.EMBED_DELIVERY, c.changed)
        finally:
            self._budget.spend(self._clock() - started)
        with self._lock:
            if options.limit is None:
                self._whole[options] = page
            else:
                self._recent[options] = page
                while len(self._recent) > self.LIMIT:
                    self._recent.popitem(last=False)
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
        routes.update(memo(talk_routes, talk_view(context, talk), memo))
    for year in pages.archive_years(schedule, context.now):
        for year_path, render_year, delivery in YEAR_ROUTES:
            routes[year_path(year)] = Resource(render_year(context, memo, year), delivery, changed)
    for name, body in pages.static_files().items():
        routes[urls.asset(name)] = Resource(body, pages.asset_delivery(name), changed)
        routes[urls.asset(pages.fingerprinted(name))] = Resource(
            body, pages.asset_delivery(name, immutable=True), changed)
    for alias, path in ALIASES.items():
        routes[alias] = routes[path]
    ahead = [moment for moment in turning_points(schedule) if moment > context.now]
    return Snapshot(context, routes, min(ahead, default=None),
                    not_found=Resource(pages.not_found(schedule, context.site, memo),
                                       pages.NOT_FOUND_DELIVERY, changed),
                    embed=EmbedPages(context, routes[urls.EMBED_PAGE], memo))
