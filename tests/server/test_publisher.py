"""Hot reload: a cheap stat check, atomic switches of the published build,
the last good version kept through bad, half-written and deleted files,
/healthz, and several processes (publishers over one file) building the
same bytes. Builds run inline here, with the injected clock;
tests/publish/test_builds.py runs the background builder and real servers."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from datetime import timedelta
from pathlib import Path

import icalendar
import pytest

from feeds import files
from feeds.data import recorded
from feeds.data import revisions as revisions_module
from feeds.data.revisions import ledger_path, read_ledger
from feeds.publish import builder
from feeds.server import publisher as publisher_module
from feeds.server.publisher import Publisher
from feeds.settings import Settings

from helpers import NOW, SITE_URL

TALK = "2026-05-11-mehlig"
TITLE = "Finite-Time Lyapunov Exponents of Deep Neural Networks"


class Ticker:
    """A hand-moved monotonic (or wall) clock, in seconds."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now


def inline(data_file: Path, check_interval: float = 1.0, state: str = "state",
           **injected) -> Publisher:
    """A publisher that builds in the calling thread, into a private state dir."""
    settings = Settings(talks_file=str(data_file), site_url=SITE_URL, build_mode="inline",
                        check_interval=check_interval)
    return Publisher(settings, data_file.parent / state, **injected)


def retitle(data_file: Path, new: str, old: str = TITLE) -> None:
    text = data_file.read_text()
    assert old in text
    data_file.write_text(text.replace(old, new))


def set_mtime(path: Path, seconds: float) -> None:
    os.utime(path, ns=(int(seconds * 1e9), int(seconds * 1e9)))


def calendar(pub: Publisher) -> str:
    """The calendar's text, its folded lines unfolded."""
    return pub.current().routes["/calendar.ics"].body.decode().replace("\r\n ", "")


# --- noticing a change --------------------------------------------------------

def test_an_edit_goes_live_on_the_next_look(data_file, clock):
    pub = inline(data_file, clock=clock, check_interval=0)
    before = pub.current()
    retitle(data_file, "Lyapunov revisited")
    after = pub.current()
    assert after is not before
    assert "Lyapunov revisited" in calendar(pub)
    assert after.routes["/calendar.ics"].etag != before.routes["/calendar.ics"].etag


def test_the_file_is_looked_at_once_per_interval(data_file, clock, monkeypatch):
    looks = []
    real = files.stat_signature
    monkeypatch.setattr(files, "stat_signature",
                        lambda path: looks.append(path) or real(path))
    ticks = Ticker()
    pub = inline(data_file, clock=clock, check_interval=1.0, settle=0,
                    monotonic=ticks)
    looks.clear()
    for _ in range(1000):
        pub.current()
    assert looks == []  # within the first second: no stat at all
    ticks.now += 1.0
    for _ in range(1000):
        pub.current()
    # one look: the data file and its ledger, whatever the number of requests
    assert {p.name for p in looks} == {data_file.name, ledger_path(data_file).name}
    assert len(looks) <= 3
    retitle(data_file, "Within a second")
    assert "Within a second" not in calendar(pub)  # not before the interval is over
    ticks.now += 1.0
    assert "Within a second" in calendar(pub)


def test_passing_time_rebuilds_without_an_edit(data_file, clock):
    pub = inline(data_file, clock=clock, check_interval=0)
    first = pub.current()
    assert first.valid_until is not None and first.valid_until > NOW
    clock.now = first.valid_until + timedelta(minutes=1)
    second = pub.current()
    assert second is not first
    assert second.last_modified == first.valid_until  # a talk ended: "past" changed
    assert second.valid_until > first.valid_until
    assert pub.current() is second  # and nothing more until the next talk ends


# --- bad data -----------------------------------------------------------------

def test_invalid_data_keeps_the_last_good_version(data_file, clock, caplog):
    pub = inline(data_file, clock=clock, check_interval=0)
    good = pub.current()
    text = data_file.read_text()
    data_file.write_text(text.replace("timezone: Europe/Berlin", "timezone: Mars/Olympus"))
    with caplog.at_level(logging.ERROR, logger="feeds.publish.builder"):
        assert pub.current() is good
    assert "Mars/Olympus" in caplog.text and "keeping the last good version" in caplog.text
    health = pub.health()
    assert not health.ok and any(e.startswith(f"{data_file}:15:") and "time zone" in e
                                 for e in health.errors)
    assert not any("Mars/Olympus" in e for e in health.errors)  # public: never the file's text
    assert health.talks == len(good.context.schedule.talks)
    caplog.clear()
    pub.current()
    assert caplog.text == ""  # an unchanged bad file is logged once, not per request
    data_file.write_text(text)
    assert pub.health().ok and pub.health().errors == ()


