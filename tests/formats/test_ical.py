"""The calendar feed, read back by icalendar, the strict `ical` package and
vobject (which interprets the file's own VTIMEZONE)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import icalendar
import pytest
import vobject
import yaml
from ical.calendar_stream import IcsCalendarStream

from feeds.data.loader import parse_schedule
from feeds.formats import ical
from feeds.timezones import parse_utc
from feeds.urls import Site

import calendar_readers
from helpers import SITE_URL, revisions_for, talk_uid

UTC = timezone.utc
EU_SPRING_2026 = date(2026, 3, 29)  # last Sunday of March: CET -> CEST
EU_AUTUMN_2026 = date(2026, 10, 25)  # last Sunday of October: CEST -> CET


def feed_for(schedule, site: str = SITE_URL) -> bytes:
    site_ = Site(site).for_series(schedule.series.id_authority)
    return ical.calendar_feed(schedule, revisions_for(schedule), site_)


def schedule_with(talks: list[dict], **series) -> object:
    """A schedule from talk dicts, through the real YAML loader."""
    base = {"title": "Test Series", "contact": "x@example.org", "timezone": "Europe/Berlin",
            "time": "17:00", "duration": 60, "id_authority": "talks.example.org"}
    base.update(series)
    text = yaml.safe_dump({"series": base, "talks": talks}, allow_unicode=True, sort_keys=False)
    return parse_schedule(text, "test.yaml")


def talk(talk_id: str, day: str, **extra) -> dict:
    return {"id": talk_id, "date": day, "title": f"Talk {talk_id}",
            "speakers": [{"name": "Ada Lovelace", "affiliation": "Analytical Engines, UK"}], **extra}


def _as_instants(found: dict[str, str]) -> dict[str, datetime]:
    return {uid: parse_utc(stamp) for uid, stamp in found.items()}


def vobject_instants(data: bytes) -> dict[str, datetime]:
    """UID -> UTC start, as vobject computes it from the file's VTIMEZONE."""
    return _as_instants(calendar_readers.vobject_instants(data))


def icalendar_instants(data: bytes) -> dict[str, datetime]:
    """UID -> UTC start, with icalendar building zones from the VTIMEZONEs only."""
    return _as_instants(calendar_readers.icalendar_instants(data))


def strict_events(data: bytes):
    return IcsCalendarStream.calendar_from_ics(data.decode("utf-8")).events


# --- the seed's twelve talks -----------------------------------------------

def test_every_seed_talk_starts_at_the_right_utc_instant(seed):
    data = feed_for(seed)
    readers = [vobject_instants(data), icalendar_instants(data),
               {e.uid: e.dtstart.astimezone(UTC) for e in strict_events(data)}]
    assert len(seed.talks) == 12
    for t in seed.talks:
        # 17:00 in Berlin: 16:00Z while CET holds, 15:00Z once CEST starts.
        hour = 16 if t.day < EU_SPRING_2026 else 15
        expected = datetime(t.day.year, t.day.month, t.day.day, hour, 0, tzinfo=UTC)
        for instants in readers:
            assert instants[talk_uid(t.id)] == expected, t.id


def test_every_seed_talk_carries_title_speakers_and_links(seed):
    data = feed_for(seed)
    events = {e.uid: e for e in strict_events(data)}
    parsed = {str(e["UID"]): e for e in icalendar.Calendar.from_ical(data).walk("VEVENT")}
    for t in seed.talks:
        uid = talk_uid(t.id)
        strict = events[uid]
        assert strict.summary.startswith(t.title)
        for speaker in t.speakers:
            assert speaker.name in strict.summary
            assert speaker.affiliation in strict.description
        for link in t.links:
            assert f"{link.label}: {link.url}" in strict.description
        if t.abstract:
            assert t.abstract in strict.description
        if t.note:
            assert t.note in strict.description
        assert str(parsed[uid]["URL"]) == f"{SITE_URL}/talks/{t.id}"
        assert f"{SITE_URL}/talks/{t.id}" in strict.description
        assert parsed[uid]["STATUS"] == "CONFIRMED"
        assert str(parsed[uid]["ORGANIZER"]) == "mailto:efficientml@gmail.com"
        assert str(parsed[uid]["LOCATION"]) == "Online"


def test_the_zhang_note_and_panza_speakers_survive(seed):
    text = {e.uid: e for e in strict_events(feed_for(seed))}
    zhang = text[talk_uid("2026-02-09-zhang")].description
    assert "https://arxiv.org/abs/2603.00742" in zhang
    panza = text[talk_uid("2026-05-25-iofinova-jovanovic")].summary
    assert "Eugenia Iofinova (Institute of Science and Technology Austria)" in panza
    assert "Andrej Jovanovic (University of Cambridge, UK)" in panza


