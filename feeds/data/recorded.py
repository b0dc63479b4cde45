"""The one step that reads the data file and records it: every command and
the builder read, validate and record a version of the talks the same way,
and get the same `Recorded` back, whatever they do with its problems."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from feeds.data.loader import MAX_BYTES, TOO_LARGE, parse_schedule
from feeds.data.revisions import Revision, ledger_path, update_ledger
from feeds.data.yaml_reader import InvalidData, Problem, read_text
from feeds.model import Schedule


@dataclass(frozen=True)
class Recorded:
    """A data file read, validated and (by `record`) recorded in its ledger."""

    data_file: Path
    #: The text the schedule was parsed from; None if the file cannot be read.
    text: str | None
    #: The valid schedule, or None if the data file has problems.
    schedule: Schedule | None
    #: Every talk's revision (removed talks included), or None if none may
    #: be used: the data has problems, the ledger cannot be read (and no
    #: revisions were known), or nothing was recorded yet.
    revisions: dict[str, Revision] | None = None
    #: The data file's problems, each at its file:line.
    problems: tuple[Problem, ...] = ()
    #: What in the data file works but should change (a deprecated key),
    #: each at its file:line; found whether or not the file has problems.
    data_warnings: tuple[Problem, ...] = ()
    #: Why the ledger does not record this version (unreadable, damaged or
    #: not writable); each names the ledger.
    errors: tuple[str, ...] = ()
    #: What is odd but recorded, e.g. a clock behind the ledger.
    warnings: tuple[str, ...] = ()
    #: The data file changed while it was read: nothing was recorded.
    unsettled: bool = False

    @property
    def ledger(self) -> Path:
        return ledger_path(self.data_file)

    @property
    def recorded(self) -> bool:
        """Whether the schedule is valid and the ledger on disk holds every revision returned."""
        return (self.schedule is not None and self.revisions is not None and not self.errors
                and not self.unsettled)


def read(data_file: str | Path, text: str | None = None) -> Recorded:
    """The data file (or `text`, what a caller is about to write there)
    read and validated, not recorded. The file is read as the loader reads
    it: a regular file of at most MAX_BYTES, never more."""
    data_file = Path(data_file)
    warnings: list[Problem] = []
    try:
        if text is None:
            text = read_text(data_file, limit=MAX_BYTES, too_large=TOO_LARGE)
        schedule = parse_schedule(text, str(data_file), warnings)
        return Recorded(data_file, text, schedule, data_warnings=tuple(warnings))
    except InvalidData as exc:
        return Recorded(data_file, text, None, problems=tuple(exc.problems),
                        data_warnings=tuple(warnings))


def record(data_file: str | Path, now: datetime, *, text: str | None = None,
           schedule: Schedule | None = None, fallback_now: datetime | None = None,
           known: Mapping[str, Revision] | None = None,
           settled: Callable[[], bool] | None = None,
           data_warnings: Sequence[Problem] = ()) -> Recorded:
    """Read and validate the data file (or `text`, whose `schedule` a caller
    that parsed it already gives), then record its talks in the revision
    ledger beside it at `now` (see `update_ledger` for `fallback_now` and
    `known`; `data_warnings`, those the caller's parse found). `settled` is
    asked once the file is read:
    False (it was written to meanwhile) records nothing. An OSError of the
    ledger's lock is raised."""
    if text is not None and schedule is not None:
        got = Recorded(Path(data_file), text, schedule, data_warnings=tuple(data_warnings))
    else:
        got = read(data_file, text)
    if settled is not None and not settled():
        return replace(got, unsettled=True)
    if got.schedule is None:
        return got
    update = update_ledger(got.ledger, got.schedule, now, fallback_now=fallback_now, known=known)
    return replace(got, revisions=update.revisions, errors=update.errors,
                   warnings=update.warnings)
