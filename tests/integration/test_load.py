"""A bounded load test: gunicorn with the repository's gunicorn.conf.py on
loopback, 64 connections for a few seconds while the data file is edited
several times. Zero errors; every body is one complete version whose ETag
matches its bytes; tokens never reach the access log."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import threading
import time
from collections import Counter

import pytest

from feeds.data import secrets_file as secrets_io

from helpers import SEED_DATA, gunicorn

pytestmark = pytest.mark.slow

CONNECTIONS = 64
DURATION = 8.0  # seconds of load: each edit has time to be built in the background
EDITS = 3
OLD_TITLE = "Revisiting Glorot Initialization for Long-Range Linear Recurrences"
MARKER = re.compile(rb"Load version (\d+)")
TOKEN = "loadtestTOKENxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
JOIN = "https://meet.example.org/j/LOADSECRET"


def request(port: int, path: str, method: str = "GET",
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.fixture
def server(tmp_path):
    """gunicorn on 127.0.0.1 with the repository's config; yields (port, data file, log)."""
    data = tmp_path / "talks.yaml"
    shutil.copy(SEED_DATA, data)
    data.write_text(data.read_text().replace(OLD_TITLE, "Load version 0"))
    secrets_file = tmp_path / "secrets.yaml"
    secrets_io.add_token(secrets_file, "load test", token=TOKEN)
    secrets_file.write_text(secrets_file.read_text() + f"join_url: {JOIN}\n")
    access_log = tmp_path / "access.log"
    env = {"FEEDS_SECRETS_FILE": str(secrets_file), "FEEDS_CHECK_INTERVAL": "0.2",
           "WEB_CONCURRENCY": "3"}
    with gunicorn(data, tmp_path / "error.log", "--access-logfile", str(access_log),
                  "--error-logfile", str(tmp_path / "error.log"), env=env) as (base, _):
        yield int(base.rsplit(":", 1)[1]), data, access_log


def etag_of(body: bytes) -> str:
    """The strong ETag the app derives from a body (see snapshot.Resource)."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def test_load_while_editing(server):
    port, data, access_log = server
    paths = ["/calendar.ics", "/rss.xml", "/atom.xml", "/talks/2026-06-08-seleznova.ics",
             f"/members/{TOKEN}/calendar.ics"]
    errors: list[str] = []
    versions: Counter[int] = Counter()
    count = Counter()
    stop = time.monotonic() + DURATION
    lock = threading.Lock()

    def client(n: int) -> None:
        conn = None
        i = n
        while time.monotonic() < stop and len(errors) < 20:
            path = paths[i % len(paths)]
            i += 1
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=15)
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                headers = {k.lower(): v for k, v in response.getheaders()}
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(f"{path}: {exc!r}")
                conn = None
                continue
            problem = ""
            if response.status != 200:
                problem = f"status {response.status}"
            elif headers.get("etag") != etag_of(body):
                problem = "ETag does not match the body"
            elif int(headers.get("content-length", -1)) != len(body):
                problem = "short body"
            elif path.endswith(".ics") and not body.endswith(b"END:VCALENDAR\r\n"):
                problem = "incomplete calendar"
            elif path.endswith(".xml") and not body.rstrip().endswith((b"</rss>", b"</feed>")):
                problem = "incomplete feed"
            with lock:
                count[path] += 1
                if problem:
                    errors.append(f"{path}: {problem}")
                found = MARKER.findall(body)
                if path == "/calendar.ics":
                    if len(set(found)) != 1:
                        errors.append(f"{path}: versions {found} in one body")
                    else:
                        versions[int(found[0])] += 1
        if conn:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    original = data.read_text()
    for version in range(1, EDITS + 1):
        time.sleep(DURATION / (EDITS + 1))
        text = original.replace("Load version 0", f"Load version {version}")
        if version % 2:  # an editor that writes in place
            data.write_text(text)
        else:  # one that writes a copy and renames it
            tmp = data.with_name(".talks.yaml.swp")
            tmp.write_text(text)
            os.replace(tmp, data)
    for thread in threads:
        thread.join(timeout=DURATION + 30)
    assert not any(t.is_alive() for t in threads)

    assert errors == []
    assert sum(count.values()) > 200 and all(count[p] for p in paths)
    assert len(versions) >= 2  # edits went live while under load
    # After the last edit, every worker serves the last version (within
    # seconds: a loaded CI machine may still be building it).
    last = f"Load version {EDITS}".encode()
    deadline = time.monotonic() + 30
    while True:
        final = {request(port, "/calendar.ics")[2] for _ in range(12)}
        if len(final) == 1 and last in next(iter(final)):
            break
        assert time.monotonic() < deadline, "the workers never all served the last edit"
        time.sleep(0.5)

    log = access_log.read_text()
    assert "/members/<redacted> HTTP/1.1" in log
    assert TOKEN not in log


def test_odd_requests_against_gunicorn_get_a_clean_4xx(server):
    port, _, access_log = server
    for path in ["/" + "a" * 6000, "/talks/..%2f..%2fetc%2fpasswd.ics", "/%ff%fe",
                 "/talks/%00.ics"]:
        status, _, body = request(port, path)
        assert 400 <= status < 500, (path[:50], status)
        assert b"Traceback" not in body
    # Encoded slashes decode to the same route: the log must still hide the token.
    assert request(port, f"/members%2F{TOKEN}%2Fcalendar.ics")[0] == 200
    assert request(port, f"/%6Dembers/{TOKEN}/calendar.ics")[0] == 200
    status, _, _ = request(port, "/calendar.ics", method="DELETE")
    assert status == 405
    status, _, body = request(port, "/calendar.ics", headers={"If-Modified-Since": "garbage"})
    assert status == 200 and body.startswith(b"BEGIN:VCALENDAR")
    status, _, body = request(port, "/calendar.ics", headers={"Host": "evil.example"})
    assert status == 200 and b"evil" not in body
    time.sleep(0.2)
    assert TOKEN not in access_log.read_text()
