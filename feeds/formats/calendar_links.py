"""Links into other people's calendar apps: subscribe to the whole series, or
add one event. Each app's link format is written down here and nowhere else.

None of these formats has a formal specification; they are the ones the apps
have accepted for years (Google's event template and ``cid`` links, Outlook's
``deeplink/compose`` and ``addfromweb`` pages)."""

from __future__ import annotations

import string
from datetime import datetime
from urllib.parse import quote

from feeds import urls
from feeds.model import Series
from feeds.timezones import basic_utc, isoformat_utc

GOOGLE = "https://calendar.google.com/calendar"
OUTLOOK_LIVE = "https://outlook.live.com"  # personal accounts (Outlook.com)
OUTLOOK_OFFICE = "https://outlook.office.com"  # work or school (Microsoft 365)


# quote(safe="") for ASCII, as one str.translate instead of a loop per byte.
_ASCII = {i: chr(i) if chr(i) in string.ascii_letters + string.digits + "_.-~" else f"%{i:02X}"
          for i in range(128)}


def _quote(value: str) -> str:
    """`value` percent-encoded for a query, spaces as %20 (some apps show a
    literal '+')."""
    return value.translate(_ASCII) if value.isascii() else quote(value, safe="")


def _query(params: dict[str, str]) -> str:
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in params.items() if v)


def google_subscribe(webcal_url: str) -> str:
    """Google Calendar's "add this calendar" page for a webcal:// feed."""
    return f"{GOOGLE}/r?cid={quote(webcal_url, safe='')}"


def outlook_subscribe(host: str, feed_url: str, name: str) -> str:
    """Outlook on the web's "subscribe from web" page (host: OUTLOOK_*)."""
    return f"{host}/calendar/0/addfromweb?" + _query({"url": feed_url, "name": name})


def google_event(title: str, start: datetime, end: datetime, details: str,
                 location: str, zone: str) -> str:
    """Google Calendar's new-event form, times in UTC, shown in `zone`."""
    return f"{GOOGLE}/render?" + _query({
        "action": "TEMPLATE", "text": title,
        "dates": f"{basic_utc(start)}/{basic_utc(end)}",
        "details": details, "location": location, "ctz": zone,
    })


def outlook_event(host: str, title: str, start: datetime, end: datetime,
                  details: str, location: str) -> str:
    """Outlook on the web's new-event form (host: OUTLOOK_*), times in UTC."""
    return f"{host}/calendar/0/deeplink/compose?" + _query({
        "path": "/calendar/action/compose", "rru": "addevent", "subject": title,
        "startdt": isoformat_utc(start), "enddt": isoformat_utc(end),
        "body": details, "location": location,
    })


def series_addresses(series: Series, site: urls.Site) -> dict[str, str]:
    """The series' own addresses and the one-click subscribe links."""
    calendar, webcal = site.url(urls.CALENDAR), site.webcal(urls.CALENDAR)
    return {
        "home": site.url(urls.HOME), "calendar": calendar, "webcal": webcal,
        "archive": site.url(urls.ARCHIVE),
        "rss": site.url(urls.RSS), "atom": site.url(urls.ATOM), "json": site.url(urls.JSON),
        "google": google_subscribe(webcal),
        "outlook_live": outlook_subscribe(OUTLOOK_LIVE, calendar,
                                                         series.title),
        "outlook_office": outlook_subscribe(OUTLOOK_OFFICE,
                                                           calendar, series.title),
    }


#: The subscribe buttons, in order: (address key of series_addresses, app,
#: who it is for). Google's cid link fails on Android, where the Calendar
#: app captures it ("Calendar no longer exists"); the new Outlook for
#: Windows strips webcal:, and Outlook for Mac cannot subscribe at all.
SUBSCRIBE_APPS: tuple[tuple[str, str, str], ...] = (
    ("google", "Google Calendar", "on a computer; on Android, open this page in a browser"),
    ("webcal", "Apple Calendar", "iPhone, iPad, Mac"),
    ("webcal", "Outlook for Windows (classic)", "on a Mac, use Apple Calendar"),
    ("outlook_live", "Outlook.com", "personal accounts, new Outlook"),
    ("outlook_office", "Microsoft 365", "work or school"),
)


def subscribe_buttons(addresses: dict[str, str]) -> list[tuple[str, str, str]]:
    """(app, who it is for, link) of each subscribe button, from series_addresses."""
    return [(app, sub, addresses[key]) for key, app, sub in SUBSCRIBE_APPS]


def subscribe_links(site: urls.Site, token: str) -> dict[str, str]:
    """A member's subscribe links: https, webcal and Google Calendar."""
    path = urls.members_calendar(token)
    webcal = site.webcal(path)
    return {
        "https": site.url(path),
        "webcal": webcal,
        "google": google_subscribe(webcal),
    }
