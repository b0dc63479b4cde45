"""The HTML pages (the series page, one page per talk, the embeddable list
and the 404 page) and the static files they use.

Pure functions from the model to bytes: they need no Flask request, so the
server and the static export publish the same bytes. A talk page's player,
calendar links and JSON-LD come from `talk_links`. Per-talk parts are
called through `memo` (feeds.formats.memo). Jinja autoescapes every value; the only
markup made here is built from escaped pieces."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from importlib import resources
from itertools import groupby
from pathlib import PurePosixPath
from typing import Any, Literal, TypeVar

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from feeds import timezones, urls
from feeds.data.revisions import Revision
from feeds.formats import calendar_links, rhythm, text
from feeds.formats.delivery import NO_REFERRER, Delivery
from feeds.formats.memo import Memo, direct
from feeds.formats.talk_links import add_to_calendar, event_ld, player_url
from feeds.model import Schedule, Series, Talk

HTML = "text/html; charset=utf-8"
PAGE_DELIVERY = Delivery(HTML, page=True)
EMBED_DELIVERY = Delivery(HTML, page=True, framable=True)  # the one page other sites may frame
#: The page sent with every 404: its address may hold a members' token, so
#: its stylesheet and script are fetched without a Referer.
NOT_FOUND_DELIVERY = Delivery(HTML, page=True, referrer_policy=NO_REFERRER)
ASSET_DELIVERIES = {".css": Delivery("text/css; charset=utf-8"),
                    ".js": Delivery("text/javascript; charset=utf-8")}
SCRIPT = "embed.js"  # local times and copy buttons here; the schedule on other sites
PAGE_SCRIPT = "page.js"  # the site's own pages: talks move on with the visitor's clock
STYLE = "style.css"
EMBED_STYLE = "embed.css"
SHOW = ("upcoming", "past", "all")
#: "auto" follows the visitor's prefers-color-scheme, as the host site usually does.
THEMES = ("auto", "light", "dark")
MAX_LIMIT = 1000
SNIPPET_LIMIT = 3  # talks in the embed snippets offered on the series page
LATEST_RECORDINGS = 3  # offered on / between seasons


# --- embed options -------------------------------------------------------------

@dataclass(frozen=True)
class EmbedOptions:
    """What /embed shows: which talks, how many, in which colours."""

    show: str = "upcoming"
    limit: int | None = None
    theme: str = "auto"

    @classmethod
    def from_query(cls, pairs: Iterable[tuple[str, str]]) -> EmbedOptions:
        """Options from query parameters; ValueError says what is wrong."""
        given: dict[str, str] = {}
        for key, value in pairs:
            if key not in ("show", "limit", "theme"):
                raise ValueError("unknown parameter; /embed takes show, limit and theme")
            if key in given:
                raise ValueError(f"give {key} only once")
            given[key] = value
        show = given.get("show", cls.show)
        if show not in SHOW:
            raise ValueError("show must be upcoming, past or all")
        theme = given.get("theme", cls.theme)
        if theme not in THEMES:
            raise ValueError("theme must be auto, light or dark")
        raw = given.get("limit")
        if raw is not None and not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT):
            raise ValueError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
        return cls(show=show, limit=int(raw) if raw is not None else None, theme=theme)


def embed_groups(schedule: Schedule, now: datetime,
                 options: EmbedOptions) -> list[tuple[str, list[Talk]]]:
    """(heading, talks) to show: upcoming soonest first, then past newest
    first; `limit` caps the total."""
    groups = []
    if options.show in ("upcoming", "all"):
        groups.append(("Upcoming talks", schedule.upcoming(now)))
    if options.show in ("past", "all"):
        groups.append(("Past talks", schedule.past(now)))
    return limited(groups, options.limit)


Shown = TypeVar("Shown")


def limited(groups: list[tuple[str, list[Shown]]],
            limit: int | None) -> list[tuple[str, list[Shown]]]:
    """`groups` cut to `limit` entries in all, in order; empty groups left out."""
    left = limit
    result = []
    for heading, entries in groups:
        if left is not None:
            entries, left = entries[:left], left - len(entries[:left])
        if entries:
            result.append((heading, entries))
    return result


def other_zones(talk: Talk) -> list[tuple[str, str, str]]:
    """(zone, its abbreviation then, 'New York 11:00 EDT') for each display
    zone ('15:00 UTC' where the name is the abbreviation), the weekday added
    where the day differs. The script spells the visitor's zone as listed
    here, so that a page says "JST" everywhere, never also "GMT+9"."""
    return [(key, timezones.abbreviation(local), shown) for (_, local), shown, (_, key)
            in zip(timezones.in_display_zones(talk.start), timezones.display_clocks(talk.start),
                   timezones.DISPLAY_ZONES, strict=True)]


def when_parts(start: datetime, end: datetime) -> Markup:
    """when_range as two unbreakable parts, 'Mon 13 April 2026,' and
    '17:00–18:00 CEST': a narrow screen wraps between them, never inside."""
    return Markup('<span class="nowrap">{},</span> <span class="nowrap">{}</span>').format(
        timezones.day_label(start), timezones.clock_range(start, end))


# --- static files -------------------------------------------------------------

@cache
def static_files() -> dict[str, bytes]:
    """The files of feeds/static by name, read once: they are part of the code."""
    folder = resources.files("feeds") / "static"
    return {f.name: f.read_bytes() for f in folder.iterdir()
            if f.is_file() and PurePosixPath(f.name).suffix in ASSET_DELIVERIES}


@cache
def fingerprinted(name: str) -> str:
    """'style.3f2a9c01b2d4.css': a static file's name with its content's
    digest, so that the file can be cached for a year and never go stale."""
    digest = hashlib.sha256(static_files()[name]).hexdigest()[:12]
    path = PurePosixPath(name)
    return f"{path.stem}.{digest}{path.suffix}"


def asset_delivery(name: str, immutable: bool = False) -> Delivery:
    return replace(ASSET_DELIVERIES[PurePosixPath(name).suffix], immutable=immutable)


def inline_asset(name: str) -> Markup:
    """A static file's text for a <style> or <script> element (the embed
    frame inlines its two files, so a host page that also uses embed.js
    loads each only once)."""
    source = static_files()[name].decode("utf-8")
    if "</" in source:
        raise ValueError(f"{name} contains '</' and cannot be inlined")
    return Markup(source)


#: The frame's height: it fits SNIPPET_LIMIT talks of the seed on a 390 px
#: phone (tests/integration/test_browser.py measures it); the frame's background is clear.
FRAME_HEIGHT = 720
#: The space the script snippet reserves before its list arrives, so the host
#: page does not move (tests/integration/test_browser.py measures the layout shift).
SCRIPT_RESERVE = "36rem"
SNIPPETS = {
    # data-feeds-frame: embed.js, the snippet's second part, fits the frame to its content
    # (without it, the frame keeps its height).
    "iframe": '<iframe src="{{ src }}?limit={{ limit }}" title="{{ title }}: upcoming talks" '
              'width="100%" height="{{ height }}" style="border:0;max-width:40rem" '
              'loading="lazy" data-feeds-frame></iframe><script async src="{{ script }}"></script>',
    "script": '<div data-feeds-embed data-limit="{{ limit }}" style="min-height:{{ reserve }}">'
              '</div><script async src="{{ script }}"></script>',
}


def snippets(series: Series, site: urls.Site) -> dict[str, Any]:
    """The one-line embeds offered to webmasters, as plain text (rendered by
    Jinja, which escapes the attribute values)."""
    values = {"src": site.url(urls.EMBED_PAGE), "script": site.url(urls.EMBED_JS),
              "title": series.title, "limit": SNIPPET_LIMIT, "height": FRAME_HEIGHT,
              "reserve": SCRIPT_RESERVE}
    result: dict[str, Any] = {name: ENV.from_string(source).render(values)
                              for name, source in SNIPPETS.items()}
    result.update(limit=SNIPPET_LIMIT, height=FRAME_HEIGHT)
    return result


# --- talk states ------------------------------------------------------------------

State = Literal["upcoming", "live", "past"]


def talk_state(talk: Talk, now: datetime) -> State:
    """Whether `talk` is still to come, running at `now`, or over; a
    postponed talk is still to come."""
    if talk.postponed:
        return "upcoming"
    if talk.end <= now:
        return "past"
    return "live" if talk.start <= now and not talk.cancelled else "upcoming"


def changes_at(talk: Talk, state: State) -> datetime | None:
    """When `talk`, shown in `state`, next changes state: its start (to
    live), its end (to past), or None (past, or postponed to no date)."""
    if state == "past" or talk.postponed:
        return None
    return talk.start if state == "upcoming" and not talk.cancelled else talk.end


def stale_after(shown: Iterable[tuple[Talk, State]]) -> str:
    """The first instant at which a page showing these talks in these
    states is out of date ("" for never), for static/page.js."""
    moments = [m for t, s in shown if (m := changes_at(t, s)) is not None]
    return timezones.isoformat_utc(min(moments)) if moments else ""


def past_by_year(talks: list[Talk]) -> list[tuple[int, list[Talk]]]:
    """Past talks (newest first) grouped by the year they took place in."""
    return [(year, list(group)) for year, group in groupby(talks, key=lambda t: t.start.year)]


def next_talk(schedule: Schedule, now: datetime) -> Talk | None:
    """The talk running now, or else the next one that is neither cancelled
    nor postponed."""
    return next((t for t in schedule.upcoming(now) if not t.cancelled and not t.postponed), None)


def moved_from(talk: Talk, revision: Revision | None) -> datetime | None:
    return revision.moved_from(talk) if revision is not None else None


def notices(schedule: Schedule, revisions: Mapping[str, Revision] | None) -> dict[str, str]:
    """Each changed talk's notice (text.change_notice) by id."""
    found = {t.id: text.change_notice(t, moved_from(t, (revisions or {}).get(t.id)))
             for t in schedule.talks}
    return {talk_id: notice for talk_id, notice in found.items() if notice}


