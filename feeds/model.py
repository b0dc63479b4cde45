"""The immutable talk model: what one version of the data file says, and
the defaults a talk gets where the file is silent."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from functools import cached_property
from itertools import groupby
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

Status = Literal["scheduled", "cancelled", "postponed"]
SCHEDULED: Status = "scheduled"
CANCELLED: Status = "cancelled"
#: The talk will happen, but its new date is not known yet: it keeps its old
#: slot (and UID) until it is simply moved to the new date.
POSTPONED: Status = "postponed"
STATUSES: tuple[Status, ...] = (SCHEDULED, CANCELLED, POSTPONED)
#: Where a talk takes place when neither it nor the series says.
DEFAULT_LOCATION = "Online"
#: How long a talk lasts when neither it nor the series says.
DEFAULT_DURATION = timedelta(minutes=60)
#: A talk id: permanent and URL-safe, since UIDs, pages and feed ids derive from it.
#: Years a talk may fall in: a long-running series' archive and its plans;
#: the VTIMEZONEs of this span are read from the tz database's files
#: (feeds.formats.vtimezone) in well under a second.
TALK_YEARS = range(1900, 2201)
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
#: A tag (a topic across the series of a hub): a short lowercase word or
#: hyphenated phrase, e.g. "compression" or "large-language-models".
TAG_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
TAG_LENGTH = 40
Frozen = TypeVar("Frozen")


def hashed_once(cls: type[Frozen]) -> type[Frozen]:
    """Give a frozen dataclass a hash computed once per object (on its
    compared fields, as the dataclass's own): a talk is the key of
    everything rendered from it, looked up many times per build. The hash
    is not pickled (another process hashes text differently)."""
    compared = tuple(f.name for f in fields(cls) if f.compare)  # type: ignore[arg-type]

    def __hash__(self: Any) -> int:
        try:
            return int(self.__dict__["_hash"])
        except KeyError:
            value = hash(tuple(getattr(self, name) for name in compared))
            object.__setattr__(self, "_hash", value)
            return value

    def __getstate__(self: Any) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    cls.__hash__ = __hash__  # type: ignore[method-assign]
    cls.__getstate__ = __getstate__  # type: ignore[attr-defined]
    return cls


@hashed_once
@dataclass(frozen=True)
class Speaker:
    """One person giving a talk."""

    name: str
    affiliation: str = ""
    #: The speaker's own page, if given.
    url: str = ""


@hashed_once
@dataclass(frozen=True)
class Link:
    """A paper, slides or code that belongs to a talk."""

    label: str
    url: str


@hashed_once
@dataclass(frozen=True)
class Talk:
    """One talk. Two talks are equal when everything any output shows is
    equal, so a talk is also the key of everything rendered from it."""

    #: Permanent and URL-safe; UIDs, page URLs and feed ids derive from it.
    id: str
    title: str
    #: Aware, in the talk's own zone.
    start: datetime
    duration: timedelta
    speakers: tuple[Speaker, ...] = ()
    #: Plain text, paragraphs separated by blank lines.
    abstract: str = ""
    #: Papers, slides, code.
    links: tuple[Link, ...] = ()
    #: The recording's address once it is published, else empty.
    recording: str = ""
    #: An organisers' note, e.g. a follow-up paper.
    note: str = ""
    status: Status = SCHEDULED
    location: str = DEFAULT_LOCATION
    #: Its topics in a hub (the series' tags apply to it as well); a series
    #: served alone shows none.
    tags: tuple[str, ...] = ()
    #: Where the talk starts in the data file, for messages. Not part of the
    #: talk's identity: moving a talk within the file changes no output.
    line: int = field(default=0, compare=False)

    @cached_property
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
    def postponed(self) -> bool:
        return self.status == POSTPONED

    @property
    def day(self) -> date:
        return self.start.date()

    def byline(self, affiliations: bool = True) -> str:
        """'Name (Affiliation), Name (Affiliation)'."""
        return ", ".join(
            f"{s.name} ({s.affiliation})" if affiliations and s.affiliation else s.name
            for s in self.speakers
        )


@hashed_once
@dataclass(frozen=True)
class Series:
    """The talk series: what every talk shares."""

    title: str
    description: str
    #: The organisers' e-mail address: ORGANIZER of every event.
    contact: str
    #: The series' zone: talks default to it, and feeds show times in it.
    timezone: ZoneInfo
    location: str = DEFAULT_LOCATION
    #: The group's own home page, if it has one.
    url: str = ""
    #: The tagging authority of the tag: ids (and so the UIDs): a domain or an
    #: e-mail address the group controls; the loader always sets one.
    id_authority: str = ""
    categories: tuple[str, ...] = ()
    #: How to propose a talk, shown on the page.
    nominations: str = ""
    #: How to attend (e.g. how members get the video link): shown with every
    #: upcoming talk. The link itself stays in the members' calendar.
    attend: str = ""
    #: A public page where a visitor asks for the way in (a mailing-list
    #: sign-up, a registration form): the "How to join" action of every
    #: upcoming and live talk. Never the video link itself.
    join_url: str = ""
    #: When the series usually meets, in the organisers' words ("Every other
    #: Monday at 17:00 Berlin time"); without it the pages derive one from
    #: the recent talks (feeds.formats.rhythm).
    rhythm: str = ""
    #: Its topics in a hub, which apply to every talk of the series.
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Schedule:
    """One validated version of the data file."""

    series: Series
    #: Sorted by start, then id.
    talks: tuple[Talk, ...]
    #: The data file it was read from, for messages.
    source: str = ""
    _by_id: dict[str, Talk] = field(default_factory=dict, compare=False, repr=False)
    _position: dict[str, int] = field(default_factory=dict, compare=False, repr=False)
    #: upcoming and past by `now`, worked out once: a build asks for them
    #: about twenty times, each a pass over every talk.
    _split: dict[datetime, tuple[tuple[Talk, ...], tuple[Talk, ...]]] = field(
        default_factory=dict, init=False, compare=False, repr=False)
    _years: dict[datetime, dict[int, tuple[Talk, ...]]] = field(
        default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({talk.id: talk for talk in self.talks})
        self._position.update({talk.id: i for i, talk in enumerate(self.talks)})

    def talk(self, talk_id: str) -> Talk | None:
        return self._by_id.get(talk_id)

    def neighbours(self, talk: Talk) -> tuple[Talk | None, Talk | None]:
        """The talks just before and just after `talk`, cancelled ones included."""
        index = self._position[talk.id]
        return (self.talks[index - 1] if index else None,
                self.talks[index + 1] if index + 1 < len(self.talks) else None)

    def upcoming(self, now: datetime) -> list[Talk]:
        """Talks that have not ended yet (postponed ones, still to come at
        some date, included), soonest first."""
        return list(self._split_at(now)[0])

    def past(self, now: datetime) -> list[Talk]:
        """Talks that have ended, newest first."""
        return list(self._split_at(now)[1])

    def past_by_year(self, now: datetime) -> dict[int, tuple[Talk, ...]]:
        """The past talks by the year they started in, newest year and talk first."""
        found = self._years.get(now)
        if found is None:
            if len(self._years) > 8:
                self._years.clear()
            found = {year: tuple(talks) for year, talks in
                     groupby(self._split_at(now)[1], key=lambda t: t.start.year)}
            self._years[now] = found
        return found

    def _split_at(self, now: datetime) -> tuple[tuple[Talk, ...], tuple[Talk, ...]]:
        found = self._split.get(now)
        if found is None:
            if len(self._split) > 8:
                self._split.clear()
            found = (tuple(t for t in self.talks if t.end > now or t.postponed),
                     tuple(t for t in reversed(self.talks) if t.end <= now and not t.postponed))
            self._split[now] = found
        return found
