"""Small file utilities shared by the ledger, the secrets and the publisher:
cheap change detection, a lock shared by processes, and atomic writes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Iterator

Signature = tuple[int, int, int]  # mtime_ns, size, inode


def stat_signature(path: Path) -> Signature | None:
    """What changes whenever the file is written or replaced; None if missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock shared by every process that writes `path`."""
    try:
        handle = open(path.with_name(path.name + ".lock"), "a")
    except OSError:
        yield  # a read-only directory: nothing will be written anyway
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` so that readers see the old or the new file
    whole. The new file is private to its owner (mkstemp's mode 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
