"""Load and validate the data file into the immutable model.

Values are read from YAML's node tree rather than its constructed objects, so
that every error names file:line:column and YAML 1.1's traps (``17:00`` as the
integer 1020, ``no`` as False) never reach the model."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from . import timezones
from .model import STATUSES, SCHEDULED, Link, Schedule, Series, Speaker, Talk

try:  # the C loader is several times faster
    from yaml import CSafeLoader as YamlLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as YamlLoader  # type: ignore[assignment]

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
# Years a talk may fall in: far enough from datetime's limits for every
# computation around a talk (time zones, VTIMEZONE rules a year either side).
YEARS = range(1970, 3000)
TIME_PATTERN = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
SERIES_KEYS = {"title", "description", "url", "contact", "timezone", "time", "duration",
               "location", "uid_domain", "categories", "nominations"}
TALK_KEYS = {"id", "date", "time", "timezone", "duration", "title", "speakers", "abstract",
             "links", "recording", "note", "status", "location"}
SPEAKER_KEYS = {"name", "affiliation", "url"}
LINK_KEYS = {"label", "url"}
# Characters that iCalendar, XML 1.0 and HTML cannot all carry as text. C1
# controls (U+0080-U+009F) are HTML parse errors that feed readers turn into
# Windows-1252 characters; parsers drop U+FEFF as a byte-order mark.
_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Problem:
    """One mistake in the data file, with where it is and what to do."""

    source: str
    line: int  # 1-based; 0 when the whole file is concerned
    column: int
    message: str
    talk_id: str = ""

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}:{self.column}" if self.line else self.source
        who = f" talk {self.talk_id}:" if self.talk_id else ""
        return f"{where}:{who} {self.message}"


class InvalidData(ValueError):
    """The data file has mistakes; ``problems`` lists all of them."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


Node = yaml.Node


class Reader:
    """Walks the YAML node tree, collecting problems instead of stopping
    (also used by feeds.members for the secrets file)."""

    def __init__(self, source: str):
        self.source = source
        self.problems: list[Problem] = []
        self.talk_id = ""

    def error(self, node: Node | None, message: str) -> None:
        line, col = (node.start_mark.line + 1, node.start_mark.column + 1) if node else (0, 0)
        self.problems.append(Problem(self.source, line, col, message, self.talk_id))

    def mapping(self, node: Node, what: str, allowed: set[str],
                required: tuple[str, ...] = ()) -> dict[str, Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping of keys to values")
            return None
        result: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else ""
            if key not in allowed:
                self.error(key_node, f"unknown key {key!r} in {what}; "
                                     f"allowed keys are: {', '.join(sorted(allowed))}")
            elif key in result:
                self.error(key_node, f"key {key!r} appears twice in {what}; keep one")
            else:
                result[key] = value_node
        for key in required:
            if key not in result:
                self.error(node, f"{what} is missing the required key {key!r}")
        return result

    def sequence(self, node: Node, what: str) -> list[Node]:
        if _is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list (lines starting with '- ')")
            return []
        return list(node.value)

    def text(self, node: Node | None, what: str, *, required: bool = False,
             multiline: bool = False) -> str:
        if node is None or _is_null(node):
            if required:
                self.error(node, f"{what} must not be empty")
            return ""
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, f"{what} must be text, not a list or mapping")
            return ""
        value = node.value.replace("\r\n", "\n").replace("\r", "\n")
        bad = _FORBIDDEN.search(value)
        if bad:
            self.error(node, f"{what} contains the control character "
                             f"U+{ord(bad.group()):04X}; remove it")
            return ""
        value = unicodedata.normalize("NFC", value)
        value = value.strip() if multiline else " ".join(value.split())
        if required and not value:
            self.error(node, f"{what} must not be empty")
        return value

    def url(self, node: Node | None, what: str) -> str:
        value = self.text(node, what)
        if value and not valid_url(node.value if node is not None else value):
            self.error(node, f"{what} {value!r} is not a web address; write a full "
                             "http:// or https:// URL without spaces")
            return ""
        return value

    def zone(self, node: Node | None, what: str) -> ZoneInfo | None:
        name = self.text(node, what)
        try:
            return timezones.get_zone(name)
        except ZoneInfoNotFoundError:
            self.error(node, f"{what} {name!r} is not a known time zone; use an IANA "
                             "name such as Europe/Berlin or America/New_York")
            return None

    def clock(self, node: Node, what: str) -> time | None:
        match = TIME_PATTERN.fullmatch(node.value.strip()) if isinstance(node, yaml.ScalarNode) else None
        if not match:
            self.error(node, f"{what} must be a time of day such as \"17:00\" (24-hour HH:MM)")
            return None
        return time(int(match.group(1)), int(match.group(2)))

    def minutes(self, node: Node, what: str) -> timedelta | None:
        raw = node.value.strip() if isinstance(node, yaml.ScalarNode) else ""
        if not raw.isdigit() or not 1 <= int(raw) <= 24 * 60:
            self.error(node, f"{what} must be a whole number of minutes between 1 and 1440")
            return None
        return timedelta(minutes=int(raw))


