"""A talk's announcement, or its short day-of reminder, as one e-mail: a
text/plain part, a text/html alternative and the talk's .ics (the UID and
SEQUENCE of /calendar.ics, so a calendar that has the talk updates it)."""

from __future__ import annotations

import email.policy
import ipaddress
import textwrap
from datetime import datetime, timezone
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime, make_msgid
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from feeds import timezones, urls
from feeds.data.announced import ANNOUNCEMENT, REMINDER, UPDATE, AnnounceError, Sent
from feeds.data.revisions import Revision
from feeds.formats import calendar_links, ical, text
from feeds.model import Series, Talk

#: CRLF line ends and nothing but ASCII on the wire (non-ASCII text is
#: quoted-printable or base64, headers RFC 2047), so any server takes it.
POLICY = email.policy.SMTP.clone(cte_type="7bit")
WRAP = 72  # columns of the plain-text part


def _wrap(text: str, indent: str = "") -> str:
    """Plain text wrapped for mail, paragraphs kept, addresses never broken."""
    paragraphs = [" ".join(p.split()) for p in text.replace("\r", "").split("\n\n")]
    return "\n\n".join(textwrap.fill(p, WRAP, initial_indent=indent, subsequent_indent=indent,
                                     break_long_words=False, break_on_hyphens=False)
                       for p in paragraphs if p)


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("feeds", "templates"),
                      autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                      auto_reload=False, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters.update(paragraphs=text.paragraphs, wrap=_wrap)
    return env


ENV = _environment()


def reminder_word(talk: Talk, now: datetime) -> str:
    """'Today', 'Tomorrow' or 'Reminder': how a reminder sent at `now` leads."""
    days = (talk.day - now.astimezone(talk.zone).date()).days
    return {0: "Today", 1: "Tomorrow"}.get(days, "Reminder")


def subject(talk: Talk, series: Series, kind: str, update: bool, now: datetime) -> str:
    """'[Series] Title — Mon 13 Apr 2026, 17:00 CEST' (time in the series' zone),
    the title led by 'CANCELLED: ', 'Updated: ' or a reminder's 'Today: '."""
    lead = text.status_prefix(talk) or ("Updated: " if update else "")
    if kind == REMINDER and not talk.cancelled:
        lead += reminder_word(talk, now) + ": "
    moment = timezones.format_when(talk.start.astimezone(series.timezone))
    return text.one_line(f"[{series.title}] {lead}{talk.title} — {moment}")


def attachment(talk: Talk, revision: Revision, series: Series, site: urls.Site,
               join_url: str = "") -> bytes:
    """The talk's calendar file: METHOD:PUBLISH, its VTIMEZONE and its VEVENT
    with the UID and SEQUENCE of /calendar.ics (and the join link for members)."""
    return ical.talk_file(talk, revision, series, site, join_url=join_url)


def view(talk: Talk, series: Series, site: urls.Site, kind: str, join_url: str,
         update: Sent | None, now: datetime) -> dict[str, Any]:
    """What both parts of the message say."""
    start = talk.start.astimezone(series.timezone)
    word = reminder_word(talk, now)
    return {
        "series": series, "talk": talk, "reminder": kind == REMINDER, "join_url": join_url,
        "heading": "talk announcement" if kind == ANNOUNCEMENT else "change to a talk"
        if kind == UPDATE else (
            f"{word.lower()}'s talk" if word != "Reminder" else "reminder"),
        "update": timezones.day_label(update.sent_at.astimezone(series.timezone)) if update else "",
        "update_kind": update.kind if update else "",
        "when": timezones.when(start), "zone": series.timezone.key,
        "own_when": timezones.when(talk.start) if talk.zone.key != series.timezone.key else "",
        "own_zone": talk.zone.key, "clocks": timezones.display_clocks(start),
        "page": site.url(urls.talk_page(talk.id)),
        "feeds": calendar_links.series_addresses(series, site),
        "subscribe": site.url(urls.HOME) + "#subscribe",
    }


def message_id_domain(site: urls.Site, sender: Address) -> str:
    """The right of the Message-ID's @: the site's public host; where that is
    no dotted name (localhost, an IP address while trying things out), the
    sender's domain, and failing that ``localhost.localdomain``."""
    for name in (site.host, sender.domain):
        try:
            ipaddress.ip_address(name)
        except ValueError:
            if "." in name.strip("."):
                return name
    return "localhost.localdomain"


def _squeezed(text: str) -> str:
    """`text` without whitespace: CPython's folding may drop a space between
    two encoded words ("— ✓" reads "—✓"), which changes no word."""
    return "".join(text.split())


def _reads_back(message: EmailMessage, name: str, value: str | tuple[Address, ...]) -> bool:
    """Whether the header `name` holds `value`, as set and as a mail program
    reads it off the wire: one header, with the same text or addresses."""
    header = message[name]
    try:
        parsed = BytesHeaderParser(policy=email.policy.default).parsebytes(
            message.policy.fold_binary(name, header))
        (got_name, got), = parsed.items()
        if isinstance(value, str):
            return (str(header) == value and got_name.lower() == name.lower()
                    and _squeezed(str(got)) == _squeezed(value))
        wanted = [(_squeezed(a.display_name), a.addr_spec) for a in value]
        return (tuple(header.addresses) == value and got_name.lower() == name.lower()
                and [(_squeezed(a.display_name), a.addr_spec) for a in got.addresses] == wanted)
    except (ValueError, HeaderParseError):  # e.g. a CR or LF decoded into an address
        return False


def _set_header(message: EmailMessage, name: str, value: str | tuple[Address, ...]) -> None:
    """Set the header `name`, refusing a value that would read back as other
    text: an encoded word (RFC 2047) in it is decoded, into a line break
    and further headers on Pythons before 3.11.10 / 3.12.5 (CVE-2024-6923)."""
    message[name] = value
    if not _reads_back(message, name, value):
        del message[name]
        shown = value if isinstance(value, str) else ", ".join(map(str, value))
        raise AnnounceError(f"the {name} {shown!r} would read as other text in the message's "
                            "header (an encoded word, =?…?=, is decoded); nothing was "
                            "written or sent")


def compose(talk: Talk, revision: Revision, series: Series, site: urls.Site, kind: str, *,
            sender: Address, to: tuple[Address, ...], now: datetime, join_url: str = "",
            update: Sent | None = None) -> EmailMessage:
    """One message: text/plain with a text/html alternative, and the .ics."""
    context = view(talk, series, site, kind, join_url, update, now)
    context["notice"] = text.change_notice(talk, revision.moved_from(talk))
    context["subject"] = subject(talk, series, kind, update is not None, now)
    message = EmailMessage(policy=POLICY)
    _set_header(message, "Subject", context["subject"])
    _set_header(message, "From", (sender,))
    if to:
        _set_header(message, "To", to)
    message["Date"] = format_datetime(now.astimezone(timezone.utc))
    message["Message-ID"] = make_msgid(domain=message_id_domain(site, sender))
    message.set_content(ENV.get_template("announce.txt").render(context))
    message.add_alternative(ENV.get_template("announce.html").render(context), subtype="html")
    message.add_attachment(attachment(talk, revision, series, site, join_url), maintype="text",
                           subtype="calendar", filename=f"{talk.id}.ics",
                           params={"method": "PUBLISH", "charset": "utf-8"})
    return message
