"""The URL scheme: every public path and absolute URL, and every id derived
from a talk id. Absolute URLs come from the configured site URL only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from feeds.model import hashed_once

CALENDAR = "/calendar.ics"  # the subscription: upcoming and recent talks
ARCHIVE = "/archive.ics"  # every talk ever
RSS = "/rss.xml"
ATOM = "/atom.xml"
JSON = "/talks.json"
SCHEMA = "/talks.schema.json"  # the data file's JSON Schema
#: The frame's published address (in other sites' snippets); it redirects to EMBED_PAGE.
EMBED = "/embed"
#: Where the frame page is: a folder, so that static hosts serve embed/index.html.
EMBED_PAGE = "/embed/"
EMBED_JS = "/embed.js"
#: What embed.js reads by default: the fields the embedded list shows, for the
#: upcoming talks and the most recent past ones (a size that does not grow with the archive).
EMBED_JSON = "/embed.json"
#: The same fields for every talk: embed.js loads it only when a list asks for
#: more than embed.json holds (show=past|all, or a long season ahead).
EMBED_ALL_JSON = "/embed-all.json"
#: The stylesheet /rss.xml and /atom.xml name, so that a browser shows a page for people.
FEED_STYLE = "feed.css"
#: The webmasters' page: how to show the schedule on another site.
WEBSITE = "/on-your-website/"
HOME = "/"
HEALTH = "/healthz"
#: The subscribers' guide, linked from the series page's "Trouble subscribing?":
#: docs/subscribers/index.md in feeds' repository (pyproject.toml's Repository
#: address), as GitHub shows it. Once the documentation site has an address
#: of its own, point this one line there.
SUBSCRIBER_HELP = ("https://github.com/efficient-ml-reading-group/feeds/blob/main/"
                   "docs/subscribers/index.md")
# The year in tag: URIs (RFC 4151). Fixed forever, so ids never change.
TAG_DATE = "2026"


def talk_page(talk_id: str) -> str:
    """A talk page's published address, in calendars, feeds and JSON since the
    start: it redirects to talk_route (static hosts: to the folder)."""
    return f"/talks/{talk_id}"


def talk_route(talk_id: str) -> str:
    """Where a talk page is: a folder, so that any static host serves
    talks/<id>/index.html there without rewrites."""
    return f"/talks/{talk_id}/"


def folder_route(path: str) -> str | None:
    """The folder route that an older address of a page stands for:
    '/talks/x' and '/talks/x.html' -> '/talks/x/'; None for anything else."""
    if path.endswith(".html"):
        path = path[: -len(".html")]
    if path.endswith("/index"):
        return path[: -len("index")]
    if not path or path.endswith("/") or path.rsplit("/", 1)[-1].count("."):
        return None
    return path + "/"


def relative_redirect(route: str, target: str) -> str:
    """`target` as a Location relative to `route`, the address asked for
    (`/talks/x` -> `./x/`, `/talks/x/index.html` -> `./`). It starts with
    './', so it never reads as a scheme or as another host."""
    folder = route[: route.rindex("/") + 1]
    if not target.startswith(folder):
        raise ValueError(f"{target} is not inside {folder}")
    return "./" + target[len(folder):]


def relative(page: str, path: str) -> str:
    """`path` (a route, maybe with '?query' or '#fragment') as a link from
    the page at route `page`, so that it resolves wherever the site is
    served: any port, any path prefix, a static preview."""
    return "../" * (page.count("/") - 1) + path.lstrip("/") or "./"


def archive_year(year: int) -> str:
    """The page of every past talk of one year (the series page shows only the
    recent ones): a folder, like the talk pages."""
    return f"/archive/{year}/"


def talk_ics(talk_id: str) -> str:
    return f"/talks/{talk_id}.ics"


def asset(name: str) -> str:
    return f"/static/{name}"


def members_calendar(token: str) -> str:
    return f"/members/{token}/calendar.ics"


@hashed_once
@dataclass(frozen=True)
class Site:
    """Turns paths into absolute URLs for one public base URL."""

    base: str  # e.g. "https://example.org/reading-group", no trailing slash
    #: The series' id authority (a domain or an e-mail address), if it has one.
    id_authority: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", self.base.rstrip("/"))

    def for_series(self, id_authority: str) -> Site:
        """This site, minting ids under the series' fixed authority when it has one."""
        return Site(self.base, id_authority) if id_authority else self

    @property
    def host(self) -> str:
        return urlsplit(self.base).hostname or "localhost"

    @property
    def authority(self) -> str:
        """The tagging authority (RFC 4151: a domain or an e-mail address) of
        the tag: ids that UIDs and feed ids come from: the series' pinned one,
        which never depends on where the site is served (loader.py always sets
        it). The host is only a last resort for a Series made by hand."""
        return self.id_authority or self.host

    def url(self, path: str) -> str:
        return self.base + path

    def webcal(self, path: str) -> str:
        scheme, rest = self.url(path).split("://", 1)
        return "webcal://" + rest

    def uid(self, talk_id: str) -> str:
        """The iCalendar UID of a talk: a UUID (RFC 7986 section 5.3 recommends one that
        reveals nothing), version 5 of the talk's tag: id in the URL namespace,
        so the same for a talk in every calendar, wherever the site is served."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, self.tag("talk", talk_id)))

    def tag(self, *parts: str) -> str:
        """A stable tag: URI (RFC 4151), e.g. tag:example.org,2026:talk/x or
        tag:group@example.org,2026:talk/x."""
        return f"tag:{self.authority},{TAG_DATE}:" + "/".join(quote(p, safe="-._~") for p in parts)


def tag_route(tag: str) -> str:
    """A topic's page in a hub; its calendar and feeds beside it."""
    return f"/tags/{tag}/"


def tag_calendar(tag: str) -> str:
    return f"/tags/{tag}/calendar.ics"


def tag_rss(tag: str) -> str:
    return f"/tags/{tag}/rss.xml"


def tag_atom(tag: str) -> str:
    return f"/tags/{tag}/atom.xml"


def series_route(slug: str, path: str = HOME) -> str:
    """A series' route (`path`, as served alone) at its place in the hub."""
    return f"/{slug}{path}"
