"""The YAML node reader shared by the data file and the secrets file.

Values are read from YAML's node tree rather than its constructed objects, so
that every error names file:line:column and YAML 1.1's traps (``17:00`` as the
integer 1020, ``no`` as False) never reach the model."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any, Literal, overload
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from feeds import timezones
from feeds.files import FileTooLarge, NotARegularFile, read_bounded

try:  # the C loader is several times faster
    from yaml import CSafeLoader as YamlLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as YamlLoader  # type: ignore[assignment]

#: The plain scalars YAML reads as null; the reader asks nothing else of a tag.
NULLS = frozenset(("", "~", "null", "Null", "NULL"))
NULL_TAG = "tag:yaml.org,2002:null"


class TreeLoader(YamlLoader):
    """libyaml's loader, resolving a plain scalar's tag only as null or
    text: the reader reads every value from its text (and its line), and
    the full resolver's regular expressions cost about as much as parsing."""

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            return NULL_TAG if implicit[0] and value in NULLS else self.DEFAULT_SCALAR_TAG
        if kind is yaml.SequenceNode:
            return self.DEFAULT_SEQUENCE_TAG
        return self.DEFAULT_MAPPING_TAG


TIME_PATTERN = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
# Characters that iCalendar, XML 1.0 and HTML cannot all carry as text. C1
# controls (U+0080-U+009F) are HTML parse errors that feed readers turn into
# Windows-1252 characters; parsers drop U+FEFF as a byte-order mark.
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class Problem:
    """One mistake in the data file, with where it is and what to do."""

    source: str
    line: int  # 1-based; 0 when the whole file is concerned
    column: int
    message: str
    talk_id: str = ""
    #: What kind of mistake, in words of the code alone: never anything
    #: written in the file (which may be a link to a private file).
    kind: str = ""

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}:{self.column}" if self.line else self.source

    def __str__(self) -> str:
        who = f" talk {self.talk_id}:" if self.talk_id else ""
        return f"{self.where}:{who} {self.message}"

    @property
    def public(self) -> str:
        """The problem for a public page (/healthz): where and what kind,
        without the text of the file; `feeds validate` shows the details."""
        return f"{self.where}: {self.kind or 'a mistake'} (details: feeds validate)"


class InvalidData(ValueError):
    """The data file has mistakes; ``problems`` lists all of them."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


Node = yaml.Node


class Reader:
    """Walks the YAML node tree, collecting problems instead of stopping."""

    def __init__(self, source: str, echo: bool = True):
        self.source = source
        self.problems: list[Problem] = []
        #: What still works but should change (e.g. a renamed key): never stops a build.
        self.warnings: list[Problem] = []
        self.talk_id = ""
        #: Whether messages may quote what was written; never for a secrets
        #: file, where a key may be a token or a join link written by mistake.
        self.echo = echo

    def _key(self, key: str) -> str:
        return repr(key) if self.echo else "(not repeated here)"

    def error(self, node: Node | None, message: str, kind: str = "") -> None:
        """Record a mistake at `node`: `message` for the organiser, `kind`
        (code's words only, nothing from the file) for public pages."""
        line, col = (node.start_mark.line + 1, node.start_mark.column + 1) if node else (0, 0)
        self.problems.append(Problem(self.source, line, col, message, self.talk_id, kind))

    def warn(self, node: Node | None, message: str, kind: str = "") -> None:
        """Record, at `node`, what works but should change (`kind` as for error)."""
        line, col = (node.start_mark.line + 1, node.start_mark.column + 1) if node else (0, 0)
        self.warnings.append(Problem(self.source, line, col, message, self.talk_id, kind))

    def mapping(self, node: Node, what: str, allowed: set[str],
                required: tuple[str, ...] = ()) -> dict[str, Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping of keys to values",
                       f"{what} must be a mapping")
            return None
        result: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else ""
            if key not in allowed:
                self.error(key_node, f"unknown key {self._key(key)} in {what}; "
                                     f"allowed keys are: {', '.join(sorted(allowed))}",
                           f"an unknown key in {what}")
            elif key in result:
                self.error(key_node, f"key {self._key(key)} appears twice in {what}; keep one",
                           f"a key appears twice in {what}")
            else:
                result[key] = value_node
        for key in required:
            if key not in result:
                message = f"{what} is missing the required key {key!r}"
                self.error(node, message, message)  # `key` is the code's
        return result

    def sequence(self, node: Node, what: str) -> list[Node]:
        if is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list (lines starting with '- ')",
                       f"{what} must be a list")
            return []
        return list(node.value)

    def text(self, node: Node | None, what: str, *, required: bool = False,
             multiline: bool = False) -> str:
        if node is None or is_null(node):
            if required:
                self.error(node, f"{what} must not be empty", f"{what} is empty")
            return ""
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, f"{what} must be text, not a list or mapping",
                       f"{what} must be text")
            return ""
        value = node.value.replace("\r\n", "\n").replace("\r", "\n")
        bad = FORBIDDEN.search(value)
        if bad:
            self.error(node, f"{what} contains the control character "
                             f"U+{ord(bad.group()):04X}; remove it",
                       f"{what} contains a control character")
            return ""
        value = unicodedata.normalize("NFC", value)
        value = value.strip() if multiline else " ".join(value.split())
        if required and not value:
            self.error(node, f"{what} must not be empty", f"{what} is empty")
        return value

    def url(self, node: Node | None, what: str) -> str:
        value = self.text(node, what)
        if value and not valid_url(node.value if node is not None else value):
            self.error(node, f"{what} {value!r} is not a web address; write a full "
                             "http:// or https:// URL without spaces",
                       f"{what} is not a web address")
            return ""
        return value

    def zone(self, node: Node | None, what: str) -> ZoneInfo | None:
        name = self.text(node, what)
        try:
            return timezones.get_zone(name)
        except ZoneInfoNotFoundError:
            self.error(node, f"{what} {name!r} is not a known time zone; use an IANA "
                             "name such as Europe/Berlin or America/New_York",
                       f"{what} is not a known time zone")
            return None

    def clock(self, node: Node, what: str) -> time | None:
        match = TIME_PATTERN.fullmatch(node.value.strip()) if isinstance(node, yaml.ScalarNode) else None
        if not match:
            self.error(node, f"{what} must be a time of day such as \"17:00\" (24-hour HH:MM)",
                       f"{what} is not a time of day")
            return None
        return time(int(match.group(1)), int(match.group(2)))

    def minutes(self, node: Node, what: str) -> timedelta | None:
        raw = node.value.strip() if isinstance(node, yaml.ScalarNode) else ""
        if not raw.isdigit() or not 1 <= int(raw) <= 24 * 60:
            self.error(node, f"{what} must be a whole number of minutes between 1 and 1440",
                       f"{what} is not a number of minutes from 1 to 1440")
            return None
        return timedelta(minutes=int(raw))


