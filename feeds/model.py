"""The immutable talk model: what one version of the data file says."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

SCHEDULED = "scheduled"
CANCELLED = "cancelled"
STATUSES = (SCHEDULED, CANCELLED)


@dataclass(frozen=True)
class Speaker:
    name: str
    affiliation: str = ""
    url: str = ""


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Talk:
    id: str
    title: str
    start: datetime  # aware, in the talk's own zone
    duration: timedelta
    speakers: tuple[Speaker, ...] = ()
    abstract: str = ""
    links: tuple[Link, ...] = ()
    recording: str = ""
    note: str = ""
    status: str = SCHEDULED
    location: str = ""
    # Where the talk starts in the data file, for messages. Not part of the
    # talk's identity: moving a talk within the file changes no output.
    line: int = field(default=0, compare=False)

    @property
    def end(self) -> datetime:
        return self.start + self.duration

    @property
    def zone(self) -> ZoneInfo:
        assert isinstance(self.start.tzinfo, ZoneInfo)
        return self.start.tzinfo

    @property
    def cancelled(self) -> bool:
        return self.status == CANCELLED

    @property
    def day(self) -> date:
        return self.start.date()

    def byline(self, affiliations: bool = True) -> str:
        """'Name (Affiliation), Name (Affiliation)'."""
        return ", ".join(
            f"{s.name} ({s.affiliation})" if affiliations and s.affiliation else s.name
            for s in self.speakers
        )


@dataclass(frozen=True)
class Series:
    title: str
    description: str
    contact: str
    timezone: ZoneInfo
    location: str = "Online"
    url: str = ""
    uid_domain: str = ""
    categories: tuple[str, ...] = ()
    nominations: str = ""


@dataclass(frozen=True)
class Schedule:
    """One validated version of the data file."""

    series: Series
    talks: tuple[Talk, ...]  # sorted by start, then id
    source: str = ""
    _by_id: dict[str, Talk] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({talk.id: talk for talk in self.talks})

    def talk(self, talk_id: str) -> Talk | None:
        return self._by_id.get(talk_id)

    def upcoming(self, now: datetime) -> list[Talk]:
        """Talks that have not ended yet, soonest first."""
        return [t for t in self.talks if t.end > now]

    def past(self, now: datetime) -> list[Talk]:
        """Talks that have ended, newest first."""
        return [t for t in reversed(self.talks) if t.end <= now]
