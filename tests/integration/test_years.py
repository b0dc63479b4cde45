"""Talks from 1900 to 2200 (issue 19): a long-running seminar's archive back
to 1948 and its plans to 2150, in Europe/Berlin and America/New_York, is
validated, built and served, and every calendar reader (icalendar, vobject,
libical, ical.js) finds each talk at zoneinfo's instant, from the file's own
VTIMEZONEs. Outside those years a talk is refused with file:line, by the
loader and by the JSON Schema alike."""

from __future__ import annotations

import shutil
import time
import zoneinfo
from datetime import date, datetime, timezone
from pathlib import Path

import icalendar
import pytest
import yaml

from feeds.commands import cli
from feeds.data.loader import YEARS, InvalidData, parse_schedule
from feeds.formats import ical, vtimezone
from feeds.urls import Site

from calendar_readers import READERS
from helpers import NOW, ROOT, SITE_URL, revisions_for

FAR_YEARS = ROOT / "tests" / "fixtures" / "data" / "valid" / "far_years.yaml"
UTC = timezone.utc


def expected_instants(path: Path) -> dict[str, str]:
    """Talk id -> the talk's UTC instant, computed by zoneinfo from the file's
    own date, time and zone (not by the project's loader)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    series = document["series"]
    result = {}
    for talk in document["talks"]:
        zone = zoneinfo.ZoneInfo(talk.get("timezone", series["timezone"]))
        hour, minute = map(int, str(talk.get("time", series["time"])).split(":"))
        day = date.fromisoformat(str(talk["date"]))
        start = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        result[talk["id"]] = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return result


def talk_ids(calendar: bytes) -> dict[str, str]:
    """UID -> talk id, from each event's URL (the talk page, /talks/<id>)."""
    events = icalendar.Calendar.from_ical(calendar).walk("VEVENT")
    return {str(e["UID"]): str(e["URL"]).rstrip("/").rsplit("/", 1)[-1] for e in events}


def assert_read_right(calendar: bytes, expected: dict[str, str]) -> None:
    """Every reader finds exactly the `expected` talks (id -> UTC instant)."""
    ids = talk_ids(calendar)
    assert sorted(ids.values()) == sorted(expected)
    for name, reader in READERS.items():
        found = {ids[uid]: instant for uid, instant in reader(calendar).items()}
        assert found == expected, f"{name} reads other instants"


def test_the_fixture_spans_both_zones_far_years_and_the_limits():
    years = {talk_id: instant[:4] for talk_id, instant in expected_instants(FAR_YEARS).items()}
    assert {"1948", "2150"} <= set(years.values())
    assert min(years.values()) == str(YEARS.start) and max(years.values()) == str(YEARS.stop - 1)
    text = FAR_YEARS.read_text(encoding="utf-8")
    assert "America/New_York" in text and "Europe/Berlin" in text


def test_talks_from_1948_to_2150_are_validated_built_and_served(tmp_path, make_app, clock,
                                                                 monkeypatch):
    data_file = tmp_path / "talks.yaml"
    shutil.copy(FAR_YEARS, data_file)
    assert cli.main(["validate", str(data_file)]) == 0
    expected = expected_instants(FAR_YEARS)

    monkeypatch.setattr(cli, "utc_now", lambda: NOW)
    site = tmp_path / "site"
    assert cli.main(["build", str(site), "--data", str(data_file), "--site-url", SITE_URL]) == 0
    assert_read_right((site / "archive.ics").read_bytes(), expected)
    # The subscription holds the upcoming talks and the recent past ones that
    # fit its size budget: with nine talks, every one.
    assert_read_right((site / "calendar.ics").read_bytes(), expected)
    for talk_id, instant in expected.items():  # each talk's own file too
        assert_read_right((site / "talks" / f"{talk_id}.ics").read_bytes(), {talk_id: instant})

    client = make_app(TALKS_FILE=str(data_file), STATE_DIR=str(tmp_path / "state")).test_client()
    served = client.get("/calendar.ics")
    assert served.status_code == 200
    assert_read_right(served.data, expected)
    archive = client.get("/archive.ics")
    assert archive.status_code == 200
    assert_read_right(archive.data, expected)
    for talk_id, instant in expected.items():
        page = client.get(f"/talks/{talk_id}/")
        assert page.status_code == 200
        assert instant[:4].encode() in page.data