def test_calendar_properties(seed):
    cal = icalendar.Calendar.from_ical(feed_for(seed))
    assert cal["VERSION"] == "2.0"
    assert cal["CALSCALE"] == "GREGORIAN"
    assert cal["METHOD"] == "PUBLISH"
    assert "PRODID" in cal
    assert cal["X-WR-CALNAME"] == "Efficient ML Reading Group"
    assert cal["NAME"] == "Efficient ML Reading Group"
    assert "ELLIS reading group" in cal["X-WR-CALDESC"]
    assert cal["X-WR-TIMEZONE"] == "Europe/Berlin"
    assert cal["REFRESH-INTERVAL"].dt == timedelta(hours=12)
    assert cal["REFRESH-INTERVAL"].params["VALUE"] == "DURATION"
    assert str(cal["X-PUBLISHED-TTL"].to_ical().decode()) == "PT12H"
    assert str(cal["SOURCE"]) == f"{SITE_URL}/calendar.ics"
    assert str(cal["URL"]) == f"{SITE_URL}/"


# --- DST switch days and other zones ----------------------------------------

def test_talks_on_both_dst_switch_days():
    schedule = schedule_with([talk("spring", str(EU_SPRING_2026)), talk("autumn", str(EU_AUTUMN_2026))])
    data = feed_for(schedule)
    for instants in (vobject_instants(data), icalendar_instants(data)):
        assert instants[talk_uid("spring", "talks.example.org")] == datetime(2026, 3, 29, 15, 0, tzinfo=UTC)
        assert instants[talk_uid("autumn", "talks.example.org")] == datetime(2026, 10, 25, 16, 0, tzinfo=UTC)


# Expected UTC starts are worked out by hand from each zone's published rules.
ZONE_CASES = [
    # zone, local date, local time, expected UTC start
    ("America/New_York", "2026-03-02", "11:00", datetime(2026, 3, 2, 16, 0, tzinfo=UTC)),  # EST
    ("America/New_York", "2026-03-09", "11:00", datetime(2026, 3, 9, 15, 0, tzinfo=UTC)),  # EDT since 8 Mar
    ("America/New_York", "2026-11-02", "11:00", datetime(2026, 11, 2, 16, 0, tzinfo=UTC)),  # EST since 1 Nov
    ("Australia/Sydney", "2026-04-06", "09:00", datetime(2026, 4, 5, 23, 0, tzinfo=UTC)),  # AEST since 5 Apr
    ("Australia/Sydney", "2026-03-30", "09:00", datetime(2026, 3, 29, 22, 0, tzinfo=UTC)),  # AEDT
    ("Australia/Sydney", "2026-10-05", "09:00", datetime(2026, 10, 4, 22, 0, tzinfo=UTC)),  # AEDT since 4 Oct
    ("Asia/Tokyo", "2026-01-12", "18:00", datetime(2026, 1, 12, 9, 0, tzinfo=UTC)),  # JST, no DST
    ("Asia/Tokyo", "2026-07-13", "18:00", datetime(2026, 7, 13, 9, 0, tzinfo=UTC)),
    # Mexico City dropped DST after October 2022: CDT (-5) in June 2022, CST (-6) in June 2023.
    ("America/Mexico_City", "2022-06-06", "10:00", datetime(2022, 6, 6, 15, 0, tzinfo=UTC)),
    ("America/Mexico_City", "2023-06-05", "10:00", datetime(2023, 6, 5, 16, 0, tzinfo=UTC)),
    ("America/Mexico_City", "2024-06-03", "10:00", datetime(2024, 6, 3, 16, 0, tzinfo=UTC)),
]


@pytest.mark.parametrize("zone", sorted({case[0] for case in ZONE_CASES}))
def test_vtimezone_gives_right_instants_in_each_zone(zone):
    cases = [c for c in ZONE_CASES if c[0] == zone]
    talks = [talk(f"t{i}", day, time=clock) for i, (_, day, clock, _) in enumerate(cases)]
    data = feed_for(schedule_with(talks, timezone=zone))
    for instants in (vobject_instants(data), icalendar_instants(data)):
        for i, (_, day, _, expected) in enumerate(cases):
            assert instants[talk_uid(f"t{i}", "talks.example.org")] == expected, (zone, day)


def test_vtimezone_uses_yearly_rules_not_rdate_lists(seed):
    cal = icalendar.Calendar.from_ical(feed_for(seed))
    (vtz,) = cal.walk("VTIMEZONE")
    blocks = vtz.walk("DAYLIGHT") + vtz.walk("STANDARD")
    assert len(blocks) == 2
    for block in blocks:
        assert "RDATE" not in block
        assert block["RRULE"]["FREQ"] == ["YEARLY"]


