"""A hub's build: every series rendered exactly as it would be served alone
(feeds.publish.snapshot, at the hub's address plus /<slug>), its routes
under /<slug>/, plus the hub's own views across the series
(feeds.formats.hub and its hub_* modules): /, the combined calendars and
feeds, /talks.json, /embed/ and one page, calendar and feeds per tag.

What a hub build is made from is stored by value, as for one series: the
hub's site.yaml and each series' MadeFrom (feeds.publish.made_from). A
series whose file is broken keeps the version of the build before, on its
own: the others are published as usual."""

from __future__ import annotations

import contextlib
import gc
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from feeds import files, urls
from feeds.data import hub as hub_data
from feeds.data.hub import HubInfo, parse_site
from feeds.data.recorded import Recorded, record
from feeds.data.revisions import latest_date, ledger_path
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
from feeds.model import Schedule, Series
from feeds.publish.made_from import MadeFrom
from feeds.publish.routes import UnreadableBuild
from feeds.publish.snapshot import (
    EMBED_BUDGET,
    BuildOptions,
    EmbedBusy,
    EmbedPages,
    RenderBudget,
    RenderContext,
    Snapshot,
    render_snapshot,
    turning_points,
)
from feeds.timezones import EPOCH, to_utc

T = TypeVar("T")
#: The marker of a hub's context.json.
KIND = "hub"


def series_options(options: BuildOptions, slug: str) -> BuildOptions:
    """The options of a series of the hub: served at the hub's address plus
    /<slug>, exactly as a site of its own there."""
    return BuildOptions(urls.Site(f"{options.site.base}/{slug}"), options.feed_limit)


def hub_site(options: BuildOptions, info: HubInfo) -> urls.Site:
    """The hub's own site, minting its feeds' ids under its id_authority."""
    return options.site.for_series(info.id_authority)


@dataclass(frozen=True)
class HubContext:
    """What every route of one hub build is rendered from."""

    info: HubInfo
    site: urls.Site
    now: datetime
    feed_limit: int
    #: Each series' own context, by slug, in slug order.
    series: Mapping[str, RenderContext]
    #: The data's last change (of any series), or a talk's end since.
    changed: datetime = field(init=False)

    def __post_init__(self) -> None:
        changed = max((c.changed for c in self.series.values()), default=EPOCH)
        object.__setattr__(self, "changed", changed)

    @property
    def views(self) -> list[views.SeriesView]:
        return [views.SeriesView(slug, c.schedule, c.revisions, c.site, c.dated_until)
                for slug, c in self.series.items()]

    @property
    def talks(self) -> int:
        return sum(len(c.schedule.talks) for c in self.series.values())

    def render_context(self) -> RenderContext:
        """A stand-in RenderContext of the hub for what treats every build
        alike (its site, its time, its number of talks): a schedule of the
        hub with every talk of every series."""
        series = Series(title=self.info.title, description=self.info.description,
                        contact=self.info.contact, timezone=ZoneInfo("UTC"), url=self.info.url,
                        id_authority=self.info.id_authority)
        talks = tuple(t for c in self.series.values() for t in c.schedule.talks)
        return RenderContext(Schedule(series, talks), {}, self.site, self.now, self.feed_limit,
                             self.changed, max((c.dated_until for c in self.series.values()),
                                               default=to_utc(self.now)))


@dataclass(frozen=True)
class HubMadeFrom:
    """What a hub build is made from, by value: site.yaml's text and each
    series' MadeFrom (at its own address)."""

    site_text: str
    site_file: str
    series: Mapping[str, MadeFrom]
    options: BuildOptions
    now: datetime

    def context(self, schedules: Mapping[str, Schedule] | None = None) -> HubContext:
        """The render context (`schedules`: the series' texts already parsed,
        by slug, if some are); InvalidData if a stored text does not parse."""
        info = parse_site(self.site_text, self.site_file)
        contexts = {slug: replace(made, options=series_options(self.options, slug),
                                  now=self.now).context((schedules or {}).get(slug))
                    for slug, made in sorted(self.series.items())}
        return HubContext(info, hub_site(self.options, info), self.now, self.options.feed_limit,
                          contexts)

    def to_json(self) -> bytes:
        series = {slug: json.loads(made.to_json()) for slug, made in sorted(self.series.items())}
        return json.dumps({"kind": KIND, "site_file": self.site_file, "site": self.site_text,
                           "base": self.options.site.base, "feed_limit": self.options.feed_limit,
                           "now": self.now.isoformat(), "series": series},
                          ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, blob: bytes, name: str) -> HubMadeFrom:
        try:
            fields = json.loads(blob)
            options = BuildOptions(urls.Site(str(fields["base"])), int(fields["feed_limit"]))
            series = {str(slug): MadeFrom.from_json(json.dumps(made).encode(), name)
                      for slug, made in dict(fields["series"]).items()}
            return cls(str(fields["site"]), str(fields["site_file"]), series, options,
                       datetime.fromisoformat(str(fields["now"])))
        except (ValueError, TypeError, KeyError) as exc:
            raise UnreadableBuild(f"{name}: {exc}") from exc


def is_hub_blob(blob: bytes) -> bool:
    """Whether a context.json (or its first bytes) is a hub's."""
    return blob.startswith(b'{"kind":"hub"')


def read_made_from(blob: bytes, name: str) -> MadeFrom | HubMadeFrom:
    """A build's context.json: a hub's or one series'."""
    if is_hub_blob(blob):
        return HubMadeFrom.from_json(blob, name)
    return MadeFrom.from_json(blob, name)


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
        tagged = views.items(series, tag)
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


