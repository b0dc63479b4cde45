"""The one cache of rendered work: results of pure functions kept by their
arguments, so that a rebuild after an edit renders only what changed.

Formats stay plain pure functions: each takes a ``memo`` through which it
calls its per-talk (or per-zone) parts, ``direct`` by default. The snapshot
and the members' calendar pass ``KEPT``, which keeps what the last two
builds used. Only immutable results are kept: bytes, str, Markup, frozen
dataclasses and tuples of them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
#: Results kept: a few per talk (event, members' event, page, article, feed
#: entries, JSON record, .ics) for archives of several thousand talks.
SIZE = 1 << 16


class Memo(Protocol):
    """Calls ``function(*args)``, or returns what an equal call returned."""

    def __call__(self, function: Callable[..., T], /, *args: Any) -> T: ...


def direct(function: Callable[..., T], /, *args: Any) -> T:
    """The memo that keeps nothing."""
    return function(*args)


class _Key:
    """A call's function and arguments, hashed once: a talk's hash covers
    every field, and a kept result is looked up more than once."""

    __slots__ = ("parts", "hash")

    def __init__(self, parts: tuple[Any, ...]):
        self.parts = parts
        self.hash = hash(parts)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self.parts == other.parts


class Kept:
    """A memo that keeps what the latest build used and what the build
    before it used: ``next_generation()`` starts a build, and a result that
    two builds in a row did not ask for is let go. A result found in the
    last build brings along the results it was made from (an unchanged talk
    page keeps its article), so memory follows the data and a rebuild finds
    everything the previous build rendered."""

    def __init__(self) -> None:
        self._current: dict[_Key, _Entry] = {}
        self._previous: dict[_Key, _Entry] = {}
        self._calls = threading.local()  # per thread: the calls being made, innermost last

    def __call__(self, function: Callable[..., T], /, *args: Any) -> T:
        key = _Key((function, *args))
        entry = self._current.get(key) or self._promote(key)
        if entry is None:
            made_from: list[_Key] = []
            stack: list[list[_Key]] = self._calls.__dict__.setdefault("stack", [])
            stack.append(made_from)
            try:
                result = function(*args)
            finally:
                stack.pop()
            entry = _Entry(result, tuple(made_from))
            self._current[key] = entry
        callers: list[list[_Key]] | None = self._calls.__dict__.get("stack")
        if callers:
            callers[-1].append(key)  # the caller is made from this result
        return entry.result

    def _promote(self, key: _Key) -> _Entry | None:
        """Move `key`, and what it was made from, from the last build into this one."""
        entry = self._previous.pop(key, None)
        if entry is not None:
            self._current[key] = entry
            for part in entry.made_from:
                if part not in self._current:
                    self._promote(part)
        return entry

    def next_generation(self) -> None:
        """A build starts: what neither it nor the last build uses goes."""
        self._previous, self._current = self._current, {}

    def __contains__(self, call: tuple[Any, ...]) -> bool:
        """Whether the result of ``call`` (function, *args) is kept."""
        key = _Key(call)
        return key in self._current or key in self._previous

    def __len__(self) -> int:
        return len(self._current.keys() | self._previous.keys())


class _Entry:
    """A kept result and the kept results it was made from."""

    __slots__ = ("result", "made_from")

    def __init__(self, result: Any, made_from: tuple[_Key, ...]):
        self.result = result
        self.made_from = made_from


_MISSING = object()
KEPT = Kept()
