"""The static export (`feeds build`): every route of a snapshot as a file,
byte for byte, plus the settings static hosts need to send each file with
the server's headers.

Where each route goes: pages are folders (``/``, ``/talks/x/``, ``/embed/``)
and get ``index.html``, which every static host serves without rewrites
(``python3 -m http.server``, GitHub Pages, Netlify, Cloudflare Pages, S3
website hosting), and each redirects the folder's name without the slash
(``/talks/x``, the address in calendars and feeds) to it. A route with a file
extension keeps its path. The older ``.html`` files (``talks/x.html``,
``embed.html``) stay, as small pages that send the browser on to the folder.

The site is written into a temporary directory beside OUTDIR and renamed
into place, so OUTDIR is never a mix of an old and a new site."""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import os
import posixpath
import shutil
import stat
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

from feeds import urls
from feeds.files import replace_directory, sibling_directory
from feeds.formats import pages
from feeds.formats.delivery import GZIP_SUFFIX, Delivery, Resource, gzipped
from feeds.publish.snapshot import Snapshot

HEADERS_FILE = "_headers"  # read by Netlify and Cloudflare Pages, not served
NOT_FOUND = "404.html"  # sent by Netlify, Cloudflare Pages and GitHub Pages for a missing page
NOJEKYLL = ".nojekyll"  # GitHub Pages: publish the files as they are
MARKER = ".feeds-build"  # marks a directory that `feeds build` may replace
MARKER_TEXT = b"Written by `feeds build`; the whole directory is replaced on each build.\n"
RULE_LIMIT = 100  # Cloudflare Pages reads at most this many rules
Rule = tuple[str, dict[str, str]]


class ExportError(Exception):
    """The site cannot be written where it was asked to go."""


def redirect_files(snapshot: Snapshot) -> dict[str, bytes]:
    """``talks/x.html`` -> ``x/`` for every folder page: the older export's
    files, where search engines and bookmarks may still have them."""
    site = snapshot.context.site
    return dict(_redirect(route, site) for route, resource in snapshot.routes.items()
                if resource.delivery.page and route.endswith("/") and route != "/")


@functools.lru_cache(maxsize=1 << 17)
def _redirect(route: str, site: urls.Site) -> tuple[str, bytes]:
    """The older file of the folder page `route` and its bytes (kept: the
    same bytes object from build to build, which a build links unchecked)."""
    folder = route.rstrip("/")
    return folder.lstrip("/") + ".html", pages.redirect_page(posixpath.basename(folder) + "/",
                                                              site.url(route))


def file_path(route: str, resource: Resource) -> str:
    """The file, relative to OUTDIR, that a static host serves at `route`."""
    relative = route.lstrip("/")
    if not relative or relative.endswith("/"):
        return relative + "index.html"
    name = relative.rsplit("/", 1)[-1]
    if "." not in name and resource.delivery.page:
        return relative + ".html"
    return relative


def host_headers(route: str, resource: Resource, max_age: int) -> dict[str, str]:
    """The server's headers for `resource` as a static host should send them.

    Three differences, each to keep the host's rules few and unambiguous:
    HTML files get their Content-Type from their ``.html`` name; only
    calendars set Cache-Control (for ``no-transform``: no gzip), since static
    hosts revalidate everything else with their own ETags and purge their
    CDN on each deploy; and a download named like its URL says
    ``attachment`` without repeating the name."""
    result = resource.headers(max_age)
    if resource.delivery.page:
        del result["Content-Type"]
    if not resource.delivery.no_transform:
        del result["Cache-Control"]
    if resource.download_name and resource.download_name == posixpath.basename(route):
        result["Content-Disposition"] = "attachment"
    return result


def _matching(rule: str, ordered: list[str], position: Mapping[str, int]) -> list[str]:
    """The routes a one-``*`` rule matches (hosts read ``*`` as anything), in their own
    order: found by prefix in the `ordered` (sorted) routes rather than by
    trying every route, so that thousands of folder rules stay cheap."""
    prefix, _, suffix = rule.partition("*")
    found = []
    # Walked by index: a slice would copy the rest of the list for every rule.
    for index in range(bisect.bisect_left(ordered, prefix), len(ordered)):
        route = ordered[index]
        if not route.startswith(prefix):
            break
        if route.endswith(suffix) and len(route) >= len(prefix) + len(suffix):
            found.append(route)
    return sorted(found, key=position.__getitem__)


