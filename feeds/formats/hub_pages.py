"""The hub's pages: / (what's next across the series), /tags/<tag>/,
/embed/ (of the chosen series or tag) and its 404 page."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup

from feeds import urls
from feeds.data.hub import HubInfo
from feeds.formats import calendar_links, pages, text
from feeds.formats import rhythm as rhythms
from feeds.formats.hub import Item, SeriesView, all_tags
from feeds.formats.memo import Memo, direct
from feeds.model import Talk

#: How many upcoming talks across the series the hub's page lists.
NEXT_TALKS = 12
#: How many past talks a tag's page lists.
TAG_PAST = 20


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
    shown = pages.limited(groups, options.limit)
    return _render("hub_embed.html", urls.EMBED_PAGE, now, memo, "embed_talk", info=info,
                   options=options, groups=shown)


def not_found(info: HubInfo, site: urls.Site) -> bytes:
    """The hub's 404 page: sent at any address, so its links are absolute."""
    meta = {"title": f"Page not found – {info.title}", "url": "",
            "description": "This page does not exist."}
    page = pages.ENV.get_template("hub_404.html").render(
        **{**_environment_context(urls.HOME), "link": site.url}, info=info, meta=meta)
    return page.encode("utf-8")
