"""The serving stack README describes: Debian's nginx with the shipped
deploy/nginx/feeds.conf, serving the published build's files
(FEEDS_STATE_DIR/current/site) for GET and HEAD, gunicorn behind it for
the rest. nginx runs as a non-root process on loopback with a temporary
prefix; every route is compared with what gunicorn sends on its own."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from feeds import urls
from feeds.data import secrets_file as secrets_io
from feeds.publish.builds import open_current

from helpers import NGINX, SEED_DATA, gunicorn, nginx

#: The headers a route's response must carry the same through nginx.
SAME = ("Content-Type", "Cache-Control", "X-Content-Type-Options", "Referrer-Policy",
        "Content-Security-Policy", "Access-Control-Allow-Origin", "Content-Disposition",
        "Content-Encoding", "Vary", "Last-Modified")
GZIP = {"Accept-Encoding": "gzip, deflate, br"}
TOKEN = "tokenNGINXAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


class Reply:
    def __init__(self, response: http.client.HTTPResponse):
        self.status = response.status
        self.headers = response.headers
        self.body = response.read()

    def one(self, name: str) -> str | None:
        values = self.headers.get_all(name) or []
        assert len(values) <= 1, (name, values)
        return values[0] if values else None

    def content(self) -> bytes:
        """The body as a client reads it, decompressed if it came gzip'd."""
        if self.one("Content-Encoding") == "gzip":
            return gzip.decompress(self.body)
        return self.body


def request(base: str, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> Reply:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        return Reply(connection.getresponse())
    finally:
        connection.close()


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    """gunicorn over a copy of the seed (with a members' token), and nginx in front."""
    assert os.path.exists(NGINX), "nginx is missing: apt-get install -y nginx (scripts/test does)"
    folder = Path(tempfile.mkdtemp(prefix="feeds-nginx-"))
    os.chmod(folder, 0o755)  # nginx's user reads the published build below it
    try:
        data_file = folder / "talks.yaml"
        shutil.copy(SEED_DATA, data_file)
        secrets = folder / "secrets.yaml"
        secrets_io.add_token(secrets, "Jane Doe", token=TOKEN)
        state = folder / "state"
        with gunicorn(data_file, folder / "gunicorn.log", "--workers", "1",
                      env={"FEEDS_STATE_DIR": str(state),
                           "FEEDS_SECRETS_FILE": str(secrets)}) as (app_base, _):
            (source,) = state.glob("sources/*")  # FEEDS_STATE_DIR/sources/<key>, made by the server
            with nginx(source / "current" / "site", app_base, folder / "nginx") as (front, checked,
                                                                                   proc):
                build = open_current(source)
                assert build is not None
                yield {"app": app_base, "nginx": front, "routes": list(build.routes),
                       "check": checked, "process": proc, "prefix": folder / "nginx",
                       "log": folder / "gunicorn.log"}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_shipped_config_passes_nginx_t(stack):
    check = stack["check"]
    assert check.returncode == 0, check.stderr
    assert "test is successful" in check.stderr
    ps = subprocess.run(["ps", "-o", "user=", "-p", str(stack["process"].pid)],
                        capture_output=True, text=True, check=True)
    assert ps.stdout.strip() not in ("", "root")  # nginx itself is not root


@pytest.mark.parametrize("accept", [{}, GZIP], ids=["identity", "gzip"])
def test_every_route_through_nginx_is_what_gunicorn_sends(stack, accept):
    compressed = set()
    for route in stack["routes"]:
        direct = request(stack["app"], route, headers=accept)
        front = request(stack["nginx"], route, headers=accept)
        assert direct.status == front.status == 200, route
        assert front.content() == direct.content(), route
        for name in SAME:
            assert front.one(name) == direct.one(name), (route, name)
        if front.one("Content-Encoding") == "gzip":
            compressed.add(route)
            assert front.body == direct.body, route  # the same .gz file, byte for byte
        head = request(stack["nginx"], route, "HEAD", headers=accept)
        assert head.status == 200 and head.body == b"", route
        for name in (*SAME, "Content-Length"):
            assert head.one(name) == front.one(name), (route, name)
    if accept:  # nginx's gzip_static sends the build's .gz files; calendars stay plain
        assert {"/", "/talks.json", "/rss.xml"} <= compressed
        assert not [route for route in compressed if route.endswith(".ics")]
        assert not [route for route in stack["routes"] if route.endswith(".ics")
                    and request(stack["nginx"], route, headers={"Accept-Encoding": "gzip, *"})
                    .one("Content-Encoding")]
    else:
        assert not compressed


def test_nginx_serves_the_published_files_itself(stack):
    """Static routes never reach gunicorn: its access log does not see them."""
    log = stack["log"]
    # gunicorn logs a request once its answer is sent: the lines of the tests
    # before may still be on their way. A marked request's line comes after them.
    marker = f"/settled-{uuid.uuid4().hex}"
    request(stack["app"], marker)
    deadline = time.monotonic() + 10
    while marker.encode() not in log.read_bytes():
        assert time.monotonic() < deadline, "gunicorn never logged the marked request"
        time.sleep(0.05)
    before = log.read_bytes()
    for route in ("/", "/calendar.ics", "/talks.json"):
        assert request(stack["nginx"], route).status == 200
    time.sleep(0.2)
    assert log.read_bytes() == before


def test_dynamic_routes_reach_gunicorn(stack):
    front, app = stack["nginx"], stack["app"]
    health = request(front, "/healthz")
    assert health.status == 200 and health.one("Cache-Control") == "no-store"
    assert json.loads(health.body)["status"] == "ok"
    # /embed/ with options is rendered by the app, with the app's headers.
    options = "/embed/?show=past&limit=2"
    via, direct = request(front, options), request(app, options)
    assert via.status == direct.status == 200
    assert via.body == direct.body and via.body != request(front, "/embed/").body
    assert via.one("Content-Type") == "text/html; charset=utf-8"
    assert via.one("Referrer-Policy") == direct.one("Referrer-Policy")
    # The members' calendar: private, never in nginx's access log.
    members = request(front, urls.members_calendar(TOKEN))
    assert members.status == 200 and members.body.startswith(b"BEGIN:VCALENDAR")
    assert "private" in (members.one("Cache-Control") or "")
    assert members.one("Referrer-Policy") == "no-referrer"
    assert TOKEN not in (stack["prefix"] / "logs" / "access.log").read_text()
    # Older addresses redirect as the app does; unknown ones get its 404 page.
    talk = next(route for route in stack["routes"] if re.fullmatch(r"/talks/[^/]+/", route))
    moved = request(front, talk.rstrip("/"))
    assert moved.status == 301 and moved.one("Location") == request(app, talk.rstrip("/")).one("Location")
    for missing in ("/no-such-page", "/index.html.gz", "/_headers", "/.feeds-build"):
        reply = request(front, missing)
        assert reply.status == 404, missing
        assert reply.body == request(app, missing).body, missing
        assert reply.one("Content-Type") == "text/html; charset=utf-8"
        assert reply.one("Referrer-Policy") == "no-referrer"
