"""The tree prepared ahead for the next build: while the builder that stays
waits for an edit, a thread hard-links the current build's files into a
temporary directory, which the next `builds.publish` takes as its own; and
`unchanged_in`, the current build's files the next build may link."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from feeds import files
from feeds.formats.delivery import GZIP_SUFFIX, Resource
from feeds.publish import export
from feeds.publish.layout import FILES, SITE, builds_dir, current_name


class PreparedTree:
    """The next build's tree, made ahead while the builder that stays waits
    for an edit: a new build is a new tree, and under load each folder (one
    per talk) costs a `mkdir` of up to a millisecond and each hard link a
    tenth of that, most of an edit's time at 20 000 talks. A thread makes,
    in a temporary directory, the site folders of the current build and
    hard-links its files there (each checked as `export.write_files` checks
    a link, and against its size in this process's last build, if it wrote
    it), then syncs them to disk; the next `publish` of this process stops
    it and takes what is made so far as its own (export.Prepared): it keeps
    the files that are unchanged, replaces the others and removes what it
    does not use."""

    def __init__(self, state: Path):
        self.directory = builds_dir(state) / f".next-{os.getpid()}.tmp"
        #: The build it is made from.
        self.source = current_name(state)
        self.made = export.Prepared()
        self._stop = threading.Event()
        #: Cleared while a build runs in this process: the build has the CPU.
        self._running = threading.Event()
        self._running.set()
        self._thread = threading.Thread(target=self._make, args=(state,), name="next-tree",
                                        daemon=True)

    def _make(self, state: Path) -> None:
        name = self.source
        if name is None:
            return
        try:
            known = json.loads((builds_dir(state) / name / FILES).read_text(encoding="utf-8"))
            source = str(builds_dir(state) / name / SITE) + "/"
            shutil.rmtree(self.directory, ignore_errors=True)
            site = self.directory / SITE
            site.mkdir(parents=True)
            base = str(site) + "/"
            made = {""}
            contents = _written.get(name, {})
            for relative, (digest, stamp) in known.items():
                self._running.wait()
                if self._stop.is_set():
                    return
                export.relative_file(relative)
                for parent in _ancestors(os.path.dirname(relative)):
                    if parent not in made:
                        os.mkdir(base + parent)
                        made.add(parent)
                        self.made.folders.append(parent)
                size = _link_checked(source + relative, base + relative)
                if size is None:
                    self.made.missing = True
                    continue
                self.made.files[relative] = (digest, stamp)
                packed = _link_checked(source + relative + GZIP_SUFFIX,
                                       base + relative + GZIP_SUFFIX, empty=False) is not None
                if packed:
                    self.made.packed.add(relative)
                content = contents.get(relative)
                if (content is not None and size == export.size_of(content)
                        and packed == export.wants_packed(content)):
                    self.made.same[relative] = content
            # Its folders and links on disk now, not in the build's own sync.
            files.syncfs(self.directory)
        except (OSError, ValueError, TypeError, export.ExportError):
            self.made = export.Prepared()  # removed under us, or unreadable: not used

    def start(self) -> PreparedTree:
        self._thread.start()
        return self

    def wait(self) -> None:
        """Until the whole tree is made."""
        self._thread.join()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def pause(self) -> None:
        """Wait, while a build of this process runs, until `resume` or `stop`."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        if self._thread.is_alive():
            self._thread.join()

    def claim(self, target: Path) -> export.Prepared:
        """Stop making the tree and move it to `target` (absent); returns
        what is now under `target`/site (nothing if it could not be moved)."""
        self.stop()
        if not self.made.folders and not self.made.files:
            return export.Prepared()
        try:
            os.rename(self.directory, target)
        except OSError:
            return export.Prepared()
        return self.made


def _link_checked(source: str, target: str, empty: bool = True) -> int | None:
    """Hard-link `source` at `target` if it is a regular file (never a
    symbolic link), `empty` or not, and return its size; None, with nothing
    at `target`, if not."""
    try:
        os.link(source, target, follow_symlinks=False)
    except FileNotFoundError:
        return None
    found = os.lstat(target)
    if stat.S_ISREG(found.st_mode) and (empty or found.st_size > 0):
        return found.st_size
    os.unlink(target)
    return None


#: The files of the last build this process wrote, by its name: what the
#: tree made from it checks each link against (export.Prepared.same).
_written: dict[str, Mapping[str, Resource | bytes]] = {}


def remember_written(name: str, files: Mapping[str, Resource | bytes]) -> None:
    """This process wrote build `name` from `files` (only the last is kept)."""
    _written.clear()
    _written[name] = files


def _ancestors(folder: str) -> list[str]:
    """'a/b/c' -> ['a', 'a/b', 'a/b/c']; [] for ''."""
    if not folder:
        return []
    parts = folder.split("/")
    return ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]


#: The tree being made for this process's next build (`prepare_next`).
_prepared: PreparedTree | None = None


def prepare_next(state: Path) -> PreparedTree:
    """Start making the next build's tree (see PreparedTree): the builder
    that stays calls it once a build is published."""
    global _prepared
    if _prepared is not None:
        if _prepared.source == current_name(state) and not _prepared.stopped:
            return _prepared  # no new build since (one failed): still good
        _prepared.stop()  # its tree is made again, or removed by remove_temporaries
    _prepared = PreparedTree(state).start()
    return _prepared


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The tree being made waits while a build of this process runs (it is
    claimed by the build, or goes on after it)."""
    prepared = _prepared
    if prepared is not None:
        prepared.pause()
    try:
        yield
    finally:
        if prepared is not None:
            prepared.resume()


def claim_prepared(state: Path, target: Path) -> export.Prepared:
    """The tree made ahead for `state`, moved to `target` (nothing if none is)."""
    global _prepared
    prepared, _prepared = _prepared, None
    if prepared is None:
        return export.Prepared()
    if prepared.directory.parent != builds_dir(state):  # another state folder's
        prepared.stop()
        return export.Prepared()
    return prepared.claim(target)


def unchanged_in(state: Path) -> export.Reuse | None:
    """Finds a file with the same digest and date in the current build, if
    it says what its files are (a build without FILES is not linked from)."""
    name = current_name(state)
    if name is None:
        return None
    directory = builds_dir(state) / name
    try:
        known = json.loads((directory / FILES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(known, dict):
        return None
    site = str(directory / SITE) + "/"

    def reuse(relative: str, digest: str, stamp: float | None) -> str | None:
        return site + relative if known.get(relative) == [digest, stamp] else None
    return reuse
