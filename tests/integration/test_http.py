"""HTTP semantics of every route: validators, 304s, HEAD, caching, CORS,
calendars never compressed, proxies; and several gunicorn workers agreeing
on one version. (The gzip'd representations: tests/server/test_sending.py.)"""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import pytest
from flask import request

from helpers import NOW, gunicorn, routes

FEEDS = ("/calendar.ics", "/rss.xml", "/atom.xml", "/talks.json")
TALK = "2026-04-13-fischer"


def test_every_route_has_a_strong_etag_over_its_bytes(app, client):
    for path, resource in routes(app).items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.data == resource.body, path
        etag = response.headers["ETag"]
        assert etag == f'"{hashlib.sha256(response.data).hexdigest()[:32]}"', path
        assert not etag.startswith("W/"), path


def test_last_modified_is_the_data_change_not_now(make_app, data_file, clock):
    app = make_app()
    client = app.test_client()
    before = client.get("/calendar.ics")
    assert parsedate_to_datetime(before.headers["Last-Modified"]) == NOW
    # Days later the file is touched and re-indented: nothing a talk shows changed.
    clock.now = NOW + timedelta(days=3)
    data_file.write_text(data_file.read_text().replace("talks:\n", "talks:\n\n# moved\n"))
    after = client.get("/calendar.ics")
    assert after.headers["Last-Modified"] == before.headers["Last-Modified"]
    assert after.headers["ETag"] == before.headers["ETag"]


def test_if_none_match_answers_304_on_every_route(app, client):
    for path in routes(app):
        first = client.get(path)
        again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304, path
        assert again.data == b""
        assert again.headers["ETag"] == first.headers["ETag"]
        assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
        assert again.headers.get("Access-Control-Allow-Origin") == \
            first.headers.get("Access-Control-Allow-Origin")


@pytest.mark.parametrize("header", ['W/"{etag}"', '"other", "{etag}"', "*"])
def test_if_none_match_lists_and_weak_forms(client, header):
    etag = client.get("/calendar.ics").headers["ETag"].strip('"')
    response = client.get("/calendar.ics", headers={"If-None-Match": header.format(etag=etag)})
    assert response.status_code == 304


def test_a_stale_etag_gets_the_new_bytes(client):
    response = client.get("/calendar.ics", headers={"If-None-Match": '"0123"'})
    assert response.status_code == 200 and response.data.startswith(b"BEGIN:VCALENDAR")