def test_a_half_written_file_is_not_read_until_its_writer_is_done(data_file, clock):
    """An editor that writes in place may be caught between two writes; the
    first half of the seed is even valid YAML that drops talks and cuts one."""
    ticks, wall = Ticker(), Ticker(5000.0)
    pub = inline(data_file, clock=clock, check_interval=1.0, settle=0.25,
                    monotonic=ticks, wall=wall)
    good = pub.current()
    text = data_file.read_text().replace(TITLE, "Lyapunov revisited")
    half = text[: text.index("Lyapunov exponents. We show")]
    data_file.write_text(half)
    set_mtime(data_file, wall.now - 0.05)  # written 50 ms ago
    ticks.now += 1.0
    assert pub.current() is good
    # The writer finishes 100 ms later; the next look waits for it to settle.
    data_file.write_text(text)
    set_mtime(data_file, wall.now + 0.05)
    wall.now += 0.1
    ticks.now += 0.2
    assert pub.current() is good
    wall.now += 0.25
    ticks.now += 0.25  # a look is due again after the settling time, not a whole interval
    assert "Lyapunov revisited" in calendar(pub)
    # Only the finished edit reached the ledger.
    assert read_ledger(ledger_path(data_file))[TALK].sequence == 1
    assert pub.health().ok


def test_a_file_still_being_written_at_start_is_read_once_it_settles(data_file, clock):
    """A worker that starts while an editor writes the file in place waits
    for the writer, as a running server does, instead of reading half a file."""
    text = data_file.read_text().replace(TITLE, "Lyapunov revisited")
    half = text[: text.index("Lyapunov exponents. We show")]
    data_file.write_text(half)
    wall = Ticker(5000.0)
    set_mtime(data_file, wall.now - 0.05)  # written 50 ms ago, and the writer goes on
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 1:  # the writer finishes while the worker waits
            data_file.write_text(text)
            set_mtime(data_file, wall.now + 0.1)
        wall.now += seconds

    pub = inline(data_file, clock=clock, check_interval=1.0, settle=0.25, wall=wall, sleep=sleep)
    assert len(slept) == 2 and sum(slept) <= 1.0
    assert "Lyapunov revisited" in calendar(pub)
    assert len(pub.current().context.schedule.talks) == 12
    assert read_ledger(ledger_path(data_file))[TALK].sequence == 0  # only the whole file


def test_a_file_written_while_it_is_read_is_read_again(data_file, clock, monkeypatch):
    pub = inline(data_file, clock=clock, check_interval=0)
    good = pub.current()
    real = recorded.read_text
    reads = []

    def racing(path, *args, **kwargs):
        text = real(path, *args, **kwargs)
        if not reads:  # a writer appends while the first read is under way
            retitle(data_file, "Second write", old="First write")
        reads.append(text)
        return text

    monkeypatch.setattr(recorded, "read_text", racing)
    retitle(data_file, "First write")
    assert pub.current() is good
    assert "Second write" in calendar(pub)
    assert len(reads) == 2
    assert read_ledger(ledger_path(data_file))[TALK].sequence == 1


def test_a_failing_build_keeps_the_last_good_version(data_file, clock, monkeypatch, caplog):
    pub = inline(data_file, clock=clock, check_interval=0)
    good = pub.current()

    def broken(*args):
        raise RuntimeError("a bug in a renderer")

    monkeypatch.setattr(builder, "render_snapshot", broken)
    retitle(data_file, "Triggers the bug")
    with caplog.at_level(logging.ERROR, logger="feeds.publish.builder"):
        assert pub.current() is good
    assert "a bug in a renderer" in caplog.text
    assert not pub.health().ok and "a bug in a renderer" in pub.health().errors[0]


def test_a_ledger_that_cannot_be_locked_is_tried_again(data_file, clock, monkeypatch):
    ticks = Ticker()
    pub = inline(data_file, clock=clock, check_interval=1.0, settle=0,
                    monotonic=ticks)
    good = pub.current()
    real = recorded.update_ledger
    failures = [OSError(37, "No locks available")]

    def flaky(*args, **kwargs):
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(recorded, "update_ledger", flaky)
    retitle(data_file, "Locked out")
    ticks.now += 1.0
    assert pub.current() is good
    assert "No locks available" in pub.health().errors[0]
    ticks.now += 1.0
    assert "Locked out" in calendar(pub)  # the next look, with the file unchanged
    assert pub.health().ok