#: The last rules computed, by what they depend on: a build whose routes
#: keep their deliveries and download names (an edit) derives them from it.
_last_rules: tuple[tuple[object, ...], list[Rule]] | None = None


def header_rules(snapshot: Snapshot, max_age: int) -> list[Rule]:
    """`_rules` for `snapshot`, taken from the last build when its routes,
    deliveries and download names are the same (the headers depend on nothing else)."""
    global _last_rules
    key = (max_age, *((route, r.delivery, r.download_name) for route, r in snapshot.routes.items()))
    if _last_rules is not None and _last_rules[0] == key:
        return [(rule, dict(values)) for rule, values in _last_rules[1]]
    rules = _rules(snapshot, max_age)
    _last_rules = (key, [(rule, dict(values)) for rule, values in rules])
    return rules


def _rules(snapshot: Snapshot, max_age: int) -> list[Rule]:
    """Rules for a `_headers` file that give every route exactly its headers.

    Hosts apply every rule whose pattern matches and join a header set twice,
    so each header of a route comes from exactly one rule: first from
    wildcard rules (``/talks/*``, ``/*.ics``) for what all their routes share,
    then from one rule per route for the rest."""
    wanted = {route: host_headers(route, resource, max_age)
              for route, resource in snapshot.routes.items()}
    candidates: set[str] = set()
    for route in wanted:
        folder, name = posixpath.split(route)
        prefix = folder.rstrip("/") + "/"
        candidates.add(prefix + "*")
        if "." in name:
            candidates.add(prefix + "*." + name.rsplit(".", 1)[1])
    ordered, position = sorted(wanted), {route: n for n, route in enumerate(wanted)}
    matched = {rule: _matching(rule, ordered, position) for rule in candidates}
    rules: list[Rule] = []
    for rule in sorted(candidates, key=lambda r: (-len(matched[r]), r)):
        routes = matched[rule]
        if len(routes) < 2:
            continue
        shared = dict(wanted[routes[0]])
        for route in routes[1:]:
            shared = {k: v for k, v in shared.items() if wanted[route].get(k) == v}
        if shared:
            rules.append((rule, shared))
            for route in routes:
                wanted[route] = {k: v for k, v in wanted[route].items() if k not in shared}
    rules += [(route, rest) for route, rest in sorted(wanted.items()) if rest]
    return rules


def render_rules(rules: list[Rule]) -> str:
    lines = ["# Written by `feeds build`: the server's headers for Netlify and Cloudflare Pages."]
    for rule, values in rules:
        lines += ["", rule, *(f"  {name}: {value}" for name, value in values.items())]
    return "\n".join(lines) + "\n"


def site_files(snapshot: Snapshot, max_age: int,
               rules: list[Rule] | None = None) -> dict[str, Resource | bytes]:
    """Every file of the site, relative to OUTDIR: routes and host settings
    (`rules`: the header rules, if the caller has them already)."""
    files: dict[str, Resource | bytes] = {}
    for route, resource in snapshot.routes.items():
        path = file_path(route, resource)
        if path in files or path in (HEADERS_FILE, NOJEKYLL, MARKER, NOT_FOUND):
            raise ExportError(f"two routes would be written to {path}")
        files[path] = resource
    for path, body in redirect_files(snapshot).items():
        files.setdefault(path, body)
    files[NOT_FOUND] = snapshot.not_found
    if rules is None:
        rules = header_rules(snapshot, max_age)
    files[HEADERS_FILE] = render_rules(rules).encode()
    files[NOJEKYLL] = b""
    files[MARKER] = MARKER_TEXT
    return files


def _check_replaceable(outdir: Path) -> None:
    if outdir.is_symlink():
        raise ExportError(f"{outdir} is a symbolic link; build into the directory it points to")
    if not outdir.exists():
        return
    if not outdir.is_dir():
        raise ExportError(f"{outdir} exists and is not a directory")
    if any(outdir.iterdir()) and not (outdir / MARKER).exists():
        raise ExportError(f"{outdir} is not empty and was not written by `feeds build`; "
                          "remove it or choose another directory")


