"""A hub's build: every series rendered exactly as it would be served alone
(feeds.publish.snapshot, at the hub's address plus /<slug>), its routes
under /<slug>/, plus the hub's own views across the series
(feeds.formats.hub and its hub_* modules): /, the combined calendars and
feeds, /talks.json, /embed/ and one page, calendar and feeds per tag; and
the hub's /embed for the options of a query.

What a hub build is made from is in feeds.publish.hub_made_from, how a hub
folder is read and recorded in feeds.publish.hub_load."""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from feeds import urls
from feeds.data.revisions import latest_date
from feeds.formats import hub as views
from feeds.formats import (
    hub_calendars,
    hub_feeds,
    hub_json,
    hub_pages,
    hub_parts,
    ical,
    pages,
    syndication,
    talks_json,
)
from feeds.formats.delivery import Resource
from feeds.formats.memo import KEPT, Kept
from feeds.publish.hub_made_from import HubContext
from feeds.publish.snapshot import (
    EMBED_BUDGET,
    EmbedBusy,
    EmbedPages,
    RenderBudget,
    RenderContext,
    Snapshot,
    render_snapshot,
    turning_points,
)

T = TypeVar("T")


class _OneBuild(Kept):
    """A memo for the series of one hub build: every series renders through
    the same generation of `kept` (render_snapshot starts one per call)."""

    def __init__(self, kept: Kept):
        super().__init__()
        self._kept = kept

    def __call__(self, function: Callable[..., T], /, *args: Any) -> T:
        return self._kept(function, *args)

    def next_generation(self) -> None:
        pass

    # Renderers pass their memo on as an argument, so it is part of the keys
    # of what they keep: every build's wrapper of `kept` must be the same key.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, _OneBuild) and other._kept is self._kept

    def __hash__(self) -> int:
        return hash((_OneBuild, id(self._kept)))


class SeriesState:
    """A series' render context as the key of its whole rendering: two
    contexts render the same bytes when their schedule, revisions, site and
    feed limit are equal and the same talk starts and ends have passed (a
    build's `now` decides nothing else, see feeds.publish.builder), and
    their feeds are dated up to the same moment (the ledger's latest date
    when the clock is behind it). An unchanged series of a hub is then not
    rendered again."""

    __slots__ = ("context", "_key", "_hash")

    def __init__(self, context: RenderContext):
        self.context = c = context
        passed = sum(1 for moment in turning_points(c.schedule) if moment <= c.now)
        behind = c.dated_until if c.dated_until <= latest_date(c.revisions) else None
        self._key = (c.schedule, frozenset(c.revisions.items()), c.site, c.feed_limit, passed,
                     behind)
        self._hash = hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SeriesState) and other._key == self._key

    def __hash__(self) -> int:
        return self._hash


def series_routes(state: SeriesState, memo: Kept) -> tuple[tuple[tuple[str, Resource], ...],
                                                           datetime | None]:
    """Every route of one series as served alone, and when it changes by itself."""
    snapshot = render_snapshot(state.context, memo)
    return tuple(snapshot.routes.items()), snapshot.valid_until


def parts_of(state: SeriesState, slug: str, memo: Kept) -> hub_parts.SeriesParts:
    """One series' share of the hub's documents (kept per series state)."""
    c = state.context
    return hub_parts.series_parts(views.SeriesView(slug, c.schedule, c.revisions, c.site,
                                                   c.dated_until), memo)


