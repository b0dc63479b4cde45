"""The iCalendar feed and the per-talk files, built with icalendar.

Pure functions: the per-talk and per-zone parts are called through `memo`
(feeds.formats.memo), so that a rebuild serializes only the talks that changed."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timezone

from icalendar import (
    Calendar,
    Component,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vCalAddress,
    vDuration,
    vText,
    vUri,
)

from feeds import timezones, urls
from feeds.data.revisions import Revision
from feeds.formats.delivery import NO_REFERRER, Delivery
from feeds.formats.memo import Memo, direct, each_talk
from feeds.formats.text import description, shorten, summary
from feeds.formats.vtimezone import observances
from feeds.model import Schedule, Series, Talk
from feeds.settings import CALENDAR_REFRESH

MEDIA_TYPE = "text/calendar; charset=utf-8"
#: /calendar.ics and /archive.ics.
FEED_DELIVERY = Delivery(MEDIA_TYPE, cors=True, no_transform=True)
#: A member's calendar: private, so no other origin may read it.
MEMBERS_FEED_DELIVERY = Delivery(MEDIA_TYPE, no_transform=True, referrer_policy=NO_REFERRER)
#: /talks/<id>.ics, a single copy for "add to calendar".
TALK_FILE_DELIVERY = Delivery(MEDIA_TYPE, cors=True, no_transform=True, download=True)
MEMBERS_SUFFIX = " (members)"
ARCHIVE_SUFFIX = " (archive)"
#: The subscription's size bound: Google Calendar stops reading a subscribed
#: calendar at about 1 MB (researchseminars.org issue 777), so stay well below.
SUBSCRIPTION_BYTES = 512 * 1024
#: Characters of abstract kept, in turn, when even the upcoming talks do not
#: fit; the talk page, linked from every event, has the whole abstract.
ABSTRACT_LIMITS = (280, 0)


def talk_event(talk: Talk, revision: Revision, series: Series, site: urls.Site,
               join_url: str = "") -> Event:
    """The VEVENT of one talk; a members' copy carries `join_url` (RFC 7986)."""
    changed = revision.modified.astimezone(timezone.utc)
    event = Event()
    event.add("uid", site.uid(talk.id))
    event.add("dtstamp", changed)
    event.add("last-modified", changed)
    event.add("sequence", revision.sequence)
    event.add("dtstart", talk.start)
    event.add("dtend", talk.end)
    event.add("summary", summary(talk))
    event.add("description", description(talk, site, join_url, series.attend,
                                         revision.moved_from(talk)))
    event.add("url", site.url(urls.talk_page(talk.id)), parameters={"VALUE": "URI"})
    event.add("location", join_url or talk.location)
    if join_url:  # a list FEATURE, as icalendar.Conference would quote "AUDIO,VIDEO"
        event.add("conference", vUri(join_url, params={
            "VALUE": "URI", "FEATURE": ["AUDIO", "VIDEO"], "LABEL": "Join the talk"}))
    if series.contact:
        organizer = vCalAddress(f"mailto:{series.contact}")
        organizer.params["CN"] = series.title
        event.add("organizer", organizer)
    if series.categories:
        event.add("categories", list(series.categories))
    event.add("status", "CANCELLED" if talk.cancelled else
              "TENTATIVE" if talk.postponed else "CONFIRMED")
    event.add("transp", "TRANSPARENT" if talk.cancelled else "OPAQUE")
    return event


def vtimezone(zone_key: str, first: date, last: date) -> Timezone:
    """A VTIMEZONE in RRULE form, right for every day from `first` to `last`."""
    tz = Timezone()
    tz.add("tzid", zone_key)
    for obs in observances(timezones.get_zone(zone_key), first, last):
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


# --- serialized pieces ---------------------------------------------------------
# A calendar's bytes are its own lines, then each subcomponent's bytes, then
# END:VCALENDAR, exactly as icalendar's to_ical() writes them; so a calendar
# is composed from serialized events kept per talk version, and an edit
# re-serializes one event only.

def event_bytes(talk: Talk, revision: Revision, series: Series, site: urls.Site,
                join_url: str = "") -> bytes:
    """talk_event(...).to_ical()."""
    return serialize(talk_event(talk, revision, series, site, join_url))


FOLD_OCTETS = 74  # icalendar folds before a line's 75th octet


def _fold_ascii(line: str) -> str:
    """icalendar's folding of an ASCII content line, without its per-character
    loop: 74 octets a line, never ending a line on an escape's backslash or
    caret (icalendar issue #1501)."""
    parts, start = [], 0
    while len(line) - start > FOLD_OCTETS:
        end = start + FOLD_OCTETS
        if line[end - 1] in "\\^":
            end -= 1
        parts.append(line[start:end])
        start = end
    parts.append(line[start:])
    return "\r\n ".join(parts)


def serialize(component: Component) -> bytes:
    """component.to_ical(), byte for byte: icalendar makes and escapes every
    content line; ASCII lines, nearly all of them, are folded here in one
    step instead of character by character (tests compare with to_ical())."""
    return b"".join(
        (_fold_ascii(line).encode("ascii") if line.isascii() else line.to_ical()) + b"\r\n"
        for line in component.content_lines() if line)


def vtimezone_bytes(zone_key: str, first_year: int, last_year: int) -> bytes:
    """vtimezone(...).to_ical() for days from `first_year` to `last_year`:
    observances() looks at whole years (from the year before the
    first day to the year after the last), so every day of a year has the
    same VTIMEZONE."""
    return vtimezone(zone_key, date(first_year, 1, 1), date(last_year, 1, 1)).to_ical()


