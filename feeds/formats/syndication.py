"""The RSS 2.0 and Atom 1.0 feeds, built with feedgen from one list of
entries: one per talk, one more per talk whose recording is out, and one
per move, cancellation and postponement (the ledger's changes).
Per-talk parts are called through `memo` (feeds.formats.memo)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator
from lxml import etree
from markupsafe import Markup

from feeds import timezones, urls
from feeds.data.changes import Change
from feeds.data.revisions import Revision
from feeds.formats.delivery import Delivery
from feeds.formats.memo import Memo, direct, each_talk
from feeds.formats.text import status_prefix
from feeds.model import Schedule, Series, Talk
from feeds.timezones import EPOCH

RSS_TYPE = "application/rss+xml"  # the formats, as pages and the feeds' self links name them
ATOM_TYPE = "application/atom+xml"
#: Both feeds are sent as XML, as static hosts send any .xml file: a browser
#: shows application/rss+xml as raw text and applies no stylesheet, while it
#: styles application/xml with the feed's stylesheet. Feed readers read the
#: feed itself, whatever the type.
FEED_MEDIA_TYPE = "application/xml; charset=utf-8"
RSS_DELIVERY = Delivery(FEED_MEDIA_TYPE, cors=True)
ATOM_DELIVERY = Delivery(FEED_MEDIA_TYPE, cors=True)


@dataclass(frozen=True)
class Entry:
    """One feed entry, the same in both formats."""

    id: str
    title: str
    link: str  # the one alternate link
    published: datetime
    updated: datetime
    authors: tuple[str, ...]
    content: Callable[[], Markup]  # rendered only for the entries a feed keeps


# --- dates ------------------------------------------------------------------

def recording_published(talk: Talk, revision: Revision) -> datetime:
    """When the recording entry counts as published: when the recording first
    appeared, or with the talk itself if it came with the talk (so that a
    back-filled talk's recording is dated at the talk's start, too)."""
    published = revision.published(talk)
    seen = revision.recording_seen or revision.modified
    return published if seen <= revision.first_seen else seen


def _dates(published: datetime, revision: Revision) -> tuple[datetime, datetime]:
    """(published, updated) in UTC; an entry is never updated before it is published."""
    published = timezones.to_utc(published)
    return published, max(published, timezones.to_utc(revision.modified))


def not_after(entry: Entry, latest: datetime) -> Entry:
    """`entry` with no date later than `latest`."""
    if entry.updated <= latest:  # published <= updated
        return entry
    return replace(entry, published=min(entry.published, latest), updated=latest)


# --- HTML content -------------------------------------------------------------

def _link(url: str, label: str) -> Markup:
    return Markup('<a href="{}">{}</a>').format(url, label)


def _speakers(talk: Talk) -> Markup:
    items = Markup().join(
        Markup("<li>{}{}</li>").format(
            _link(s.url, s.name) if s.url else s.name,
            Markup(", {}").format(s.affiliation) if s.affiliation else "")
        for s in talk.speakers)
    return Markup("<ul>{}</ul>").format(items) if talk.speakers else Markup()


def _when(talk: Talk, series: Series) -> Markup:
    """'Mon 13 Apr 2026, 17:00–18:00 CEST (Mon 13 Apr 2026, 15:00–16:00 UTC)'."""
    local, utc = talk.start.astimezone(series.timezone), timezones.to_utc(talk.start)
    return Markup("<p>{} ({})</p>").format(timezones.when_range(local, talk.end, month="%b"),
                                            timezones.when_range(utc, talk.end, month="%b"))


def _attend(talk: Talk, series: Series) -> Markup:
    """Where the talk is and, from the data, how to join it."""
    place = Markup("<p>Where: {}</p>").format(talk.location)
    if talk.cancelled:
        return Markup()
    if series.attend:
        return place + Markup("<p>How to join: {}</p>").format(series.attend)
    return place


def _paragraphs(text: str) -> Markup:
    return Markup().join(Markup("<p>{}</p>").format(p.strip())
                         for p in text.split("\n\n") if p.strip())


def _page_links(talk: Talk, site: urls.Site) -> Markup:
    return Markup("<p>{} · {}</p>").format(
        _link(site.url(urls.talk_page(talk.id)), "Talk page"),
        _link(site.url(urls.talk_ics(talk.id)), "Add to calendar (.ics)"))


def _moved(previous: datetime, now: datetime, series: Series) -> str:
    """'This talk moved from Mon 14 Dec 2026, 17:00 CET to Tue 15 Dec 2026, 18:00 CET.'"""
    return (f"This talk moved from {timezones.format_when(previous.astimezone(series.timezone))}"
            f" to {timezones.format_when(now.astimezone(series.timezone))}.")


POSTPONED_TEXT = "This talk is postponed; the new date will be announced here."


def _status_notice(talk: Talk, series: Series, moved_from: datetime | None) -> Markup:
    if talk.cancelled:
        return Markup("<p><strong>This talk is cancelled.</strong></p>")
    if talk.postponed:
        return Markup("<p><strong>{}</strong></p>").format(POSTPONED_TEXT)
    if moved_from is not None:
        return Markup("<p><strong>{}</strong></p>").format(_moved(moved_from, talk.start, series))
    return Markup()


def talk_content(talk: Talk, series: Series, site: urls.Site,
                 moved_from: datetime | None = None) -> Markup:
    """The HTML body of a talk's entry, every piece escaped by markupsafe."""
    parts = [_status_notice(talk, series, moved_from), _speakers(talk), _when(talk, series),
             _attend(talk, series), _paragraphs(talk.abstract)]
    if talk.links:
        parts.append(Markup("<ul>{}</ul>").format(Markup().join(
            Markup("<li>{}</li>").format(_link(link.url, link.label)) for link in talk.links)))
    if talk.note:
        parts.append(Markup("<p>Note: {}</p>").format(talk.note))
    if talk.recording:
        parts.append(Markup("<p>{}</p>").format(_link(talk.recording, "Watch the recording")))
    parts.append(_page_links(talk, site))
    return Markup().join(parts)