def test_if_modified_since(client):
    first = client.get("/calendar.ics")
    modified = parsedate_to_datetime(first.headers["Last-Modified"])
    same = client.get("/calendar.ics", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert same.status_code == 304
    later = format_datetime(modified + timedelta(hours=1), usegmt=True)
    assert client.get("/calendar.ics", headers={"If-Modified-Since": later}).status_code == 304
    earlier = format_datetime(modified - timedelta(seconds=1), usegmt=True)
    response = client.get("/calendar.ics", headers={"If-Modified-Since": earlier})
    assert response.status_code == 200 and response.data == first.data


def test_if_none_match_wins_over_if_modified_since(client):
    first = client.get("/calendar.ics")
    response = client.get("/calendar.ics", headers={"If-None-Match": '"stale"',
                                                    "If-Modified-Since": first.headers["Last-Modified"]})
    assert response.status_code == 200


def test_if_match_and_range_keep_werkzeug_rules(client):
    etag = client.get("/calendar.ics").headers["ETag"]
    assert client.get("/calendar.ics", headers={"If-Match": '"other"'}).status_code == 412
    assert client.get("/calendar.ics", headers={"If-Match": etag}).status_code == 200
    whole = client.get("/calendar.ics", headers={"Range": "bytes=0-9"})
    assert whole.status_code == 200 and whole.data.endswith(b"END:VCALENDAR\r\n")


def test_a_304_carries_no_body_and_no_content_headers(client):
    etag = client.get("/talks/2026-04-13-fischer.ics").headers["ETag"]
    response = client.get("/talks/2026-04-13-fischer.ics", headers={"If-None-Match": etag})
    assert response.status_code == 304 and response.data == b""
    for name in ("Content-Type", "Content-Length"):
        assert name not in response.headers, name


def test_head_has_the_headers_of_get_and_no_body(app, client):
    for path in routes(app):
        get, head = client.get(path), client.head(path)
        assert head.status_code == 200 and head.data == b"", path
        for name in ("ETag", "Last-Modified", "Content-Type", "Content-Length", "Cache-Control"):
            assert head.headers[name] == get.headers[name], (path, name)
    etag = client.get("/calendar.ics").headers["ETag"]
    assert client.head("/calendar.ics", headers={"If-None-Match": etag}).status_code == 304


def test_cache_control_defaults_to_an_hour(app, client):
    for path, resource in routes(app).items():
        cache = client.get(path).headers["Cache-Control"]
        if resource.delivery.immutable:  # named by its digest: kept for a year
            assert cache == "public, max-age=31536000, immutable", path
        else:
            assert cache.startswith("public, max-age=3600"), path


def test_cache_max_age_is_configurable_and_capped_at_the_refresh_interval(make_app, monkeypatch):
    short = make_app(CACHE_MAX_AGE=600).test_client()
    assert short.get("/rss.xml").headers["Cache-Control"] == "public, max-age=600"
    monkeypatch.setenv("FEEDS_CACHE_MAX_AGE", "86400")
    capped = make_app().test_client()
    assert capped.get("/rss.xml").headers["Cache-Control"] == "public, max-age=43200"
    calendar = capped.get("/calendar.ics").data.decode()
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT12H" in calendar


def test_feeds_and_json_may_be_read_from_any_origin(app, client):
    present = [path for path in (*FEEDS, f"/talks/{TALK}.ics") if path in routes(app)]
    assert "/calendar.ics" in present
    for path in present:
        assert client.get(path).headers["Access-Control-Allow-Origin"] == "*", path
    for path, resource in routes(app).items():
        header = client.get(path).headers.get("Access-Control-Allow-Origin")
        assert header == ("*" if resource.delivery.cors else None), path


def test_calendars_are_never_compressed_and_forbid_it(app, client):
    calendars = [path for path in routes(app) if path.endswith(".ics")]
    assert "/calendar.ics" in calendars and f"/talks/{TALK}.ics" in calendars
    for path in calendars:
        for accept in ("gzip", "gzip, deflate, br, zstd", "*", "x-gzip"):
            response = client.get(path, headers={"Accept-Encoding": accept})
            assert "Content-Encoding" not in response.headers, (path, accept)
            assert response.data == routes(app)[path].body
            assert "Accept-Encoding" not in response.headers.get("Vary", ""), path
        assert "no-transform" in response.headers["Cache-Control"], path


def test_health_is_never_cached(client):
    response = client.get("/healthz")
    assert response.headers["Cache-Control"] == "no-store"


def _probe(app) -> None:
    """A test-only view that shows what the app believes about the request."""
    app.add_url_rule("/_probe", "probe",
                     lambda: f"{request.remote_addr} {request.scheme} {request.host} {request.script_root}")


def test_proxy_headers_are_ignored_by_default(make_app):
    app = make_app()
    _probe(app)
    client = app.test_client()
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "evil.example", "X-Forwarded-Prefix": "/x"}
    assert client.get("/_probe", headers=forwarded).text == "127.0.0.1 http localhost "


def test_proxy_fix_is_opt_in_and_site_url_still_rules(make_app, monkeypatch):
    monkeypatch.setenv("FEEDS_PROXY_FIX", "1")
    app = make_app()
    _probe(app)
    client = app.test_client()
    forwarded = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Forwarded-Proto": "https",
                 "X-Forwarded-Host": "evil.example", "X-Forwarded-Prefix": "/x"}
    assert client.get("/_probe", headers=forwarded).text == "203.0.113.9 https evil.example /x"


# --- several gunicorn workers -------------------------------------------------

def _get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def gunicorn_workers(data_file: Path, tmp_path: Path):
    """gunicorn with the repository's config, three workers, on loopback."""
    with gunicorn(data_file, tmp_path / "gunicorn.log", "--workers", "3",
                  env={"FEEDS_CHECK_INTERVAL": "0.2"}) as served:
        yield served


def test_gunicorn_workers_serve_one_version_and_agree_after_an_edit(gunicorn_workers, data_file,
                                                                  tmp_path):
    base, proc = gunicorn_workers

    def versions(n: int = 24) -> set[str]:
        import json
        return {json.loads(_get(base + "/healthz")[2])["version"] for _ in range(n)}

    def etags(path: str, n: int = 24) -> set[str]:
        return {_get(base + path)[1]["ETag"] for _ in range(n)}

    _wait_for(lambda: len(versions()) == 1)
    before = etags("/calendar.ics")
    assert len(before) == 1
    data_file.write_text(data_file.read_text().replace(
        "Finite-Time Lyapunov Exponents", "Finite-Time Lyapunov Exponents, Revisited"))
    _wait_for(lambda: etags("/calendar.ics", 12).isdisjoint(before) and len(versions()) == 1)
    for path in ("/calendar.ics", "/rss.xml", "/talks/2026-05-11-mehlig.ics"):
        assert len(etags(path)) == 1, path
    status, headers, body = _get(base + "/calendar.ics")
    assert "Content-Encoding" not in headers and b"Revisited" in body
    proc.terminate()
    proc.wait(timeout=10)
    out = (tmp_path / "gunicorn.log").read_bytes()
    assert b'"GET /calendar.ics HTTP/1.1" 200' in out  # the access log goes to stdout
