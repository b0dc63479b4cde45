"""The hub's own views across its series: the combined and per-tag
calendars, RSS and Atom feeds, /talks.json, /embed.json and the pages (/,
/tags/<tag>/, /embed/).

Every talk keeps its series' identity: its event is the one its series'
calendar holds (the same UID, SEQUENCE and URL), with CATEGORIES holding
the series' title and its tags; its feed entries keep their ids. Per-talk
parts are called through `memo` (feeds.formats.memo), and are the same
calls the series' own routes make, so a hub build renders each talk once."""

from __future__ import annotations

import functools
import heapq
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedgen.feed import FeedGenerator
from icalendar import Calendar, Event, vDuration, vText
from markupsafe import Markup

from feeds import timezones, urls
from feeds.data.hub import HubInfo
from feeds.data.revisions import Revision
from feeds.formats import calendar_links, ical, pages, syndication, talks_json, text
from feeds.formats import rhythm as rhythms
from feeds.formats.memo import Memo, direct
from feeds.formats.talks_json import dumps
from feeds.model import Schedule, Series, Talk
from feeds.settings import CALENDAR_REFRESH
from feeds.timezones import EPOCH

#: How many upcoming talks across the series the hub's page lists.
NEXT_TALKS = 12
#: How many past talks a tag's page lists.
TAG_PAST = 20


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

    @property
    def tags(self) -> tuple[str, ...]:
        return talk_tags(self.view.series, self.talk)


def talk_tags(series: Series, talk: Talk) -> tuple[str, ...]:
    """A talk's tags: its series' first, then its own, each once."""
    return tuple(dict.fromkeys(series.tags + talk.tags))


def items(views: Iterable[SeriesView], tag: str | None = None) -> list[Item]:
    """Every talk of `views` (with `tag`, if given), by start, then series and id."""
    found = [Item(view, talk) for view in views for talk in view.schedule.talks
             if tag is None or tag in talk_tags(view.series, talk)]
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


# --- calendars ----------------------------------------------------------------

def categories(series: Series, talk: Talk) -> tuple[str, ...]:
    """CATEGORIES of a talk's event in the hub's calendars: its series'
    title, its tags, then its series' own categories, each once."""
    return tuple(dict.fromkeys((series.title, *talk_tags(series, talk), *series.categories)))


def categories_line(names: tuple[str, ...]) -> bytes:
    """The CATEGORIES content line (folded, with its CRLF) that icalendar
    writes for `names`."""
    event = Event()
    event.add("categories", list(names))
    body = ical.serialize(event)
    return body[len(b"BEGIN:VEVENT\r\n"):-len(b"END:VEVENT\r\n")]


def with_categories(event: bytes, line: bytes) -> bytes:
    """A serialized VEVENT of ical.talk_event with its CATEGORIES line (if
    any) replaced by `line`, where icalendar writes it: after its canonical
    first properties (the last of which in talk_event is SEQUENCE), first of
    the others, which follow sorted by name. The bytes talk_event gives with
    those categories (tests compare)."""
    start = event.find(b"\r\nCATEGORIES:")
    if start >= 0:  # up to the next line that is not a folded continuation
        end = event.index(b"\r\n", start + 2)
        while event[end + 2:end + 3] == b" ":
            end = event.index(b"\r\n", end + 2)
        event = event[:start + 2] + event[end + 2:]
    at = event.index(b"\r\n", event.index(b"\r\nSEQUENCE:") + 2) + 2
    return event[:at] + line + event[at:]


def hub_event(item: Item, memo: Memo) -> bytes:
    """The talk's event as its series' calendar has it (the same serialized
    event, kept once), CATEGORIES aside."""
    view, talk = item.view, item.talk
    event = memo(ical.event_bytes, talk, view.revisions[talk.id], view.series, view.site, "")
    return with_categories(event, memo(categories_line, categories(view.series, talk)))