def previous_starts(talk: Talk, revision: Revision | None) -> tuple[datetime, ...]:
    """The earlier starts a page and its JSON-LD tell: those of a talk whose
    latest news is a move."""
    return revision.previous_starts \
        if revision is not None and revision.moved_from(talk) is not None else ()


# --- rendering --------------------------------------------------------------------

def _environment() -> Environment:
    env = Environment(loader=PackageLoader("feeds", "templates"), autoescape=select_autoescape(),
                      undefined=StrictUndefined, auto_reload=False, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=timezones.when, utc=timezones.isoformat_utc, zones=other_zones,
                       paragraphs=text.paragraphs, linkify=text.linkify, day=timezones.day_label,
                       clock=timezones.format_clock)
    env.globals.update(urls=urls, when_range=timezones.when_range, when_parts=when_parts,
                       player_url=player_url, subscribe_buttons=calendar_links.subscribe_buttons)
    return env


ENV = _environment()


def _macros(site: urls.Site) -> dict[str, Any]:
    """The macros of templates/_talk.html, bound to `site`."""
    return vars(ENV.get_template("_talk.html").make_module({"site": site}))


def talk_article(talk: Talk, series: Series, site: urls.Site, here: str, state: State,
                 level: int = 3, own_page: bool = False, memo: Memo = direct,
                 notice: str = "") -> Markup:
    """One talk's <article> (templates/_talk.html), linked from the page at
    `here`; a changed talk's `notice` (text.change_notice) leads it."""
    macro = memo(_macros, site)["talk_article"]
    return Markup(macro(talk, series, here, state, level=level, own_page=own_page, notice=notice))