def relative_file(relative: str) -> str:
    """`relative` if it names a file inside the site, checked by its text
    alone (no absolute path, no empty, '.' or '..' part, no backslash or
    NUL); ExportError otherwise. The names come from the route table, so
    nothing on disk needs resolving."""
    parts = relative.split("/")
    if any(part in ("", ".", "..") or "\\" in part or "\0" in part for part in parts):
        raise ExportError(f"{relative} would be written outside the site")
    return relative


#: Finds a file with the same bytes and date in an earlier build:
#: (relative path, ETag-style digest, Last-Modified stamp or None) -> its path, or None.
Reuse = Callable[[str, str, float | None], str | None]


def digest(content: Resource | bytes) -> str:
    """The file's digest: the route's ETag, or the same hash of plain bytes."""
    if isinstance(content, Resource):
        return content.etag
    return hashlib.sha256(content).hexdigest()[:32]


def stamp_of(content: Resource | bytes) -> float | None:
    """The file's modification time (a route's Last-Modified), if it has one."""
    return content.last_modified.timestamp() if isinstance(content, Resource) else None


@dataclass
class Prepared:
    """What is under a build's site folder before `write_files`: `folders`
    (relative, parents first) and `files` hard-linked ahead from an earlier
    build, by their digest and date there, with `packed`, those whose `.gz`
    is linked beside them."""

    folders: list[str] = field(default_factory=list)
    files: dict[str, tuple[str, float | None]] = field(default_factory=dict)
    packed: set[str] = field(default_factory=set)
    #: Files linked from a build this process wrote, found whole (size, and
    #: `.gz` where wanted) when linked: the content they were written from.
    #: A file whose content is the same object again is kept unchecked.
    same: dict[str, Resource | bytes] = field(default_factory=dict)
    #: A file could not be linked: a folder made for it may be empty.
    missing: bool = False


def write_files(root: Path, files: Mapping[str, Resource | bytes],
                reuse: Reuse | None = None,
                prepared: Prepared | None = None) -> dict[str, tuple[str, float | None]]:
    """Write `files` (from site_files) under `root`, each route's file dated
    by its Last-Modified. A file that `reuse` finds unchanged in an earlier
    build is hard-linked from it instead of written. What is `prepared`
    under `root` is kept where it is the file wanted (checked as a link is,
    or not again where it was linked, whole, for the same content object),
    replaced where not, and removed where no file is wanted, so that the
    tree is the same. Returns every file's digest and date (what a later
    build compares with)."""
    prepared = prepared or Prepared()
    with ThreadPoolExecutor(max_workers=WRITERS) as writers:
        return _write_all(root, files, reuse, prepared, writers)


#: Threads that write (and gzip) the large files while the rest are linked:
#: zlib and file writes let other threads run.
WRITERS = 2
#: From this size a file is written by one of the WRITERS.
WRITTEN_APART = 1 << 16


def _write_all(root: Path, files: Mapping[str, Resource | bytes], reuse: Reuse | None,
               prepared: Prepared, writers: ThreadPoolExecutor) -> dict[str, tuple[str, float | None]]:
    made: set[str] = set(prepared.folders)
    if made:
        made.add("")
    written: dict[str, tuple[str, float | None]] = {}
    pending: list[Future[None]] = []
    base = str(root)
    for relative, content in files.items():
        there = prepared.files.get(relative)
        if there is not None and prepared.same.get(relative) is content:
            written[relative] = there
            continue
        target = base + "/" + relative
        digest_, stamp = digest(content), stamp_of(content)
        written[relative] = (digest_, stamp)
        if there is not None:  # its name and folder were checked when it was first written
            if there == (digest_, stamp) and _kept(target, content, relative in prepared.packed):
                continue
            _remove_prepared(target, relative in prepared.packed)
        folder = posixpath.dirname(relative_file(relative))
        if folder not in made:
            os.makedirs(posixpath.join(base, folder) if folder else base, exist_ok=True)
            made.add(folder)
        earlier = reuse(relative, digest_, stamp) if reuse is not None else None
        if earlier is not None and _linked(earlier, target, content):
            if isinstance(content, Resource):
                _link_precompressed(earlier, target, content)
            continue
        if size_of(content) >= WRITTEN_APART:
            pending.append(writers.submit(write_file, target, content))
        else:
            write_file(target, content)
    for done in pending:
        done.result()  # its error, if any
    gone = prepared.files.keys() - written.keys()
    for relative in gone:
        _remove_prepared(posixpath.join(base, relative), relative in prepared.packed)
    if not gone and not prepared.missing:
        return written  # every folder made ahead still holds a file
    used = {""}
    for relative in written:
        folder = posixpath.dirname(relative)
        while folder not in used:
            used.add(folder)
            folder = posixpath.dirname(folder)
    for folder in sorted(set(prepared.folders) - used, key=lambda f: f.count("/"), reverse=True):
        os.rmdir(posixpath.join(base, folder))
    return written


