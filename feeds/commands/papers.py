"""A paper's title, abstract, authors and canonical link, from arXiv, OpenReview
or Crossref, for `feeds add --paper`.

Each lookup is one HTTP GET with a timeout and a descriptive User-Agent, and
never a retry: arXiv asks for no more than one request every three seconds on
a single connection, which one command run cannot exceed. Any failure (no
network, an HTTP error, an unknown id, a response of the wrong shape) is a
`PaperError` with a message for the organiser, and nothing is guessed."""

from __future__ import annotations

import contextlib
import html
import http.client
import io
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import feedparser  # type: ignore[import-untyped]

from feeds.settings import Settings

TIMEOUT = 20.0  # seconds for a whole lookup, redirects included
#: The most bytes an answer may have: a record with a long abstract and
#: thousands of authors stays well below it.
MAX_ANSWER = 8 * 1024 * 1024
USER_AGENT = "feeds/0.1 (talk-series publisher{contact})"

ARXIV, OPENREVIEW, DOI = "arXiv", "OpenReview", "DOI"  # link labels, as in the seed

# New-style ids (0704.0001 on) and old-style ones (hep-th/9901001, math.GT/0309136).
_ARXIV_ID = r"(?:\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7})"
_ARXIV_BARE = re.compile(rf"(?:arxiv:)?({_ARXIV_ID})(?:v\d+)?", re.IGNORECASE)
_ARXIV_URL = re.compile(
    rf"https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/({_ARXIV_ID})(?:v\d+)?(?:\.pdf)?/?",
    re.IGNORECASE)
_DOI = re.compile(r"(?:doi:\s*|https?://(?:dx\.)?doi\.org/)?(10\.\d{4,9}/\S+)", re.IGNORECASE)
_OPENREVIEW_HOSTS = {"openreview.net", "www.openreview.net"}
_OPENREVIEW_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class PaperError(Exception):
    """A paper could not be identified or looked up; the message says why."""


@dataclass(frozen=True)
class PaperRef:
    """Which paper: the source (a link label) and its id there."""

    source: str  # ARXIV, OPENREVIEW or DOI
    key: str  # arXiv id without version, OpenReview forum id, or DOI

    @property
    def url(self) -> str:
        """The canonical public address: the abs page, the forum or doi.org."""
        if self.source == ARXIV:
            return f"https://arxiv.org/abs/{self.key}"
        if self.source == OPENREVIEW:
            return f"https://openreview.net/forum?id={self.key}"
        return f"https://doi.org/{urllib.parse.quote(self.key, safe='/:;()[]')}"


@dataclass(frozen=True)
class Paper:
    """What a talk needs from its paper."""

    title: str
    abstract: str  # plain text, paragraphs separated by a blank line; may be ""
    url: str
    label: str
    authors: tuple[str, ...]


def parse_reference(text: str) -> PaperRef:
    """The paper named by an arXiv id or URL, an OpenReview URL or a DOI."""
    raw = text.strip()
    for pattern in (_ARXIV_URL, _ARXIV_BARE):
        match = pattern.fullmatch(raw)
        if match:
            return PaperRef(ARXIV, match.group(1))
    match = _DOI.fullmatch(raw)
    if match:
        return PaperRef(DOI, urllib.parse.unquote(match.group(1)))
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme in ("http", "https") and (parts.hostname or "") in _OPENREVIEW_HOSTS:
        ids = urllib.parse.parse_qs(parts.query).get("id", [])
        path = parts.path.rstrip("/")
        if path in ("/forum", "/pdf") and ids and _OPENREVIEW_ID.fullmatch(ids[0]):
            return PaperRef(OPENREVIEW, ids[0])
        raise PaperError(f"{raw!r} is not an OpenReview paper address; give its "
                         "https://openreview.net/forum?id=… or pdf?id=… URL")
    raise PaperError(f"{raw!r} is not a paper reference; give an arXiv id or URL "
                     "(2501.19393, https://arxiv.org/abs/2501.19393), an OpenReview URL "
                     "(https://openreview.net/forum?id=…) or a DOI (10.…)")


# --- cleaning -----------------------------------------------------------------

