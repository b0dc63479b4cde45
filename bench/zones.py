"""How long the calendar's VTIMEZONEs take to build over the whole span a
talk may fall in (feeds.data.loader.YEARS, 1900-2200): each zone's
observances from its first to its last year for 90 zones spread over the tz
database, built cold; then a data file at the loader's limits (MAX_ZONES
zones, talks in the first and the last year) through parse_schedule and
calendar_feed, cold and memoised. Run by hand: `python3 bench/zones.py [--zones 90]`."""

from __future__ import annotations

import argparse
import time
import zoneinfo
from datetime import datetime, timezone

import yaml

from feeds.data.loader import MAX_ZONES, YEARS, parse_schedule
from feeds.data.revisions import advance
from feeds.formats import ical, vtimezone
from feeds.urls import Site

FIRST, LAST = YEARS.start, YEARS.stop - 1


def zone_keys(count: int) -> list[str]:
    """`count` zones spread over the tz database."""
    keys = sorted(k for k in zoneinfo.available_timezones() if "/" in k and not k.startswith("Etc/"))
    return keys[:: max(len(keys) // count, 1)][:count]


def data_file(keys: list[str]) -> str:
    """YAML with a talk in the first and one in the last year in each zone."""
    talks = [{"id": f"t{i}-{year}", "date": f"{year}-06-15", "time": "12:00", "timezone": key,
              "title": f"Talk in {key}", "speakers": [{"name": "Ada Lovelace"}]}
             for i, key in enumerate(keys) for year in (FIRST, LAST)]
    series = {"title": "Zones", "contact": "x@example.org", "timezone": keys[0]}
    return yaml.safe_dump({"series": series, "talks": talks}, sort_keys=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zones", type=int, default=90)
    args = parser.parse_args()
    keys = zone_keys(args.zones)
    vtimezone.observances.cache_clear()
    started = time.perf_counter()
    size = sum(len(ical.vtimezone_bytes(key, FIRST, LAST)) for key in keys)
    engine = time.perf_counter() - started
    print(f"{len(keys)} zones, {FIRST}-{LAST}: VTIMEZONEs {size / 1000:.0f} kB built cold "
          f"in {engine:.2f} s")

    text = data_file(zone_keys(MAX_ZONES))
    schedule = parse_schedule(text, "zones.yaml")
    revisions = advance({}, schedule, datetime(2026, 1, 1, tzinfo=timezone.utc))
    vtimezone.observances.cache_clear()
    started = time.perf_counter()
    feed = ical.calendar_feed(schedule, revisions, Site("https://talks.example.org"))
    cold = time.perf_counter() - started
    started = time.perf_counter()
    ical.calendar_feed(schedule, revisions, Site("https://talks.example.org"))
    warm = time.perf_counter() - started
    zones = len({t.zone.key for t in schedule.talks})
    print(f"a file at the limits: {zones} zones, {len(schedule.talks)} talks in {FIRST} and "
          f"{LAST}, calendar {len(feed) / 1000:.0f} kB: cold build {cold:.2f} s, "
          f"second build {warm * 1000:.1f} ms")


if __name__ == "__main__":
    main()