def recording_content(talk: Talk, series: Series, site: urls.Site) -> Markup:
    """The HTML body of a recording's entry."""
    return Markup().join([
        Markup("<p>The recording of the talk on {} is online: {}</p>").format(
            timezones.format_when(talk.start.astimezone(series.timezone)),
            _link(talk.recording, talk.title)),
        _speakers(talk), _page_links(talk, site)])


# --- entries ------------------------------------------------------------------

def talk_title(talk: Talk, series: Series) -> str:
    """'Title — Mon 13 Apr 2026, 17:00 CEST', marked when cancelled or postponed."""
    prefix = status_prefix(talk)
    return f"{prefix}{talk.title} — {timezones.format_when(talk.start.astimezone(series.timezone))}"


def talk_entries(talk: Talk, revision: Revision, series: Series,
                 site: urls.Site, memo: Memo = direct) -> tuple[Entry, ...]:
    """The talk's entry and, once its recording exists, the recording's;
    their contents are rendered only when a feed keeps them."""
    authors = tuple(s.name for s in talk.speakers)
    entries = [Entry(site.tag("talk", talk.id), talk_title(talk, series),
                     site.url(urls.talk_page(talk.id)),
                     *_dates(revision.published(talk), revision),
                     authors, partial(memo, talk_content, talk, series, site,
                                      revision.moved_from(talk)))]
    entries += change_entries(talk, revision, series, site, memo)
    if talk.recording:
        entries.append(Entry(site.tag("recording", talk.id), f"Recording: {talk.title}",
                             talk.recording,
                             *_dates(recording_published(talk, revision), revision),
                             authors, partial(memo, recording_content, talk, series, site)))
    return tuple(entries)


def change_title(change: Change, talk: Talk, series: Series, moved_to: datetime) -> str:
    """'Moved: Title — now Tue 15 Dec 2026, 18:00 CET', 'Cancelled: Title' or
    'Postponed: Title'."""
    if change.kind == "moved":
        local = moved_to.astimezone(series.timezone)
        return f"Moved: {talk.title} — now {timezones.format_when(local)}"
    return f"{change.kind.capitalize()}: {talk.title}"


def change_content(change: Change, talk: Talk, series: Series, site: urls.Site,
                   moved_to: datetime, latest: bool) -> Markup:
    """The HTML body of a change's entry: what changed, the note if this is
    the talk's latest change, and the talk page."""
    if change.kind == "cancelled":
        told = "This talk is cancelled: it will not take place."
    elif change.kind == "postponed":
        told = POSTPONED_TEXT
    else:
        assert change.previous is not None
        told = _moved(change.previous, moved_to, series)
    parts = [Markup("<p><strong>{}</strong></p>").format(told), _speakers(talk)]
    if latest and talk.note:
        parts.append(Markup("<p>Note: {}</p>").format(talk.note))
    parts.append(_page_links(talk, site))
    return Markup().join(parts)


