"""/talks.json: the series and every talk, for scripts and other sites.
Every field is documented in docs/webmasters/json.md.

Each talk is serialized on its own (through `memo`, feeds.formats.memo) and the
document is made of serialized values, as json.dumps would write it whole."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from feeds import timezones, urls
from feeds.data.revisions import Revision
from feeds.formats import text
from feeds.formats.delivery import Delivery
from feeds.formats.memo import Memo, direct, each_talk
from feeds.model import Schedule, Series, Speaker, Talk

MEDIA_TYPE = "application/json"
JSON_DELIVERY = Delivery(MEDIA_TYPE, cors=True)


def _or_none(value: str) -> str | None:
    """Absent optional values are null, never an empty string."""
    return value or None


def speaker_record(speaker: Speaker) -> dict[str, Any]:
    return {"name": speaker.name, "affiliation": _or_none(speaker.affiliation),
            "url": _or_none(speaker.url)}


def talk_record(talk: Talk, site: urls.Site, previous_starts: tuple[datetime, ...] = (),
                notice: str = "") -> dict[str, Any]:
    """One talk as JSON-ready data; `previous_starts` are the starts it had
    before it moved (oldest first), `notice` what a page says of its change."""
    return {
        "id": talk.id,
        "title": talk.title,
        "status": talk.status,
        "previous_starts": [timezones.isoformat_utc(s) for s in previous_starts],
        "notice": _or_none(notice),
        "start": timezones.isoformat_utc(talk.start),
        "end": timezones.isoformat_utc(talk.end),
        "start_local": timezones.isoformat_local(talk.start),
        "timezone": talk.zone.key,
        "when": timezones.when(talk.start),
        "when_range": timezones.when_range(talk.start, talk.end),
        "duration_minutes": int(talk.duration.total_seconds() // 60),
        "location": talk.location,
        "speakers": [speaker_record(s) for s in talk.speakers],
        "byline": talk.byline(),
        "abstract": _or_none(talk.abstract),
        "links": [{"label": link.label, "url": link.url} for link in talk.links],
        "recording": _or_none(talk.recording),
        "note": _or_none(talk.note),
        "url": site.url(urls.talk_page(talk.id)),
        "ics": site.url(urls.talk_ics(talk.id)),
    }


def series_record(series: Series, site: urls.Site) -> dict[str, Any]:
    """The series and the addresses of its feeds."""
    return {
        "title": series.title,
        "description": _or_none(series.description),
        "url": site.url(urls.HOME),
        "timezone": series.timezone.key,
        "contact": _or_none(series.contact),
        "attend": _or_none(series.attend),
        "calendar": site.url(urls.CALENDAR),
        "webcal": site.webcal(urls.CALENDAR),
        "rss": site.url(urls.RSS),
        "atom": site.url(urls.ATOM),
    }


def changes(talk: Talk, revisions: Mapping[str, Revision] | None
            ) -> tuple[tuple[datetime, ...], str]:
    """A talk's earlier starts (every one, oldest first) and its notice."""
    revision = (revisions or {}).get(talk.id)
    return ((revision.previous_starts if revision else ()),
            text.change_notice(talk, revision.moved_from(talk) if revision else None))


def talks_document(schedule: Schedule, site: urls.Site,
                   revisions: Mapping[str, Revision] | None = None) -> dict[str, Any]:
    """The whole document: the series, then every talk, earliest first."""
    return {"series": series_record(schedule.series, site),
            "talks": [talk_record(talk, site, *changes(talk, revisions))
                      for talk in schedule.talks]}


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def talk_json(talk: Talk, site: urls.Site, previous_starts: tuple[datetime, ...] = (),
              notice: str = "") -> bytes:
    """talk_record(...) serialized, as UTF-8: documents of every talk join
    these bytes and encode nothing again."""
    return dumps(talk_record(talk, site, previous_starts, notice)).encode()


