"""A paper's title, abstract, authors and canonical link, from arXiv, OpenReview
or Crossref, for `feeds add --paper`.

Each lookup is one HTTP GET (`fetching`: a timeout, a size cap, a descriptive
User-Agent) and never a retry: arXiv asks for no more than one request every
three seconds on a single connection, which one command run cannot exceed. Any failure (no
network, an HTTP error, an unknown id, a response of the wrong shape) is a
`PaperError` with a message for the organiser, and nothing is guessed."""

from __future__ import annotations

import html
import io
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import feedparser  # type: ignore[import-untyped]

from feeds.commands.fetching import Deadline, PaperError, get
from feeds.settings import Settings

TIMEOUT = 20.0  # seconds for a whole lookup, redirects included

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
    lookup; an answer is at most fetching.MAX_ANSWER bytes."""
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
    status, body = get(f"{base}?{query}", what, contact, deadline)
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
    status, body = get(url, what, contact, deadline)
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
    status, body = get(url, what, contact, deadline)
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
