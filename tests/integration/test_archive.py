"""Bytes that do not grow with the archive (issue 22): at 3 000 talks the
series page lists the recent past only and /embed.json what the default
embed shows, while every past talk stays reachable from / through the year
pages, and embed-all.json still holds every talk."""

from __future__ import annotations

import json
import sys
from datetime import datetime, time, timezone
from urllib.parse import urljoin, urlsplit

import lxml.html
import pytest

from feeds import urls
from feeds.data.loader import parse_schedule
from feeds.formats import talks_json
from feeds.publish.snapshot import Snapshot

from helpers import ROOT, SITE_URL, snapshot_for

sys.path.insert(0, str(ROOT / "bench"))
import synthetic  # noqa: E402

SIZE = 3000
#: A long archive with a season ahead (about 50 upcoming talks), as bench's u50 shape.
NOW = datetime.combine(synthetic.talk_day(SIZE - 50), time(0), timezone.utc)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Snapshot:
    path = tmp_path_factory.mktemp("big") / "talks.yaml"
    synthetic.write(path, SIZE)
    return snapshot_for(parse_schedule(path.read_text(encoding="utf-8"), str(path)), NOW)


def test_the_series_page_and_embed_json_stay_small_at_3000_talks(snapshot):
    schedule = snapshot.context.schedule
    assert 40 <= len(schedule.upcoming(NOW)) <= 60 and len(schedule.past(NOW)) > 2900
    home, embed = snapshot.routes[urls.HOME].body, snapshot.routes[urls.EMBED_JSON].body
    print(f"/ {len(home):,} B, /embed.json {len(embed):,} B, "
          f"/embed-all.json {len(snapshot.routes[urls.EMBED_ALL_JSON].body):,} B")
    assert len(home) <= 400_000
    assert len(embed) <= 200_000
    document = json.loads(embed)
    held = {t["url"] for t in document["talks"]}
    # The next talks the default embed shows are there; what is left out is counted.
    upcoming = schedule.upcoming(NOW)
    assert {SITE_URL + urls.talk_route(t.id) for t in upcoming[:talks_json.EMBED_AHEAD]} <= held
    assert sum(document["left_out"].values()) == len(schedule.talks) - len(held)
    assert document["left_out"]["upcoming"] == max(0, len(upcoming) - talks_json.EMBED_AHEAD)
    everything = json.loads(snapshot.routes[urls.EMBED_ALL_JSON].body)
    assert [t["url"] for t in everything["talks"]] == \
        [SITE_URL + urls.talk_route(t.id) for t in schedule.talks]


def links(snapshot: Snapshot, route: str) -> set[str]:
    """The site's routes a page links to (query and fragment dropped)."""
    doc = lxml.html.document_fromstring(snapshot.routes[route].body)
    found = set()
    for href in doc.xpath("//a/@href"):
        target = urlsplit(urljoin("http://site.test" + route, href))
        if target.netloc == "site.test":
            found.add(target.path)
    return found


def test_every_past_talk_is_reachable_from_the_series_page_through_the_year_pages(snapshot):
    schedule = snapshot.context.schedule
    from_home = links(snapshot, urls.HOME)
    years = sorted(path for path in from_home if path.startswith("/archive/"))
    assert years == sorted(urls.archive_year(y) for y in {t.start.year for t in schedule.past(NOW)})
    reached = set(from_home)
    for year in years:
        assert year in snapshot.routes
        year_links = links(snapshot, year)
        assert set(years) <= year_links | {year}  # each year page links the others
        assert urls.HOME in year_links
        reached |= year_links
    assert {urls.talk_route(t.id) for t in schedule.past(NOW)} <= reached
    assert all(path in snapshot.routes for path in reached)
