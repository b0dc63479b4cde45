"""The iCalendar feed and the per-talk files, built with icalendar."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta, timezone
from typing import Iterable, Mapping

from icalendar import (Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard,
                       vCalAddress, vDuration)

from . import timezones, urls
from .model import Schedule, Series, Talk
from .revisions import Revision

REFRESH = timedelta(hours=12)
SUMMARY_LIMIT = 254
CANCELLED_PREFIX = "CANCELLED: "


def summary(talk: Talk, limit: int = SUMMARY_LIMIT) -> str:
    """'Title — Speaker (Affiliation)', shortened to fit `limit` characters:
    affiliations go first, then extra speakers, then the title's end."""
    prefix = CANCELLED_PREFIX if talk.cancelled else ""
    candidates = [talk.byline(), talk.byline(affiliations=False)]
    if len(talk.speakers) > 1:
        candidates.append(f"{talk.speakers[0].name} et al.")
    for byline in candidates:
        text = prefix + (f"{talk.title} — {byline}" if byline else talk.title)
        if len(text) <= limit:
            return text
    tail = f" — {candidates[-1]}" if talk.speakers else ""
    room = max(limit - len(prefix) - len(tail) - 1, 1)
    return prefix + talk.title[:room].rstrip() + "…" + tail[: limit - len(prefix) - room - 1]


def description(talk: Talk, site: urls.Site) -> str:
    """The plain-text body of a talk's event."""
    parts = []
    if talk.cancelled:
        parts.append("This talk is cancelled.")
    if talk.speakers:
        parts.append("\n".join(
            f"{s.name}, {s.affiliation}" if s.affiliation else s.name for s in talk.speakers))
    if talk.abstract:
        parts.append(f"Abstract: {talk.abstract}")
    if talk.links:
        parts.append("\n".join(f"{link.label}: {link.url}" for link in talk.links))
    if talk.recording:
        parts.append(f"Recording: {talk.recording}")
    if talk.note:
        parts.append(f"Note: {talk.note}")
    parts.append(f"Talk page: {site.url(urls.talk_page(talk.id))}")
    return "\n\n".join(parts)


def talk_event(talk: Talk, revision: Revision, series: Series, site: urls.Site) -> Event:
    """The VEVENT of one talk."""
    changed = revision.modified.astimezone(timezone.utc)
    event = Event()
    event.add("uid", site.uid(talk.id))
    event.add("dtstamp", changed)
    event.add("last-modified", changed)
    event.add("sequence", revision.sequence)
    event.add("dtstart", talk.start)
    event.add("dtend", talk.end)
    event.add("summary", summary(talk))
    event.add("description", description(talk, site))
    event.add("url", site.url(urls.talk_page(talk.id)), parameters={"VALUE": "URI"})
    event.add("location", talk.location)
    if series.contact:
        organizer = vCalAddress(f"mailto:{series.contact}")
        organizer.params["CN"] = series.title
        event.add("organizer", organizer)
    if series.categories:
        event.add("categories", list(series.categories))
    event.add("status", "CANCELLED" if talk.cancelled else "CONFIRMED")
    event.add("transp", "TRANSPARENT" if talk.cancelled else "OPAQUE")
    return event


def vtimezone(zone_key: str, first: date, last: date) -> Timezone:
    """A VTIMEZONE in RRULE form, right for every day from `first` to `last`."""
    tz = Timezone()
    tz.add("tzid", zone_key)
    for obs in timezones.observances(timezones.get_zone(zone_key), first, last):
        block = TimezoneDaylight() if obs.daylight else TimezoneStandard()
        block.add("dtstart", obs.start)
        block.add("tzoffsetfrom", obs.offset_from)
        block.add("tzoffsetto", obs.offset_to)
        if obs.name:
            block.add("tzname", obs.name)
        if obs.byday:
            rule: dict[str, object] = {"freq": "yearly", "bymonth": obs.month, "byday": obs.byday}
            if obs.until is not None:
                rule["until"] = obs.until
            block.add("rrule", rule)
        tz.add_component(block)
    return tz


def _timezones(talks: Iterable[Talk]) -> list[Timezone]:
    days: dict[str, list[date]] = defaultdict(list)
    for talk in talks:
        days[talk.zone.key].append(talk.day)
    return [vtimezone(key, min(d), max(d)) for key, d in sorted(days.items())]


def _calendar(series: Series, site: urls.Site) -> Calendar:
    cal = Calendar()
    cal.add("prodid", f"-//feeds//{site.domain}//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    return cal


def calendar_feed(schedule: Schedule, revisions: Mapping[str, Revision], site: urls.Site,
                  extra: Mapping[str, str] | None = None) -> bytes:
    """/calendar.ics: every talk, cancelled ones included."""
    series = schedule.series
    cal = _calendar(series, site)
    cal.add("name", series.title)
    cal.add("x-wr-calname", series.title)
    if series.description:
        cal.add("x-wr-caldesc", series.description)
    cal.add("x-wr-timezone", series.timezone.key)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(REFRESH))
    cal.add("source", site.url(urls.CALENDAR), parameters={"VALUE": "URI"})
    cal.add("url", site.url(urls.HOME), parameters={"VALUE": "URI"})
    for tz in _timezones(schedule.talks):
        cal.add_component(tz)
    for talk in schedule.talks:
        cal.add_component(talk_event(talk, revisions[talk.id], series, site))
    return cal.to_ical()


def talk_file(talk: Talk, revision: Revision, series: Series, site: urls.Site) -> bytes:
    """/talks/<id>.ics: one talk, for an "add to calendar" button."""
    cal = _calendar(series, site)
    cal.add_component(vtimezone(talk.zone.key, talk.day, talk.day))
    cal.add_component(talk_event(talk, revision, series, site))
    return cal.to_ical()