def past_item(talk: Talk, site: urls.Site, here: str, memo: Memo = direct) -> Markup:
    """One past talk, compact, as on the series page."""
    return Markup(memo(_macros, site)["past_item"](talk, here))


def _render(template: str, series: Series, site: urls.Site, memo: Memo, here: str,
            absolute: bool = False, notices: Mapping[str, str] | None = None,
            **context: Any) -> bytes:
    """A template with what every page uses: series, site, feeds, here (the
    page's own route), link() and asset() (relative URLs from here), article()
    and past_item(); `absolute` links for a page sent at any address."""
    page = ENV.get_template(template).render(
        series=series, site=site, feeds=memo(calendar_links.series_addresses, series, site), here=here,
        link=site.url if absolute else lambda path: urls.relative(here, path),
        asset=lambda name: urls.relative(here, urls.asset(fingerprinted(name))),
        inline_asset=inline_asset,
        article=lambda talk, state, level=3, own_page=False: memo(
            talk_article, talk, series, site, here, state, level, own_page, memo,
            (notices or {}).get(talk.id, "")),
        notice=lambda talk: (notices or {}).get(talk.id, ""),
        past_item=lambda talk: memo(past_item, talk, site, here, memo),
        **context)
    return page.encode("utf-8")


def home(schedule: Schedule, site: urls.Site, now: datetime, memo: Memo = direct,
         revisions: Mapping[str, Revision] | None = None) -> bytes:
    """/: what's next, one tap to subscribe, the upcoming talks in full, the
    subscribe panel, then past talks compact by year; moved, postponed and
    cancelled talks with their notices (from `revisions`)."""
    series = schedule.series
    meta = {"title": series.title, "url": site.url(urls.HOME),
            "description": text.shorten(series.description, 200) or series.title}
    upcoming = schedule.upcoming(now)
    nxt = next_talk(schedule, now)
    past = schedule.past(now)
    held = [t for t in past if not t.cancelled]
    shown = [(t, talk_state(t, now)) for t in upcoming]
    return _render("home.html", series, site, memo, urls.HOME, meta=meta,
                   notices=notices(schedule, revisions), stale_after=stale_after(shown),
                   upcoming=shown,
                   next=nxt, next_state=talk_state(nxt, now) if nxt else "upcoming",
                   past=past_by_year(past[:RECENT_PAST]), past_count=len(past),
                   years=archive_years(schedule, now),
                   rhythm=rhythm.rhythm(schedule), zone_label=rhythm.zone_label(series),
                   last=held[0] if held else None,
                   recordings=[t for t in held if t.recording][:LATEST_RECORDINGS])


