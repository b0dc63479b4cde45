"""The HTML pages (the series page, one page per talk, the embeddable list
and the 404 page) and the static files they use.

Pure functions from the model to bytes: they need no Flask request, so the
server and the static export publish the same bytes. Per-talk parts are
called through `memo` (feeds.memo). Jinja autoescapes every value; the only
markup made here is built from escaped pieces."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from . import calendar_links, event_text, timezones, urls
from .delivery import NO_REFERRER, Delivery
from .memo import Memo, direct
from .model import Schedule, Series, Speaker, Talk

HTML = "text/html; charset=utf-8"
PAGE = Delivery(HTML, page=True)
EMBED = Delivery(HTML, page=True, framable=True)  # the one page other sites may frame
#: The page sent with every 404: its address may hold a members' token, so
#: its stylesheet and script are fetched without a Referer.
NOT_FOUND = Delivery(HTML, page=True, referrer_policy=NO_REFERRER)
ASSETS = {".css": Delivery("text/css; charset=utf-8"),
          ".js": Delivery("text/javascript; charset=utf-8")}
SCRIPT = "embed.js"  # local times and copy buttons here; the schedule on other sites
SHOW = ("upcoming", "past", "all")
THEMES = ("light", "dark")
MAX_LIMIT = 1000
SNIPPET_LIMIT = 3  # talks in the embed snippets offered on the series page
DETAILS_LIMIT = 600  # characters of abstract carried in an "add to calendar" link
_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)]}"


# --- embed options -------------------------------------------------------------

@dataclass(frozen=True)
class EmbedOptions:
    """What /embed shows: which talks, how many, in which colours."""

    show: str = "upcoming"
    limit: int | None = None
    theme: str = "light"

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
            raise ValueError("theme must be light or dark")
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
    left = options.limit
    result = []
    for heading, talks in groups:
        if left is not None:
            talks, left = talks[:left], left - len(talks[:left])
        if talks:
            result.append((heading, talks))
    return result


# --- text helpers and filters -------------------------------------------------

def linkify(text: str) -> Markup:
    """`text` escaped, with its http(s) addresses turned into links."""
    out, last = [], 0
    for match in _URL.finditer(text):
        url = match.group().rstrip(_TRAILING)
        out.append(escape(text[last:match.start()]))
        out.append(Markup('<a href="{0}">{0}</a>').format(url))
        last = match.start() + len(url)
    out.append(escape(text[last:]))
    return Markup("").join(out)


def paragraphs(text: str) -> Markup:
    """Blank-line separated text as <p> elements, addresses linked."""
    parts = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return Markup("\n").join(
        Markup("<p>{}</p>").format(Markup("<br>\n").join(linkify(line) for line in p.splitlines()))
        for p in parts)


def shorten(text: str, width: int) -> str:
    """`text` on one line, cut at a word boundary to at most `width` characters."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    return text[: width - 1].rsplit(" ", 1)[0].rstrip() + " …"


def other_zones(talk: Talk) -> list[str]:
    """'New York 11:00 EDT' for each display zone ('15:00 UTC' where the
    name is the abbreviation), the weekday added where the day differs."""
    shown = []
    for label, local in timezones.in_display_zones(talk.start):
        clock = timezones.format_clock_beside(local, talk.start)
        shown.append(clock if label == timezones.abbreviation(local) else f"{label} {clock}")
    return shown


# --- static files -------------------------------------------------------------

@cache
def static_files() -> dict[str, bytes]:
    """The files of feeds/static by name, read once: they are part of the code."""
    folder = resources.files("feeds") / "static"
    return {f.name: f.read_bytes() for f in folder.iterdir()
            if f.is_file() and PurePosixPath(f.name).suffix in ASSETS}


def asset_delivery(name: str) -> Delivery:
    return ASSETS[PurePosixPath(name).suffix]


def asset_url(site: urls.Site, name: str) -> str:
    """A static file's URL, versioned by its content so caches refresh."""
    digest = hashlib.sha256(static_files()[name]).hexdigest()[:12]
    return f"{site.url(urls.asset(name))}?v={digest}"


# --- links and structured data ---------------------------------------------------

def series_addresses(series: Series, site: urls.Site) -> dict[str, str]:
    """The series' own addresses and the one-click subscribe links."""
    calendar, webcal = site.url(urls.CALENDAR), site.webcal(urls.CALENDAR)
    return {
        "home": site.url(urls.HOME), "calendar": calendar, "webcal": webcal,
        "rss": site.url(urls.RSS), "atom": site.url(urls.ATOM), "json": site.url(urls.JSON),
        "google": calendar_links.google_subscribe(webcal),
        "outlook_live": calendar_links.outlook_subscribe(calendar_links.OUTLOOK_LIVE, calendar,
                                                         series.title),
        "outlook_office": calendar_links.outlook_subscribe(calendar_links.OUTLOOK_OFFICE,
                                                           calendar, series.title),
    }


def add_to_calendar(talk: Talk, site: urls.Site) -> list[tuple[str, str]]:
    """(label, URL) of each way to add one copy of `talk` to a calendar."""
    title = event_text.summary(talk)
    details = event_text.description(replace(talk, abstract=shorten(talk.abstract, DETAILS_LIMIT)),
                                     site)
    event = (title, talk.start, talk.end)
    return [
        ("Download .ics (Apple Calendar, Outlook desktop, others)", site.url(urls.talk_ics(talk.id))),
        ("Google Calendar", calendar_links.google_event(*event, details, talk.location,
                                                        talk.zone.key)),
        ("Outlook.com", calendar_links.outlook_event(calendar_links.OUTLOOK_LIVE, *event, details,
                                                     talk.location)),
        ("Microsoft 365 (work or school)",
         calendar_links.outlook_event(calendar_links.OUTLOOK_OFFICE, *event, details,
                                      talk.location)),
    ]