def test_talks_in_several_zones_each_get_their_vtimezone():
    schedule = schedule_with([talk("berlin", "2026-05-04"),
                              talk("tokyo", "2026-05-11", timezone="Asia/Tokyo")])
    cal = icalendar.Calendar.from_ical(feed_for(schedule))
    assert sorted(str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")) == ["Asia/Tokyo", "Europe/Berlin"]
    assert icalendar_instants(feed_for(schedule))[talk_uid("tokyo", "talks.example.org")] == \
        datetime(2026, 5, 11, 8, 0, tzinfo=UTC)


# --- the wire format ---------------------------------------------------------

def test_wire_format_is_what_strict_clients_expect(seed):
    data = feed_for(seed)
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    lines = data.split(b"\r\n")[:-1]
    for line in lines:
        assert len(line) <= 75, line
        line.decode("utf-8")  # folding never splits a multi-byte character
    unfolded = re.sub(rb"\r\n[ \t]", b"", data).decode("utf-8").split("\r\n")
    declared = {line.split(":", 1)[1] for line in unfolded if line.startswith("TZID:")}
    in_vtimezone = False
    for line in unfolded:
        if line == "BEGIN:VTIMEZONE":
            in_vtimezone = True
        elif line == "END:VTIMEZONE":
            in_vtimezone = False
        name = re.split(r"[;:]", line, maxsplit=1)[0]
        if name in ("DTSTART", "DTEND") and not in_vtimezone:
            # no floating times: every time carries a TZID or is UTC
            assert "TZID=" in line or line.endswith("Z"), line
        for tzid in re.findall(r"TZID=([^;:]+)", line):
            assert tzid in declared, line
        if name in ("DTSTAMP", "LAST-MODIFIED"):
            assert line.endswith("Z"), line


def test_text_with_special_characters_round_trips():
    tricky = 'Commas, semicolons; back\\slash "quotes" <b>tags</b> & ümlauts — ✓'
    schedule = schedule_with([talk("x", "2026-05-04", title=tricky, abstract=tricky + "\nline two")])
    data = feed_for(schedule)
    (event,) = strict_events(data)
    assert event.summary.startswith(tricky)
    assert f"Abstract: {tricky}\nline two" in event.description
    (vevent,) = vobject.readOne(data.decode()).vevent_list
    assert vevent.summary.value.startswith(tricky)


def test_summary_stays_under_255_characters_and_keeps_the_title_start():
    long_title = "A very long title " * 30
    speakers = [{"name": f"Speaker {i}", "affiliation": "Institute " * 10} for i in range(6)]
    schedule = schedule_with([talk("long", "2026-05-04", title=long_title, speakers=speakers)])
    (event,) = strict_events(feed_for(schedule))
    assert len(event.summary) < 255
    assert event.summary.startswith("A very long title")
    assert "Speaker 0" in event.summary
    short = schedule_with([talk("two", "2026-05-04", title="Short",
                                speakers=[{"name": "A B", "affiliation": "X" * 260},
                                          {"name": "C D", "affiliation": "Y"}])])
    (event,) = strict_events(feed_for(short))
    assert event.summary == "Short — A B, C D"


def test_cancelled_talk_stays_in_the_feed_marked_cancelled():
    schedule = schedule_with([talk("gone", "2026-05-04", status="cancelled"), talk("on", "2026-05-11")])
    cal = icalendar.Calendar.from_ical(feed_for(schedule))
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert events[talk_uid("gone", "talks.example.org")]["STATUS"] == "CANCELLED"
    assert str(events[talk_uid("gone", "talks.example.org")]["SUMMARY"]).startswith("CANCELLED: Talk gone")
    assert events[talk_uid("on", "talks.example.org")]["STATUS"] == "CONFIRMED"


def test_uids_never_follow_the_site():
    """Made from the pinned id_authority (a domain or an address), else the contact address."""
    for pin, authority in ((None, "x@example.org"), ("group.example.org", "group.example.org"),
                           ("group@example.org", "group@example.org")):
        schedule = schedule_with([talk("a", "2026-05-04")], id_authority=pin)
        for site in ("http://localhost:5000", "https://one.example", "https://two.example/g"):
            cal = icalendar.Calendar.from_ical(feed_for(schedule, site))
            assert str(cal.walk("VEVENT")[0]["UID"]) == talk_uid("a", authority), (pin, site)
            assert str(cal["PRODID"]) == f"-//feeds//{authority}//EN"


def test_per_talk_file_holds_one_event_with_its_zone(seed):
    t = seed.talk("2026-04-13-fischer")
    data = ical.talk_file(t, revisions_for(seed)[t.id], seed.series,
                          Site(SITE_URL).for_series(seed.series.id_authority))
    (event,) = strict_events(data)
    assert event.dtstart.astimezone(UTC) == datetime(2026, 4, 13, 15, 0, tzinfo=UTC)
    assert vobject_instants(data)[talk_uid("2026-04-13-fischer")] == event.dtstart


@pytest.mark.parametrize("offset", range(0, 80, 3))
def test_serialization_matches_icalendar_where_escapes_meet_a_fold(offset):
    """Escapes (\\, \\; \\n) and carets placed on every fold boundary: the fast
    path writes exactly what icalendar's own to_ical() writes."""
    text = "x" * offset + "\\;,^\n" * 40 + "é" * (offset % 5)
    schedule = schedule_with([talk("edge", "2026-05-04", title=f"T{offset} " + text[:200],
                                   abstract=text, note="^" * 300)])
    revisions = revisions_for(schedule)
    event = ical.talk_event(schedule.talks[0], revisions["edge"], schedule.series, Site(SITE_URL))
    assert ical.serialize(event) == event.to_ical()
    (parsed,) = strict_events(ical.serialize(event).join([b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
                                                          b"PRODID:x\r\n", b"END:VCALENDAR\r\n"]))
    assert f"Abstract: {text.strip()}" in parsed.description