def test_a_bad_file_at_start_serves_503_until_it_is_fixed(make_app, data_file):
    text = data_file.read_text()
    data_file.write_text("series: [")
    client = make_app().test_client()
    assert client.get("/calendar.ics").status_code == 503
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json["status"] == "degraded" and health.json["talks"] == 0
    assert health.json["last_good_load"] is None
    data_file.write_text(text)
    assert client.get("/calendar.ics").status_code == 200
    assert client.get("/healthz").status_code == 200


# --- atomic swaps -------------------------------------------------------------

def test_every_response_is_one_whole_version(data_file, clock):
    """Readers on several threads while the file is replaced over and over:
    each calendar they get names one version in every event, and each ETag
    is the digest of the body it came with."""
    pub = inline(data_file, clock=clock, check_interval=0)
    base = data_file.read_text()
    stop = threading.Event()
    seen: list[set[str]] = []
    failures: list[str] = []

    def read() -> None:
        while not stop.is_set():
            resource = pub.current().routes["/calendar.ics"]
            body = resource.body
            if resource.etag != hashlib.sha256(body).hexdigest()[:32]:
                failures.append("etag")
            cal = icalendar.Calendar.from_ical(body)
            seen.append({(re.findall(r"Note: version (\d+)", str(e["DESCRIPTION"])) or ["0"])[0]
                         for e in cal.walk("VEVENT")})

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        for version in range(1, 13):
            text = re.sub(r"(\n  - id: .*\n)", rf"\1    note: version {version}\n", base)
            tmp = data_file.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, data_file)  # how editors and rsync write
            pub.current()
    finally:
        stop.set()
        for thread in readers:
            thread.join()
    assert not failures
    assert seen and all(len(versions) == 1 for versions in seen), seen


# --- several processes ----------------------------------------------------------

def test_workers_build_the_same_bytes(data_file, clock):
    """Two workers start at different times and see an edit at different
    times; the shared ledger gives both the same revisions and bytes."""
    first = inline(data_file, clock=clock, check_interval=0, state="a")
    clock.now = NOW + timedelta(minutes=5)
    second = inline(data_file, clock=clock, check_interval=0, state="b")
    assert_same(first, second)
    clock.now = NOW + timedelta(hours=1)
    retitle(data_file, "Lyapunov revisited")
    first.current()
    clock.now = NOW + timedelta(hours=2)
    assert_same(first, second)
    assert first.health().version == second.health().version != ""


def test_workers_agree_without_a_writable_ledger(data_file, clock, monkeypatch):
    def refuse(path, text, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(revisions_module, "write_atomically", refuse)
    set_mtime(data_file, (NOW - timedelta(days=1)).timestamp())  # edits are dated by it
    first = inline(data_file, clock=clock, check_interval=0, state="a")
    clock.now = NOW + timedelta(minutes=5)
    second = inline(data_file, clock=clock, check_interval=0, state="b")
    assert_same(first, second)
    assert "cannot write the revision ledger" in second.health().errors[0]
    assert not second.health().ok  # degraded while changes are not recorded


def assert_same(a: Publisher, b: Publisher) -> None:
    routes_a, routes_b = a.current().routes, b.current().routes
    assert routes_a.keys() == routes_b.keys()
    for path in routes_a:
        assert routes_a[path].etag == routes_b[path].etag, path
        assert routes_a[path].last_modified == routes_b[path].last_modified, path


# --- /healthz -----------------------------------------------------------------

def test_healthz_reports_ok(client, data_file):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "ok"
    assert body["data_file"] == str(data_file)
    assert body["talks"] == 12
    assert body["last_good_load"] == NOW.isoformat()
    assert body["errors"] == []
    assert len(body["version"]) == 16


def test_healthz_reports_degraded_with_the_errors(client, data_file, clock):
    data_file.write_text(data_file.read_text().replace("duration: 60", "duration: sixty", 1))
    clock.now = NOW + timedelta(hours=1)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json
    assert body["status"] == "degraded"
    assert body["talks"] == 12  # still served: the last good version
    assert body["last_good_load"] == NOW.isoformat()
    assert any("duration" in error and str(data_file) in error for error in body["errors"])
    assert client.get("/calendar.ics").status_code == 200


@pytest.mark.parametrize("interval", [0.0, 1.0])
def test_settling_never_exceeds_the_check_interval(data_file, clock, interval):
    pub = inline(data_file, clock=clock, check_interval=interval)
    assert pub.settle == min(interval, publisher_module.SETTLE)