def _is_null(node: Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def valid_url(raw: str) -> bool:
    """An absolute http(s) URL without spaces or control characters."""
    raw = raw.strip()
    if any(ch.isspace() for ch in raw) or _FORBIDDEN.search(raw):
        return False
    try:
        parts = urlsplit(raw)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def compose(text: str, source: str) -> Node | None:
    """The YAML node tree of `text`; InvalidData naming line:column if it is not YAML."""
    try:
        return yaml.compose(text, Loader=YamlLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = f"{exc.problem or 'invalid YAML'}"
        if exc.context:
            problem = f"{exc.context}, {problem}"
        raise InvalidData([Problem(source, line, col,
                                   f"this is not valid YAML ({problem}); check the "
                                   "indentation and quote text that contains ': ' or '#'")]) from None
    except yaml.YAMLError as exc:
        raise InvalidData([Problem(source, 0, 0, f"this is not valid YAML: {exc}")]) from None


def parse_schedule(text: str, source: str = "<data>") -> Schedule:
    """Validate `text` (the data file's content) into a Schedule."""
    reader = Reader(source)
    root = compose(text, source)
    if root is None:
        raise InvalidData([Problem(source, 0, 0, "the file is empty; it needs 'series:' and 'talks:'")])

    top = reader.mapping(root, "the file", {"series", "talks"}, ("series", "talks"))
    if top is None:
        raise InvalidData(reader.problems)
    series, defaults = _series(reader, top.get("series"))
    talks: list[Talk] = []
    seen: dict[str, int] = {}
    for node in reader.sequence(top["talks"], "talks") if "talks" in top else []:
        talk = _talk(reader, node, series, defaults, seen)
        if talk is not None:
            talks.append(talk)
    if reader.problems:
        raise InvalidData(reader.problems)
    assert series is not None
    talks.sort(key=lambda t: (t.start, t.id))
    return Schedule(series=series, talks=tuple(talks), source=source)


@dataclass(frozen=True)
class _Defaults:
    time: time | None
    duration: timedelta
    location: str


def _series(reader: Reader, node: Node | None) -> tuple[Series | None, _Defaults]:
    defaults = _Defaults(None, timedelta(minutes=60), "Online")
    if node is None:
        return None, defaults
    fields = reader.mapping(node, "series", SERIES_KEYS, ("title", "timezone", "contact"))
    if fields is None:
        return None, defaults
    zone = reader.zone(fields["timezone"], "series.timezone") if "timezone" in fields else None
    contact = reader.text(fields.get("contact"), "series.contact")
    if contact and not re.fullmatch(r"[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+", contact):
        reader.error(fields.get("contact"), f"series.contact {contact!r} is not an e-mail address")
    categories: list[str] = []
    for item in reader.sequence(fields["categories"], "series.categories") if "categories" in fields else []:
        category = reader.text(item, "a category", required=True)
        if category:
            categories.append(category)
    defaults = _Defaults(
        time=reader.clock(fields["time"], "series.time") if "time" in fields else None,
        duration=(reader.minutes(fields["duration"], "series.duration") or defaults.duration)
        if "duration" in fields else defaults.duration,
        location=reader.text(fields.get("location"), "series.location") or "Online",
    )
    uid_domain = reader.text(fields.get("uid_domain"), "series.uid_domain")
    if uid_domain and not re.fullmatch(r"[A-Za-z0-9.-]+", uid_domain):
        reader.error(fields.get("uid_domain"), "series.uid_domain must be a bare domain such as example.org")
    if zone is None:
        return None, defaults
    return Series(
        title=reader.text(fields.get("title"), "series.title", required=True),
        description=reader.text(fields.get("description"), "series.description", multiline=True),
        contact=contact,
        timezone=zone,
        location=defaults.location,
        url=reader.url(fields.get("url"), "series.url"),
        uid_domain=uid_domain,
        categories=tuple(categories),
        nominations=reader.text(fields.get("nominations"), "series.nominations", multiline=True),
    ), defaults


def _talk(reader: Reader, node: Node, series: Series | None, defaults: _Defaults,
          seen: dict[str, int]) -> Talk | None:
    reader.talk_id = _peek_id(node)
    fields = reader.mapping(node, "a talk", TALK_KEYS, ("id", "date", "title"))
    if fields is None:
        return None
    talk_id = reader.text(fields.get("id"), "id") if "id" in fields else ""
    if "id" in fields:
        if not ID_PATTERN.fullmatch(talk_id):
            reader.error(fields["id"], f"id {talk_id!r} is not URL-safe; use letters, digits, "
                                       "'-' and '_' only, e.g. 2026-04-13-fischer")
        elif talk_id in seen:
            reader.error(fields["id"], f"id {talk_id!r} is already used by the talk on line "
                                       f"{seen[talk_id]}; every talk needs its own id")
        else:
            seen[talk_id] = node.start_mark.line + 1
        reader.talk_id = talk_id
    try:
        return _talk_fields(reader, node, fields, series, defaults, talk_id)
    finally:
        reader.talk_id = ""


def _peek_id(node: Node) -> str:
    """The talk's id as written, to name the talk in messages about its keys."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "id" and isinstance(value, yaml.ScalarNode):
                return value.value
    return ""


def _talk_fields(reader: Reader, node: Node, fields: dict[str, Node], series: Series | None,
                 defaults: _Defaults, talk_id: str) -> Talk | None:
    zone = reader.zone(fields["timezone"], "timezone") if "timezone" in fields else (
        series.timezone if series else None)
    start = _start(reader, fields, zone, defaults) if zone else None
    duration = reader.minutes(fields["duration"], "duration") if "duration" in fields else defaults.duration
    speakers = []
    for item in reader.sequence(fields["speakers"], "speakers") if "speakers" in fields else []:
        spk = reader.mapping(item, "a speaker", SPEAKER_KEYS, ("name",))
        if spk is not None:
            speakers.append(Speaker(
                name=reader.text(spk.get("name"), "speaker name", required="name" in spk),
                affiliation=reader.text(spk.get("affiliation"), "speaker affiliation"),
                url=reader.url(spk.get("url"), "speaker url"),
            ))
    links = []
    for item in reader.sequence(fields["links"], "links") if "links" in fields else []:
        lnk = reader.mapping(item, "a link", LINK_KEYS, ("label", "url"))
        if lnk is not None:
            links.append(Link(label=reader.text(lnk.get("label"), "link label", required="label" in lnk),
                              url=reader.url(lnk.get("url"), "link url")))
    status = reader.text(fields.get("status"), "status") or SCHEDULED
    if status not in STATUSES:
        reader.error(fields.get("status"), f"status {status!r} is unknown; write "
                                           f"{' or '.join(STATUSES)}, or leave it out")
    title = reader.text(fields.get("title"), "title", required="title" in fields)
    if start is None or duration is None:
        return None
    return Talk(
        id=talk_id, title=title, start=start, duration=duration,
        speakers=tuple(speakers), links=tuple(links),
        abstract=reader.text(fields.get("abstract"), "abstract", multiline=True),
        recording=reader.url(fields.get("recording"), "recording"),
        note=reader.text(fields.get("note"), "note", multiline=True),
        status=status,
        location=reader.text(fields.get("location"), "location") or defaults.location,
        line=node.start_mark.line + 1,
    )


def _start(reader: Reader, fields: dict[str, Node], zone: ZoneInfo,
           defaults: _Defaults) -> datetime | None:
    """The talk's start in its zone, from date, time and the series default."""
    node = fields.get("date")
    if node is None:
        return None
    raw = node.value.strip() if isinstance(node, yaml.ScalarNode) else ""
    clock: time | None
    try:
        if "T" in raw or " " in raw:
            moment = datetime.fromisoformat(raw)
            if not _in_range(reader, node, raw, moment.year):
                return None
            if "time" in fields:
                reader.error(fields["time"], "date already holds a time; remove time, or "
                                             "write the date alone")
                return None
            if moment.tzinfo is not None:
                return moment.astimezone(zone)
            day, clock = moment.date(), moment.time()
        else:
            day = date.fromisoformat(raw)
            if not _in_range(reader, node, raw, day.year):
                return None
            clock = reader.clock(fields["time"], "time") if "time" in fields else defaults.time
            if clock is None:
                if "time" not in fields:
                    reader.error(node, "the talk has no start time; add time: \"17:00\" "
                                       "or set series.time")
                return None
    except ValueError:
        reader.error(node, f"date {raw!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-04-13")
        return None
    try:
        return timezones.localize(day, clock, zone)
    except timezones.WallClockError as exc:
        reader.error(fields.get("time", node), str(exc))
        return None


def _in_range(reader: Reader, node: Node, raw: str, year: int) -> bool:
    """Whether `year` is one a talk can take place in; reports it if not."""
    if year not in YEARS:
        reader.error(node, f"date {raw!r} is out of range; a talk must take place between "
                           f"{YEARS.start} and {YEARS.stop - 1}")
    return year in YEARS


def load_schedule(path: str | Path, read: Callable[[Path], str] | None = None) -> Schedule:
    """Read and validate the data file at `path`."""
    path = Path(path)
    try:
        text = read(path) if read else path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidData([Problem(str(path), 0, 0, f"the file is not UTF-8 text ({exc.reason}); "
                                                    "save it as UTF-8")]) from None
    except OSError as exc:
        raise InvalidData([Problem(str(path), 0, 0, f"cannot read the file: {exc.strerror or exc}")]) from None
    return parse_schedule(text, str(path))