_LATEX_BREAK = re.compile(r"\\\\(?:\[[^\]]*\])?|\\newline\b|\\linebreak\b|\\par\b")
# Only what looks like an XML/HTML tag: `a<b` or `x < y` in an abstract stays.
_TAG = re.compile(r"</?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>")
_JATS_TITLE = re.compile(r"<(jats:)?title\b[^>]*>.*?</(jats:)?title\s*>", re.IGNORECASE | re.DOTALL)
_PARAGRAPH_END = re.compile(r"</(?:jats:)?p\s*>", re.IGNORECASE)


def clean_text(text: str, markup: bool = False) -> str:
    """One line of plain text: LaTeX line breaks gone, spaces normalised; with
    `markup` (Crossref's JATS), tags dropped and entities decoded too."""
    if markup:
        text = html.unescape(_TAG.sub(" ", text))
    return " ".join(_LATEX_BREAK.sub(" ", text).split())


def clean_abstract(text: str, markup: bool = False) -> str:
    """Plain text: no LaTeX line breaks (no JATS tags with `markup`), whitespace
    normalised. Paragraphs stay apart (one blank line) only where the source
    has them: a blank line, or a JATS paragraph."""
    if markup:
        text = _JATS_TITLE.sub("", text)  # "<jats:title>Abstract</jats:title>"
        text = _PARAGRAPH_END.sub("\n\n", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = (clean_text(p, markup) for p in re.split(r"\n[ \t]*\n", text))
    return "\n\n".join(p for p in paragraphs if p)


# --- fetching -----------------------------------------------------------------


def user_agent(contact: str = "") -> str:
    """Who asks: Crossref's etiquette wants a mailto, arXiv a descriptive agent."""
    return USER_AGENT.format(contact=f"; mailto:{contact}" if contact else "")


class Deadline:
    """One time limit for a whole lookup, redirects included: when it passes,
    every socket opened under it is shut down, so that a server that sends
    a byte now and then cannot hold the command (each read alone is quick)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._end = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        """Seconds left, at least a little: a connection still fails at the end."""
        return max(0.01, self._end - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                self._shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked in another call

    def cancel(self) -> None:
        self._timer.cancel()


def _watched(base: type[http.client.HTTPConnection],
             deadline: Deadline) -> type[http.client.HTTPConnection]:
    """`base` whose socket the deadline shuts down, and whose every read
    waits no longer than the time left."""

    class Watched(base):  # type: ignore[valid-type,misc]
        def connect(self) -> None:
            self.timeout = deadline.left()
            super().connect()
            assert self.sock is not None
            deadline.watch(self.sock)

    return Watched


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline):
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(http.client.HTTPConnection, self.deadline), req)


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline):
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(http.client.HTTPSConnection, self.deadline), req,
                            context=self._context)  # type: ignore[attr-defined]


class _WithinTheAPI(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to https on the API's own host (or, for a
    local API given as http, to the same scheme and port); anything else
    (another host, ftp://, file://, a downgrade to http) is a PaperError."""

    def __init__(self, origin: str, what: str):
        super().__init__()
        self.origin = urllib.parse.urlsplit(origin)
        self.what = what

    def http_error_302(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                       headers: Any) -> Any:
        location = headers.get("location") or headers.get("uri")
        if location:  # checked before urllib's own scheme check, for one clear message
            self._check(urllib.parse.urljoin(req.full_url, location))
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        self._check(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)

    def _check(self, newurl: str) -> None:
        target = urllib.parse.urlsplit(newurl)
        try:
            port = target.port
        except ValueError:
            port = -1
        same_host = (target.hostname or "").lower() == (self.origin.hostname or "").lower()
        allowed = same_host and (target.scheme == "https" or (
            target.scheme == self.origin.scheme and port == self.origin.port))
        if not allowed:
            raise PaperError(f"{self.what} redirected to {newurl[:200]!r}, away from "
                             f"{self.origin.scheme}://{self.origin.netloc}; it was not followed")


def _read(response: Any, what: str, url: str) -> bytes:
    """At most MAX_ANSWER bytes of a response; PaperError if there is more."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > MAX_ANSWER:
        raise PaperError(f"{what}'s answer is larger than {MAX_ANSWER // 2**20} MB for {url}; "
                         "that is no paper record")
    body = bytes(response.read(MAX_ANSWER + 1))
    if len(body) > MAX_ANSWER:
        raise PaperError(f"{what}'s answer is larger than {MAX_ANSWER // 2**20} MB for {url}; "
                         "that is no paper record")
    return body


def _get(url: str, what: str, contact: str, deadline: Deadline) -> tuple[int, bytes]:
    """The status and body of one GET (and the redirects it is allowed);
    4xx bodies are returned for the caller to explain, everything else that
    is not 200 is a PaperError."""
    request = urllib.request.Request(url, headers={"User-Agent": user_agent(contact)})
    opener = urllib.request.build_opener(_HTTP(deadline), _HTTPS(deadline),
                                         _WithinTheAPI(url, what))
    late = f"cannot reach {what} at {url}: no complete answer within {deadline.seconds:g} s"
    try:
        with opener.open(request, timeout=deadline.left()) as response:
            status, body = int(response.status), _read(response, what, url)
    except urllib.error.HTTPError as exc:
        body = _read(exc, what, url) if exc.fp else b""
        if deadline.expired:
            raise PaperError(late) from None
        if 400 <= exc.code < 500:
            return exc.code, body
        raise PaperError(f"{what} answered HTTP {exc.code} ({exc.reason}) for {url}; "
                         "try again later") from None
    except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        if deadline.expired:
            raise PaperError(late) from None
        reason = getattr(exc, "reason", exc)
        raise PaperError(f"cannot reach {what} at {url}: {reason}") from None
    if deadline.expired:  # what was read may have been cut short
        raise PaperError(late)
    return status, body


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise PaperError(f"{what} sent a response that is not JSON (or nested too deeply)") from None


def _text(value: Any, what: str, field: str) -> str:
    """A field that must be text (or absent); PaperError for any other shape."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PaperError(f"{what} sent a response of the wrong shape: its {field} is "
                         f"{_shape(value)}, not text; give the talk's details by hand")
    return value


