"""Time-zone logic, checked against facts of the tz database's rules."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from feeds import timezones
from feeds.formats import vtimezone

UTC = timezone.utc


def test_localize_refuses_the_spring_gap_and_the_autumn_overlap():
    berlin = timezones.get_zone("Europe/Berlin")
    with pytest.raises(timezones.WallClockError, match="does not exist"):
        timezones.localize(date(2026, 3, 29), time(2, 30), berlin)
    with pytest.raises(timezones.WallClockError, match="happens twice"):
        timezones.localize(date(2026, 10, 25), time(2, 30), berlin)
    ok = timezones.localize(date(2026, 3, 29), time(17, 0), berlin)
    assert ok.astimezone(UTC) == datetime(2026, 3, 29, 15, 0, tzinfo=UTC)


def test_format_when_shows_the_abbreviation_in_force():
    berlin = timezones.get_zone("Europe/Berlin")
    assert timezones.format_when(datetime(2026, 4, 13, 17, 0, tzinfo=berlin)) == "Mon 13 Apr 2026, 17:00 CEST"
    assert timezones.format_when(datetime(2026, 3, 16, 17, 0, tzinfo=berlin)) == "Mon 16 Mar 2026, 17:00 CET"


def test_new_york_is_on_edt_in_the_weeks_the_group_page_says_est():
    berlin = timezones.get_zone("Europe/Berlin")
    shown = dict(timezones.in_display_zones(datetime(2026, 3, 16, 17, 0, tzinfo=berlin)))
    assert timezones.format_clock(shown["New York"]) == "12:00 EDT"
    shown = dict(timezones.in_display_zones(datetime(2026, 4, 13, 17, 0, tzinfo=berlin)))
    assert timezones.format_clock(shown["New York"]) == "11:00 EDT"
    assert timezones.format_clock(shown["Los Angeles"]) == "08:00 PDT"


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Sydney",
                                  "Asia/Tokyo", "America/Mexico_City", "Asia/Kolkata"])
def test_observances_reproduce_every_offset_of_the_span(zone):
    """Walking the rules as a client would gives the tz database's offset at
    every hour of the span (an independent check of the RRULE form)."""
    from dateutil.rrule import rrulestr

    tz = timezones.get_zone(zone)
    first, last = date(2022, 1, 1), date(2026, 12, 31)
    onsets: list[tuple[datetime, timedelta]] = []
    for obs in vtimezone.observances(tz, first, last):
        if obs.byday:
            rule = f"FREQ=YEARLY;BYMONTH={obs.month};BYDAY={obs.byday}"
            until = (obs.until or datetime(2030, 1, 1, tzinfo=UTC))
            for local in rrulestr(rule, dtstart=obs.start):
                utc = (local - obs.offset_from).replace(tzinfo=UTC)
                if utc > until:
                    break
                onsets.append((utc, obs.offset_to))
        else:
            onsets.append(((obs.start - obs.offset_from).replace(tzinfo=UTC), obs.offset_to))
    onsets.sort()
    moment = datetime(2022, 1, 1, tzinfo=UTC)
    while moment < datetime(2027, 1, 1, tzinfo=UTC):
        in_force = [offset for onset, offset in onsets if onset <= moment]
        assert in_force, (zone, moment)
        assert in_force[-1] == moment.astimezone(tz).utcoffset(), (zone, moment)
        moment += timedelta(hours=7)


# --- transitions from the TZif file, checked against zoneinfo ----------------

SLOW_SEARCH_ZONES = ["Europe/Berlin", "Asia/Jerusalem", "America/Nuuk", "Africa/Casablanca",
                     "Europe/Dublin", "Antarctica/Troll", "America/Santiago", "Pacific/Chatham",
                     "Australia/Lord_Howe", "Asia/Gaza", "Pacific/Apia", "Asia/Almaty"]


@pytest.mark.parametrize("zone", SLOW_SEARCH_ZONES)
def test_file_transitions_are_the_searched_ones(zone):
    """The TZif reading (its table, then its POSIX footer) finds exactly the
    changes that asking zoneinfo every 12 hours and bisecting finds."""
    tz = timezones.get_zone(zone)
    first, last = date(2005, 1, 1), date(2045, 1, 1)
    fast = vtimezone._file_transitions(tz, vtimezone.tzif_bytes(zone), first, last)
    assert fast is not None and fast == vtimezone._search_transitions(tz, first, last)


def both_tzif_files(key: str) -> list[bytes]:
    """The system's file (zic's "fat" form on Debian) and the tzdata
    package's ("slim": a short table, the rest in the footer)."""
    import importlib.resources
    import os
    found = []
    path = os.path.join("/usr/share/zoneinfo", key)
    if os.path.isfile(path):
        found.append(open(path, "rb").read())
    packaged = importlib.resources.files("tzdata.zoneinfo").joinpath(*key.split("/"))
    if packaged.is_file():
        found.append(packaged.read_bytes())
    return found


