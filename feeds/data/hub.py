"""A hub: many series on one site, from one folder.

    site.yaml                the hub: title (required), description, contact, url, id_authority
    series/<slug>.yaml       one ordinary series file each (its ledger beside it,
                             series/<slug>.revisions.tsv); the slug is the file's stem

Each series file is read, validated and recorded exactly as a data file
served alone (feeds.data.recorded); this module reads site.yaml and finds
the series files. Every problem names its own file:line."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from feeds.data import loader
from feeds.data.recorded import Recorded, read, record
from feeds.data.revisions import Revision
from feeds.data.yaml_reader import InvalidData, Problem, Reader, node_tree, read_text

SITE_FILE = "site.yaml"
SERIES_FOLDER = "series"
SERIES_SUFFIX = ".yaml"
SITE_KEYS = {"title", "description", "contact", "url", "id_authority"}
SITE_REQUIRED = ("title",)
#: A series' slug, its file's stem and its folder on the site: lowercase,
#: digits and inner hyphens.
SLUG_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
#: Slugs that would collide with the hub's own addresses.
RESERVED_SLUGS = frozenset({"tags", "static", "embed", "members", "talks", "on-your-website",
                            "healthz", "series"})
#: At most this many series in one hub (each may hold loader.MAX_TALKS talks;
#: the whole hub at most HUB_TALKS).
MAX_SERIES = 500
MAX_SITE_BYTES = 64 * 1024


@dataclass(frozen=True)
class HubInfo:
    """The hub itself (site.yaml)."""

    title: str
    description: str = ""
    contact: str = ""
    #: The hub's own home page elsewhere, if any.
    url: str = ""
    #: The authority of the hub's own tag: ids (its combined feeds' ids);
    #: the talks keep their series' ids. Default: contact, else the host.
    id_authority: str = ""


def is_hub(path: str | Path) -> bool:
    """Whether `path` (--data, FEEDS_TALKS_FILE) names a hub folder rather than one data file."""
    return Path(path).is_dir()


def site_path(folder: str | Path) -> Path:
    return Path(folder) / SITE_FILE


def parse_site(text: str, source: str) -> HubInfo:
    """Validate site.yaml's `text` into a HubInfo; InvalidData names file:line."""
    reader = Reader(source)
    root = node_tree(text, source)
    if root is None:
        raise InvalidData([Problem(source, 0, 0, "the file is empty; it needs at least "
                                                 "'title:'", kind="the file is empty")])
    fields = reader.mapping(root, "the hub", SITE_KEYS, SITE_REQUIRED)
    if fields is None:
        raise InvalidData(reader.problems)
    title = reader.text(fields.get("title"), "title", required="title" in fields)
    contact = reader.text(fields.get("contact"), "contact")
    if contact and not loader.EMAIL.fullmatch(contact):
        reader.error(fields.get("contact"), f"contact {contact!r} is not one plain e-mail "
                     "address; write it as name@example.org", "contact is not one plain "
                     "e-mail address")
    authority = reader.text(fields.get("id_authority"), "id_authority")
    if authority and not (loader.DOMAIN.fullmatch(authority) or loader.EMAIL.fullmatch(authority)):
        reader.error(fields.get("id_authority"), "id_authority must be a domain or an e-mail "
                     "address that the hub's organisers control, such as example.org",
                     "id_authority is not a domain or an e-mail address")
    info = HubInfo(title=title,
                   description=reader.text(fields.get("description"), "description",
                                           multiline=True),
                   contact=contact, url=reader.url(fields.get("url"), "url"),
                   id_authority=authority or contact)
    if reader.problems:
        raise InvalidData(reader.problems)
    return info


def load_site(folder: str | Path) -> tuple[str, HubInfo]:
    """site.yaml's text and what it says; InvalidData (file:line) if it is
    missing or wrong."""
    path = site_path(folder)
    try:
        text = read_text(path, limit=MAX_SITE_BYTES)
    except InvalidData:
        raise
    return text, parse_site(text, str(path))


