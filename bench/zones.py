"""How long the calendar's VTIMEZONEs take to build: a data file with talks
in 90 zones, each in 1970 and in 2999 (the issue's case), built cold by
calendar_feed. Run by hand: `python3 bench/zones.py [--zones 90]`."""

from __future__ import annotations

import argparse
import time
import zoneinfo
from datetime import datetime, timezone

import yaml

from feeds.data.loader import parse_schedule
from feeds.data.revisions import advance
from feeds.formats import ical, vtimezone
from feeds.urls import Site


def data_file(count: int) -> str:
    """YAML with two talks in each of `count` zones spread over the tz database."""
    keys = sorted(k for k in zoneinfo.available_timezones() if "/" in k and not k.startswith("Etc/"))
    keys = keys[:: max(len(keys) // count, 1)][:count]
    talks = [{"id": f"t{i}-{year}", "date": f"{year}-06-15", "time": "12:00", "timezone": key,
              "title": f"Talk in {key}", "speakers": [{"name": "Ada Lovelace"}]}
             for i, key in enumerate(keys) for year in (1970, 2999)]
    series = {"title": "Zones", "contact": "x@example.org", "timezone": "Europe/Berlin"}
    return yaml.safe_dump({"series": series, "talks": talks}, sort_keys=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zones", type=int, default=90)
    args = parser.parse_args()
    text = data_file(args.zones)
    schedule = parse_schedule(text, "zones.yaml")
    revisions = advance({}, schedule, datetime(2026, 1, 1, tzinfo=timezone.utc))
    zones = len({t.zone.key for t in schedule.talks})
    for cached in (vtimezone.observances, ical.vtimezone_bytes, ical.event_bytes):
        cached.cache_clear()
    started = time.perf_counter()
    feed = ical.calendar_feed(schedule, revisions, Site("https://talks.example.org"))
    cold = time.perf_counter() - started
    started = time.perf_counter()
    ical.calendar_feed(schedule, revisions, Site("https://talks.example.org"))
    warm = time.perf_counter() - started
    print(f"{zones} zones, data file {len(text) / 1000:.0f} kB, {len(schedule.talks)} talks, "
          f"calendar {len(feed) / 1000:.0f} kB: cold build {cold:.2f} s, "
          f"memoised rebuild {warm * 1000:.1f} ms")


if __name__ == "__main__":
    main()
