"""Reading and recording a hub folder: every series in its own ledger. A
series whose file is broken keeps the version of the build before, on its
own: the others are published as usual."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from feeds import files
from feeds.data import hub as hub_data
from feeds.data.recorded import Recorded, record
from feeds.data.revisions import ledger_path
from feeds.model import Schedule
from feeds.publish.hub_made_from import HubContext, HubMadeFrom, series_options
from feeds.publish.made_from import MadeFrom
from feeds.publish.snapshot import BuildOptions


def signature(folder: str | Path) -> list[int] | None:
    """What changes whenever a file of the hub is written, added or removed:
    site.yaml, the series folder, and each series file and its ledger."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found: list[int] = []
    for path in (hub_data.site_path(folder), folder / hub_data.SERIES_FOLDER):
        found += files.stat_signature(path) or (0, 0, 0)
    paths, _ = hub_data.series_paths(folder)
    for path in paths.values():
        found += files.stat_signature(path) or (0, 0, 0)
        found += files.stat_signature(ledger_path(path)) or (0, 0, 0)
    return found


def newest(folder: str | Path) -> files.Signature | None:
    """The signature of the hub's most recently written file (to wait until
    its writer seems done)."""
    folder = Path(folder)
    paths, _ = hub_data.series_paths(folder)
    signatures = [files.stat_signature(p) for p in (hub_data.site_path(folder), *paths.values())]
    present = [s for s in signatures if s is not None]
    return max(present, default=None)


@dataclass(frozen=True)
class HubLoad:
    """A hub folder recorded and joined with the last good build: what to
    publish, and what is wrong (each at its own file:line)."""

    made_from: HubMadeFrom | None
    #: Public problems, for the status and /healthz: the broken files.
    errors: tuple[str, ...] = ()
    #: The details, for the log.
    details: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    #: Whether something could not be recorded in a ledger (try again later).
    retry: bool = False
    #: The series parsed now (the others keep their last good version), by slug.
    schedules: Mapping[str, Schedule] = field(default_factory=dict)

    def context(self) -> HubContext:
        assert self.made_from is not None
        return self.made_from.context(self.schedules)


class RecordedSeries:
    """What this process last recorded of each series file, kept while the
    file and its ledger stay as they were (their stat signatures): a
    builder that lives on reads, validates and records only the series that
    changed. A fresh process records every series."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[tuple[Any, ...], Recorded]] = {}

    @staticmethod
    def _signature(path: Path) -> tuple[Any, ...]:
        return (files.stat_signature(path), files.stat_signature(ledger_path(path)))

    def record(self, path: Path, now: datetime, known: Mapping[str, Any] | None) -> Recorded:
        key = str(path.resolve())
        kept = self._kept.get(key)
        if kept is not None and kept[0] == self._signature(path) and None not in kept[0]:
            return kept[1]
        got = record(path, now, known=known)
        if got.recorded:
            self._kept[key] = (self._signature(path), got)
        else:
            self._kept.pop(key, None)
        return got


_RECORDED = RecordedSeries()


def load(folder: str | Path, options: BuildOptions, now: datetime,
         previous: HubMadeFrom | None) -> HubLoad:
    """Record every series of the hub in its own ledger; a series whose
    file is broken keeps its version from `previous` (the last good build),
    and so does a broken site.yaml."""
    folder = Path(folder)
    known = {slug: made.revisions for slug, made in previous.series.items()} if previous else {}
    recorded = hub_data.record_hub(folder, now, known, _RECORDED.record)
    errors = [p.public for p in recorded.problems]
    details = [str(p) for p in recorded.problems]
    warnings: list[str] = []
    retry = False
    series: dict[str, MadeFrom] = {}
    schedules: dict[str, Schedule] = {}
    for slug, got in recorded.series.items():
        warnings += [p.public for p in got.data_warnings] + list(got.warnings)
        errors += list(got.errors)
        retry = retry or bool(got.errors)
        made = _series_made_from(got, series_options(options, slug), now)
        if made is None:
            errors += [p.public for p in got.problems]
            details += [str(p) for p in got.problems]
            if previous is not None and slug in previous.series:
                made = replace(previous.series[slug], now=now)
        elif got.schedule is not None:
            schedules[slug] = got.schedule
        if made is not None:
            series[slug] = made
    site_text, site_file = recorded.site_text, str(hub_data.site_path(folder))
    if site_text is None or recorded.info is None:
        if previous is None:
            return HubLoad(None, tuple(errors), tuple(details), tuple(warnings), retry)
        site_text = previous.site_text
    if not series:
        errors.append(f"{folder / hub_data.SERIES_FOLDER}: no series can be published")
        return HubLoad(None, tuple(errors), tuple(details), tuple(warnings), retry)
    return HubLoad(HubMadeFrom(site_text, site_file, series, options, now), tuple(errors),
                   tuple(details), tuple(warnings), retry, schedules)


def from_recorded(recorded: hub_data.HubRecorded, options: BuildOptions,
                  now: datetime) -> HubMadeFrom:
    """What to build from a hub folder whose every file is valid and recorded
    (`recorded.ok`), e.g. for `feeds build`."""
    assert recorded.ok and recorded.site_text is not None
    series = {slug: _series_made_from(got, series_options(options, slug), now)
              for slug, got in recorded.series.items()}
    return HubMadeFrom(recorded.site_text, str(hub_data.site_path(recorded.folder)),
                       {slug: made for slug, made in series.items() if made is not None},
                       options, now)


def _series_made_from(got: Recorded, options: BuildOptions, now: datetime) -> MadeFrom | None:
    if got.schedule is None or got.text is None or got.revisions is None:
        return None
    return MadeFrom(got.text, str(got.data_file), got.revisions, options, now)