def render(schedule: Schedule, site: urls.Site, memo: Memo = direct,
           revisions: Mapping[str, Revision] | None = None) -> bytes:
    """/talks.json as UTF-8 bytes: the same text as ``dumps(talks_document(...))``."""
    talks = b",".join(each_talk(memo, talk_json, ((talk, site, *changes(talk, revisions))
                                                  for talk in schedule.talks)))
    series = dumps(series_record(schedule.series, site))
    return b"".join((f'{{"series":{series},"talks":['.encode(), talks, b"]}\n"))


# --- /embed.json: what embed.js shows, and nothing more -------------------------

#: The upcoming talks /embed.json holds (soonest first); a list that wants
#: more loads /embed-all.json.
EMBED_AHEAD = 50
#: The past talks /embed.json holds (newest first): enough for the season
#: break's latest talks and for a short past list.
EMBED_RECENT = 12


def embed_talk(talk: Talk, site: urls.Site, previous_starts: tuple[datetime, ...] = (),
               notice: str = "") -> bytes:
    """One talk as embed.js shows it, serialized as UTF-8: no abstract, links or notes;
    a changed talk's notice and a recording only where it has one (the list
    stays small)."""
    return dumps({
        "title": talk.title, "status": talk.status,
        "previous_starts": [timezones.isoformat_utc(s) for s in previous_starts],
        **({"notice": notice} if notice else {}),
        "start": timezones.isoformat_utc(talk.start), "end": timezones.isoformat_utc(talk.end),
        "timezone": talk.zone.key, "when": timezones.when_range(talk.start, talk.end),
        "location": talk.location, "byline": talk.byline(),
        "url": site.url(urls.talk_route(talk.id)),
        **({"recording": talk.recording} if talk.recording else {}),
    }).encode()


def embed_series(series: Series, site: urls.Site, rhythm: str | None = None) -> str:
    """The series as embed.js shows it: title, page, attend text and, when
    known, its rhythm ("Every other Monday, 17:00 Berlin time") for the
    season break."""
    return dumps({"title": series.title, "url": site.url(urls.HOME),
                   "attend": _or_none(series.attend), "rhythm": rhythm or None})


def _embed_document(schedule: Schedule, talks: list[Talk], site: urls.Site, memo: Memo,
                    revisions: Mapping[str, Revision] | None, rhythm: str | None,
                    left_out: Mapping[str, int] | None = None) -> bytes:
    head = embed_series(schedule.series, site, rhythm)
    body = b",".join(each_talk(memo, embed_talk, ((talk, site, *changes(talk, revisions))
                                                  for talk in talks)))
    tail = "" if left_out is None else \
        f',"left_out":{dumps(dict(left_out))},"all":{dumps(site.url(urls.EMBED_ALL_JSON))}'
    return b"".join((f'{{"series":{head},"talks":['.encode(), body, f"]{tail}}}\n".encode()))


def render_embed(schedule: Schedule, site: urls.Site, now: datetime, memo: Memo = direct,
                 revisions: Mapping[str, Revision] | None = None,
                 rhythm: str | None = None) -> bytes:
    """/embed.json: what the default embed shows, whatever the archive's size:
    the next EMBED_AHEAD talks and the EMBED_RECENT most recent past ones,
    earliest first; `left_out` counts the talks of each kind only
    /embed-all.json (at `all`) holds."""
    upcoming, past = schedule.upcoming(now), schedule.past(now)
    ahead, recent = upcoming[:EMBED_AHEAD], past[:EMBED_RECENT]
    left_out = {"upcoming": len(upcoming) - len(ahead), "past": len(past) - len(recent)}
    return _embed_document(schedule, recent[::-1] + ahead, site, memo, revisions, rhythm, left_out)


def render_embed_all(schedule: Schedule, site: urls.Site, memo: Memo = direct,
                     revisions: Mapping[str, Revision] | None = None,
                     rhythm: str | None = None) -> bytes:
    """/embed-all.json: /embed.json's fields for every talk, earliest first."""
    return _embed_document(schedule, list(schedule.talks), site, memo, revisions, rhythm)
