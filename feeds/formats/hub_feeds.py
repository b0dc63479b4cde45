"""The hub's combined RSS and Atom feeds (its own and each tag's): every
talk's entries as its series' feeds have them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from feedgen.feed import FeedGenerator

from feeds import timezones, urls
from feeds.data.hub import HubInfo
from feeds.formats import syndication
from feeds.formats.hub import Item, categories
from feeds.formats.memo import Memo, direct
from feeds.timezones import EPOCH

Entries = list[tuple[syndication.Entry, Item]]


def entries(found: Sequence[Item], memo: Memo = direct) -> Entries:
    """Every entry of `found` talks, as their series' feeds have them,
    newest publication first."""
    result = []
    for item in found:
        view = item.view
        latest = timezones.to_utc(view.dated_until)
        for entry in memo(syndication.talk_entries, item.talk, view.revisions[item.talk.id],
                          view.series, view.site, memo):
            result.append((syndication.not_after(entry, latest), item))
    result.sort(key=lambda pair: (pair[0].published, pair[0].id), reverse=True)
    return result


@dataclass(frozen=True)
class FeedAddresses:
    """What a combined feed is called and where it and its page are."""

    title: str
    description: str
    #: Its own tag: id.
    id: str
    rss: str
    atom: str
    home: str


def combined_feed(info: HubInfo, site: urls.Site, made: Entries, where: FeedAddresses,
                  limit: int, rss: bool) -> bytes:
    """The most recent `limit` of `made` entries (`entries`, newest first)
    as RSS 2.0 or Atom 1.0; each entry keeps its series' id and names its
    series and tags as categories."""
    fg = FeedGenerator()
    if rss:
        fg.load_extension("dc", atom=False, rss=True)
    fg.id(where.id)
    fg.title(where.title)
    fg.description(where.description or where.title)
    fg.language("en")
    fg.author({"name": info.title, "email": info.contact} if info.contact else {"name": info.title})
    if info.contact:
        fg.managingEditor(f"{info.contact} ({info.title})")
    self_path, media_type = ((where.rss, syndication.RSS_TYPE) if rss
                             else (where.atom, syndication.ATOM_TYPE))
    fg.link(href=site.url(self_path), rel="self", type=media_type)
    fg.link(href=site.url(where.home), rel="alternate")
    fg.updated(max((e.updated for e, _ in made), default=EPOCH))
    for entry, item in made[:max(limit, 0)]:
        fe = syndication.add_entry(fg, entry, rss)
        fe.category([{"term": term} for term in categories(item.view.series, item.talk)])
    return syndication.with_stylesheet(fg.rss_str(pretty=True) if rss else fg.atom_str(pretty=True),
                                       self_path)
