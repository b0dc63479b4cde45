"""The one cache of rendered work: results of pure functions kept by their
arguments, so that a rebuild after an edit renders only what changed.

Formats stay plain pure functions: each takes a ``memo`` through which it
calls its per-talk (or per-zone) parts, ``direct`` by default. The snapshot
and the members' calendar pass ``KEPT``, which keeps what the last two
builds used. Only immutable results are kept: bytes, str, Markup, frozen
dataclasses and tuples of them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
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


#: A run ends after a talk whose id hashes to 0 under this mask: about 64
#: talks per run, cut by content, so that an added talk changes one run.
RUN_MASK = 63


def each_talk(memo: Memo, function: Callable[..., T], calls: Iterable[tuple[Any, ...]]) -> list[T]:
    """``[memo(function, *call) for call in calls]`` (each call's first
    argument a talk), asked of `memo` a run of calls at a time: a document
    of every talk looks up a few hundred runs, not every talk, and renders
    again only the talks of the runs that changed."""
    results: list[T] = []
    run: list[tuple[Any, ...]] = []
    for call in calls:
        run.append(call)
        if hash(call[0].id) & RUN_MASK == 0:
            results += memo(_run, function, tuple(run), memo)
            run = []
    if run:
        results += memo(_run, function, tuple(run), memo)
    return results


def _run(function: Callable[..., T], calls: tuple[tuple[Any, ...], ...],
         memo: Memo) -> tuple[T, ...]:
    return tuple(memo(function, *call) for call in calls)


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
        self._entries: dict[_Key, _Entry] = {}
        #: The build under way; each entry says the last build that used it.
        self._generation = 0
        self._calls = threading.local()  # per thread: the calls being made, innermost last

    def __call__(self, function: Callable[..., T], /, *args: Any) -> T:
        key = _Key((function, *args))
        entry = self._entries.get(key)
        if entry is None:
            made_from: list[_Entry] = []
            stack: list[list[_Entry]] = self._calls.__dict__.setdefault("stack", [])
            stack.append(made_from)
            try:
                result = function(*args)
            finally:
                stack.pop()
            entry = _Entry(result, tuple(made_from), self._generation)
            self._entries[key] = entry
        elif entry.used != self._generation:
            entry.use(self._generation)
        callers: list[list[_Entry]] | None = self._calls.__dict__.get("stack")
        if callers:
            callers[-1].append(entry)  # the caller is made from this result
        return entry.result

    def next_generation(self) -> None:
        """A build starts: what neither the last build nor this one uses goes."""
        self._generation += 1
        last = self._generation - 1
        self._entries = {k: e for k, e in self._entries.items() if e.used >= last}

    def __contains__(self, call: tuple[Any, ...]) -> bool:
        """Whether the result of ``call`` (function, *args) is kept."""
        return _Key(call) in self._entries

    def __len__(self) -> int:
        return len(self._entries)


class _Entry:
    """A kept result, the last build that used it, and the kept results it
    was made from (used along with it)."""

    __slots__ = ("result", "made_from", "used")

    def __init__(self, result: Any, made_from: tuple[_Entry, ...], used: int):
        self.result = result
        self.made_from = made_from
        self.used = used

    def use(self, generation: int) -> None:
        self.used = generation
        for part in self.made_from:
            if part.used != generation:
                part.use(generation)


KEPT = Kept()