def talk_page(talk: Talk, series: Series, site: urls.Site, state: State,
              previous: Talk | None = None, following: Talk | None = None,
              memo: Memo = direct, revision: Revision | None = None) -> bytes:
    """/talks/<id>/: one talk, what state it is in (a notice first if it
    moved, is postponed or cancelled, from its `revision`), "add to
    calendar" while it is to come, the previous and next talks, a subscribe
    prompt, JSON-LD and sharing tags."""
    here = urls.talk_route(talk.id)
    when = timezones.when_range(talk.start, talk.end)
    summary = " · ".join(filter(None, [talk.byline(), when]))
    description = text.shorten(f"{summary}. {talk.abstract}" if talk.abstract else summary, 300)
    notice = text.change_notice(talk, moved_from(talk, revision))
    if notice:
        description = text.shorten(f"{notice} {description}", 300)
    meta = {"title": f"{talk.title} – {series.title}", "url": site.url(here),
            "description": description, "share_title": talk.title, "type": "article"}
    add = add_to_calendar(talk, series, site) \
        if state != "past" and not talk.cancelled and not talk.postponed else []
    return _render("talk.html", series, site, memo, here, meta=meta, talk=talk, state=state,
                   stale_after=stale_after([(talk, state)]),
                   add_links=add, previous=previous, following=following,
                   notices={talk.id: notice} if notice else None,
                   ld=event_ld(talk, series, site, previous_starts(talk, revision)))


def website(series: Series, site: urls.Site, memo: Memo = direct) -> bytes:
    """/on-your-website/: the embed snippets for webmasters, ready to copy."""
    meta = {"title": f"Show the talks on your website – {series.title}",
            "url": site.url(urls.WEBSITE),
            "description": f"Two one-line snippets that show the upcoming talks of the "
                           f"{series.title} on any website."}
    return _render("website.html", series, site, memo, urls.WEBSITE, meta=meta,
                   snippets=snippets(series, site), options=EmbedOptions())


# --- the embeds' season break and spares (the embeds' part of this module) --------

