"""The JSON Schema (2020-12) of the data file, for editors: completion and
errors as organisers type (`feeds schema`, ``/talks.schema.json``, and the
``# yaml-language-server: $schema=…`` line at the top of the data file).

It says what feeds.data.loader checks that a schema can express: the keys of
every mapping (taken from the loader's own key sets, so the two cannot
drift), the required ones, the types, and the patterns of ids, times, dates,
URLs and e-mail addresses. What it cannot say (an id used twice, a time that
a DST switch skips, a zone missing from the tz database) `feeds validate`
still reports."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from typing import Any

from feeds import model
from feeds.data import hub, loader, yaml_reader
from feeds.formats.delivery import Delivery

DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: The schema document: served with CORS so that editors and other sites may fetch it.
SCHEMA_DELIVERY = Delivery("application/schema+json", cors=True)
#: The line an editor's YAML extension reads, at the top of a data file.
MODELINE = "# yaml-language-server: $schema={}"

Schema = dict[str, Any]

# Characters yaml_reader.FORBIDDEN refuses in text (a carriage return is read as
# a line break first), written for ECMA-262, the patterns' dialect.
_ALLOWED_TEXT = r"[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufeff\ufffe\uffff]"
# Plain values the loader reads as text: YAML 1.2 editors see numbers and
# booleans where PyYAML's node reader sees text.
_SCALAR = ["string", "number", "boolean"]


def _anchored(pattern: str) -> str:
    """A Python fullmatch pattern as a JSON Schema pattern (which searches)."""
    return f"^(?:{pattern})$"


def _text(description: str, required: bool = False) -> Schema:
    """Plain text without control characters; `required` text must not be empty."""
    pattern = f"^(?=[\\s\\S]*\\S){_ALLOWED_TEXT}*$" if required else f"^{_ALLOWED_TEXT}*$"
    return {"description": description, "type": _SCALAR if required else [*_SCALAR, "null"],
            "pattern": pattern}


def _url(description: str) -> Schema:
    """An absolute http(s) URL without spaces (yaml_reader.valid_url)."""
    return {"description": description, "type": ["string", "null"], "format": "uri",
            "pattern": r"^(?:$|[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+(?:[/?#]\S*)?)$"}


def _clock(description: str) -> Schema:
    return {"description": description, "type": "string",
            "pattern": r"^\s*" + _anchored(yaml_reader.TIME_PATTERN.pattern)[1:-1] + r"\s*$",
            "examples": ["17:00"]}


def _minutes(description: str) -> Schema:
    return {"description": description, "anyOf": [
        {"type": "integer", "minimum": 1, "maximum": 24 * 60},
        {"type": "string", "pattern": r"^\s*0*(?:[1-9]\d{0,2}|1[0-3]\d\d|14[0-3]\d|1440)\s*$"},
    ]}


def _zone(description: str) -> Schema:
    return {"description": description, "type": "string",
            "pattern": r"^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*$",
            "examples": ["Europe/Berlin", "America/New_York", "UTC"]}


def _list(items: Schema, description: str) -> Schema:
    return {"description": description, "type": ["array", "null"], "items": items}


def _mapping(fields: Mapping[str, Schema], keys: Iterable[str], required: Iterable[str],
             description: str) -> Schema:
    """An object with exactly the loader's `keys`; a key without a schema here
    is an error at import, so a key added to the loader needs one."""
    return {"description": description, "type": "object",
            "properties": {key: fields[key] for key in sorted(keys)},
            "required": list(required), "additionalProperties": False}


_YEARS = r"(?:19\d\d|2[01]\d\d|2200)"  # loader.YEARS
assert loader.YEARS == range(1900, 2201)

_AUTHORITY = f"^(?:\\s*(?:{loader.DOMAIN.pattern}|{loader.EMAIL.pattern})\\s*)?$"
def _tags(description: str) -> Schema:
    return _list({"description": "A tag: a short lowercase word or hyphenated phrase.",
                  "type": "string", "pattern": _anchored(model.TAG_PATTERN.pattern),
                  "maxLength": model.TAG_LENGTH, "examples": ["compression"]}, description)


SERIES_FIELDS: dict[str, Schema] = {
    "title": _text("The series' title.", required=True),
    "description": _text("What the series is about, shown on the page and in the feeds."),
    "url": _url("The group's own home page."),
    "contact": {"description": "The organisers' e-mail address: the calendar's ORGANIZER.",
                "type": ["string", "null"],
                "pattern": f"^(?:\\s*{loader.EMAIL.pattern}\\s*)?$"},
    "timezone": _zone("The series' IANA time zone; talk times are wall-clock times in it."),
    "time": _clock("The default start time of a talk, HH:MM in the series' zone."),
    "duration": _minutes("The default length of a talk in minutes."),
    "location": _text(f"The default LOCATION of a talk (default: {model.DEFAULT_LOCATION})."),
    "id_authority": {"description": "A domain or e-mail address the group controls (default: "
                                    "series.contact) that the feeds' tag: ids are minted under "
                                    "(tag:<id_authority>,2026:talk/<id>); every calendar UID is "
                                    "a UUID made from its talk's tag: id. Set it once, never "
                                    "change it.",
                     "type": ["string", "null"], "pattern": _AUTHORITY},
    "uid_domain": {"description": "The old name of id_authority: rename it (never both).",
                   "deprecated": True, "type": ["string", "null"], "pattern": _AUTHORITY},
    "categories": _list(_text("A category.", required=True), "CATEGORIES of every event."),
    "nominations": _text("How to propose a talk, shown on the page."),
    "attend": _text("How to join a talk (e.g. how members get the video link), shown with "
                    "every upcoming talk."),
    "join_url": _url("A public page where a visitor asks for the way in (a mailing-list "
                     "sign-up, a registration form): the \"How to join\" button of every "
                     "upcoming and live talk. Never the video link itself: that stays in the "
                     "members' calendar."),
    "rhythm": _text("When the series usually meets, in your words (\"Every other Monday at "
                    "17:00 Berlin time\"), shown when no talk is scheduled. Without it the "
                    "page derives the rhythm from the recent talks."),
    "tags": _tags("Topics of every talk of the series, in a hub: each gets a page, a "
                  "calendar and feeds of its own, under /tags/. A series served alone "
                  "shows none."),
}
SPEAKER_FIELDS: dict[str, Schema] = {
    "name": _text("The speaker's name.", required=True),
    "affiliation": _text("The speaker's affiliation."),
    "url": _url("The speaker's home page."),
}
LINK_FIELDS: dict[str, Schema] = {
    "label": _text("What the link is, e.g. arXiv, slides, code.", required=True),
    "url": _url("Where it leads.") | {"type": "string"},
}
TALK_FIELDS: dict[str, Schema] = {
    "id": {"description": "Permanent and URL-safe: calendar UIDs, page URLs and feed ids "
                          "derive from it. Never change it.",
           "type": ["string", "integer"], "pattern": _anchored(model.ID_PATTERN.pattern),
           "examples": ["2026-04-13-fischer"]},
    "date": {"description": "The day, YYYY-MM-DD, or a full timestamp with an offset.",
             "type": "string",
             "pattern": f"^\\s*{_YEARS}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\\d|3[01])(?:[T ]\\S.*)?$"},
    "time": _clock("The start time, HH:MM in the talk's zone (default: series.time)."),
    "timezone": _zone("The talk's IANA time zone (default: series.timezone)."),
    "duration": _minutes("The length in minutes (default: series.duration)."),
    "location": _text("Where the talk takes place (default: series.location)."),
    "title": _text("The talk's title.", required=True),
    "speakers": _list(_mapping(SPEAKER_FIELDS, loader.SPEAKER_KEYS, loader.SPEAKER_REQUIRED,
                               "A speaker."), "Who speaks."),
    "abstract": _text("The abstract, plain text; blank lines separate paragraphs."),
    "links": _list(_mapping(LINK_FIELDS, loader.LINK_KEYS, loader.LINK_REQUIRED,
                            "A link: the paper, slides or code."), "Papers, slides, code."),
    "recording": _url("The recording, once it is published. Never guess an address."),
    "note": _text("An organisers' note, e.g. a follow-up paper."),
    "status": {"description": "scheduled (the default), cancelled, or postponed (it will take "
                              "place, its new date is not known: it keeps its slot until it is "
                              "moved). Keep such a talk in the file so that calendars show it.",
               "enum": [*model.STATUSES, None]},
    "tags": _tags("Topics of this talk in a hub, besides the series' own tags."),
}
TOP_FIELDS: dict[str, Schema] = {
    "series": _mapping(SERIES_FIELDS, loader.SERIES_KEYS, loader.SERIES_REQUIRED,
                       "The series: its title, contact, time zone and the talks' defaults.")
    | {"not": {"required": ["id_authority", "uid_domain"]}},
    "talks": _list(_mapping(TALK_FIELDS, loader.TALK_KEYS, loader.TALK_REQUIRED, "A talk."),
                   "Every talk, past and upcoming, cancelled ones included."),
}


def data_file_schema() -> Schema:
    """The JSON Schema of the data file."""
    top = _mapping(TOP_FIELDS, loader.TOP_KEYS, loader.TOP_KEYS,
                   "A talk series and its talks; see feeds' docs/organisers/data-file.md.")
    return {"$schema": DIALECT, "title": "feeds data file (talks.yaml)", **top}


@functools.cache
def render() -> bytes:
    """The schema as a JSON document, the same bytes on every run."""
    return (json.dumps(data_file_schema(), indent=2, ensure_ascii=False) + "\n").encode()


# --- a hub's site.yaml (feeds.data.hub) ------------------------------------------

SITE_FIELDS: dict[str, Schema] = {
    "title": _text("The hub's title: its page's, and the combined calendars' and feeds' name.",
                   required=True),
    "description": _text("What the series of the hub have in common, shown on its page and "
                         "in its calendars and feeds."),
    "contact": {"description": "The hub's organisers' e-mail address.",
                "type": ["string", "null"],
                "pattern": f"^(?:\\s*{loader.EMAIL.pattern}\\s*)?$"},
    "url": _url("The hub's own home page elsewhere, if any."),
    "id_authority": {"description": "A domain or e-mail address the hub's organisers control "
                                    "(default: contact) that the hub's own feeds' ids are minted "
                                    "under; every talk keeps its series' ids. Set it once, never "
                                    "change it.",
                     "type": ["string", "null"], "pattern": _AUTHORITY},
}


def site_file_schema() -> Schema:
    """The JSON Schema of a hub's site.yaml."""
    top = _mapping(SITE_FIELDS, hub.SITE_KEYS, hub.SITE_REQUIRED,
                   "A hub of talk series: site.yaml beside series/<slug>.yaml; see README.md, "
                   "'Many series on one site: a hub'.")
    return {"$schema": DIALECT, "title": "feeds hub file (site.yaml)", **top}


@functools.cache
def render_site() -> bytes:
    """The site.yaml schema as a JSON document, the same bytes on every run."""
    return (json.dumps(site_file_schema(), indent=2, ensure_ascii=False) + "\n").encode()