def calendar_head(info: HubInfo, site: urls.Site, title: str, self_path: str,
                  home_path: str) -> bytes:
    """The combined calendar's own properties: the hub's (or the tag's) name."""
    cal = Calendar()
    cal.add("prodid", f"-//feeds//{site.authority}//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", title)
    cal.add("x-wr-calname", vText(title))
    if info.description:
        cal.add("x-wr-caldesc", vText(info.description))
    cal.add("refresh-interval", CALENDAR_REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(CALENDAR_REFRESH))
    cal.add("source", site.url(self_path), parameters={"VALUE": "URI"})
    cal.add("url", site.url(home_path), parameters={"VALUE": "URI"})
    return cal.to_ical()


def _timezones(chosen: Sequence[Item], memo: Memo) -> list[bytes]:
    years: dict[str, list[int]] = {}
    for item in chosen:
        years.setdefault(item.talk.zone.key, []).append(item.talk.day.year)
    return [memo(ical.vtimezone_bytes, key, min(y), max(y)) for key, y in sorted(years.items())]


def combined_calendar(head: bytes, chosen: Sequence[Item], memo: Memo = direct,
                      events: Sequence[bytes] | None = None) -> bytes:
    """A calendar of `chosen` talks under `head` (calendar_head); `events`:
    their hub_event bytes, in the same order, if made already (then `chosen`
    must be in order)."""
    if events is None:
        chosen = sorted(chosen, key=lambda i: (i.talk.start, i.view.slug, i.talk.id))
        events = [hub_event(i, memo) for i in chosen]
    end = b"END:VCALENDAR\r\n"
    assert head.endswith(end)
    return b"".join((head[: -len(end)], *_timezones(chosen, memo), *events, end))


def subscription_calendar(head: bytes, found: Sequence[Item], now: datetime,
                          memo: Memo = direct, budget: int = ical.SUBSCRIPTION_BYTES) -> bytes:
    """The combined subscription: upcoming talks soonest first, then the most
    recent past talks newest first, as many as fit in `budget` bytes (well
    under Google Calendar's 1 MB, however many series the hub holds); every
    talk is in /archive.ics and in its series' own calendars."""
    upcoming = [i for i in found if i.talk.end > now]
    past = [i for i in reversed(found) if i.talk.end <= now]
    room = budget - len(head) - sum(map(len, _timezones(found, memo)))
    chosen: list[Item] = []
    for item in (*upcoming, *past):
        room -= len(hub_event(item, memo))
        if room < 0:
            break
        chosen.append(item)
    body = combined_calendar(head, chosen, memo)
    while len(body) > budget and chosen:
        chosen.pop()
        body = combined_calendar(head, chosen, memo)
    return body


# --- feeds --------------------------------------------------------------------

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


# --- JSON -----------------------------------------------------------------------

def series_list(views: Sequence[SeriesView]) -> list[dict[str, Any]]:
    return [{"slug": v.slug, "title": v.series.title, "url": v.site.url(urls.HOME),
             "tags": list(v.series.tags)} for v in views]


def _tagged(item: Item, record: str) -> str:
    """A talk's serialized record with its series' slug and its tags first."""
    assert record.startswith("{")
    return f'{{"series":{dumps(item.view.slug)},"tags":{dumps(list(item.tags))},' + record[1:]


def talk_record(item: Item, memo: Memo = direct) -> str:
    """A talk's record in the hub's /talks.json: its series' record, with
    `series` and `tags` first."""
    return _tagged(item, memo(talks_json.talk_json, item.talk, item.view.site,
                              *talks_json.changes(item.talk, item.view.revisions)))


def embed_record(item: Item, memo: Memo = direct) -> str:
    """A talk's record in the hub's /embed.json."""
    return _tagged(item, '{"series_title":' + dumps(item.view.series.title) + "," + memo(
        talks_json.embed_talk, item.talk, item.view.site,
        *talks_json.changes(item.talk, item.view.revisions))[1:])


def hub_json(info: HubInfo, site: urls.Site, views: Sequence[SeriesView], found: Sequence[Item],
             memo: Memo = direct, records: Sequence[str] | None = None) -> bytes:
    """/talks.json of the hub: the hub, its series and every talk (each
    record as in its series' /talks.json, with `series` and `tags`), earliest
    first; `records`: those of `found`, if made already."""
    hub = {"title": info.title, "description": info.description or None,
           "url": site.url(urls.HOME), "contact": info.contact or None,
           "calendar": site.url(urls.CALENDAR), "webcal": site.webcal(urls.CALENDAR),
           "rss": site.url(urls.RSS), "atom": site.url(urls.ATOM)}
    talks = ",".join(records if records is not None else (talk_record(i, memo) for i in found))
    return (f'{{"hub":{dumps(hub)},"series":{dumps(series_list(views))},'
            f'"talks":[{talks}]}}\n').encode()


