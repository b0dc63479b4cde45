"""How routes are sent: each format's declared delivery becomes headers."""

from __future__ import annotations

import gzip
import json
import subprocess
import zlib
from datetime import datetime, timezone

from werkzeug.http import http_date as werkzeug_http_date
from werkzeug.http import parse_date

from feeds.formats import delivery, ical, pages, syndication, talks_json
from feeds.formats.delivery import Resource, http_date, quoted_etag

NOW = datetime(2026, 4, 13, 15, 0, tzinfo=timezone.utc)


def test_http_dates_read_back_as_the_same_instant():
    for moment in (NOW, datetime(1970, 1, 1, tzinfo=timezone.utc),
                   datetime(2100, 12, 31, tzinfo=timezone.utc)):
        assert parse_date(http_date(moment)) == moment
        assert http_date(moment) == werkzeug_http_date(moment)


def test_a_calendar_is_never_compressed_and_readable_everywhere():
    headers = Resource(b"x", ical.FEED_DELIVERY, NOW).headers(600)
    assert headers["Cache-Control"] == "public, max-age=600, no-transform"
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Content-Type"].startswith("text/calendar")


def test_only_the_embed_may_be_framed():
    assert "Content-Security-Policy" not in Resource(b"x", pages.EMBED_DELIVERY, NOW).headers(0)
    for route_delivery in (pages.PAGE_DELIVERY, ical.FEED_DELIVERY, syndication.RSS_DELIVERY,
                           talks_json.JSON_DELIVERY):
        assert Resource(b"x", route_delivery, NOW).headers(0)["Content-Security-Policy"] == \
            "frame-ancestors 'none'"


def test_a_download_is_named_and_pages_are_not_readable_by_other_origins():
    talk = Resource(b"x", ical.TALK_FILE_DELIVERY, NOW, download_name="t.ics").headers(0)
    assert talk["Content-Disposition"] == 'attachment; filename="t.ics"'
    assert "Access-Control-Allow-Origin" not in Resource(b"x", pages.PAGE_DELIVERY, NOW).headers(0)


def test_the_etag_follows_the_bytes():
    assert Resource(b"a", pages.PAGE_DELIVERY, NOW).etag == Resource(b"a", ical.FEED_DELIVERY, NOW).etag
    assert Resource(b"a", pages.PAGE_DELIVERY, NOW).etag != Resource(b"b", pages.PAGE_DELIVERY, NOW).etag
    assert quoted_etag("abc") == '"abc"'


def _talks_list(count: int, edited: int | None = None) -> bytes:
    """A JSON list of talk-like records, as /talks.json has them (made up)."""
    return json.dumps([{"id": f"talk-{n}", "title": f"Talk {n}" + (" (moved)" if n == edited else ""),
                        "abstract": " ".join(f"word{(n * 7 + k) % 97}" for k in range(60))}
                       for n in range(count)], separators=(",", ":")).encode()


def test_a_large_file_gzipd_in_pieces_reads_back_whole_in_gzip_and_zlib(tmp_path):
    body = _talks_list(6000)
    assert len(body) > delivery.PIECEWISE_FROM
    packed = delivery.gzipped(body)
    assert gzip.decompress(packed) == body
    assert zlib.decompress(packed, 16 + zlib.MAX_WBITS) == body
    (tmp_path / "talks.json.gz").write_bytes(packed)
    unpacked = subprocess.run(["gzip", "-dc", str(tmp_path / "talks.json.gz")],
                              capture_output=True, check=True).stdout
    assert unpacked == body
    # as small as gzip's own stream at the same level, within 1 %
    assert len(packed) <= 1.01 * len(gzip.compress(body, delivery.GZIP_LEVEL, mtime=0))


def test_gzipd_pieces_are_the_same_bytes_whether_kept_or_made_again(monkeypatch):
    """The server's builder keeps the pieces; `feeds build` makes them anew:
    both must write the same .gz."""
    body, edited = _talks_list(6000), _talks_list(6000, edited=3000)
    warm = delivery.gzipped(body)
    warm_edited = delivery.gzipped(edited)
    monkeypatch.setattr(delivery, "_COMPRESSED", delivery._Compressed())
    assert delivery.gzipped(edited) == warm_edited
    assert gzip.decompress(warm_edited) == edited
    assert delivery.gzipped(body) == warm