def series_paths(folder: str | Path) -> tuple[dict[str, Path], list[Problem]]:
    """The series files of the hub by slug (sorted), and a problem for each
    file whose name is no slug."""
    directory = Path(folder) / SERIES_FOLDER
    found: dict[str, Path] = {}
    problems: list[Problem] = []
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        return {}, [Problem(str(directory), 0, 0, f"cannot list the series: {exc.strerror or exc}; "
                            f"put each series in {SERIES_FOLDER}/<slug>{SERIES_SUFFIX}",
                            kind="the series folder cannot be read")]
    for entry in entries:
        if entry.suffix != SERIES_SUFFIX or entry.name.startswith("."):
            continue
        slug = entry.stem
        if not SLUG_PATTERN.fullmatch(slug) or slug in RESERVED_SLUGS:
            why = (f"{slug!r} is reserved for the hub's own pages" if slug in RESERVED_SLUGS
                   else "a slug is lowercase letters, digits and inner '-', at most 64")
            problems.append(Problem(str(entry), 0, 0, f"the file name is not a series slug: "
                                    f"{why}; rename it, e.g. series/reading-group.yaml",
                                    kind="a series file's name is not a slug"))
            continue
        found[slug] = entry
    if not found and not problems:
        problems.append(Problem(str(directory), 0, 0, f"the hub has no series; add "
                                f"{SERIES_FOLDER}/<slug>{SERIES_SUFFIX}, an ordinary series file",
                                kind="the hub has no series"))
    if len(found) > MAX_SERIES:
        problems.append(Problem(str(directory), 0, 0, f"{len(found)} series; a hub holds at "
                                f"most {MAX_SERIES}", kind=f"more than {MAX_SERIES} series"))
    return found, problems


@dataclass(frozen=True)
class HubRecorded:
    """A hub folder read, validated and (by `record_hub`) recorded: the
    hub's own file and each series as `Recorded`, every problem at its
    own file:line."""

    folder: Path
    site_text: str | None
    info: HubInfo | None
    series: Mapping[str, Recorded] = field(default_factory=dict)
    #: Problems of site.yaml and of the series folder (file names).
    problems: tuple[Problem, ...] = ()

    @property
    def all_problems(self) -> tuple[Problem, ...]:
        return self.problems + tuple(p for r in self.series.values() for p in r.problems)

    @property
    def ok(self) -> bool:
        """Whether every file is valid and every series recorded."""
        return self.info is not None and not self.problems and \
            all(r.recorded for r in self.series.values())


def _site(folder: Path) -> tuple[str | None, HubInfo | None, list[Problem]]:
    try:
        text, info = load_site(folder)
    except InvalidData as exc:
        return None, None, list(exc.problems)
    return text, info, []


def without_clashes(series: Mapping[str, Recorded]) -> dict[str, Recorded]:
    """`series` (in slug order), a series that would give a talk the
    calendar UID and feed id of another series' talk (both mint ids under
    the same authority, and the talk ids are equal) made invalid, with a
    problem at each such talk: the first series in slug order keeps them."""
    owners: dict[tuple[str, str], Path] = {}
    result: dict[str, Recorded] = {}
    for slug, got in series.items():
        if got.schedule is None:
            result[slug] = got
            continue
        authority = got.schedule.series.id_authority
        problems = [
            Problem(str(got.data_file), talk.line, 1,
                    f"talk {talk.id!r} would have the same calendar UID and feed id as the talk "
                    f"{talk.id!r} of {owners[(authority, talk.id)]}: both series mint their ids "
                    f"under {authority}; give this series an id_authority of its own (a domain or "
                    "address its organisers control), or the talk another id",
                    talk.id, "a talk's id and id authority are another series' talk's")
            for talk in got.schedule.talks if (authority, talk.id) in owners]
        if problems:
            result[slug] = replace(got, schedule=None, revisions=None, problems=tuple(problems))
            continue
        owners.update({(authority, talk.id): got.data_file for talk in got.schedule.talks})
        result[slug] = got
    return result


def read_hub(folder: str | Path) -> HubRecorded:
    """Every file of the hub read and validated, nothing recorded."""
    folder = Path(folder)
    text, info, problems = _site(folder)
    paths, naming = series_paths(folder)
    series = without_clashes({slug: read(path) for slug, path in paths.items()})
    return HubRecorded(folder, text, info, series, tuple(problems + naming))


Recorder = Callable[[Path, datetime, Mapping[str, Revision] | None], Recorded]


def _record(path: Path, now: datetime, known: Mapping[str, Revision] | None) -> Recorded:
    return record(path, now, known=known)


def record_hub(folder: str | Path, now: datetime,
               known: Mapping[str, Mapping[str, Revision]] | None = None,
               recorder: Recorder = _record) -> HubRecorded:
    """Every file of the hub read and validated, and each valid series
    recorded in its own ledger (`known`: the revisions last published, by
    slug) by `recorder` (feeds.data.recorded.record)."""
    folder = Path(folder)
    text, info, problems = _site(folder)
    paths, naming = series_paths(folder)
    series = without_clashes({slug: recorder(path, now, (known or {}).get(slug))
                              for slug, path in paths.items()})
    return HubRecorded(folder, text, info, series, tuple(problems + naming))
