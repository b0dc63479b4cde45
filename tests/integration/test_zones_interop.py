"""Every zone of the tz database through the project's calendar code, read
back by four independent parsers (icalendar, vobject, libical, ical.js), each
from the file's own VTIMEZONEs: every talk's instant must be zoneinfo's.

Talks: the day before, the day of and the day after every offset change in
2020-2028, at several wall-clock times that exist once (times in a gap or an
overlap are what the loader refuses), plus one talk at the start and one at
the end of the span.

Zones: every key of zoneinfo.available_timezones() except the non-geographic
ones (NON_GEOGRAPHIC): Etc/*, the UTC and GMT aliases, the POSIX-style rule
names (EST5EDT, CET, ...), Factory, localtime and posixrules. Geographic
backward links (Japan, US/Eastern, ...) stay in.

The default run takes the hard zones (HARD_ZONES); the test marked `slow`
takes all of them."""

from __future__ import annotations

import sys
import zoneinfo
from datetime import date, datetime, time, timedelta, timezone

import pytest
import yaml

from feeds.data.loader import MAX_ZONES, parse_schedule
from feeds.formats import ical
from feeds.urls import Site

from calendar_readers import READERS
from helpers import SITE_URL, revisions_for, talk_uid

UTC = timezone.utc
FIRST_YEAR, LAST_YEAR = SPAN = (2020, 2028)
# Earlier years for the hard zones: Moscow's and Minsk's last DST (2010, then
# permanent +03 in 2011 and 2014), Apia's date-line jump (2011-12-30 skipped).
EARLY_SPAN = (2008, 2015)
WALL_TIMES = (time(0, 30), time(4, 0), time(12, 0), time(17, 0), time(23, 30))

NON_GEOGRAPHIC_NAMES = {
    "UTC", "UCT", "GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich", "Universal", "Zulu",
    "Factory", "localtime", "posixrules",
    "EST", "MST", "HST", "EST5EDT", "CST6CDT", "MST7MDT", "PST8PDT", "CET", "MET", "EET", "WET",
}

HARD_ZONES = (
    "Asia/Almaty", "Asia/Qostanay",  # one change (+06 -> +05, 2024-03-01) and nothing else
    "America/Mexico_City", "Asia/Tehran", "Pacific/Apia",  # DST abolished inside the span
    "Asia/Jerusalem", "Asia/Gaza", "Asia/Hebron",  # rules whose last onset is near UNTIL
    "Europe/Moscow", "Europe/Minsk",  # no change at all in the span (rules ended 2010/2011)
    "America/Santiago", "America/Sao_Paulo",  # southern DST, rule changes, Brazil's end in 2019
    "Australia/Lord_Howe",  # 30-minute DST
    "Pacific/Chatham",  # +12:45 / +13:45
    "Africa/Casablanca",  # Ramadan switches on changing dates, negative DST
    "Europe/Dublin",  # negative DST (winter is the "daylight" time)
    "Antarctica/Troll",  # two-hour DST
    "America/St_Johns",  # -03:30
    "Asia/Kathmandu",  # +05:45, no DST
    "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Tokyo",
)


def non_geographic(key: str) -> bool:
    return key.startswith("Etc/") or key in NON_GEOGRAPHIC_NAMES


def geographic_zones() -> list[str]:
    return sorted(key for key in zoneinfo.available_timezones() if not non_geographic(key))


# --- the oracle: zoneinfo only ------------------------------------------------

def offset_changes(zone: zoneinfo.ZoneInfo, first_year: int, last_year: int) -> list[datetime]:
    """UTC instants at which the offset of `zone` changes in the years given:
    a look every six hours, then bisection to the second."""
    def offset(moment: datetime) -> timedelta | None:
        return moment.astimezone(zone).utcoffset()

    found = []
    moment = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    step = timedelta(hours=6)
    while moment < end:
        nxt = moment + step
        if offset(nxt) != offset(moment):
            low, high = moment, nxt
            while high - low > timedelta(seconds=1):
                mid = low + (high - low) / 2
                low, high = (mid, high) if offset(mid) == offset(low) else (low, mid)
            found.append(high.replace(microsecond=0))
        moment = nxt
    return found


def exists_once(day: date, clock: time, zone: zoneinfo.ZoneInfo) -> bool:
    """Whether the wall-clock time happens exactly once in `zone`."""
    naive = datetime.combine(day, clock)
    early, late = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if early.utcoffset() != late.utcoffset():
        return False
    return early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def cases_for(key: str, years: tuple[int, int]) -> list[tuple[date, time, datetime]]:
    """(day, wall time, expected UTC instant) of every talk for one zone."""
    zone = zoneinfo.ZoneInfo(key)
    first_year, last_year = years
    days = {date(first_year, 1, 1), date(last_year, 12, 31)}
    for change in offset_changes(zone, first_year, last_year):
        for moment in (change - timedelta(seconds=1), change):  # old and new wall clock
            local = moment.astimezone(zone).date()
            days.update(local + timedelta(days=shift) for shift in (-1, 0, 1))
    cases = []
    for day in sorted(d for d in days if first_year <= d.year <= last_year):
        for clock in WALL_TIMES:
            if exists_once(day, clock, zone):
                expected = datetime.combine(day, clock, zone).astimezone(UTC)
                cases.append((day, clock, expected))
    return cases


# --- the project's code path -------------------------------------------------