def size_of(content: Resource | bytes) -> int:
    return len(content.body if isinstance(content, Resource) else content)


def wants_packed(content: Resource | bytes) -> TypeGuard[Resource]:
    """Whether a `.gz` goes beside this file (a route's, big enough)."""
    return isinstance(content, Resource) and content.delivery.precompresses(len(content.body))


def _kept(target: str, content: Resource | bytes, packed: bool) -> bool:
    """Whether the file linked ahead at `target` is a regular file of the
    expected size, with its `.gz` where it needs one (linked or written now)."""
    found = os.lstat(target)
    if not stat.S_ISREG(found.st_mode) or found.st_size != size_of(content):
        return False
    if not wants_packed(content):
        if packed:
            os.unlink(target + GZIP_SUFFIX)
        return True
    if packed:
        packed_found = os.lstat(target + GZIP_SUFFIX)
        if stat.S_ISREG(packed_found.st_mode) and packed_found.st_size > 0:
            return True
        os.unlink(target + GZIP_SUFFIX)
    write_precompressed(Path(target), content.body, content.delivery,
                        content.last_modified.timestamp())
    return True


def _remove_prepared(target: str, packed: bool) -> None:
    os.unlink(target)
    if packed:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target + GZIP_SUFFIX)


def _linked(earlier: str, target: str, content: Resource | bytes) -> bool:
    """Whether `target` is now a hard link of `earlier`: a regular file (never
    a link to elsewhere) of the expected size; otherwise nothing is left at
    `target` (gone, cut short, or on another file system: written instead)."""
    try:
        os.link(earlier, target, follow_symlinks=False)
    except OSError:
        return False
    found = os.lstat(target)
    if stat.S_ISREG(found.st_mode) and found.st_size == size_of(content):
        return True
    os.unlink(target)
    return False


def write_file(target: str, content: Resource | bytes) -> None:
    """One file; a route's dated by its Last-Modified."""
    Path(target).write_bytes(content.body if isinstance(content, Resource) else content)
    if isinstance(content, Resource):
        # Static servers send the file's mtime as Last-Modified, as the app does.
        stamp = content.last_modified.timestamp()
        os.utime(target, (stamp, stamp))
        write_precompressed(Path(target), content.body, content.delivery, stamp)


def write_precompressed(target: Path, body: bytes, delivery: Delivery, stamp: float) -> None:
    """``<target>.gz`` beside a route's file when its format is precompressed
    (`Delivery.precompresses`): the bytes the server sends gzip'd, and what
    nginx's gzip_static sends; dated like the file, which nginx sends as
    Last-Modified."""
    if delivery.precompresses(len(body)):
        packed = target.with_name(target.name + GZIP_SUFFIX)
        packed.write_bytes(gzipped(body))
        os.utime(packed, (stamp, stamp))


def _link_precompressed(earlier: str, target: str, content: Resource) -> None:
    """The `.gz` beside a linked file: linked too where the earlier build has
    it as a regular, non-empty file, else written."""
    try:
        os.link(earlier + GZIP_SUFFIX, target + GZIP_SUFFIX, follow_symlinks=False)
    except OSError:
        pass
    else:
        found = os.lstat(target + GZIP_SUFFIX)
        if stat.S_ISREG(found.st_mode) and found.st_size > 0:
            return
        os.unlink(target + GZIP_SUFFIX)
    write_precompressed(Path(target), content.body, content.delivery,
                        content.last_modified.timestamp())


def write_site(snapshot: Snapshot, outdir: str | Path, max_age: int,
               rules: list[Rule] | None = None) -> int:
    """Write the site for `snapshot` to `outdir` (`rules`: its header rules,
    if the caller has them); returns the number of routes."""
    outdir = Path(outdir).absolute()
    files = site_files(snapshot, max_age, rules)
    _check_replaceable(outdir)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling_directory(outdir)
    try:
        write_files(tmp, files)
        replace_directory(tmp, outdir)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    return len(snapshot.routes)
