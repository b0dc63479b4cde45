"""The plain text of a talk's calendar event: its one-line summary and its
description. The calendar feed, the "add to calendar" links and the feeds'
titles share them."""

from __future__ import annotations

import re
from datetime import datetime

from markupsafe import Markup, escape

from feeds import timezones, urls
from feeds.model import Talk

SUMMARY_LIMIT = 254
#: Leads the title of a cancelled talk wherever a title stands alone.
CANCELLED_PREFIX = "CANCELLED: "
#: Leads the title of a postponed talk wherever a title stands alone.
POSTPONED_PREFIX = "Postponed: "
#: A web address, or an e-mail address (group "mail"), in running text.
_ADDRESS = re.compile(r"https?://[^\s<>\"']+"
                      r"|(?P<mail>(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
_TRAILING = ".,;:!?)]}"


def summary(talk: Talk, limit: int = SUMMARY_LIMIT) -> str:
    """'Title — Speaker (Affiliation)', shortened to fit `limit` characters:
    affiliations go first, then extra speakers, then the title's end."""
    prefix = status_prefix(talk)
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


def status_prefix(talk: Talk) -> str:
    """'CANCELLED: ', 'Postponed: ' or '': what leads a title standing alone,
    for readers (Google Calendar) that never show an event's STATUS."""
    return CANCELLED_PREFIX if talk.cancelled else POSTPONED_PREFIX if talk.postponed else ""


def moved_from(previous: datetime, talk: Talk) -> str:
    """'Moved from Mon 14 Dec, 17:00 CET': the start before the last move, in
    the talk's zone."""
    return f"Moved from {timezones.short_when(previous.astimezone(talk.zone))}"


POSTPONED_NOTICE = "This talk is postponed; the new date will be announced here."
CANCELLED_NOTICE = "This talk was cancelled."


def change_notice(talk: Talk, moved_from: datetime | None = None) -> str:
    """What a page or an embed says first of a talk that changed: 'This talk
    moved from Mon 14 December to Tue 15 December, 18:00 CET.' (the old time
    too when only the time changed), that it is postponed or cancelled; ""
    for a talk that is as first announced."""
    if talk.cancelled:
        return CANCELLED_NOTICE
    if talk.postponed:
        return POSTPONED_NOTICE
    if moved_from is None:
        return ""
    before = moved_from.astimezone(talk.zone)
    old = timezones.day_month(before)
    if before.date() == talk.start.date():
        old += f", {timezones.format_clock(before)}"
    return (f"This talk moved from {old} to {timezones.day_month(talk.start)}, "
            f"{timezones.format_clock(talk.start)}.")


def description(talk: Talk, site: urls.Site, join_url: str = "", attend: str = "",
                previous: datetime | None = None) -> str:
    """The plain-text body of a talk's event; `attend` (the series' "how to
    join" text) goes where a members' copy has its join link; a talk moved
    from `previous` says so first."""
    parts = [moved_from(previous, talk) + "."] if previous is not None else []
    if join_url:
        parts.append(f"Join: {join_url}")
    if talk.cancelled:
        parts.append("This talk is cancelled.")
    elif talk.postponed:
        parts.append("This talk is postponed: it will take place, but its new date is not "
                     "known yet. It keeps this slot until the new date is set.")
    elif attend and not join_url:
        parts.append(f"{talk.location}. {attend}" if talk.location else attend)
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


def shorten(text: str, width: int) -> str:
    """`text` on one line, cut at a word boundary to at most `width` characters."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    return text[: width - 1].rsplit(" ", 1)[0].rstrip() + " …"


def one_line(text: str) -> str:
    """`text` with every run of whitespace, line breaks included, as one space."""
    return " ".join(text.split())


def linkify(text: str) -> Markup:
    """`text` escaped, with its http(s) and e-mail addresses turned into
    links (mailto: for the latter); markupsafe escapes every piece."""
    out, last = [], 0
    for match in _ADDRESS.finditer(text):
        found = match.group() if match.group("mail") else match.group().rstrip(_TRAILING)
        href = f"mailto:{found}" if match.group("mail") else found
        out.append(escape(text[last:match.start()]))
        out.append(Markup('<a href="{0}">{1}</a>').format(href, found))
        last = match.start() + len(found)
    out.append(escape(text[last:]))
    return Markup("").join(out)


def paragraphs(text: str) -> Markup:
    """Blank-line separated text as <p> elements, addresses linked."""
    parts = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return Markup("\n").join(
        Markup("<p>{}</p>").format(Markup("<br>\n").join(linkify(line) for line in p.splitlines()))
        for p in parts)