def change_entries(talk: Talk, revision: Revision, series: Series, site: urls.Site,
                   memo: Memo = direct) -> list[Entry]:
    """One entry per move, cancellation and postponement, each with an id of
    its own (the talk's plus the revision's SEQUENCE) and dated when it was
    made; a move says where the talk went then (the next move's start before,
    or its start now)."""
    authors = tuple(s.name for s in talk.speakers)
    starts = [c.previous for c in revision.changes if c.previous is not None] + [talk.start]
    found, moves = [], 0
    for index, change in enumerate(revision.changes):
        moved_to = talk.start
        if change.previous is not None:
            moves += 1
            moved_to = starts[moves]
        at = timezones.to_utc(change.at)
        found.append(Entry(
            site.tag("talk", talk.id, "revision", str(change.sequence)),
            change_title(change, talk, series, moved_to), site.url(urls.talk_page(talk.id)),
            at, at, authors,
            partial(memo, change_content, change, talk, series, site, moved_to,
                    index == len(revision.changes) - 1)))
    return found


def entries(schedule: Schedule, revisions: Mapping[str, Revision], site: urls.Site,
            now: datetime, memo: Memo = direct) -> list[Entry]:
    """Every entry, newest publication first (ties broken by id, for stable
    bytes), no date later than `now`."""
    latest = timezones.to_utc(now)
    per_talk = each_talk(memo, talk_entries, ((talk, revisions[talk.id], schedule.series, site,
                                               memo) for talk in schedule.talks))
    found = [not_after(entry, latest) for talk_found in per_talk for entry in talk_found]
    return sorted(found, key=lambda e: (e.published, e.id), reverse=True)


# --- feeds --------------------------------------------------------------------

def add_entry(fg: FeedGenerator, entry: Entry, rss: bool) -> FeedEntry:
    """`entry` appended to `fg` (RSS 2.0 or Atom 1.0), returned for more."""
    fe = fg.add_entry(order="append")
    fe.id(entry.id)  # also the RSS guid, isPermaLink="false"
    fe.title(entry.title)
    fe.link(href=entry.link, rel="alternate")
    fe.published(entry.published)
    fe.updated(entry.updated)
    fe.content(str(entry.content()), type="html")
    for name in entry.authors:
        fe.author(name=name)
        if rss:
            fe.dc.dc_creator(name)
    return fe


def _generator(schedule: Schedule, revisions: Mapping[str, Revision], site: urls.Site,
               now: datetime, limit: int, rss: bool, memo: Memo,
               found: Sequence[Entry] | None) -> FeedGenerator:
    """The feed for either format; only the self link and dc:creator differ."""
    self_path, media_type = (urls.RSS, RSS_TYPE) if rss else (urls.ATOM, ATOM_TYPE)
    series = schedule.series
    if found is None:
        found = entries(schedule, revisions, site, now, memo)
    fg = FeedGenerator()
    if rss:
        fg.load_extension("dc", atom=False, rss=True)
    fg.id(site.tag("feed"))
    fg.title(series.title)
    fg.description(series.description or series.title)
    fg.language("en")
    fg.author({"name": series.title, "email": series.contact} if series.contact
              else {"name": series.title})
    if series.contact:  # RSS names the series only as managingEditor
        fg.managingEditor(f"{series.contact} ({series.title})")
    fg.link(href=site.url(self_path), rel="self", type=media_type)
    fg.link(href=site.url(urls.HOME), rel="alternate")  # last: the RSS channel link
    fg.updated(max((e.updated for e in found), default=EPOCH))
    for entry in found[:max(limit, 0)]:
        add_entry(fg, entry, rss)
    return fg


def with_stylesheet(feed: bytes, page: str) -> bytes:
    """`feed` (feedgen's XML, which has no stylesheet option) with an
    xml-stylesheet processing instruction before its root, made by lxml: the
    site's static/feed.css, relative to the feed's route `page`, so that a browser
    shows a page for people (what a feed is, how to follow it, the entries)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)
    root = etree.fromstring(feed, parser)
    href = urls.relative(page, urls.asset(urls.FEED_STYLE))  # its stable address: no import of pages
    root.addprevious(etree.ProcessingInstruction("xml-stylesheet", f'type="text/css" href="{href}"'))
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def rss_feed(schedule: Schedule, revisions: Mapping[str, Revision], site: urls.Site,
             now: datetime, limit: int = 100, memo: Memo = direct,
             found: Sequence[Entry] | None = None) -> bytes:
    """/rss.xml: the most recent `limit` entries as RSS 2.0 (of `found`,
    `entries(...)`, if the caller has them)."""
    fg = _generator(schedule, revisions, site, now, limit, True, memo, found)
    return with_stylesheet(fg.rss_str(pretty=True), urls.RSS)


def atom_feed(schedule: Schedule, revisions: Mapping[str, Revision], site: urls.Site,
              now: datetime, limit: int = 100, memo: Memo = direct,
              found: Sequence[Entry] | None = None) -> bytes:
    """/atom.xml: the most recent `limit` entries as Atom 1.0 (of `found`, as for rss_feed)."""
    fg = _generator(schedule, revisions, site, now, limit, False, memo, found)
    return with_stylesheet(fg.atom_str(pretty=True), urls.ATOM)
