"""Time-zone logic, checked against facts of the tz database's rules."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from feeds import timezones

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
    for obs in timezones.observances(tz, first, last):
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
