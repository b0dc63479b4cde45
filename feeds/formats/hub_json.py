"""The hub's /talks.json, /embed.json and /embed-all.json: each talk's
record as its series' has it, with its series' slug and its tags first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from feeds import urls
from feeds.data.hub import HubInfo
from feeds.formats import talks_json
from feeds.formats.hub import Item, SeriesView
from feeds.formats.memo import Memo, direct
from feeds.formats.talks_json import dumps


def series_list(views: Sequence[SeriesView]) -> list[dict[str, Any]]:
    return [{"slug": v.slug, "title": v.series.title, "url": v.site.url(urls.HOME),
             "tags": list(v.series.tags)} for v in views]


def _tagged(item: Item, record: bytes) -> bytes:
    """A talk's serialized record with its series' slug and its tags first."""
    assert record.startswith(b"{")
    return f'{{"series":{dumps(item.view.slug)},"tags":{dumps(list(item.tags))},'.encode() \
        + record[1:]


def talk_record(item: Item, memo: Memo = direct) -> bytes:
    """A talk's record in the hub's /talks.json: its series' record (the
    same kept bytes), with `series` and `tags` first."""
    return _tagged(item, memo(talks_json.talk_json, item.talk, item.view.site,
                              *talks_json.changes(item.talk, item.view.revisions)))


def embed_record(item: Item, memo: Memo = direct) -> bytes:
    """A talk's record in the hub's /embed.json."""
    title = f'{{"series_title":{dumps(item.view.series.title)},'.encode()
    return _tagged(item, title + memo(
        talks_json.embed_talk, item.talk, item.view.site,
        *talks_json.changes(item.talk, item.view.revisions))[1:])


def hub_json(info: HubInfo, site: urls.Site, views: Sequence[SeriesView], found: Sequence[Item],
             memo: Memo = direct, records: Sequence[bytes] | None = None) -> bytes:
    """/talks.json of the hub: the hub, its series and every talk (each
    record as in its series' /talks.json, with `series` and `tags`), earliest
    first; `records`: those of `found`, if made already."""
    hub = {"title": info.title, "description": info.description or None,
           "url": site.url(urls.HOME), "contact": info.contact or None,
           "calendar": site.url(urls.CALENDAR), "webcal": site.webcal(urls.CALENDAR),
           "rss": site.url(urls.RSS), "atom": site.url(urls.ATOM)}
    talks = b",".join(records if records is not None else (talk_record(i, memo) for i in found))
    head = f'{{"hub":{dumps(hub)},"series":{dumps(series_list(views))},"talks":['
    return b"".join((head.encode(), talks, b"]}\n"))


def hub_embed_json(info: HubInfo, site: urls.Site, found: Sequence[Item],
                   memo: Memo = direct, records: Sequence[bytes] | None = None,
                   now: datetime | None = None) -> bytes:
    """The hub's /embed-all.json (every talk) or, given `now`, /embed.json
    (the next talks and the latest past ones, as a series' holds, with what
    it leaves out): what embed.js shows, each talk with its series' slug
    and title and its tags (embed.js filters by them)."""
    head = dumps({"title": info.title, "url": site.url(urls.HOME), "attend": None,
                   "rhythm": None})
    made = list(records) if records is not None else [embed_record(i, memo) for i in found]
    tail = ""
    if now is not None:
        ended = [i.talk.end <= now and not i.talk.postponed for i in found]
        ahead = [n for n, over in enumerate(ended) if not over]
        behind = [n for n, over in enumerate(ended) if over]
        chosen = behind[-talks_json.EMBED_RECENT:] + ahead[:talks_json.EMBED_AHEAD]
        left_out = {"upcoming": len(ahead) - len(ahead[:talks_json.EMBED_AHEAD]),
                    "past": len(behind) - len(behind[-talks_json.EMBED_RECENT:])}
        made = [made[n] for n in sorted(chosen)]
        tail = f',"left_out":{dumps(left_out)},"all":{dumps(site.url(urls.EMBED_ALL_JSON))}'
    return b"".join((f'{{"series":{head},"talks":['.encode(), b",".join(made),
                     f"]{tail}}}\n".encode()))