def calendar_for(keys: list[str], years: tuple[int, int]) -> tuple[bytes, dict[str, tuple[str, str, str]]]:
    """One calendar holding the talks of every zone in `keys`, built by
    parse_schedule and calendar_feed; and UID -> (zone, wall time, expected
    UTC instant)."""
    talks, expected = [], {}
    for index, key in enumerate(keys):
        for number, (day, clock, instant) in enumerate(cases_for(key, years)):
            talk_id = f"z{index}-{number}"
            talks.append({"id": talk_id, "date": day.isoformat(), "time": clock.strftime("%H:%M"),
                          "timezone": key, "title": f"{key} {day} {clock:%H:%M}",
                          "speakers": [{"name": "Ada Lovelace"}]})
            expected[talk_uid(talk_id, "talks.example.org")] = (
                key, f"{day} {clock:%H:%M}", instant.strftime("%Y-%m-%dT%H:%M:%SZ"))
    series = {"title": "Zones", "contact": "x@example.org", "timezone": "Europe/Berlin",
              "duration": 60}
    text = yaml.dump({"series": series, "talks": talks}, Dumper=yaml.CSafeDumper,
                     sort_keys=False)
    schedule = parse_schedule(text, "zones.yaml")
    assert len(schedule.talks) == len(talks)
    site = Site(SITE_URL)
    return ical.calendar_feed(schedule, revisions_for(schedule), site), expected


# --- the readers, each giving UID -> 'YYYY-MM-DDTHH:MM:SSZ' -------------------

def check_zones(keys: list[str], years: tuple[int, int] = SPAN,
                batch: int = MAX_ZONES - 1) -> dict[str, int]:  # the series zone counts too
    """Build calendars for `keys` (in batches) and compare every reader's
    instant of every talk with zoneinfo's; returns talks checked per reader."""
    wrong: list[str] = []
    checked = dict.fromkeys(READERS, 0)
    for start in range(0, len(keys), batch):
        data, expected = calendar_for(keys[start:start + batch], years)
        for name, reader in READERS.items():
            got = reader(data)
            assert set(got) == set(expected), name
            for uid, (key, wall, instant) in expected.items():
                if got[uid] != instant:
                    wrong.append(f"{name}: {key} {wall} -> {got[uid]}, zoneinfo says {instant}")
            checked[name] += len(got)
    assert not wrong, f"{len(wrong)} wrong instants:\n" + "\n".join(wrong[:40])
    return checked


# --- the tests ---------------------------------------------------------------

def test_the_oracle_sees_the_changes_the_issue_names():
    """The talk days come from zoneinfo: Almaty's single change, Mexico City's
    last DST, the Sunday rules of Berlin (seven weeks of CEST a year apart)."""
    zone = zoneinfo.ZoneInfo("Asia/Almaty")
    (change,) = offset_changes(zone, FIRST_YEAR, LAST_YEAR)
    # 23:59:59 on 29 February at +06, then 23:00 again at +05
    assert (change - timedelta(seconds=1)).astimezone(zone).replace(tzinfo=None) == \
        datetime(2024, 2, 29, 23, 59, 59)
    assert change.astimezone(zone).replace(tzinfo=None) == datetime(2024, 2, 29, 23, 0)
    mexico = offset_changes(zoneinfo.ZoneInfo("America/Mexico_City"), FIRST_YEAR, LAST_YEAR)
    assert max(mexico).year == 2022
    assert len(offset_changes(zoneinfo.ZoneInfo("Europe/Berlin"), FIRST_YEAR, LAST_YEAR)) == 18
    assert offset_changes(zoneinfo.ZoneInfo("Asia/Kathmandu"), FIRST_YEAR, LAST_YEAR) == []


def test_the_zone_selection_keeps_every_geographic_zone():
    zones = geographic_zones()
    assert set(HARD_ZONES) <= set(zones)
    assert "Japan" in zones and "US/Eastern" in zones  # geographic links stay
    assert not {"Etc/GMT+5", "UTC", "EST5EDT", "Factory"} & set(zones)
    assert len(zones) > 500


@pytest.mark.parametrize("years", [SPAN, EARLY_SPAN], ids=lambda y: f"{y[0]}-{y[1]}")
def test_hard_zones_read_right_by_every_reader(years):
    checked = check_zones(list(HARD_ZONES), years)
    # Each reader saw every talk: at least 15 per change of each DST zone.
    assert all(count == checked["icalendar"] for count in checked.values())
    assert checked["icalendar"] > 1500


@pytest.mark.slow
def test_every_zone_read_right_by_every_reader():
    zones = geographic_zones()
    checked = check_zones(zones)
    print(f"{len(zones)} zones, {checked['icalendar']} talks per reader", file=sys.stderr)
    assert all(count == checked["icalendar"] for count in checked.values())


def test_a_talk_before_the_only_change_is_in_the_vtimezone():
    """The issue's case: 17:00 Almaty on 2024-01-15 is 11:00Z (UTC+6), before
    the only change of the span; every reader must see an observance then."""
    talks = [{"id": "jan", "date": "2024-01-15", "time": "17:00", "timezone": "Asia/Almaty",
              "title": "Before", "speakers": [{"name": "A"}]}]
    text = yaml.safe_dump({"series": {"title": "S", "contact": "x@example.org",
                                      "timezone": "Asia/Almaty"}, "talks": talks})
    schedule = parse_schedule(text, "x.yaml")
    data = ical.calendar_feed(schedule, revisions_for(schedule), Site(SITE_URL))
    expected = datetime(2024, 1, 15, 17, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Almaty")).astimezone(UTC)
    uid = talk_uid("jan", "talks.example.org")
    for name, reader in READERS.items():
        assert reader(data)[uid] == expected.strftime("%Y-%m-%dT%H:%M:%SZ"), name
