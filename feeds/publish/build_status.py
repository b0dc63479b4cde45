"""The build status and the locks, shared by every process of one state
folder: status.json (the last build attempt), the build lock, the lock of
the builder that stays, and the private folder."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from feeds.files import write_atomically
from feeds.publish.layout import LOCK, PRIVATE, STATUS

log = logging.getLogger(__name__)


def read_status(state: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((state / STATUS).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def write_status(state: Path, status: Mapping[str, Any]) -> None:
    state.mkdir(parents=True, exist_ok=True)
    write_atomically(state / STATUS, json.dumps(dict(status), indent=1))


@contextlib.contextmanager
def build_lock(state: Path) -> Iterator[int | None]:
    """The builder's lock, taken without waiting: yields its descriptor, or
    None when another process holds it."""
    state.mkdir(parents=True, exist_ok=True)
    fd = os.open(state / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            yield None
            return
        yield fd
    finally:
        os.close(fd)


def _warm_lock_path(state: Path, origin: Mapping[str, Any]) -> Path:
    key = hashlib.sha256(json.dumps(dict(origin), sort_keys=True).encode()).hexdigest()[:16]
    return state / f"builder-{key}.lock"


@contextlib.contextmanager
def warm_lock(state: Path, origin: Mapping[str, Any], tries: int = 10) -> Iterator[bool]:
    """Held by the one builder process that stays for `origin` (the warm
    builder) for as long as it lives: yields whether this process holds it
    (a few tries: a worker may be looking at it this instant)."""
    state.mkdir(parents=True, exist_ok=True)
    fd = os.open(_warm_lock_path(state, origin), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        for attempt in range(tries):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if attempt < tries - 1:
                    time.sleep(0.02)
                continue
            yield True
            return
        yield False
    finally:
        os.close(fd)


def warm_builder(state: Path, origin: Mapping[str, Any]) -> bool:
    """Whether a builder process stays for `origin`: it looks for builds
    itself, so no other needs starting."""
    try:
        fd = os.open(_warm_lock_path(state, origin), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def private_dir(state: Path) -> Path:
    """A directory only the server's user can read (mode 0700). On a state
    folder that cannot be written it is used as it is (a copy in it is read)."""
    path = state / PRIVATE
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
    except OSError as exc:
        log.warning("cannot make %s private (mode 0700): %s", path, exc)
    return path
