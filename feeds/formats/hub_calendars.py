"""The hub's combined calendars (/calendar.ics, /archive.ics and each
tag's): every talk's event as its series' calendar has it, CATEGORIES aside."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from icalendar import Calendar, Event, vDuration, vText

from feeds import urls
from feeds.data.hub import HubInfo
from feeds.formats import ical
from feeds.formats.hub import Item, categories
from feeds.formats.memo import Memo, direct
from feeds.settings import CALENDAR_REFRESH


def categories_line(names: tuple[str, ...]) -> bytes:
    """The CATEGORIES content line (folded, with its CRLF) that icalendar
    writes for `names`."""
    event = Event()
    event.add("categories", list(names))
    body = ical.serialize(event)
    return body[len(b"BEGIN:VEVENT\r\n"):-len(b"END:VEVENT\r\n")]


def with_categories(event: bytes, line: bytes) -> bytes:
    """A serialized VEVENT of ical.talk_event with its CATEGORIES line (if
    any) replaced by `line`, where icalendar writes it: after its canonical
    first properties (the last of which in talk_event is SEQUENCE), first of
    the others, which follow sorted by name. The bytes talk_event gives with
    those categories (tests compare)."""
    start = event.find(b"\r\nCATEGORIES:")
    if start >= 0:  # up to the next line that is not a folded continuation
        end = event.index(b"\r\n", start + 2)
        while event[end + 2:end + 3] == b" ":
            end = event.index(b"\r\n", end + 2)
        event = event[:start + 2] + event[end + 2:]
    at = event.index(b"\r\n", event.index(b"\r\nSEQUENCE:") + 2) + 2
    return event[:at] + line + event[at:]


def hub_event(item: Item, memo: Memo) -> bytes:
    """The talk's event as its series' calendar has it (the same serialized
    event, kept once), CATEGORIES aside."""
    view, talk = item.view, item.talk
    event = memo(ical.event_bytes, talk, view.revisions[talk.id], view.series, view.site, "")
    return with_categories(event, memo(categories_line, categories(view.series, talk)))


def calendar_head(info: HubInfo, site: urls.Site, title: str, self_path: str,
                  home_path: str) -> bytes:
    """The combined calendar's own properties: the hub's (or the tag's) name."""
    cal = Calendar()
    cal.add("prodid", f"-//feeds//{site.authority}//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", title)
    cal.add("x-wr-calname", vText(title))
    if info.description:
        cal.add("x-wr-caldesc", vText(info.description))
    cal.add("refresh-interval", CALENDAR_REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(CALENDAR_REFRESH))
    cal.add("source", site.url(self_path), parameters={"VALUE": "URI"})
    cal.add("url", site.url(home_path), parameters={"VALUE": "URI"})
    return cal.to_ical()


def _timezones(chosen: Sequence[Item], memo: Memo) -> list[bytes]:
    years: dict[str, list[int]] = {}
    for item in chosen:
        years.setdefault(item.talk.zone.key, []).append(item.talk.day.year)
    return [memo(ical.vtimezone_bytes, key, min(y), max(y)) for key, y in sorted(years.items())]


def combined_calendar(head: bytes, chosen: Sequence[Item], memo: Memo = direct,
                      events: Sequence[bytes] | None = None) -> bytes:
    """A calendar of `chosen` talks under `head` (calendar_head); `events`:
    their hub_event bytes, in the same order, if made already (then `chosen`
    must be in order)."""
    if events is None:
        chosen = sorted(chosen, key=lambda i: (i.talk.start, i.view.slug, i.talk.id))
        events = [hub_event(i, memo) for i in chosen]
    end = b"END:VCALENDAR\r\n"
    assert head.endswith(end)
    return b"".join((head[: -len(end)], *_timezones(chosen, memo), *events, end))


def subscription_calendar(head: bytes, found: Sequence[Item], now: datetime,
                          memo: Memo = direct, budget: int = ical.SUBSCRIPTION_BYTES) -> bytes:
    """The combined subscription: upcoming talks soonest first, then the most
    recent past talks newest first, as many as fit in `budget` bytes (well
    under Google Calendar's 1 MB, however many series the hub holds); every
    talk is in /archive.ics and in its series' own calendars."""
    upcoming = [i for i in found if i.talk.end > now]
    past = [i for i in reversed(found) if i.talk.end <= now]
    room = budget - len(head) - sum(map(len, _timezones(found, memo)))
    chosen: list[Item] = []
    for item in (*upcoming, *past):
        room -= len(hub_event(item, memo))
        if room < 0:
            break
        chosen.append(item)
    body = combined_calendar(head, chosen, memo)
    while len(body) > budget and chosen:
        chosen.pop()
        body = combined_calendar(head, chosen, memo)
    return body