def is_null(node: Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == NULL_TAG


def valid_url(raw: str) -> bool:
    """An absolute http(s) URL without spaces or control characters."""
    raw = raw.strip()
    if any(ch.isspace() for ch in raw) or FORBIDDEN.search(raw):
        return False
    try:
        parts = urlsplit(raw)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


_QUOTED = re.compile(r"'[^']{2,}'|\"[^\"]{2,}\"")


def node_tree(text: str, source: str, echo: bool = True) -> Node | None:
    """The YAML node tree of `text`; InvalidData naming line:column if it is
    not YAML. Without `echo`, the message quotes nothing that was written."""
    try:
        return yaml.compose(text, Loader=TreeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        problem = f"{exc.problem or 'invalid YAML'}"
        if exc.context:
            problem = f"{exc.context}, {problem}"
        if not echo:
            problem = _QUOTED.sub("'…'", problem)
        raise InvalidData([Problem(source, line, col,
                                   f"this is not valid YAML ({problem}); check the "
                                   "indentation and quote text that contains ': ' or '#'",
                                   kind="not valid YAML")]) from None
    except yaml.YAMLError as exc:
        detail = f": {exc}" if echo else ""
        raise InvalidData([Problem(source, 0, 0, f"this is not valid YAML{detail}",
                                   kind="not valid YAML")]) from None


def key_value(root: Node | None, key: str) -> Node | None:
    """The value node of `key` in the mapping `root`, if there is one."""
    if isinstance(root, yaml.MappingNode):
        for k, v in root.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def size_text(limit: int) -> str:
    """A byte limit for a message: '32 MB', '1 MB', '64 KB'."""
    return f"{limit // 2**20} MB" if limit >= 2**20 else f"{limit // 2**10} KB"


@overload
def read_text(path: Path, *, limit: int, too_large: str = "") -> str: ...
@overload
def read_text(path: Path, missing_ok: Literal[True], *, limit: int,
              too_large: str = "") -> str | None: ...


def read_text(path: Path, missing_ok: bool = False, *, limit: int,
              too_large: str = "") -> str | None:
    """The file's text, read only if it is a regular file of at most `limit`
    bytes (never more is read; a pipe or device is refused without waiting).
    Size, decoding and OS errors become one Problem; `too_large` is added to
    the size message. A missing file is None where `missing_ok`, else a
    Problem too."""
    try:
        return read_bounded(path, limit).decode("utf-8")
    except FileNotFoundError as exc:
        if missing_ok:
            return None
        problem = f"cannot read the file: {exc.strerror or exc}"
    except FileTooLarge:
        problem = f"the file is larger than {size_text(limit)}{too_large}"
    except NotARegularFile as exc:
        problem = f"cannot read the file: {exc.strerror}; give the path of the file itself"
    except UnicodeDecodeError as exc:
        problem = f"the file is not UTF-8 text ({exc.reason}); save it as UTF-8"
    except OSError as exc:
        problem = f"cannot read the file: {exc.strerror or exc}"
    raise InvalidData([Problem(str(path), 0, 0, problem, kind=problem)])  # nothing of the file