def test_every_zone_file_agrees_with_zoneinfo_from_1970_to_3000():
    """For every zone and both kinds of TZif file, every offset change that
    zoneinfo (loaded from the same bytes) shows between two consecutive
    candidates would make the reading give up (None): none does."""
    import io
    import zoneinfo
    for key in sorted(zoneinfo.available_timezones()):
        for data in both_tzif_files(key):
            tz = zoneinfo.ZoneInfo.from_file(io.BytesIO(data), key=key)
            found = vtimezone._file_transitions(tz, data, date(1969, 1, 1), date(3001, 1, 1))
            assert found is not None, key
            for tr in found:
                assert (tr.at - timedelta(seconds=1)).astimezone(tz).utcoffset() == tr.offset_from
                assert tr.at.astimezone(tz).utcoffset() == tr.offset_to


def test_a_file_that_disagrees_with_the_zone_is_not_trusted():
    """Berlin's file read for New York: New York's changes fall between the
    candidates, so the reading gives up (and _transitions searches)."""
    berlin_file = vtimezone.tzif_bytes("Europe/Berlin")
    assert berlin_file is not None
    assert vtimezone._file_transitions(timezones.get_zone("America/New_York"), berlin_file,
                                       date(2020, 1, 1), date(2022, 1, 1)) is None
    with pytest.raises(vtimezone.TZifError):
        vtimezone._tzif_table(b"not a tzif file" * 4)


def tzif_of_footer(footer: str) -> bytes:
    """A TZif v2 file with no table: only the POSIX TZ footer speaks, as it
    does past the table of every real file."""
    import struct
    counts = struct.pack(">6l", 0, 0, 0, 0, 1, 4)
    header = b"TZif2" + bytes(15) + counts
    block = struct.pack(">lBB", 0, 0, 0) + b"XXX\0"
    return header + block + header + block + b"\n" + footer.encode() + b"\n"


def zoneinfo_changes(tz, year: int) -> list[datetime]:
    """Where zoneinfo's offset changes in `year`: hourly looks, then bisection."""
    found = []
    moment = datetime(year, 1, 1, tzinfo=UTC)
    while moment.year == year:
        nxt = moment + timedelta(hours=1)
        if nxt.astimezone(tz).utcoffset() != moment.astimezone(tz).utcoffset():
            low, high = moment, nxt
            while high - low > timedelta(seconds=1):
                mid = low + (high - low) / 2
                same = mid.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset()
                low, high = (mid, high) if same else (low, mid)
            found.append(high)
        moment = nxt
    return found


@pytest.mark.parametrize("footer", [
    "CET-1CEST,M3.5.0,M10.5.0/3",  # Europe/Berlin
    "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",  # America/Nuuk: a negative hour
    "IST-2IDT,M3.4.4/26,M10.5.0",  # Asia/Jerusalem: 26:00 on the fourth Thursday
    "<-04>4<-03>,M9.1.6/24,M4.1.6/24",  # America/Santiago: southern, 24:00
    "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45",  # Pacific/Chatham
    "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",  # Australia/Lord_Howe: 30-minute DST
    "<+00>0<+02>-2,M3.5.0/1,M10.5.0/3",  # Antarctica/Troll
    "XST3XDT,J60/0,300/0",  # Julian day (29 February never counted), day of year
    "XST3XDT,J1/0,J365/25",  # all year DST, as zic writes it
])
@pytest.mark.parametrize("year", [2026, 2028, 2999])
def test_posix_footer_rules_switch_where_zoneinfo_does(footer, year):
    """zoneinfo, given a file with only this footer, is the oracle."""
    import io
    import zoneinfo
    tz = zoneinfo.ZoneInfo.from_file(io.BytesIO(tzif_of_footer(footer)), key="Test/Footer")
    expected = zoneinfo_changes(tz, year)
    got = [datetime.fromtimestamp(t, UTC)
           for t in vtimezone._posix_transitions(footer, year - 1, year + 1)]
    changes = [moment for moment in got if moment.year == year
               and moment.astimezone(tz).utcoffset()
               != (moment - timedelta(seconds=1)).astimezone(tz).utcoffset()]
    assert changes == expected
    assert len(expected) == (0 if "J365/25" in footer else 2)