@pytest.mark.parametrize("day", [f"{YEARS.start - 1}-12-31", f"{YEARS.stop}-01-01"])
def test_a_talk_outside_1900_to_2200_is_refused_at_its_line(day):
    text = ("series:\n  title: T\n  contact: a@example.org\n  timezone: Europe/Berlin\n"
            "  time: \"17:00\"\ntalks:\n  - id: t1\n    title: A talk\n"
            f"    date: {day}\n")
    with pytest.raises(InvalidData) as caught:
        parse_schedule(text, "talks.yaml")
    (problem,) = caught.value.problems
    assert problem.line == 9
    assert "between 1900 and 2200" in str(problem) and "talks.yaml:9" in str(problem)


def test_the_vtimezones_of_the_whole_span_are_quick_and_right():
    """The build stays bounded at the limits: talks in 1900 and 2200 in the
    zones of the hard interop cases, VTIMEZONEs built cold, read right by
    every reader."""
    zones = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Tokyo",
             "America/Santiago", "Pacific/Chatham", "Africa/Casablanca", "Europe/Dublin"]
    talks = [{"id": f"t{i}-{year}", "date": f"{year}-06-15", "time": "12:00", "timezone": key,
              "title": f"{key} {year}", "speakers": [{"name": "A"}]}
             for i, key in enumerate(zones) for year in (1948, 2150)]
    text = yaml.safe_dump({"series": {"title": "S", "contact": "x@example.org",
                                      "timezone": "Europe/Berlin"}, "talks": talks})
    schedule = parse_schedule(text, "zones.yaml")
    vtimezone.observances.cache_clear()
    started = time.process_time()
    calendar = ical.calendar_feed(schedule, revisions_for(schedule), Site(SITE_URL))
    assert time.process_time() - started < 10  # about 0.1 s on a quiet machine
    assert_read_right(calendar, {
        f"t{i}-{year}": datetime(year, 6, 15, 12, tzinfo=zoneinfo.ZoneInfo(key))
        .astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for i, key in enumerate(zones) for year in (1948, 2150)})


def test_offsets_with_seconds_before_1972_are_exact_or_within_the_minute():
    """Before 1972 some zones kept local mean time, an offset with seconds
    (Amsterdam +00:19:32 until 1937, Monrovia -00:44:30 until 1972); the
    VTIMEZONE states them to the second (RFC 5545's UTC-OFFSET allows it).
    icalendar, vobject and libical read them exactly; ical.js drops the
    seconds, so its instant is less than a minute off, never more."""
    cases = {"amsterdam-1930": ("Europe/Amsterdam", datetime(1930, 6, 2, 12)),
             "monrovia-1960": ("Africa/Monrovia", datetime(1960, 3, 1, 12)),
             "dublin-1910": ("Europe/Dublin", datetime(1910, 3, 1, 12))}
    talks = [{"id": talk_id, "date": f"{start:%Y-%m-%d}", "time": f"{start:%H:%M}",
              "timezone": key, "title": key, "speakers": [{"name": "A"}]}
             for talk_id, (key, start) in cases.items()]
    text = yaml.safe_dump({"series": {"title": "S", "contact": "x@example.org",
                                      "timezone": "UTC"}, "talks": talks})
    schedule = parse_schedule(text, "x.yaml")
    calendar = ical.calendar_feed(schedule, revisions_for(schedule), Site(SITE_URL))
    expected = {talk_id: start.replace(tzinfo=zoneinfo.ZoneInfo(key)).astimezone(UTC)
                for talk_id, (key, start) in cases.items()}
    assert all(moment.second for moment in expected.values())  # the cases have seconds
    ids = talk_ids(calendar)
    for name, reader in READERS.items():
        found = {ids[uid]: datetime.strptime(instant, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                 for uid, instant in reader(calendar).items()}
        assert set(found) == set(expected), name
        for talk_id, moment in expected.items():
            if name == "ical.js":
                assert abs(found[talk_id] - moment).total_seconds() < 60, (name, talk_id)
            else:
                assert found[talk_id] == moment, (name, talk_id)
