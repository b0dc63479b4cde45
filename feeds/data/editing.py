"""Form-keeping edits of the data file for `feeds add`, `recording`, `cancel`,
`move` and `postpone`.

Every edit is an exact text edit: the new or changed lines are spliced in at
positions taken from YAML's node marks, so every other byte of the file (its
comments, blank lines, key order and quoting) stays as it was. New values are
written by a YAML emitter, never escaped by hand, and the edited text is
validated with the loader before anything is written. The organiser's input
for a new talk is checked in `talk_input`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from feeds.data.loader import MAX_BYTES, TOO_LARGE, parse_schedule
from feeds.data.recorded import Recorded, record
from feeds.data.talk_input import EditError, NewTalk, check_time
from feeds.data.yaml_reader import InvalidData, node_tree, size_text, valid_url
from feeds.files import FileTooLarge, locked, read_bounded, stat_signature, write_atomically
from feeds.model import CANCELLED, POSTPONED, SCHEDULED, Schedule
from feeds.timezones import WallClockError, format_when, localize

# The order of a talk's keys in the data file's example (docs/organisers/data-file.md);
# a key that is added goes before the first later key the talk has, or after the
# talk's last line.
KEY_ORDER = ("id", "date", "time", "timezone", "duration", "location", "title", "speakers",
             "abstract", "links", "recording", "note", "status")


# --- emitting YAML ------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style as the seed writes it: list items indented under their key,
    multi-line text as literal blocks, quoted text double-quoted."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def choose_scalar_style(self) -> str:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     default_flow_style=False, width=10**6, indent=2)


def _indent(block: str, spaces: int) -> str:
    pad = " " * spaces
    return "".join(pad + line if line.strip() else line
                   for line in block.splitlines(keepends=True))


def talk_yaml(talk: NewTalk) -> str:
    """The talk as one block-sequence item, at column 0."""
    data: dict[str, Any] = {"id": talk.id, "date": talk.day}
    if talk.time:
        data["time"] = talk.time
    data["title"] = talk.title
    data["speakers"] = [{"name": s.name, **({"affiliation": s.affiliation} if s.affiliation
                                             else {})} for s in talk.speakers]
    if talk.abstract:
        data["abstract"] = talk.abstract.strip() + "\n"  # a literal block, like the seed's
    if talk.links:
        data["links"] = [{"label": link.label, "url": link.url} for link in talk.links]
    return _dump([data])


# --- the file's structure --------------------------------------------------------------


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _content_end(text: str, index: int) -> int:
    """The end (after its newline) of the last non-blank line before `index`."""
    last = len(text[:index].rstrip())
    newline = text.find("\n", last)
    return len(text) if newline < 0 else newline + 1


def _subtree_end(node: yaml.Node) -> int:
    """Where a node's own text ends (block scalars' marks run on over blank lines)."""
    if isinstance(node, yaml.MappingNode):
        return max((_subtree_end(v) for _, v in node.value), default=node.end_mark.index)
    if isinstance(node, yaml.SequenceNode):
        return max((_subtree_end(v) for v in node.value), default=node.end_mark.index)
    return node.end_mark.index


class _Document:
    """The data file's text with the nodes of its talks."""

    def __init__(self, text: str, source: str):
        self.text = text
        self.source = source
        self.newline = "\r\n" if "\r\n" in text else "\n"
        root = node_tree(text, source)
        talks = None
        if isinstance(root, yaml.MappingNode):
            talks = next((v for k, v in root.value if getattr(k, "value", None) == "talks"), None)
        if not isinstance(talks, yaml.SequenceNode) or talks.flow_style or not talks.value:
            raise EditError(f"{source}: the talks are not a block list ('  - id: …' lines); "
                            "add the first talk by hand")
        self.items: list[tuple[str, yaml.MappingNode]] = []
        for node in talks.value:
            if not isinstance(node, yaml.MappingNode) or node.flow_style:
                raise EditError(f"{source}:{node.start_mark.line + 1}: a talk is not written "
                                "as a block mapping; edit this file by hand")
            ids = [v.value for k, v in node.value
                   if getattr(k, "value", None) == "id" and isinstance(v, yaml.ScalarNode)]
            self.items.append((ids[0] if ids else "", node))

    def talk(self, talk_id: str) -> yaml.MappingNode:
        for item_id, node in self.items:
            if item_id == talk_id:
                return node
        raise EditError(f"there is no talk with the id {talk_id!r} in {self.source}")

    def region_start(self, node: yaml.MappingNode) -> int:
        """The start of the talk's '- ' line, or of the comments right above it."""
        start = _line_start(self.text, node.start_mark.index)
        while start > 0:
            above = _line_start(self.text, start - 1)
            if not self.text[above:start].lstrip().startswith("#"):
                break
            start = above
        return start

    def blank_separated(self) -> bool:
        """Whether the file puts a blank line between its talks."""
        for _, node in self.items[1:]:
            start = _line_start(self.text, node.start_mark.index)
            above = _line_start(self.text, start - 1) if start else 0
            if start and not self.text[above:start].strip():
                return True
        return False

    def splice(self, start: int, end: int, new: str) -> str:
        new = new.replace("\n", self.newline) if self.newline != "\n" else new
        return self.text[:start] + new + self.text[end:]


