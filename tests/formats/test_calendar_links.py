"""Links into Google Calendar and Outlook: their queries decode to exactly
the talk's facts."""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qs, quote, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from feeds.formats import calendar_links as links

UTC = timezone.utc


@given(st.text(max_size=300))
def test_query_values_are_quoted_as_urllib_quotes_them(value):
    assert links._quote(value) == quote(value, safe="")


def test_google_event_link_carries_utc_dates_and_the_zone():
    url = links.google_event("A & B; c", datetime(2026, 4, 13, 15, tzinfo=UTC),
                             datetime(2026, 4, 13, 16, tzinfo=UTC), "Line 1\nLine 2 ünïcode",
                             "Online", "Europe/Berlin")
    query = parse_qs(urlsplit(url).query)
    assert query["text"] == ["A & B; c"]
    assert query["dates"] == ["20260413T150000Z/20260413T160000Z"]
    assert query["details"] == ["Line 1\nLine 2 ünïcode"]
    assert query["ctz"] == ["Europe/Berlin"]
    assert "+" not in url  # spaces are %20: some apps show a literal '+'


def test_outlook_subscribe_link_names_the_feed():
    url = links.outlook_subscribe(links.OUTLOOK_LIVE, "https://x.example/calendar.ics", "Group & Co")
    assert url.startswith("https://outlook.live.com/calendar/0/addfromweb?")
    assert parse_qs(urlsplit(url).query) == {"url": ["https://x.example/calendar.ics"],
                                             "name": ["Group & Co"]}
