"""Small file utilities shared by the ledger, the secrets, the publisher and
the export: bounded reads, cheap change detection, a lock shared by
processes, atomic writes, directory swaps and syncing a tree to disk."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import secrets
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

Signature = tuple[int, int, int]  # mtime_ns, size, inode
_CHUNK = 1 << 20
_KINDS = {stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a directory"}


class NotARegularFile(OSError):
    """The path names a pipe, a device, a socket or a directory."""


class FileTooLarge(OSError):
    """The file holds more than the reader's limit; `size` is what it claims
    (at least limit + 1)."""

    def __init__(self, path: Path, limit: int, size: int):
        super().__init__(f"{path} is larger than {limit} bytes")
        self.limit, self.size = limit, size


def _check_regular(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise NotARegularFile(0, f"it is {kind}, not a regular file", str(path))


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at `path` (symbolic links followed),
    refused before reading when it is larger than `limit`, and never more
    than limit + 1 bytes read (a file that grows meanwhile is refused too).
    A FIFO, device, socket or directory is refused without blocking:
    NotARegularFile. FileTooLarge when too large; other OSErrors as raised."""
    _check_regular(path, os.stat(path))
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)  # what was opened, if it was swapped since the stat
        _check_regular(path, st)
        if st.st_size > limit:
            raise FileTooLarge(path, limit, st.st_size)
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise FileTooLarge(path, limit, total)
        return b"".join(chunks)
    finally:
        os.close(fd)


def stat_signature(path: Path) -> Signature | None:
    """What changes whenever the file is written or replaced; None if missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class FileWatch:
    """Looks at a file at most once per `interval` seconds: ``check(act)``
    runs `act` when a look is due and no other thread is already looking, so
    that requests never queue behind a reload."""

    def __init__(self, path: Path, interval: float,
                 monotonic: Callable[[], float] = time.monotonic):
        self.path = path
        self.interval = interval
        #: The file's signature when it was last acted on.
        self.seen: Signature | None = None
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._next = 0.0

    def signature(self) -> Signature | None:
        return stat_signature(self.path)

    def check(self, act: Callable[[], None], force: bool = False) -> None:
        """Run `act` if a look is due; `force` looks now, waiting for the lock."""
        if not force and self._monotonic() < self._next:
            return
        if not self._lock.acquire(blocking=force):
            return  # another thread is already on it
        try:
            self._next = self._monotonic() + self.interval
            act()
        finally:
            self._lock.release()

    def retry_in(self, seconds: float) -> None:
        """Look again after `seconds` at the latest."""
        self._next = min(self._next, self._monotonic() + seconds)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[bool]:
    """An exclusive lock shared by every process that writes `path`; yields
    whether it is held. The lock file is opened read-only (enough for
    ``flock``), so that accounts sharing a directory can all take it
    whoever created it."""
    try:
        fd = os.open(path.with_name(path.name + ".lock"), os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError:
        yield False  # a read-only directory: nothing will be written anyway
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _temporary_prefix(target: Path) -> str:
    return f".{target.name}."


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files that an interrupted write_atomically of
    `path` left behind (a kill -9 between writing and renaming). Only call
    it holding the lock that every writer of `path` takes."""
    target = Path(os.path.realpath(path))
    removed = []
    for candidate in target.parent.glob(_temporary_prefix(target) + "*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
            removed.append(candidate)
    return removed


def directory_file_mode(path: Path) -> int:
    """The mode for a new file in the directory of `path`: as readable and
    writable as the directory itself (a group-writable directory gets a
    group-writable file), never executable."""
    try:
        return stat.S_IMODE(os.stat(Path(path).parent).st_mode) & 0o666
    except OSError:
        return 0o644


def write_atomically(path: Path, text: str, new_mode: int = 0o644,
                     before_replace: Callable[[], None] | None = None) -> None:
    """Replace `path` with `text` so that readers see the old or the new file
    whole. A symbolic link is written through; the file keeps its mode and
    group, and a new file gets `new_mode`. `before_replace` may raise to
    leave the file as it was."""
    target = Path(os.path.realpath(path))
    try:
        st = os.stat(target)
        mode, group = stat.S_IMODE(st.st_mode), st.st_gid
    except FileNotFoundError:
        mode, group = new_mode, -1
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=_temporary_prefix(target), suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            if group not in (-1, os.getegid()):
                with contextlib.suppress(PermissionError):  # not a member of that group
                    os.fchown(handle.fileno(), -1, group)
            os.fsync(handle.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def sibling_directory(target: Path) -> Path:
    """A new empty directory beside `target`, with the usual permissions
    (the umask's), to be filled and then swapped in."""
    while True:
        candidate = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue


def replace_directory(new: Path, target: Path) -> None:
    """Put the directory `new` at `target` and remove what was there. For a
    moment between the two renames there is no `target`; never a mix of two."""
    if not target.exists():
        os.rename(new, target)
        return
    old = new.with_name(new.name + ".old")
    os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old)


def sync_directory(path: Path) -> None:
    """The directory `path` on disk (its entries: names added, renamed, removed)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(root: Path) -> None:
    """Every file and directory under `root` on disk: one syncfs(2) of its
    file system where Linux offers it (one call at any number of files and
    folders: it writes their metadata, folder entries included, too), else
    an fsync per file, then per directory."""
    if syncfs(root):
        return
    for file in root.rglob("*"):
        if file.is_file():
            fd = os.open(file, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    for directory in [root, *(d for d in root.rglob("*") if d.is_dir())]:
        sync_directory(directory)


def syncfs(path: Path) -> bool:
    """Everything written to the file system `path` is on, on disk, by one
    syncfs(2); False where Linux does not offer it (nothing is done)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return bool(call(fd) == 0)
    finally:
        os.close(fd)