def _enclose(head: bytes, parts: Iterable[bytes]) -> bytes:
    """`head` (a serialized calendar without subcomponents) with `parts` inside it."""
    end = b"END:VCALENDAR\r\n"
    assert head.endswith(end)
    return b"".join((head[: -len(end)], *parts, end))


def _timezones(talks: Iterable[Talk], memo: Memo) -> list[bytes]:
    years: dict[str, list[int]] = defaultdict(list)
    for talk in talks:
        years[talk.zone.key].append(talk.day.year)
    return [memo(vtimezone_bytes, key, min(y), max(y)) for key, y in sorted(years.items())]


def _calendar(site: urls.Site) -> Calendar:
    cal = Calendar()
    cal.add("prodid", f"-//feeds//{site.authority}//EN")  # stable: never the host
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    return cal


def calendar_feed(schedule: Schedule, revisions: Mapping[str, Revision], site: urls.Site,
                  join_urls: Mapping[str, str] | None = None, memo: Memo = direct,
                  talks: Sequence[Talk] | None = None, archive: bool = False) -> bytes:
    """A calendar of `talks` (default: every talk, cancelled ones included).
    With `join_urls` (talk id -> join link) it is the members' calendar,
    which names no public SOURCE to refresh from."""
    series = schedule.series
    talks = schedule.talks if talks is None else talks
    joins = join_urls or {}
    events = each_talk(memo, event_bytes, ((talk, revisions[talk.id], series, site,
                                            joins.get(talk.id, "")) for talk in talks))
    head = feed_head(series, site, members=join_urls is not None, archive=archive)
    return _enclose(head.to_ical(), (*_timezones(talks, memo), *events))


def subscription_feed(schedule: Schedule, revisions: Mapping[str, Revision], site: urls.Site,
                      now: datetime, join_urls: Mapping[str, str] | None = None,
                      memo: Memo = direct, budget: int = SUBSCRIPTION_BYTES) -> bytes:
    """/calendar.ics: every upcoming talk, then as many of the most recent
    past talks as fit in `budget` bytes. If even the upcoming talks do not
    fit, their abstracts are shortened (the talk page has the rest), and no
    past talk is sent. A talk that leaves the window is simply no longer
    sent, never marked cancelled; /archive.ics has every talk."""
    upcoming = [t for t in schedule.talks if t.end > now]

    def feed(talks: Sequence[Talk]) -> bytes:
        chosen = sorted(talks, key=lambda t: (t.start, t.id))
        return calendar_feed(schedule, revisions, site, join_urls, memo, chosen)

    body = feed(upcoming)
    if len(body) > budget:
        for limit in ABSTRACT_LIMITS:
            body = feed([replace(t, abstract=shorten(t.abstract, limit) if limit else "")
                         for t in upcoming])
            if len(body) <= budget:
                break
        return body  # the upcoming talks alone, their abstracts shortened
    room = budget - len(body)
    kept: list[Talk] = []
    for talk in (t for t in reversed(schedule.talks) if t.end <= now):  # newest first
        room -= len(memo(event_bytes, talk, revisions[talk.id], schedule.series, site,
                         (join_urls or {}).get(talk.id, "")))
        if room < 0:
            break
        kept.append(talk)
    body = feed(upcoming + kept)
    while len(body) > budget and kept:  # the VTIMEZONEs of a longer span
        kept.pop()
        body = feed(upcoming + kept)
    return body


def calendar_object(schedule: Schedule, revisions: Mapping[str, Revision], site: urls.Site,
                    join_urls: Mapping[str, str] | None = None) -> Calendar:
    """The feed built whole as one icalendar Calendar: what calendar_feed
    composes from kept pieces (tests compare their bytes; the benchmark's
    naive baseline serializes this on every request)."""
    cal = feed_head(schedule.series, site, join_urls is not None)
    days: dict[str, list[date]] = defaultdict(list)
    for talk in schedule.talks:
        days[talk.zone.key].append(talk.day)
    for key, found in sorted(days.items()):
        cal.add_component(vtimezone(key, min(found), max(found)))
    for talk in schedule.talks:
        cal.add_component(talk_event(talk, revisions[talk.id], schedule.series, site,
                                     (join_urls or {}).get(talk.id, "")))
    return cal


def feed_head(series: Series, site: urls.Site, members: bool = False,
              archive: bool = False) -> Calendar:
    """The feed's own properties, before its VTIMEZONEs and VEVENTs."""
    title = series.title + (MEMBERS_SUFFIX if members else "") + (ARCHIVE_SUFFIX if archive else "")
    cal = _calendar(site)
    cal.add("name", title)
    cal.add("x-wr-calname", vText(title))  # X- properties are not escaped unless typed
    if series.description:
        cal.add("x-wr-caldesc", vText(series.description))
    cal.add("x-wr-timezone", series.timezone.key)
    cal.add("refresh-interval", CALENDAR_REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(CALENDAR_REFRESH))
    if not members:
        cal.add("source", site.url(urls.ARCHIVE if archive else urls.CALENDAR),
                parameters={"VALUE": "URI"})
    cal.add("url", site.url(urls.HOME), parameters={"VALUE": "URI"})
    return cal


def _talk_file_head(site: urls.Site) -> bytes:
    return _calendar(site).to_ical()


def talk_file(talk: Talk, revision: Revision, series: Series, site: urls.Site,
              memo: Memo = direct, join_url: str = "") -> bytes:
    """/talks/<id>.ics: one talk, for an "add to calendar" button; with
    `join_url`, the members' copy of it (never a public route)."""
    return _enclose(memo(_talk_file_head, site), (
        memo(vtimezone_bytes, talk.zone.key, talk.day.year, talk.day.year),
        memo(event_bytes, talk, revision, series, site, join_url)))