def _texts(value: Any, what: str, field: str) -> list[str]:
    """A field that must be a list of text (or absent)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise PaperError(f"{what} sent a response of the wrong shape: its {field} is "
                         f"{_shape(value)}, not a list; give the talk's details by hand")
    return [_text(item, what, field) for item in value]


def _shape(value: Any) -> str:
    """What JSON gave, in words (never the value: it may be huge)."""
    return {dict: "an object", list: "a list", bool: "true or false", int: "a number",
            float: "a number"}.get(type(value), "not text")


def fetch_paper(reference: str | PaperRef, contact: str = "",
                env: Mapping[str, str] | None = None, timeout: float = TIMEOUT) -> Paper:
    """Look the paper up at its source; API bases come from FEEDS_ARXIV_API,
    FEEDS_OPENREVIEW_API and FEEDS_CROSSREF_API. `timeout` bounds the whole
    lookup; an answer is at most MAX_ANSWER bytes."""
    ref = parse_reference(reference) if isinstance(reference, str) else reference
    apis = Settings.load(environ=env)
    deadline = Deadline(timeout)  # for the whole lookup
    try:
        if ref.source == ARXIV:
            return _arxiv(ref, apis.arxiv_api, contact, deadline)
        if ref.source == OPENREVIEW:
            return _openreview(ref, apis.openreview_api, contact, deadline)
        return _crossref(ref, apis.crossref_api, contact, deadline)
    finally:
        deadline.cancel()


def _paper(ref: PaperRef, title: str, abstract: str, authors: list[str], what: str,
           markup: bool = False) -> Paper:
    title = clean_text(title, markup)
    if not title:
        raise PaperError(f"{what} has no title for {ref.url}; give --title by hand")
    names = tuple(n for n in (clean_text(a, markup) for a in authors) if n)
    return Paper(title, clean_abstract(abstract, markup), ref.url, ref.source, names)


def _arxiv(ref: PaperRef, base: str, contact: str, deadline: Deadline) -> Paper:
    """One `id_list` query (the API's Atom feed, read with feedparser)."""
    what = "the arXiv API"
    query = urllib.parse.urlencode({"id_list": ref.key, "max_results": "1"})
    status, body = _get(f"{base}?{query}", what, contact, deadline)
    feed = feedparser.parse(io.BytesIO(body))
    entries = list(feed.get("entries", []))
    for entry in entries:  # arXiv reports errors as an entry titled "Error"
        if "/api/errors" in str(entry.get("id", "")) or entry.get("title") == "Error":
            raise PaperError(f"arXiv does not know {ref.key!r}: "
                             f"{clean_text(str(entry.get('summary', 'error')))}")
    if status != 200:
        raise PaperError(f"{what} answered HTTP {status} for {ref.key!r}; check the id")
    if feed.get("bozo") and not entries:
        raise PaperError(f"{what} sent a response that is not an Atom feed")
    entries = [e for e in entries if e.get("title")]
    if not entries:
        raise PaperError(f"there is no arXiv paper {ref.key!r}; check the id")
    entry = entries[0]
    authors = [str(a.get("name", "")) for a in entry.get("authors", [])]
    return _paper(ref, str(entry.get("title", "")), str(entry.get("summary", "")),
                  authors, what)


def _value(content: Mapping[str, Any], key: str) -> Any:
    """A field of a note's content: `{"value": …}` in API v2 (bare in v1)."""
    field = content.get(key)
    return field.get("value") if isinstance(field, dict) else field


def _openreview(ref: PaperRef, base: str, contact: str, deadline: Deadline) -> Paper:
    """GET /notes?id=… of API v2."""
    what = "the OpenReview API"
    url = f"{base.rstrip('/')}/notes?{urllib.parse.urlencode({'id': ref.key})}"
    status, body = _get(url, what, contact, deadline)
    if status == 404:
        raise PaperError(f"there is no OpenReview paper {ref.key!r}; check the id")
    if status != 200:
        message = ""
        data = _json(body, what) if body else {}
        if isinstance(data, dict):
            message = f": {data.get('message')}" if data.get("message") else ""
        raise PaperError(f"{what} answered HTTP {status} for {ref.key!r}{message}")
    data = _json(body, what)
    notes = data.get("notes") if isinstance(data, dict) else None
    if not isinstance(notes, list):
        raise PaperError(f"{what} sent JSON without a list of notes")
    if not notes:
        raise PaperError(f"there is no OpenReview paper {ref.key!r}; check the id")
    content = notes[0].get("content") if isinstance(notes[0], dict) else None
    if not isinstance(content, dict):
        raise PaperError(f"{what} sent a note without content")
    return _paper(ref, _text(_value(content, "title"), what, "title"),
                  _text(_value(content, "abstract"), what, "abstract"),
                  _texts(_value(content, "authors"), what, "authors"), what)


def _crossref(ref: PaperRef, base: str, contact: str, deadline: Deadline) -> Paper:
    """GET /works/{doi} of the Crossref REST API."""
    what = "the Crossref API"
    url = f"{base.rstrip('/')}/works/{urllib.parse.quote(ref.key, safe='/')}"
    status, body = _get(url, what, contact, deadline)
    if status == 404:
        raise PaperError(f"Crossref does not know the DOI {ref.key!r}; check it")
    if status != 200:
        raise PaperError(f"{what} answered HTTP {status} for {ref.key!r}")
    data = _json(body, what)
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict):
        raise PaperError(f"{what} sent JSON without a work record")
    titles = message.get("title")
    titles = _texts(titles, what, "title") if isinstance(titles, list) else [
        _text(titles, what, "title")]
    people = message.get("author")
    if people is not None and not isinstance(people, list):
        raise PaperError(f"{what} sent a response of the wrong shape: its author is "
                         f"{_shape(people)}, not a list; give the talk's details by hand")
    authors = []
    for person in people or []:
        if not isinstance(person, dict):
            raise PaperError(f"{what} sent a response of the wrong shape: its author is "
                             f"{_shape(person)}, not an object; give the talk's details by hand")
        parts = [_text(person.get(k), what, "author") for k in ("given", "family", "name")]
        authors.append(" ".join(parts[:2]).strip() or parts[2])
    return _paper(ref, titles[0] if titles else "", _text(message.get("abstract"), what, "abstract"),
                  authors, what, markup=True)