def _person(speaker: Speaker) -> dict[str, Any]:
    person: dict[str, Any] = {"@type": "Person", "name": speaker.name}
    if speaker.affiliation:
        person["affiliation"] = {"@type": "Organization", "name": speaker.affiliation}
    if speaker.url:
        person["url"] = speaker.url
    return person


def event_ld(talk: Talk, series: Series, site: urls.Site) -> dict[str, Any]:
    """The schema.org Event of a talk, for JSON-LD."""
    page = site.url(urls.talk_page(talk.id))
    organizer: dict[str, Any] = {"@type": "Organization", "name": series.title,
                                 "url": site.url(urls.HOME)}
    if series.contact:
        organizer["email"] = series.contact
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": talk.title,
        "startDate": timezones.isoformat_local(talk.start),
        "endDate": timezones.isoformat_local(talk.end),
        "eventAttendanceMode": "https://schema.org/OnlineEventAttendanceMode",
        "eventStatus": "https://schema.org/Event" + ("Cancelled" if talk.cancelled else "Scheduled"),
        "location": {"@type": "VirtualLocation", "name": talk.location, "url": page},
        "url": page,
        "performer": [_person(s) for s in talk.speakers],
        "organizer": organizer,
    }
    if talk.abstract:
        data["description"] = talk.abstract
    if talk.recording:
        data["recordedIn"] = {"@type": "CreativeWork", "url": talk.recording}
    return data


_SNIPPETS = {
    "iframe": '<iframe src="{{ src }}?limit={{ limit }}" title="{{ title }}: upcoming talks" '
              'width="100%" height="420" style="border:0" loading="lazy"></iframe>',
    "script": '<script src="{{ script }}" data-limit="{{ limit }}"></script>',
}


def snippets(series: Series, site: urls.Site) -> dict[str, Any]:
    """The one-line embeds offered on the series page, as plain text
    (rendered by Jinja, which escapes the attribute values)."""
    values = {"src": site.url(urls.EMBED), "script": site.url(urls.EMBED_JS),
              "title": series.title, "limit": SNIPPET_LIMIT}
    result: dict[str, Any] = {name: ENV.from_string(source).render(values)
                              for name, source in _SNIPPETS.items()}
    result["limit"] = SNIPPET_LIMIT
    return result


# --- rendering --------------------------------------------------------------------

def _environment() -> Environment:
    env = Environment(loader=PackageLoader("feeds", "templates"), autoescape=select_autoescape(),
                      undefined=StrictUndefined, auto_reload=False, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=timezones.when, utc=timezones.isoformat_utc, zones=other_zones,
                       paragraphs=paragraphs, linkify=linkify)
    env.globals.update(urls=urls)
    return env


ENV = _environment()


def _article_macro(site: urls.Site) -> Any:
    """The talk_article macro of templates/_talk.html, bound to `site`."""
    return vars(ENV.get_template("_talk.html").make_module({"site": site}))["talk_article"]


def talk_article(talk: Talk, site: urls.Site, level: int = 3, own_page: bool = False,
                 memo: Memo = direct) -> Markup:
    """One talk's <article> (templates/_talk.html)."""
    return Markup(memo(_article_macro, site)(talk, level=level, own_page=own_page))


def _render(template: str, series: Series, site: urls.Site, memo: Memo, **context: Any) -> bytes:
    """A template with what every page uses: series, site, feeds, asset()
    and article()."""
    page = ENV.get_template(template).render(
        series=series, site=site, feeds=memo(series_addresses, series, site),
        asset=lambda name: memo(asset_url, site, name),
        article=lambda talk, level=3, own_page=False: memo(
            talk_article, talk, site, level, own_page, memo),
        **context)
    return page.encode("utf-8")


def home(schedule: Schedule, site: urls.Site, now: datetime, memo: Memo = direct) -> bytes:
    """/: the series, upcoming then past talks, subscribing and embedding."""
    series = schedule.series
    meta = {"title": series.title, "url": site.url(urls.HOME),
            "description": shorten(series.description, 200) or series.title}
    return _render("home.html", series, site, memo, meta=meta, upcoming=schedule.upcoming(now),
                   past=schedule.past(now), snippets=snippets(series, site))


def talk_page(talk: Talk, series: Series, site: urls.Site, upcoming: bool,
              memo: Memo = direct) -> bytes:
    """/talks/<id>: one talk, with "add to calendar" links while it is
    upcoming, and JSON-LD."""
    summary = " · ".join(filter(None, [timezones.when(talk.start), talk.byline()]))
    meta = {"title": f"{talk.title} – {series.title}", "url": site.url(urls.talk_page(talk.id)),
            "description": shorten(f"{summary}. {talk.abstract}", 300)}
    add = add_to_calendar(talk, site) if upcoming and not talk.cancelled else []
    return _render("talk.html", series, site, memo, meta=meta, talk=talk, add_links=add,
                   ld=event_ld(talk, series, site))


def embed(schedule: Schedule, site: urls.Site, now: datetime, options: EmbedOptions,
          memo: Memo = direct) -> bytes:
    """/embed: the compact list for an iframe on another site."""
    return _render("embed.html", schedule.series, site, memo, options=options,
                   groups=embed_groups(schedule, now, options))


def not_found(schedule: Schedule, site: urls.Site, memo: Memo = direct) -> bytes:
    """The friendly page sent with every 404."""
    series = schedule.series
    meta = {"title": f"Page not found – {series.title}", "url": "",
            "description": "This page does not exist."}
    return _render("404.html", series, site, memo, meta=meta)