def hub_embed_json(info: HubInfo, site: urls.Site, found: Sequence[Item],
                   memo: Memo = direct, records: Sequence[str] | None = None,
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
    return f'{{"series":{head},"talks":[{",".join(made)}]{tail}}}\n'.encode()


# --- one series' share, merged ---------------------------------------------------

@dataclass(frozen=True)
class SeriesParts:
    """One series' share of the hub's documents: its talks (by start, then
    id) and, in the same order, their JSON records and calendar events; its
    feed entries, newest first. Kept per series, so a hub build joins the
    unchanged series' shares instead of looking up every talk."""

    items: tuple[Item, ...]
    records: tuple[str, ...]
    embed_records: tuple[str, ...]
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
    records: list[str]
    embed_records: list[str]
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


# --- pages ----------------------------------------------------------------------

@dataclass(frozen=True)
class HubEmbedOptions:
    """What the hub's /embed shows: the series' options, and which series or tag."""

    show: str = "upcoming"
    limit: int | None = None
    theme: str = "auto"
    series: tuple[str, ...] = ()
    tag: str = ""

    @classmethod
    def from_query(cls, pairs: Iterable[tuple[str, str]], slugs: Iterable[str],
                   tags: Iterable[str]) -> HubEmbedOptions:
        """Options from query parameters; ValueError says what is wrong."""
        pairs = list(pairs)
        plain = [(k, v) for k, v in pairs if k not in ("series", "tag")]
        base = pages.EmbedOptions.from_query(plain) if plain else pages.EmbedOptions()
        given: dict[str, str] = {}
        for key, value in pairs:
            if key in ("series", "tag"):
                if key in given:
                    raise ValueError(f"give {key} only once")
                given[key] = value
        known, known_tags = set(slugs), set(tags)
        chosen = tuple(dict.fromkeys(s for s in given.get("series", "").split(",") if s))
        if "series" in given and not chosen:
            raise ValueError("series must name one or more series, e.g. series=a,b")
        for slug in chosen:
            if slug not in known:
                raise ValueError("series names a series this hub does not have")
        tag = given.get("tag", "")
        if "tag" in given and tag not in known_tags:
            raise ValueError("tag names a tag no talk of this hub has")
        return cls(base.show, base.limit, base.theme, tuple(sorted(chosen)), tag)


def _environment_context(here: str) -> dict[str, Any]:
    return {"urls": urls, "here": here,
            "link": lambda path: urls.relative(here, path),
            "asset": lambda name: urls.relative(here, urls.asset(pages.fingerprinted(name))),
            "inline_asset": pages.inline_asset, "tag_route": urls.tag_route,
            "tag_calendar": urls.tag_calendar, "tag_rss": urls.tag_rss, "tag_atom": urls.tag_atom,
            "series_route": urls.series_route}


@functools.lru_cache(maxsize=256)
def _macros(here: str) -> dict[str, Any]:
    """The macros of templates/_hub_talk.html, for the page at `here`."""
    return vars(pages.ENV.get_template("_hub_talk.html").make_module(_environment_context(here)))


def talk_item(macro: str, here: str, slug: str, talk: Talk, series_title: str, attend: str,
              state: str) -> Markup:
    """One talk of a hub's list (`macro`: hub_talk or embed_talk) on the page at `here`."""
    return Markup(_macros(here)[macro](slug, talk, series_title, attend, state))


def _render(template: str, here: str, now: datetime, memo: Memo, macro: str = "hub_talk",
            **context: Any) -> bytes:
    """A hub template; item_html(item) is a talk of its lists, kept per talk."""
    def item_html(item: Item) -> Markup:
        series = item.view.series
        return memo(talk_item, macro, here, item.view.slug, item.talk, series.title,
                    series.attend, pages.talk_state(item.talk, now))

    return pages.ENV.get_template(template).render(
        **_environment_context(here), item_html=item_html, **context).encode("utf-8")


def _next(view: SeriesView, now: datetime) -> Talk | None:
    return pages.next_talk(view.schedule, now)


def _addresses(info: HubInfo, site: urls.Site, calendar: str) -> dict[str, str]:
    webcal = site.webcal(calendar)
    return {"calendar": site.url(calendar), "webcal": webcal,
            "google": calendar_links.google_subscribe(webcal),
            "outlook_live": calendar_links.outlook_subscribe(calendar_links.OUTLOOK_LIVE,
                                                             site.url(calendar), info.title)}


def home(info: HubInfo, site: urls.Site, views: Sequence[SeriesView], found: Sequence[Item],
         now: datetime, memo: Memo = direct) -> bytes:
    """/: what's next across the series, every series with its next talk
    and rhythm, the tags, and how to subscribe to it all."""
    upcoming = [i for i in found if i.talk.end > now and not i.talk.cancelled][:NEXT_TALKS]
    meta = {"title": info.title, "url": site.url(urls.HOME),
            "description": text.shorten(info.description, 200) or info.title}
    snippet = pages.ENV.from_string(pages.SNIPPETS["iframe"]).render(
        src=site.url(urls.EMBED_PAGE), script=site.url(urls.EMBED_JS), title=info.title,
        limit=pages.SNIPPET_LIMIT, height=pages.FRAME_HEIGHT)
    return _render("hub.html", urls.HOME, now, memo, info=info, meta=meta, upcoming=upcoming,
                   tags=all_tags(views), snippet=snippet,
                   series=[(v, _next(v, now), rhythms.rhythm(v.schedule)) for v in views],
                   feeds=_addresses(info, site, urls.CALENDAR))


def tag_page(info: HubInfo, site: urls.Site, tag: str, views: Sequence[SeriesView],
             found: Sequence[Item], now: datetime, memo: Memo = direct) -> bytes:
    """/tags/<tag>/: the talks on one topic across the series, and its calendar and feeds."""
    here = urls.tag_route(tag)
    upcoming = [i for i in found if i.talk.end > now]
    past = [i for i in reversed(found) if i.talk.end <= now][:TAG_PAST]
    meta = {"title": f"{tag} – {info.title}", "url": site.url(here),
            "description": f"Talks on {tag} across the series of {info.title}."}
    tagged = [v for v in views if tag in v.series.tags or
              any(tag in t.tags for t in v.schedule.talks)]
    return _render("tag.html", here, now, memo, info=info, meta=meta, tag=tag,
                   upcoming=upcoming, past=past, series=tagged,
                   feeds=_addresses(info, site, urls.tag_calendar(tag)))


def embed(info: HubInfo, site: urls.Site, found: Sequence[Item], now: datetime,
          options: HubEmbedOptions, memo: Memo = direct) -> bytes:
    """/embed/ of the hub: the compact list for a frame, of the chosen series or tag."""
    chosen = [i for i in found if (not options.series or i.view.slug in options.series)
              and (not options.tag or options.tag in i.tags)]
    upcoming = [i for i in chosen if i.talk.end > now or i.talk.postponed]
    past = [i for i in reversed(chosen) if i.talk.end <= now and not i.talk.postponed]
    groups: list[tuple[str, list[Item]]] = []
    if options.show in ("upcoming", "all"):
        groups.append(("Upcoming talks", upcoming))
    if options.show in ("past", "all"):
        groups.append(("Past talks", past))
    left = options.limit
    shown = []
    for heading, group in groups:
        if left is not None:
            group, left = group[:left], left - len(group[:left])
        if group:
            shown.append((heading, group))
    return _render("hub_embed.html", urls.EMBED_PAGE, now, memo, "embed_talk", info=info,
                   options=options, groups=shown)


def not_found(info: HubInfo, site: urls.Site) -> bytes:
    """The hub's 404 page: sent at any address, so its links are absolute."""
    meta = {"title": f"Page not found – {info.title}", "url": "",
            "description": "This page does not exist."}
    page = pages.ENV.get_template("hub_404.html").render(
        **{**_environment_context(urls.HOME), "link": site.url}, info=info, meta=meta)
    return page.encode("utf-8")