#: Upcoming talks a limited /embed/ page holds beyond its limit, hidden: its
#: script shows them when talks shown at build time end before the next build.
EMBED_SPARES = 3
#: Past talks the season break lists when nothing is upcoming.
SEASON_LATEST = 3


@dataclass(frozen=True)
class SeasonBreak:
    """What an embed says when nothing is upcoming: the rhythm (if known),
    the last talk that took place, and the latest talks (each with its
    recording, where there is one)."""

    rhythm: str | None
    last: Talk | None
    latest: list[Talk]


def season_break(schedule: Schedule, now: datetime) -> SeasonBreak:
    """The season break at `now`: cancelled talks are not the last talk."""
    past = [t for t in schedule.past(now) if not t.cancelled]
    return SeasonBreak(rhythm.rhythm(schedule) or None, past[0] if past else None,
                       past[:SEASON_LATEST])


def embed_spares(schedule: Schedule, now: datetime, options: EmbedOptions) -> list[Talk]:
    """The upcoming talks just past the limit (at most EMBED_SPARES)."""
    if options.show == "past" or options.limit is None:
        return []
    upcoming = schedule.upcoming(now)
    return upcoming[options.limit:options.limit + EMBED_SPARES]


def embed(schedule: Schedule, site: urls.Site, now: datetime, options: EmbedOptions,
          memo: Memo = direct, revisions: Mapping[str, Revision] | None = None) -> bytes:
    """/embed/: the compact list for an iframe on another site, changed
    talks with their notices; the season break when nothing is upcoming
    (hidden otherwise, for the script to show once the last talk ends)."""
    groups = embed_groups(schedule, now, options)
    if options.show != "past" and not any(h == "Upcoming talks" for h, _ in groups):
        groups.insert(0, ("Upcoming talks", []))
    return _render("embed.html", schedule.series, site, memo, urls.EMBED_PAGE, options=options,
                   notices=notices(schedule, revisions), groups=groups,
                   spares=embed_spares(schedule, now, options), now=now,
                   season=season_break(schedule, now),
                   state=lambda talk: talk_state(talk, now))


# --- the archive: past talks by year (the series page keeps only the recent ones) --

#: Past talks the series page lists; the rest are on the year pages.
RECENT_PAST = 12


def archive_years(schedule: Schedule, now: datetime) -> list[int]:
    """The years with past talks, newest first: one archive page each."""
    return list(schedule.past_by_year(now))


def archive_page(schedule: Schedule, site: urls.Site, now: datetime, year: int,
                 memo: Memo = direct) -> bytes:
    """/archive/<year>/: every past talk of `year`, newest first, with links
    to the other years and to the series page (kept per year: an edit
    renders only its own year's page)."""
    talks = schedule.past_by_year(now).get(year, ())
    return memo(_year_page, schedule.series, site, year, talks,
                tuple(archive_years(schedule, now)), memo)


def _year_page(series: Series, site: urls.Site, year: int, talks: tuple[Talk, ...],
               years: tuple[int, ...], memo: Memo) -> bytes:
    here = urls.archive_year(year)
    meta = {"title": f"Talks of {year} – {series.title}", "url": site.url(here),
            "description": f"Every talk of the {series.title} in {year}."}
    months = [(month, list(group)) for month, group in groupby(talks, key=lambda t: f"{t.start:%B}")]
    return _render("archive.html", series, site, memo, here, meta=meta, year=year,
                   months=months, years=list(years))


def not_found(schedule: Schedule, site: urls.Site, memo: Memo = direct) -> bytes:
    """The friendly page sent with every 404. It is sent at any address, so
    its links are absolute and its styles inline."""
    series = schedule.series
    meta = {"title": f"Page not found – {series.title}", "url": "",
            "description": "This page does not exist."}
    return _render("404.html", series, site, memo, urls.HOME, absolute=True, meta=meta)


def redirect_page(target: str, canonical: str) -> bytes:
    """A page that sends the browser on to `target` (relative): an older
    address of a page, for static hosts, which cannot redirect by themselves."""
    return ENV.get_template("redirect.html").render(target=target, canonical=canonical) \
        .encode("utf-8")
