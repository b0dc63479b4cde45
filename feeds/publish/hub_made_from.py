"""What a hub build is made from, stored by value as for one series: the
hub's site.yaml and each series' MadeFrom (feeds.publish.made_from); and
the render context it gives (HubContext)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from feeds import urls
from feeds.data.hub import HubInfo, parse_site
from feeds.formats import hub as views
from feeds.model import Schedule, Series
from feeds.publish.made_from import MadeFrom
from feeds.publish.routes import UnreadableBuild
from feeds.publish.snapshot import BuildOptions, RenderContext
from feeds.timezones import EPOCH, to_utc

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
