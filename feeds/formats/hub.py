"""The hub's shared views across its series: each series as its own routes
render it (SeriesView), its talks (Item) and their tags and CATEGORIES.
The hub's documents are made from these: its calendars (hub_calendars),
feeds (hub_feeds), /talks.json and /embed.json (hub_json), each series'
share of them (hub_parts) and its pages (hub_pages).

Every talk keeps its series' identity: its event is the one its series'
calendar holds (the same UID, SEQUENCE and URL), with CATEGORIES holding
the series' title and its tags; its feed entries keep their ids. Per-talk
parts are called through `memo` (feeds.formats.memo), and are the same
calls the series' own routes make, so a hub build renders each talk once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from feeds import urls
from feeds.data.revisions import Revision
from feeds.model import Schedule, Series, Talk


@dataclass(frozen=True)
class SeriesView:
    """One series of the hub as its own routes render it: at its own site
    (the hub's address plus /<slug>, minting ids under its own authority)."""

    slug: str
    schedule: Schedule
    revisions: Mapping[str, Revision]
    site: urls.Site
    #: No feed date of the series is later than this.
    dated_until: datetime

    @property
    def series(self) -> Series:
        return self.schedule.series


@dataclass(frozen=True)
class Item:
    """One talk in the hub's views, with its series."""

    view: SeriesView
    talk: Talk

    @cached_property
    def tags(self) -> tuple[str, ...]:
        return talk_tags(self.view.series, self.talk)


def talk_tags(series: Series, talk: Talk) -> tuple[str, ...]:
    """A talk's tags: its series' first, then its own, each once."""
    return tuple(dict.fromkeys(series.tags + talk.tags))


def items(views: Iterable[SeriesView], tag: str | None = None) -> list[Item]:
    """Every talk of `views` (with `tag`, if given), by start, then series and id."""
    found = [item for view in views for item in (Item(view, talk) for talk in view.schedule.talks)
             if tag is None or tag in item.tags]
    found.sort(key=lambda i: (i.talk.start, i.view.slug, i.talk.id))
    return found


def all_tags(views: Iterable[SeriesView]) -> dict[str, int]:
    """Every tag of the hub with its number of talks, by name."""
    counts: Counter[str] = Counter()
    for view in views:
        for talk in view.schedule.talks:
            counts.update(talk_tags(view.series, talk))
        for tag in view.series.tags:  # a tagged series without talks yet
            counts.setdefault(tag, 0)
    return dict(sorted(counts.items()))


def categories(series: Series, talk: Talk) -> tuple[str, ...]:
    """CATEGORIES of a talk in the hub's calendars and feeds: its series'
    title, its tags, then its series' own categories, each once."""
    return tuple(dict.fromkeys((series.title, *talk_tags(series, talk), *series.categories)))