def _newest_first(doc: _Document, schedule: Schedule) -> bool | None:
    """The file's order of talks: True newest first, False oldest first, None
    when it does not tell."""
    days = [t.day for t in (schedule.talk(i) for i, _ in doc.items) if t is not None]
    down = sum(a > b for a, b in zip(days, days[1:], strict=False))
    up = sum(a < b for a, b in zip(days, days[1:], strict=False))
    return None if down == up else down > up


def insert_talk(text: str, source: str, talk: NewTalk) -> str:
    """`text` with `talk` added where the file's own order puts it."""
    schedule = parse_schedule(text, source)
    doc = _Document(text, source)
    newest_first = _newest_first(doc, schedule)
    before: yaml.MappingNode | None = None
    for item_id, node in doc.items:
        existing = schedule.talk(item_id)
        if existing is None:
            continue
        if (newest_first and existing.day < talk.day) or (
                newest_first is False and existing.day > talk.day):
            before = node
            break
    dash = doc.items[0][1].start_mark.column - 2  # the column of '- '
    block = _indent(talk_yaml(talk), max(dash, 0))
    gap = "\n" if doc.blank_separated() else ""
    if before is not None:
        at = doc.region_start(before)
        return doc.splice(at, at, block + gap)
    at = _content_end(text, _subtree_end(doc.items[-1][1]))
    lead = "" if text[:at].endswith("\n") else "\n"
    return doc.splice(at, at, lead + gap + block)


def set_field(text: str, source: str, talk_id: str, key: str, value: str) -> str:
    """`text` with the talk's `key` set to `value`: the value replaced in place,
    or a new line where KEY_ORDER puts it."""
    doc = _Document(text, source)
    node = doc.talk(talk_id)
    column = node.start_mark.column
    entry = _indent(_dump({key: value.strip() + "\n" if "\n" in value else value}), column)
    for key_node, value_node in node.value:
        if getattr(key_node, "value", None) == key:
            end = _subtree_end(value_node)
            if "\n" in text[value_node.start_mark.index:end] or "\n" in entry.rstrip("\n"):
                end = _content_end(text, end) - 1  # up to the last line's newline
            else:
                end = value_node.end_mark.index
            return doc.splice(key_node.start_mark.index, end, entry[column:].rstrip("\n"))
    later = KEY_ORDER[KEY_ORDER.index(key) + 1:]
    for key_node, _ in node.value:
        if getattr(key_node, "value", None) in later:
            at = _line_start(text, key_node.start_mark.index)
            return doc.splice(at, at, entry)
    at = _content_end(text, _subtree_end(node))
    lead = "" if text[:at].endswith("\n") else "\n"
    return doc.splice(at, at, lead + entry)


def set_recording(text: str, source: str, talk_id: str, url: str) -> str:
    """`text` with the talk's recording set to `url`."""
    if not valid_url(url):
        raise EditError(f"{url!r} is not a web address; give the recording's full "
                        "https:// URL")
    return set_field(text, source, talk_id, "recording", url.strip())


def cancel(text: str, source: str, talk_id: str, note: str = "") -> str:
    """`text` with the talk marked cancelled, and its note set if given."""
    text = set_field(text, source, talk_id, "status", CANCELLED)
    if note.strip():
        text = set_field(text, source, talk_id, "note", note.strip())
    return text


def _talk(text: str, source: str, talk_id: str) -> tuple[Schedule, datetime]:
    """The schedule and the talk's current start; EditError for an unknown id."""
    schedule = parse_schedule(text, source)
    talk = schedule.talk(talk_id)
    if talk is None:
        raise EditError(f"there is no talk with the id {talk_id!r} in {source}")
    return schedule, talk.start