# --- coverage before the first change; UNTIL a margin after the last onset -----

def instants_covered(observances) -> datetime:
    """The earliest UTC instant any observance describes."""
    return min((o.start - o.offset_from).replace(tzinfo=UTC) for o in observances)


@pytest.mark.parametrize("zone, first, last", [
    ("Asia/Almaty", date(2024, 1, 1), date(2024, 1, 1)),  # the only change: 1 March 2024
    ("Asia/Qostanay", date(2024, 1, 1), date(2026, 1, 1)),
    ("Asia/Tokyo", date(2026, 1, 1), date(2026, 1, 1)),  # no change at all
    ("America/Mexico_City", date(2023, 1, 1), date(2026, 1, 1)),
    ("Asia/Tehran", date(2022, 1, 1), date(2024, 1, 1)),
    ("Pacific/Apia", date(2021, 1, 1), date(2023, 1, 1)),
])
def test_an_observance_starts_before_the_first_day(zone, first, last):
    tz = timezones.get_zone(zone)
    found = vtimezone.observances(tz, first, last)
    earliest = min(found, key=lambda o: o.start)
    assert instants_covered(found) < datetime.combine(first, time(), UTC) - timedelta(hours=14)
    # ... and says what zoneinfo says for that instant
    moment = (earliest.start - earliest.offset_from).replace(tzinfo=UTC)
    assert earliest.offset_to == moment.astimezone(tz).utcoffset()


def test_almaty_gets_its_offset_before_the_change():
    tz = timezones.get_zone("Asia/Almaty")
    found = vtimezone.observances(tz, date(2024, 1, 1), date(2024, 1, 1))
    talk = datetime(2024, 1, 15, 17, 0, tzinfo=tz)
    in_force = max((o for o in found if (o.start - o.offset_from).replace(tzinfo=UTC) <= talk),
                   key=lambda o: o.start)
    assert in_force.offset_to == talk.utcoffset()


@pytest.mark.parametrize("zone", ["Asia/Jerusalem", "Asia/Gaza", "Asia/Hebron", "Pacific/Apia",
                                  "Europe/Moscow", "Europe/Minsk", "America/Mexico_City"])
def test_until_lies_a_day_after_the_last_onset_and_before_the_next(zone):
    """vobject takes a UTC UNTIL for wall-clock time: with a day's margin the
    last onset stays in even at +14:00, and the rule's next onset (had it
    gone on) is months away."""
    from dateutil.rrule import rrulestr

    tz = timezones.get_zone(zone)
    found = vtimezone.observances(tz, date(2005, 1, 1), date(2028, 1, 1))
    ended = [o for o in found if o.until is not None]
    assert ended, zone
    for obs in ended:
        rule = rrulestr(f"FREQ=YEARLY;BYMONTH={obs.month};BYDAY={obs.byday}", dtstart=obs.start)
        onsets = [(local - obs.offset_from).replace(tzinfo=UTC)
                  for local in rule.between(obs.start, obs.until.replace(tzinfo=None)
                                            + timedelta(days=400), inc=True)]
        last = max(o for o in onsets if o <= obs.until)
        nxt = min(o for o in onsets if o > obs.until)
        assert obs.until - last >= timedelta(hours=14)
        assert nxt - obs.until > timedelta(days=300)
        # the last onset is a real change in zoneinfo, to the rule's offset
        assert (last - timedelta(seconds=1)).astimezone(tz).utcoffset() == obs.offset_from
        assert last.astimezone(tz).utcoffset() == obs.offset_to


def test_ninety_zones_over_a_thousand_years_build_quickly():
    """The issue's case, 90 zones with talks in 1970 and 2999: seconds, not
    the 77 s of stepping through the years (a loose bound, for a shared
    machine; bench/zones.py reports the figure)."""
    import time as clock
    import zoneinfo
    keys = sorted(k for k in zoneinfo.available_timezones() if "/" in k and not k.startswith("Etc/"))
    keys = keys[:: len(keys) // 90][:90]
    vtimezone.observances.cache_clear()
    started = clock.perf_counter()
    for key in keys:
        vtimezone.observances(timezones.get_zone(key), date(1970, 1, 1), date(2999, 1, 1))
    assert clock.perf_counter() - started < 10
