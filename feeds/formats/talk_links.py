"""What a talk's page offers beyond its text: the privacy-enhanced player of
its recording, the ways to add it to a calendar, and its schema.org Event for
JSON-LD."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from feeds import timezones, urls
from feeds.formats import calendar_links, text
from feeds.model import Series, Speaker, Talk

DETAILS_LIMIT = 600  # characters of abstract carried in an "add to calendar" link


# --- recordings ----------------------------------------------------------------

_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")


def player_url(recording: str) -> str:
    """The privacy-enhanced player of a YouTube or Vimeo recording
    (youtube-nocookie.com, Vimeo with dnt=1), or "" for any other address."""
    parts = urlsplit(recording)
    host = (parts.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    segments = [s for s in parts.path.split("/") if s]
    video = ""
    if host == "youtu.be" and segments:
        video = segments[0]
    elif host in ("youtube.com", "youtube-nocookie.com"):
        if segments == ["watch"]:
            video = parse_qs(parts.query).get("v", [""])[0]
        elif len(segments) >= 2 and segments[0] in ("embed", "live", "shorts", "v"):
            video = segments[1]
    if _YOUTUBE_ID.fullmatch(video):
        return f"https://www.youtube-nocookie.com/embed/{video}?autoplay=1"
    if host == "vimeo.com" and segments and segments[-1].isdigit():
        return f"https://player.vimeo.com/video/{segments[-1]}?dnt=1&autoplay=1"
    if host == "player.vimeo.com" and len(segments) >= 2 and segments[0] == "video" \
            and segments[1].isdigit():
        return f"https://player.vimeo.com/video/{segments[1]}?dnt=1&autoplay=1"
    return ""


# --- links and structured data ---------------------------------------------------

def add_to_calendar(talk: Talk, series: Series, site: urls.Site) -> list[tuple[str, str]]:
    """(label, URL) of each way to add one copy of `talk` to a calendar."""
    title = text.summary(talk)
    details = text.description(replace(talk, abstract=text.shorten(talk.abstract, DETAILS_LIMIT)),
                                     site, attend=series.attend)
    event = (title, talk.start, talk.end)
    return [
        ("Download .ics (Apple Calendar, Outlook for Windows, others)", site.url(urls.talk_ics(talk.id))),
        ("Google Calendar", calendar_links.google_event(*event, details, talk.location,
                                                        talk.zone.key)),
        ("Outlook.com", calendar_links.outlook_event(calendar_links.OUTLOOK_LIVE, *event, details,
                                                     talk.location)),
        ("Microsoft 365 (work or school)",
         calendar_links.outlook_event(calendar_links.OUTLOOK_OFFICE, *event, details,
                                      talk.location)),
    ]


def _person(speaker: Speaker) -> dict[str, Any]:
    person: dict[str, Any] = {"@type": "Person", "name": speaker.name}
    if speaker.affiliation:
        person["affiliation"] = {"@type": "Organization", "name": speaker.affiliation}
    if speaker.url:
        person["url"] = speaker.url
    return person


def event_status(talk: Talk, previous_starts: tuple[datetime, ...] = ()) -> str:
    """The schema.org EventStatusType: cancelled, postponed, rescheduled (a
    talk with earlier starts) or scheduled."""
    status = ("Cancelled" if talk.cancelled else "Postponed" if talk.postponed
              else "Rescheduled" if previous_starts else "Scheduled")
    return f"https://schema.org/Event{status}"


def event_ld(talk: Talk, series: Series, site: urls.Site,
             previous_starts: tuple[datetime, ...] = ()) -> dict[str, Any]:
    """The schema.org Event of a talk, for JSON-LD; a moved talk's earlier
    starts are its previousStartDate (oldest first)."""
    page = site.url(urls.talk_route(talk.id))
    organizer: dict[str, Any] = {"@type": "Organization", "name": series.title,
                                 "url": site.url(urls.HOME)}
    if series.contact:
        organizer["email"] = series.contact
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": talk.title,
        "startDate": timezones.isoformat_local(talk.start),
        "endDate": timezones.isoformat_local(talk.end),
        "eventAttendanceMode": "https://schema.org/OnlineEventAttendanceMode",
        "eventStatus": event_status(talk, previous_starts),
        "location": {"@type": "VirtualLocation", "name": talk.location, "url": page},
        "url": page,
        "performer": [_person(s) for s in talk.speakers],
        "organizer": organizer,
    }
    if previous_starts:
        data["previousStartDate"] = [timezones.isoformat_local(s) for s in previous_starts]
    if talk.abstract:
        data["description"] = talk.abstract
    if talk.recording:
        data["recordedIn"] = {"@type": "CreativeWork", "url": talk.recording}
    return data
