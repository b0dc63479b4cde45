"""Load and validate the data file into the immutable model. Every problem
names file:line:column, the talk and what to write instead (feeds.data.yaml_reader)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from feeds import timezones
from feeds.data import talk_texts
from feeds.data.yaml_reader import (
    InvalidData,
    Node,
    Problem,
    Reader,
    TreeLoader,
    is_null,
    node_tree,
    read_text,
    size_text,
)
from feeds.model import (
    DEFAULT_DURATION,
    DEFAULT_LOCATION,
    ID_PATTERN,
    SCHEDULED,
    STATUSES,
    TAG_LENGTH,
    TAG_PATTERN,
    TALK_YEARS,
    Link,
    Schedule,
    Series,
    Speaker,
    Status,
    Talk,
)

# The limits of what a talk series can hold; they also bound the cost of a
# build (docs/organisers/data-file.md, "Limits").
YEARS = TALK_YEARS
#: At most this many talks, and this many different time zones, in one file.
MAX_TALKS = 20_000
MAX_ZONES = 24
#: At most this many bytes of data file (about 2.5 times 10 000 seed-sized talks).
MAX_BYTES = 32 * 1024 * 1024
TOO_LARGE = ", more than a talk series can hold; split off the archive"
SERIES_KEYS = {"title", "description", "url", "contact", "timezone", "time", "duration",
               "location", "id_authority", "uid_domain", "categories", "nominations", "attend",
               "join_url", "rhythm", "tags"}
#: A series key's old name -> its name since 1.0; the old one still works, with a warning.
RENAMED_SERIES_KEYS = {"uid_domain": "id_authority"}
TALK_KEYS = {"id", "date", "time", "timezone", "duration", "title", "speakers", "abstract",
             "links", "recording", "note", "status", "location", "tags"}
SPEAKER_KEYS = {"name", "affiliation", "url"}
LINK_KEYS = {"label", "url"}
TOP_KEYS = ("series", "talks")  # both required
# The keys each mapping must have (feeds.formats.schema derives the JSON Schema from these sets).
SERIES_REQUIRED = ("title", "timezone", "contact")
TALK_REQUIRED = ("id", "date", "title")
SPEAKER_REQUIRED = ("name",)
LINK_REQUIRED = ("label", "url")
# One plain address (written so that the same pattern is a valid ECMA-262 regex,
# the JSON Schema's): a dot-atom local part without the characters that would
# start a mailto: query or fragment, and a domain name.
_LOCAL = r"[A-Za-z0-9!$'*+=^_`{|}~-]+(?:\.[A-Za-z0-9!$'*+=^_`{|}~-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
EMAIL = re.compile(f"{_LOCAL}@{_DOMAIN}")
DOMAIN = re.compile(_DOMAIN)
#: An RFC 2047 encoded word (=?charset?q?text?=), in the widest form any
#: Python's e-mail package decodes: in an announcement's Subject or From it
#: would be read as other text, on older Pythons even as more headers.
ENCODED_WORD = re.compile(r"=\?[^?]*\?[^?]*\?[^?]*\?=")


def parse_schedule(text: str, source: str = "<data>",
                   warnings: list[Problem] | None = None) -> Schedule:
    """Validate `text` (the data file's content) into a Schedule. What works
    but should change (a deprecated key) is added to `warnings`, if given.
    Where `keep_talks` asked for it, the talks of the last reading of
    `source` are kept by their text: a talk written as it was then is not
    read again (feeds.data.talk_texts)."""
    if len(text) > MAX_BYTES:
        too_large = f"the file is larger than {size_text(MAX_BYTES)}"
        raise InvalidData([Problem(source, 1, 1, too_large + TOO_LARGE, kind=too_large)])
    pieces = talk_texts.cut(text) if _keep_files else None
    if pieces is not None and source in _kept:
        found: list[Problem] = []
        schedule = _parse_pieces(pieces, source, found)
        if schedule is not None:
            if warnings is not None:
                warnings.extend(found)
            return schedule
    return _parse_whole(text, source, warnings, pieces)


def _parse_whole(text: str, source: str, warnings: list[Problem] | None,
                 pieces: talk_texts.Cut | None) -> Schedule:
    """The whole file read at once; its talks kept by their text if `pieces` cut it alike."""
    reader = Reader(source)
    if warnings is not None:
        reader.warnings = warnings
    root = node_tree(text, source)
    if root is None:
        raise InvalidData([Problem(source, 0, 0, "the file is empty; it needs 'series:' and 'talks:'",
                                   kind="the file is empty")])

    top = reader.mapping(root, "the file", set(TOP_KEYS), TOP_KEYS)
    if top is None:
        raise InvalidData(reader.problems)
    series, defaults = _series(reader, top.get("series"))
    talks: list[Talk] = []
    seen: dict[str, int] = {}
    nodes = reader.sequence(top["talks"], "talks") if "talks" in top else []
    if len(nodes) > MAX_TALKS:
        reader.error(top["talks"], f"{len(nodes)} talks; a file holds at most {MAX_TALKS}",
                     f"more than {MAX_TALKS} talks")
        raise InvalidData(reader.problems)
    zones = {series.timezone.key} if series else set()
    for node in nodes:
        talk = _talk(reader, node, series, defaults, seen)
        if talk is not None:
            talks.append(talk)
            zone = getattr(talk.start.tzinfo, "key", "")
            if zone not in zones and len(zones) >= MAX_ZONES:
                reader.error(node, f"timezone {zone} is one time zone too many: a file may use "
                                   f"at most {MAX_ZONES} different zones",
                             f"more than {MAX_ZONES} time zones")
            zones.add(zone)
    if reader.problems:
        raise InvalidData(reader.problems)
    assert series is not None
    if pieces is not None and len(pieces.talks) == len(talks) and all(
            p.line < t.line <= p.line + p.text.count("\n")  # each talk within its piece
            for p, t in zip(pieces.talks, talks, strict=True)):
        by_text = {p.text: (p.line, t) for p, t in zip(pieces.talks, talks, strict=True)}
        _keep(source, (series.timezone, defaults), by_text)
    talks.sort(key=lambda t: (t.start, t.id))
    return Schedule(series=series, talks=tuple(talks), source=source)


#: Per data file (the latest read, at most as many as `keep_talks` says):
#: the series' zone and defaults its talks were read with, and each talk by
#: its text (with the line its text started on then).
_kept: dict[str, tuple[tuple[ZoneInfo, _Defaults], dict[str, tuple[int, Talk]]]] = {}
_keep_files = 0
#: The data files a builder keeps the talks of: every series of a large hub.
KEEP_FILES = 1024


def keep_talks(files: int = KEEP_FILES) -> None:
    """From now on, keep the talks of the last reading of up to `files` data
    files (0: none, the default), so that reading one again reads only the
    talks whose text changed. The builder process keeps them; a server's
    workers, which read a build's data only for the members' calendar and
    /embed options, keep nothing more than that."""
    global _keep_files
    _keep_files = files
    while len(_kept) > files:
        _kept.pop(next(iter(_kept)))


def _keep(source: str, context: tuple[ZoneInfo, _Defaults],
          talks: dict[str, tuple[int, Talk]]) -> None:
    if not _keep_files:
        return
    _kept.pop(source, None)
    _kept[source] = (context, talks)
    while len(_kept) > _keep_files:
        _kept.pop(next(iter(_kept)))


def _parse_pieces(pieces: talk_texts.Cut, source: str,
                  warnings: list[Problem]) -> Schedule | None:
    """The schedule read from the file's rest and its talks' texts, each talk
    whose text is kept taken as it was; None where anything is wrong (the
    whole file is then read, and its messages name the right lines)."""
    reader = Reader(source)
    reader.warnings = warnings
    try:
        root = node_tree(pieces.rest, source)
    except InvalidData:
        return None
    top = reader.mapping(root, "the file", set(TOP_KEYS), TOP_KEYS) if root else None
    if top is None or reader.problems or not is_null(top["talks"]) or \
            len(pieces.talks) > MAX_TALKS:
        return None
    series, defaults = _series(reader, top.get("series"))
    if series is None or reader.problems:
        return None
    context = (series.timezone, defaults)
    last_context, last_talks = _kept[source]
    known = last_talks if last_context == context else {}
    talks: dict[str, tuple[int, Talk]] = {}
    for piece in pieces.talks:
        kept = known.get(piece.text)
        if kept is None:
            talk = _talk_alone(piece, source, series, defaults)
            if talk is None:
                return None
        else:
            was, talk = kept
            if was != piece.line:  # moved within the file
                talk = replace(talk, line=talk.line - was + piece.line)
        talks[piece.text] = (piece.line, talk)
    found = [talk for _, talk in talks.values()]
    zones = {series.timezone.key} | {t.zone.key for t in found}
    if len({t.id for t in found}) != len(pieces.talks) or len(zones) > MAX_ZONES:
        return None
    _keep(source, context, talks)
    ordered = sorted(found, key=lambda t: (t.start, t.id))
    return Schedule(series=series, talks=tuple(ordered), source=source)


def _talk_alone(piece: talk_texts.TalkText, source: str, series: Series,
                defaults: _Defaults) -> Talk | None:
    """The talk of one item read alone; None if it is not exactly one
    item, or has a mistake."""
    try:
        root = yaml.compose(piece.text, Loader=TreeLoader)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.SequenceNode) or len(root.value) != 1:
        return None
    reader = Reader(source)
    talk = _talk(reader, root.value[0], series, defaults, {})
    if talk is None or reader.problems or reader.warnings:
        return None
    return replace(talk, line=talk.line + piece.line)


@dataclass(frozen=True)
class _Defaults:
    """What a talk gets from the series where it says nothing itself."""

    time: time | None = None
    duration: timedelta = DEFAULT_DURATION
    location: str = DEFAULT_LOCATION


def _series(reader: Reader, node: Node | None) -> tuple[Series | None, _Defaults]:
    if node is None:
        return None, _Defaults()
    fields = reader.mapping(node, "series", SERIES_KEYS, SERIES_REQUIRED)
    if fields is None:
        return None, _Defaults()
    zone = reader.zone(fields["timezone"], "series.timezone") if "timezone" in fields else None
    contact = _contact(reader, fields.get("contact"))
    categories = _categories(reader, fields.get("categories"))
    defaults = _series_defaults(reader, fields)
    # Never the serving host: without a pinned value, the contact address.
    id_authority = _id_authority(reader, fields) or contact
    if zone is None:
        return None, defaults
    return Series(
        title=_mail_text(reader, fields.get("title"), "series.title",
                         reader.text(fields.get("title"), "series.title", required=True)),
        description=reader.text(fields.get("description"), "series.description", multiline=True),
        contact=contact,
        timezone=zone,
        location=defaults.location,
        url=reader.url(fields.get("url"), "series.url"),
        id_authority=id_authority,
        categories=categories,
        nominations=reader.text(fields.get("nominations"), "series.nominations", multiline=True),
        attend=reader.text(fields.get("attend"), "series.attend", multiline=True),
        join_url=reader.url(fields.get("join_url"), "series.join_url"),
        rhythm=reader.text(fields.get("rhythm"), "series.rhythm"),
        tags=tags(reader, fields.get("tags"), "series.tags"),
    ), defaults


def _series_defaults(reader: Reader, fields: dict[str, Node]) -> _Defaults:
    duration = reader.minutes(fields["duration"], "series.duration") if "duration" in fields else None
    return _Defaults(
        time=reader.clock(fields["time"], "series.time") if "time" in fields else None,
        duration=duration or DEFAULT_DURATION,
        location=reader.text(fields.get("location"), "series.location") or DEFAULT_LOCATION,
    )


def _mail_text(reader: Reader, node: Node | None, what: str, value: str) -> str:
    """`value` if it reads the same in a mail header (titles, speakers' names
    and notes go into announcements); else a problem, and ""."""
    word = ENCODED_WORD.search(value)
    if word:
        reader.error(node, f"{what} contains {word.group()!r}, which e-mail programs read as "
                           "an encoded word (RFC 2047) and show as other text; write the text "
                           "it stands for")
        return ""
    return value


def _contact(reader: Reader, node: Node | None) -> str:
    contact = reader.text(node, "series.contact")
    if contact and not EMAIL.fullmatch(contact):
        reader.error(node, f"series.contact {contact!r} is not one plain e-mail address; "
                           "write it as name@example.org, without '?', '&', spaces or a "
                           "second address", "series.contact is not one plain e-mail address")
        return ""
    return contact


def _id_authority(reader: Reader, fields: dict[str, Node]) -> str:
    """The tagging authority (RFC 4151) of the feeds' tag: ids, and so of the
    UIDs made from them: a domain or an e-mail address that the group
    controls, pinned in the data file (as id_authority, or under its old name)."""
    key = "id_authority"
    for old, new in RENAMED_SERIES_KEYS.items():
        if old not in fields:
            continue
        if new in fields:
            reader.error(fields[old], f"series has both {new} and its old name {old}; "
                                      f"keep only {new}", f"series.{old} beside series.{new}")
            return ""
        reader.warn(fields[old], f"series.{old} is the old name of series.{new} (deprecated "
                                 f"since feeds 1.0): rename the key to {new}; keep the value, "
                                 "and every id stays the same", f"series.{old} is deprecated")
        key = old
    node = fields.get(key)
    authority = reader.text(node, f"series.{key}")
    if authority and not (DOMAIN.fullmatch(authority) or EMAIL.fullmatch(authority)):
        reader.error(node, f"series.{key} must be a domain or an e-mail address that "
                           "the group controls, such as example.org or group@example.org",
                     f"series.{key} is not a domain or an e-mail address")
        return ""
    return authority


def _categories(reader: Reader, node: Node | None) -> tuple[str, ...]:
    items = reader.sequence(node, "series.categories") if node is not None else []
    return tuple(filter(None, (reader.text(item, "a category", required=True) for item in items)))


def tags(reader: Reader, node: Node | None, what: str) -> tuple[str, ...]:
    """A list of tags: each a short lowercase word or hyphenated phrase,
    each once, in the order written."""
    found: list[str] = []
    for item in reader.sequence(node, what) if node is not None else []:
        tag = reader.text(item, "a tag", required=True)
        if not tag:
            continue
        if not TAG_PATTERN.fullmatch(tag) or len(tag) > TAG_LENGTH:
            reader.error(item, f"tag {tag!r} is not a short lowercase word or hyphenated "
                               f"phrase; write e.g. compression or large-language-models "
                               f"(a-z, 0-9 and '-', at most {TAG_LENGTH} characters)",
                         "a tag is not a short lowercase word or hyphenated phrase")
        elif tag in found:
            reader.error(item, f"tag {tag!r} is listed twice in {what}; keep one",
                         "a tag is listed twice")
        else:
            found.append(tag)
    return tuple(found)


def _talk(reader: Reader, node: Node, series: Series | None, defaults: _Defaults,
          seen: dict[str, int]) -> Talk | None:
    reader.talk_id = _peek_id(node)
    fields = reader.mapping(node, "a talk", TALK_KEYS, TALK_REQUIRED)
    if fields is None:
        return None
    talk_id = reader.text(fields.get("id"), "id") if "id" in fields else ""
    if "id" in fields:
        if not ID_PATTERN.fullmatch(talk_id):
            reader.error(fields["id"], f"id {talk_id!r} is not URL-safe; use letters, digits, "
                                       "'-' and '_' only, e.g. 2026-04-13-fischer",
                         "a talk's id is not URL-safe")
        elif talk_id in seen:
            reader.error(fields["id"], f"id {talk_id!r} is already used by the talk on line "
                                       f"{seen[talk_id]}; every talk needs its own id",
                         f"a talk's id is already used on line {seen[talk_id]}")
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
    speakers = _speakers(reader, fields.get("speakers"))
    links = _links(reader, fields.get("links"))
    status = _status(reader, fields.get("status"))
    title = _mail_text(reader, fields.get("title"), "title",
                       reader.text(fields.get("title"), "title", required="title" in fields))
    if start is None or duration is None:
        return None
    return Talk(
        id=talk_id, title=title, start=start, duration=duration,
        speakers=speakers, links=links,
        abstract=reader.text(fields.get("abstract"), "abstract", multiline=True),
        recording=reader.url(fields.get("recording"), "recording"),
        note=_mail_text(reader, fields.get("note"), "note",
                        reader.text(fields.get("note"), "note", multiline=True)),
        status=status,
        location=reader.text(fields.get("location"), "location") or defaults.location,
        tags=tags(reader, fields.get("tags"), "tags"),
        line=node.start_mark.line + 1,
    )


def _speakers(reader: Reader, node: Node | None) -> tuple[Speaker, ...]:
    speakers = []
    for item in reader.sequence(node, "speakers") if node is not None else []:
        fields = reader.mapping(item, "a speaker", SPEAKER_KEYS, SPEAKER_REQUIRED)
        if fields is not None:
            speakers.append(Speaker(
                name=_mail_text(reader, fields.get("name"), "speaker name",
                                reader.text(fields.get("name"), "speaker name",
                                            required="name" in fields)),
                affiliation=reader.text(fields.get("affiliation"), "speaker affiliation"),
                url=reader.url(fields.get("url"), "speaker url"),
            ))
    return tuple(speakers)


def _links(reader: Reader, node: Node | None) -> tuple[Link, ...]:
    links = []
    for item in reader.sequence(node, "links") if node is not None else []:
        fields = reader.mapping(item, "a link", LINK_KEYS, LINK_REQUIRED)
        if fields is not None:
            links.append(Link(
                label=reader.text(fields.get("label"), "link label", required="label" in fields),
                url=reader.url(fields.get("url"), "link url")))
    return tuple(links)


def _status(reader: Reader, node: Node | None) -> Status:
    status = reader.text(node, "status") or SCHEDULED
    for known in STATUSES:
        if status == known:
            return known
    reader.error(node, f"status {status!r} is unknown; write "
                       f"{' or '.join(STATUSES)}, or leave it out", "an unknown status")
    return SCHEDULED


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
                                             "write the date alone", "both date and time give a time")
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
                                       "or set series.time", "a talk has no start time")
                return None
    except ValueError:
        reader.error(node, f"date {raw!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-04-13",
                     "a talk's date is not a date")
        return None
    try:
        return timezones.localize(day, clock, zone)
    except timezones.WallClockError as exc:
        reader.error(fields.get("time", node), str(exc),
                     "the time does not exist or happens twice in the talk's time zone")
        return None


def _in_range(reader: Reader, node: Node, raw: str, year: int) -> bool:
    """Whether `year` is one a talk can take place in; reports it if not."""
    if year not in YEARS:
        reader.error(node, f"date {raw!r} is out of range; a talk must take place between "
                           f"{YEARS.start} and {YEARS.stop - 1}",
                     f"a talk's date is not between {YEARS.start} and {YEARS.stop - 1}")
    return year in YEARS


def load_schedule(path: str | Path, warnings: list[Problem] | None = None) -> Schedule:
    """Read and validate the data file at `path`: a regular file of at most
    MAX_BYTES (a larger one, a pipe or a device is refused before reading).
    Warnings: see parse_schedule."""
    path = Path(path)
    return parse_schedule(read_text(path, limit=MAX_BYTES, too_large=TOO_LARGE), str(path), warnings)