def _prefixed(slug: str, routes: Iterable[tuple[str, Resource]]) -> dict[str, Resource]:
    return {urls.series_route(slug, path): resource for path, resource in routes}


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """The cycle collector paused: a hub's build makes millions of objects
    that live as long as the build (routes, kept renderings), which each
    full collection would walk again; rendering leaves little cyclic garbage
    (measured: the same peak memory), and what it leaves is collected after."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def render_hub(context: HubContext, memo: Kept = KEPT) -> Snapshot:
    """Render every route of the hub from `context`."""
    with _no_collection():
        return _render_hub(context, memo)


def _render_hub(context: HubContext, memo: Kept) -> Snapshot:
    memo.next_generation()
    one = _OneBuild(memo)
    routes: dict[str, Resource] = {}
    valid: list[datetime] = []
    for slug, series_context in context.series.items():
        series, valid_until = one(series_routes, SeriesState(series_context), one)
        routes.update(_prefixed(slug, series))
        if valid_until is not None:
            valid.append(valid_until)
    routes.update(hub_routes(context, one))
    stand_in = context.render_context()
    not_found = Resource(hub_pages.not_found(context.info, context.site),
                         pages.NOT_FOUND_DELIVERY, context.changed)
    return Snapshot(stand_in, routes, min(valid, default=None), not_found=not_found,
                    embed=EmbedPages(stand_in, routes[urls.EMBED_PAGE], memo))


def hub_routes(context: HubContext, memo: Kept = KEPT) -> dict[str, Resource]:
    """The hub's own routes: /, its calendars, feeds, JSON, embed and tags."""
    info, site, now, changed = context.info, context.site, context.now, context.changed
    series = context.views
    merged = hub_parts.merge([memo(parts_of, SeriesState(c), slug, memo)
                              for slug, c in context.series.items()])
    found = merged.items
    limit = context.feed_limit

    def resource(body: bytes, delivery: Any) -> Resource:
        return Resource(body, delivery, changed)

    every_entry = merged.entries  # newest first; each tag's are a part

    def feeds(title: str, description: str, feed_id: str, rss: str, atom: str, home: str,
              chosen: hub_feeds.Entries) -> dict[str, Resource]:
        where = hub_feeds.FeedAddresses(title, description, feed_id, rss, atom, home)
        return {rss: resource(hub_feeds.combined_feed(info, site, chosen, where, limit, True),
                              syndication.RSS_DELIVERY),
                atom: resource(hub_feeds.combined_feed(info, site, chosen, where, limit, False),
                               syndication.ATOM_DELIVERY)}

    head = hub_calendars.calendar_head(info, site, info.title, urls.CALENDAR, urls.HOME)
    archive_title = info.title + ical.ARCHIVE_SUFFIX
    routes = {
        urls.HOME: resource(hub_pages.home(info, site, series, found, now, memo),
                            pages.PAGE_DELIVERY),
        urls.CALENDAR: resource(hub_calendars.subscription_calendar(head, found, now, memo),
                                ical.FEED_DELIVERY),
        urls.ARCHIVE: resource(hub_calendars.combined_calendar(
            hub_calendars.calendar_head(info, site, archive_title, urls.ARCHIVE, urls.HOME),
            found, memo, merged.events), ical.FEED_DELIVERY),
        **feeds(info.title, info.description, site.tag("feed"), urls.RSS, urls.ATOM, urls.HOME,
                every_entry),
        urls.JSON: resource(hub_json.hub_json(info, site, series, found, memo, merged.records),
                            talks_json.JSON_DELIVERY),
        urls.EMBED_JSON: resource(hub_json.hub_embed_json(info, site, found, memo,
                                                          merged.embed_records, now),
                                  talks_json.JSON_DELIVERY),
        urls.EMBED_ALL_JSON: resource(hub_json.hub_embed_json(info, site, found, memo,
                                                              merged.embed_records),
                                      talks_json.JSON_DELIVERY),
        urls.EMBED_PAGE: resource(hub_pages.embed(info, site, found, now,
                                                  hub_pages.HubEmbedOptions(), memo),
                                  pages.EMBED_DELIVERY),
    }
    for tag in views.all_tags(series):
        tagged = [item for item in found if tag in item.tags]  # views.items(series, tag)
        title = f"{info.title}: {tag}"
        tag_head = hub_calendars.calendar_head(info, site, title, urls.tag_calendar(tag),
                                               urls.tag_route(tag))
        routes[urls.tag_route(tag)] = resource(
            hub_pages.tag_page(info, site, tag, series, tagged, now, memo), pages.PAGE_DELIVERY)
        routes[urls.tag_calendar(tag)] = resource(
            hub_calendars.subscription_calendar(tag_head, tagged, now, memo), ical.FEED_DELIVERY)
        routes.update(feeds(title, f"Talks on {tag} across {info.title}.",
                            site.tag("tag", tag, "feed"), urls.tag_rss(tag), urls.tag_atom(tag),
                            urls.tag_route(tag), [(e, i) for e, i in every_entry if tag in i.tags]))
    for name, body in pages.static_files().items():
        routes[urls.asset(name)] = resource(body, pages.asset_delivery(name))
        routes[urls.asset(pages.fingerprinted(name))] = Resource(
            body, pages.asset_delivery(name, immutable=True), changed)
    routes[urls.EMBED_JS] = routes[urls.asset(pages.SCRIPT)]
    return routes


def series_of(route: str, slugs: Iterable[str]) -> tuple[str, str] | None:
    """(slug, the route within the series) for a route under /<slug>/."""
    parts = route.split("/", 2)
    if len(parts) == 3 and parts[1] in set(slugs):
        return parts[1], "/" + parts[2]
    return None


class HubEmbeds:
    """/embed of the hub and of each series for the options of a query,
    rendered on first request and kept (as for one series: EmbedPages)."""

    LIMIT = 64

    def __init__(self, context: HubContext, default: Resource,
                 series_defaults: Callable[[str], Resource],
                 budget: RenderBudget | None = None):
        self.context = context
        self._default = default
        self._series_defaults = series_defaults
        self._series: dict[str, EmbedPages] = {}
        self._hub: dict[hub_pages.HubEmbedOptions, Resource] = {
            hub_pages.HubEmbedOptions(): default}
        self._budget = budget

    def hub(self, pairs: Iterable[tuple[str, str]]) -> Resource:
        """The hub's /embed/ for a query; ValueError for a bad one, EmbedBusy when busy."""
        c = self.context
        options = hub_pages.HubEmbedOptions.from_query(pairs, c.series, views.all_tags(c.views))
        page = self._hub.get(options)
        if page is not None:
            return page
        budget = self._budget or EMBED_BUDGET
        wait = budget.wait()
        if wait:
            raise EmbedBusy(wait)
        started = time.perf_counter()
        try:
            page = Resource(hub_pages.embed(c.info, c.site, views.items(c.views), c.now, options),
                            pages.EMBED_DELIVERY, c.changed)
        finally:
            budget.spend(time.perf_counter() - started)
        if len(self._hub) < self.LIMIT:
            self._hub[options] = page
        return page

    def series(self, slug: str, options: pages.EmbedOptions) -> Resource:
        """A series' /<slug>/embed/ for `options`, as served alone."""
        pages_of = self._series.get(slug)
        if pages_of is None:
            pages_of = self._series[slug] = EmbedPages(self.context.series[slug],
                                                        self._series_defaults(slug),
                                                        budget=self._budget)
        return pages_of(options)