def move(text: str, source: str, talk_id: str, day: date, clock: str, now: datetime) -> str:
    """`text` with the talk moved to `day` at `clock` ("HH:MM", or "" to keep
    its time of day) in its own zone; a postponed talk is scheduled again.
    EditError for a cancelled talk, a start that has passed at `now`, or a
    time that does not exist (or happens twice) in the talk's zone."""
    schedule, old = _talk(text, source, talk_id)
    talk = schedule.talk(talk_id)
    assert talk is not None
    if talk.cancelled:
        raise EditError(f"talk {talk_id} is cancelled; if it takes place after all, remove its "
                        "'status: cancelled' line by hand first")
    wall = datetime.strptime(check_time(clock), "%H:%M").time() if clock else old.time()
    try:
        start = localize(day, wall, talk.zone)
    except WallClockError as exc:
        raise EditError(f"cannot move talk {talk_id}: {exc}") from None
    if start <= now:
        raise EditError(f"cannot move talk {talk_id} to {format_when(start)}: that is in the "
                        f"past (it is now {format_when(now.astimezone(talk.zone))})")
    text = set_field(text, source, talk_id, "date", day.isoformat())
    moved = parse_schedule(text, source).talk(talk_id)
    if moved is None or moved.start.time() != wall:  # a timestamp date, or another default
        text = set_field(text, source, talk_id, "time", f"{wall:%H:%M}")
    if talk.postponed:
        text = set_field(text, source, talk_id, "status", SCHEDULED)
    return text


def postpone(text: str, source: str, talk_id: str, note: str = "") -> str:
    """`text` with the talk marked postponed (it keeps its slot until it is
    moved), and its note set if given. EditError for a cancelled talk."""
    schedule, _ = _talk(text, source, talk_id)
    talk = schedule.talk(talk_id)
    if talk is not None and talk.cancelled:
        raise EditError(f"talk {talk_id} is cancelled; a cancelled talk cannot be postponed")
    text = set_field(text, source, talk_id, "status", POSTPONED)
    if note.strip():
        text = set_field(text, source, talk_id, "note", note.strip())
    return text


# --- reading and writing --------------------------------------------------------------


@contextlib.contextmanager
def lock(path: Path) -> Iterator[None]:
    """Held by an organiser's edit of the data file at `path` from reading it
    to recording the change, so that two edits at once are made one after
    the other, each on the file as the other left it (read it under the lock)."""
    with locked(Path(os.path.realpath(path))):
        yield


def read_text(path: Path) -> str:
    """The file's exact text (no newline translation); a file larger than
    the loader's limit, a pipe or a device is refused before reading."""
    try:
        return read_bounded(path, MAX_BYTES).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EditError(f"{path} is not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    except FileTooLarge:
        raise EditError(f"{path} is larger than {size_text(MAX_BYTES)}{TOO_LARGE}") from None
    except OSError as exc:
        raise EditError(f"cannot read {path}: {exc.strerror or exc}") from None


def validate(text: str, source: str) -> Schedule:
    """The edited text as a schedule; EditError with every problem if invalid."""
    try:
        return parse_schedule(text, source)
    except InvalidData as exc:
        raise EditError("the edit would make the file invalid, so nothing was written:\n"
                        + "\n".join(str(p) for p in exc.problems)) from None


def write(path: Path, original: str, new: str, now: datetime) -> Recorded:
    """Validate `new`, record it in the ledger, then replace `path` with it
    atomically (keeping the file's mode); returns what was recorded (the
    ledger's warnings included). Call it holding `lock(path)`. Refuses,
    writing nothing to `path`, if the file changed since `original` was read
    or the ledger cannot record the change. (Should `path` then fail to be
    replaced, the ledger holds a revision that never was: the next record
    counts it as changed back, and SEQUENCE only grows.)"""
    schedule = validate(new, str(path))
    signature = stat_signature(path)
    if read_text(path) != original:
        raise EditError(f"{path} changed while it was being edited; run the command again")

    def unchanged() -> None:
        if stat_signature(path) != signature:
            raise EditError(f"{path} changed while it was being edited; run the command again")

    recorded = record(path, now, text=new, schedule=schedule)
    if not recorded.recorded:
        raise EditError(f"the revision ledger {recorded.ledger} cannot record the change, so "
                        f"{path} was not written:\n" + "\n".join(recorded.errors))
    write_atomically(path, new, before_replace=unchanged)
    return recorded