# --- reading and recording a hub folder ------------------------------------------

def signature(folder: str | Path) -> list[int] | None:
    """What changes whenever a file of the hub is written, added or removed:
    site.yaml, the series folder, and each series file and its ledger."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found: list[int] = []
    for path in (hub_data.site_path(folder), folder / hub_data.SERIES_FOLDER):
        found += files.stat_signature(path) or (0, 0, 0)
    paths, _ = hub_data.series_paths(folder)
    for path in paths.values():
        found += files.stat_signature(path) or (0, 0, 0)
        found += files.stat_signature(ledger_path(path)) or (0, 0, 0)
    return found


def newest(folder: str | Path) -> files.Signature | None:
    """The signature of the hub's most recently written file (to wait until
    its writer seems done)."""
    folder = Path(folder)
    paths, _ = hub_data.series_paths(folder)
    signatures = [files.stat_signature(p) for p in (hub_data.site_path(folder), *paths.values())]
    present = [s for s in signatures if s is not None]
    return max(present, default=None)


@dataclass(frozen=True)
class HubLoad:
    """A hub folder recorded and joined with the last good build: what to
    publish, and what is wrong (each at its own file:line)."""

    made_from: HubMadeFrom | None
    #: Public problems, for the status and /healthz: the broken files.
    errors: tuple[str, ...] = ()
    #: The details, for the log.
    details: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    #: Whether something could not be recorded in a ledger (try again later).
    retry: bool = False
    #: The series parsed now (the others keep their last good version), by slug.
    schedules: Mapping[str, Schedule] = field(default_factory=dict)

    def context(self) -> HubContext:
        assert self.made_from is not None
        return self.made_from.context(self.schedules)


class RecordedSeries:
    """What this process last recorded of each series file, kept while the
    file and its ledger stay as they were (their stat signatures): a
    builder that lives on reads, validates and records only the series that
    changed. A fresh process records every series."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[tuple[Any, ...], Recorded]] = {}

    @staticmethod
    def _signature(path: Path) -> tuple[Any, ...]:
        return (files.stat_signature(path), files.stat_signature(ledger_path(path)))

    def record(self, path: Path, now: datetime, known: Mapping[str, Any] | None) -> Recorded:
        key = str(path.resolve())
        kept = self._kept.get(key)
        if kept is not None and kept[0] == self._signature(path) and None not in kept[0]:
            return kept[1]
        got = record(path, now, known=known)
        if got.recorded:
            self._kept[key] = (self._signature(path), got)
        else:
            self._kept.pop(key, None)
        return got


_RECORDED = RecordedSeries()


def load(folder: str | Path, options: BuildOptions, now: datetime,
         previous: HubMadeFrom | None) -> HubLoad:
    """Record every series of the hub in its own ledger; a series whose
    file is broken keeps its version from `previous` (the last good build),
    and so does a broken site.yaml."""
    folder = Path(folder)
    known = {slug: made.revisions for slug, made in previous.series.items()} if previous else {}
    recorded = hub_data.record_hub(folder, now, known, _RECORDED.record)
    errors = [p.public for p in recorded.problems]
    details = [str(p) for p in recorded.problems]
    warnings: list[str] = []
    retry = False
    series: dict[str, MadeFrom] = {}
    schedules: dict[str, Schedule] = {}
    for slug, got in recorded.series.items():
        warnings += [p.public for p in got.data_warnings] + list(got.warnings)
        errors += list(got.errors)
        retry = retry or bool(got.errors)
        made = _series_made_from(got, series_options(options, slug), now)
        if made is None:
            errors += [p.public for p in got.problems]
            details += [str(p) for p in got.problems]
            if previous is not None and slug in previous.series:
                made = replace(previous.series[slug], now=now)
        elif got.schedule is not None:
            schedules[slug] = got.schedule
        if made is not None:
            series[slug] = made
    site_text, site_file = recorded.site_text, str(hub_data.site_path(folder))
    if site_text is None or recorded.info is None:
        if previous is None:
            return HubLoad(None, tuple(errors), tuple(details), tuple(warnings), retry)
        site_text = previous.site_text
    if not series:
        errors.append(f"{folder / hub_data.SERIES_FOLDER}: no series can be published")
        return HubLoad(None, tuple(errors), tuple(details), tuple(warnings), retry)
    return HubLoad(HubMadeFrom(site_text, site_file, series, options, now), tuple(errors),
                   tuple(details), tuple(warnings), retry, schedules)


def from_recorded(recorded: hub_data.HubRecorded, options: BuildOptions,
                  now: datetime) -> HubMadeFrom:
    """What to build from a hub folder whose every file is valid and recorded
    (`recorded.ok`), e.g. for `feeds build`."""
    assert recorded.ok and recorded.site_text is not None
    series = {slug: _series_made_from(got, series_options(options, slug), now)
              for slug, got in recorded.series.items()}
    return HubMadeFrom(recorded.site_text, str(hub_data.site_path(recorded.folder)),
                       {slug: made for slug, made in series.items() if made is not None},
                       options, now)


def _series_made_from(got: Recorded, options: BuildOptions, now: datetime) -> MadeFrom | None:
    if got.schedule is None or got.text is None or got.revisions is None:
        return None
    return MadeFrom(got.text, str(got.data_file), got.revisions, options, now)


# --- serving ------------------------------------------------------------------------

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

