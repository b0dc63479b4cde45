"""The data file cut into the text of each talk, so that a reload validates
only the talks whose text changed (feeds.data.loader keeps, per file, the
talks of its last reading by their text).

The cut is taken only where reading each piece alone must give what reading
the whole file gives: one block list under a top-level ``talks:`` key, each
item starting at the same indentation, and nothing that ties one piece to
another (an anchor, a document marker or a directive). Anything else, and
any piece that does not read alone as one list item, is read whole."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

#: A top-level `talks:` key with nothing after it on its line: on the
#: first line, or after a newline (a literal start the search skips to).
_TALKS_KEY = re.compile(r"talks[ \t]*:[ \t]*(?:#[^\n]*)?(?=\n|\Z)")
_TALKS_KEY_LATER = re.compile(r"\n" + _TALKS_KEY.pattern)
#: A line that changes how the file reads: a document marker or a directive.
_MARKER = re.compile(r"\n(?:---|\.\.\.|%)")
#: What an anchor starts with (a later alias could name it), where YAML
#: reads `&` as one: at a value's start.
_AMPERSAND = re.compile(r"&\S")
_BEFORE_ANCHOR = frozenset(" \t\r\n[{,:?-")
#: Blank and comment lines, then the first item's dash: its indentation.
_FIRST_ITEM = re.compile(r"(?:[ \t]*(?:#[^\n]*)?\n)*( *)-(?:[ \t]|$)", re.M)


class TalkText(NamedTuple):
    """One item of the talks list as written: its first line (0-based) and text."""

    line: int
    text: str


@dataclass(frozen=True)
class Cut:
    """The file without its talks (their lines left blank, so every line
    keeps its number) and each talk's text."""

    rest: str
    talks: tuple[TalkText, ...]


def cut(text: str) -> Cut | None:
    """The talks of `text` cut apart, or None where the file must be read whole."""
    if text.startswith(("---", "...", "%", "&")) or _MARKER.search(text) or any(
            text[m.start() - 1] in _BEFORE_ANCHOR for m in _AMPERSAND.finditer(text, 1)):
        return None
    first_line = _TALKS_KEY.match(text)
    keys = ([first_line] if first_line else []) + list(_TALKS_KEY_LATER.finditer(text))
    if len(keys) != 1:
        return None
    after = keys[0].end() + 1
    first = _FIRST_ITEM.match(text, after)
    if first is None:
        return None
    indent = len(first.group(1))
    start = first.start(1)
    # The list ends at the first line that is neither deeper than its
    # dashes (most lines: tried first), blank, a comment, nor one of its
    # items. (Each pattern starts with the newline before a line: the
    # search skips to it.)
    end_line = re.compile(rf"\n(?! {{{indent + 1}}})(?![ \t]*(?:#|\n|$))"
                          rf"(?! {{{indent}}}-(?:[ \t]|\n|$))")
    ended = end_line.search(text, start)
    end = ended.start() + 1 if ended else len(text)
    item = re.compile(rf"\n {{{indent}}}-(?:[ \t]|\n|$)")
    starts = [start, *(m.start() + 1 for m in item.finditer(text, start, end))]
    talks = []
    line = text.count("\n", 0, start)
    for begin, stop in zip(starts, [*starts[1:], end], strict=True):
        piece = text[begin:stop]
        talks.append(TalkText(line, piece))
        line += piece.count("\n")
    rest = text[:start] + "\n" * text.count("\n", start, end) + text[end:]
    return Cut(rest, tuple(talks))
