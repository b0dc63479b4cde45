"""The one cache of rendered work: results of pure functions kept by their
arguments, so that a rebuild after an edit renders only what changed.

Formats stay plain pure functions: each takes a ``memo`` through which it
calls its per-talk (or per-zone) parts, ``direct`` by default. The snapshot
and the members' calendar pass ``KEPT``. Only immutable results are kept:
bytes, str, Markup and tuples of frozen dataclasses."""

from __future__ import annotations

import threading
from collections import OrderedDict
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


class Kept:
    """A memo that keeps the `size` most recently used results."""

    def __init__(self, size: int = SIZE):
        self.size = size
        self._results: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, function: Callable[..., T], /, *args: Any) -> T:
        key = (function, *args)
        with self._lock:
            if key in self._results:
                self._results.move_to_end(key)
                return self._results[key]
        result = function(*args)
        with self._lock:
            self._results[key] = result
            if len(self._results) > self.size:
                self._results.popitem(last=False)
        return result

    def __len__(self) -> int:
        return len(self._results)


KEPT = Kept()
