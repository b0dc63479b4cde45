"""The build step: every route rendered once, with how it is served."""

from __future__ import annotations

import icalendar

from helpers import snapshot_for, talk_uid


def test_calendar_routes_and_how_they_are_sent(client, seed):
    feed = client.get("/calendar.ics")
    assert feed.status_code == 200
    assert feed.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "Content-Disposition" not in feed.headers  # subscribed to, not downloaded
    one = client.get("/talks/2026-04-13-fischer.ics")
    assert one.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert one.headers["Content-Disposition"].startswith("attachment")
    assert "2026-04-13-fischer.ics" in one.headers["Content-Disposition"]
    assert client.get("/talks/no-such-talk.ics").status_code == 404


def test_every_talk_has_its_own_calendar_file(seed):
    snapshot = snapshot_for(seed)
    for talk in seed.talks:
        body = snapshot.routes[f"/talks/{talk.id}.ics"].body
        (event,) = icalendar.Calendar.from_ical(body).walk("VEVENT")
        assert str(event["UID"]) == talk_uid(talk.id)


def test_etag_changes_with_the_bytes_only(seed):
    a, b = snapshot_for(seed), snapshot_for(seed)
    assert a.routes["/calendar.ics"].etag == b.routes["/calendar.ics"].etag
    other = snapshot_for(seed, site="https://elsewhere.example")
    assert other.routes["/calendar.ics"].etag != a.routes["/calendar.ics"].etag
