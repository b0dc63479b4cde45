"""One series' share of the hub's documents (its talks' JSON records,
calendar events and feed entries), and every series' share merged into
the hub's order."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from feeds.formats import syndication
from feeds.formats.hub import Item, SeriesView
from feeds.formats.hub_calendars import hub_event
from feeds.formats.hub_feeds import Entries, entries
from feeds.formats.hub_json import embed_record, talk_record
from feeds.formats.memo import Memo, direct


@dataclass(frozen=True)
class SeriesParts:
    """One series' share of the hub's documents: its talks (by start, then
    id) and, in the same order, their JSON records and calendar events; its
    feed entries, newest first. Kept per series, so a hub build joins the
    unchanged series' shares instead of looking up every talk."""

    items: tuple[Item, ...]
    records: tuple[bytes, ...]
    embed_records: tuple[bytes, ...]
    events: tuple[bytes, ...]
    entries: tuple[tuple[syndication.Entry, Item], ...]


def series_parts(view: SeriesView, memo: Memo = direct) -> SeriesParts:
    found = tuple(Item(view, talk) for talk in view.schedule.talks)
    return SeriesParts(found, tuple(talk_record(i, memo) for i in found),
                       tuple(embed_record(i, memo) for i in found),
                       tuple(hub_event(i, memo) for i in found), tuple(entries(found, memo)))


@dataclass(frozen=True)
class Merged:
    """Every series' share, merged into the hub's order."""

    items: list[Item]
    records: list[bytes]
    embed_records: list[bytes]
    events: list[bytes]
    entries: Entries


def merge(parts: Sequence[SeriesParts]) -> Merged:
    """The series' shares in the hub's orders: talks by start, then series
    and id; entries newest first."""
    order = list(heapq.merge(*(
        [((item.talk.start, item.view.slug, item.talk.id), n, k)
         for k, item in enumerate(part.items)] for n, part in enumerate(parts))))
    every = list(heapq.merge(*(part.entries for part in parts),
                             key=lambda pair: (pair[0].published, pair[0].id), reverse=True))
    return Merged([parts[n].items[k] for _, n, k in order],
                  [parts[n].records[k] for _, n, k in order],
                  [parts[n].embed_records[k] for _, n, k in order],
                  [parts[n].events[k] for _, n, k in order], every)
