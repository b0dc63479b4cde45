"""The state folder through the app (inline builds): a build belongs to its
data file and settings, the last good secrets to their secrets file; a
damaged, killed or unwritable state heals itself; /healthz tells which
version is served. tests/integration/test_state_processes.py runs the same stories
through real gunicorn servers."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import icalendar
import pytest

from feeds.publish import build_status, builder, builds, layout
from feeds.server import publisher as publisher_module

from helpers import NOW, SEED_DATA, SITE_URL

OTHER_SITE = "https://other.example.net"
TOKEN = "tokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
PATHS = ("/", "/calendar.ics", "/rss.xml", "/atom.xml", "/talks.json",
         "/talks/2026-05-11-mehlig/", "/talks/2026-05-11-mehlig.ics")


ONLY_A, ONLY_B = "2026-05-11-mehlig", "2026-05-11-only-in-b"


def other_series(folder: Path) -> Path:
    """A second valid series: the seed with another title and one talk's id changed."""
    folder.mkdir()
    path = folder / "talks.yaml"
    text = SEED_DATA.read_text(encoding="utf-8")
    assert "  title: Efficient ML Reading Group\n" in text and f"  - id: {ONLY_A}\n" in text
    path.write_text(text.replace("  title: Efficient ML Reading Group\n",
                                 "  title: Series B Private Club\n", 1)
                    .replace(f"  - id: {ONLY_A}\n", f"  - id: {ONLY_B}\n"), encoding="utf-8")
    return path


def ledger_ids(data_file: Path) -> set[str]:
    text = data_file.with_name("talks.revisions.tsv").read_text(encoding="utf-8")
    return {line.split("\t")[0] for line in text.splitlines() if line and line[0] != "#"}


def calendar_name(response) -> str:
    assert response.status_code == 200, response.data[:300]
    return str(icalendar.Calendar.from_ical(response.data)["X-WR-CALNAME"])


def links(response) -> set[str]:
    """The site addresses in a talks.json answer."""
    text = response.data.decode()
    return {site for site in (SITE_URL, OTHER_SITE) if site in text}


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """One state folder shared by every server of a test."""
    return tmp_path / "shared-state"


def test_two_series_and_two_addresses_on_one_state_folder_never_mix(make_app, data_file,
                                                                    tmp_path, shared):
    b_file = other_series(tmp_path / "b")
    configs = [(data_file, SITE_URL, "Efficient ML Reading Group"),
               (b_file, SITE_URL, "Series B Private Club"),
               (data_file, OTHER_SITE, "Efficient ML Reading Group"),
               (b_file, OTHER_SITE, "Series B Private Club")]
    for _ in range(2):  # restarted in turn, twice round
        for path, site, title in configs:
            client = make_app(TALKS_FILE=str(path), SITE_URL=site,
                              STATE_DIR=str(shared)).test_client()
            assert calendar_name(client.get("/calendar.ics")) == title
            assert links(client.get("/talks.json")) == {site}
            health = client.get("/healthz").json
            assert health["state"] == "current"
            assert health["source"]["data_file"] == str(path.resolve())
            assert health["source"]["site"] == site
    ids_a, ids_b = ledger_ids(data_file), ledger_ids(b_file)
    assert ONLY_A in ids_a and ONLY_B not in ids_a  # neither ledger got the other's talks
    assert ONLY_B in ids_b and ONLY_A not in ids_b
    assert len(ids_a) == len(ids_b) == 12
    assert len(list(shared.glob("sources/*"))) == 4


def test_a_foreign_build_in_the_state_folder_is_never_served(make_app, data_file, tmp_path):
    """Even a build of another data file copied into this folder's
    `current` (as an older feeds shared one folder) is not served, and its
    revisions never reach this series' ledger."""
    b_file = other_series(tmp_path / "b")
    b_app = make_app(TALKS_FILE=str(b_file), STATE_DIR=str(tmp_path / "b-state"))
    b_state = b_app.extensions["feeds"].state
    b_app.test_client().get("/")
    data_file.write_text("series: [\n")  # A broken: nothing of A can be built
    a_app = make_app()
    a_state = a_app.extensions["feeds"].state
    shutil.copytree(b_state / "builds", a_state / "builds", dirs_exist_ok=True)
    os.symlink(os.readlink(b_state / "current"), a_state / "current")
    client = make_app().test_client()
    response = client.get("/calendar.ics")
    assert response.status_code == 503
    assert b"Series B" not in response.data
    assert "this is not valid YAML" in response.data.decode() or "talks.yaml" in \
        response.data.decode()
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json["state"] == "none"
    data_file.write_text(SEED_DATA.read_text(encoding="utf-8"))  # A valid again: built alone
    assert calendar_name(make_app().test_client().get("/calendar.ics")) == \
        "Efficient ML Reading Group"
    assert ONLY_B not in ledger_ids(data_file)


def test_the_last_good_secrets_are_never_used_for_another_secrets_file(make_app, data_file,
                                                                      tmp_path, shared):
    a_secrets = tmp_path / "a-secrets.yaml"
    a_secrets.write_text(f"join_url: https://meet.example.org/j/A\ntokens:\n"
                         f"  - token: {TOKEN}\n    label: A\n")
    a = make_app(STATE_DIR=str(shared), SECRETS_FILE=str(a_secrets)).test_client()
    assert a.get(f"/members/{TOKEN}/calendar.ics").status_code == 200
    b_secrets = tmp_path / "b-secrets.yaml"
    b_secrets.write_text('join_url: https://meet.b.example/j/B\ntokens:\n  - token: "broken\n')
    b = make_app(STATE_DIR=str(shared), SECRETS_FILE=str(b_secrets)).test_client()
    assert b.get(f"/members/{TOKEN}/calendar.ics").status_code == 404
    # A's own copy still serves A while A's file is broken.
    a_secrets.write_text("tokens: [\n")
    again = make_app(STATE_DIR=str(shared), SECRETS_FILE=str(a_secrets)).test_client()
    assert again.get(f"/members/{TOKEN}/calendar.ics").status_code == 200


# --- damage on disk -------------------------------------------------------------

def damage_routes(build: Path) -> None:
    with open(build / layout.ROUTES, "r+b") as handle:
        handle.truncate(4096)


def damage_index(build: Path) -> None:
    with open(build / layout.INDEX, "r+b") as handle:
        handle.truncate(100)


def dangle(build: Path) -> None:
    state = build.parent.parent
    os.unlink(state / layout.CURRENT)
    os.symlink(f"{layout.BUILDS}/999999-nonexistent", state / layout.CURRENT)


@pytest.mark.parametrize("damage", [damage_routes, damage_index, dangle])
def test_a_damaged_current_build_heals_at_the_next_start(make_app, data_file, clock, damage):
    first = make_app()
    client = first.test_client()
    good = {path: client.get(path) for path in PATHS}
    state = first.extensions["feeds"].state
    clock.now = NOW + timedelta(days=40)  # a talk is over: a second build
    assert client.get("/calendar.ics").status_code == 200
    damaged = state / layout.BUILDS / layout.current_name(state)
    damage(damaged)
    restarted = make_app().test_client()
    for path in PATHS:
        response = restarted.get(path)
        assert response.status_code == 200, path
        assert response.data.startswith(good[path].data[:15]), path
    assert restarted.get("/healthz").json["state"] == "current"
    if damage is not dangle:
        assert not damaged.exists()
        assert (damaged.parent / f"{builds.BROKEN}{damaged.name}").is_dir()


def test_a_route_table_damaged_while_served_is_passed_over(make_app, data_file, clock):
    app = make_app()
    client = app.test_client()
    state = app.extensions["feeds"].state
    clock.now = NOW + timedelta(days=40)
    client.get("/")
    build = app.extensions["feeds"].current()
    assert build is not None
    first_routes = list(build.routes)[:0]  # the table is open now
    assert first_routes == []
    damage_routes(build.directory)
    for path in PATHS:
        assert client.get(path).status_code == 200, path
    assert layout.current_name(state) != build.name


def test_a_killed_build_is_tried_again(make_app, data_file, clock):
    app = make_app()
    publisher = app.extensions["feeds"]
    client = app.test_client()
    state = publisher.state
    before = client.get("/calendar.ics").data
    data_file.write_text(data_file.read_text().replace(
        "Finite-Time Lyapunov Exponents", "Killed once, then built"))
    source = builder.source_of(publisher.job)
    # A builder that was killed mid-build leaves "building" and a half-written build.
    build_status.write_status(state, {**build_status.read_status(state), "state": "building",
                                      "source": source, "options": publisher.job.options})
    (state / layout.BUILDS / ".000009-deadbeef.tmp" / "site").mkdir(parents=True)
    wall = [1e10]
    publisher._wall = lambda: wall[0]
    assert client.get("/calendar.ics").data == before  # recorded; tried again after a delay
    status = build_status.read_status(state)
    assert "stopped before it finished" in status["errors"][0]
    assert status["retry_at"] == wall[0] + builder.RETRY_FIRST
    wall[0] += builder.RETRY_FIRST
    assert client.get("/calendar.ics").data != before
    assert "Killed once, then built" in client.get("/talks.json").data.decode()
    assert not list((state / layout.BUILDS).glob(".*.tmp"))
    assert client.get("/healthz").json["state"] == "current"


def test_a_killed_build_is_tried_again_at_a_restart(make_app, data_file):
    app = make_app()
    state = app.extensions["feeds"].state
    app.test_client().get("/")
    data_file.write_text(data_file.read_text().replace(
        "Finite-Time Lyapunov Exponents", "Built after a restart"))
    job = app.extensions["feeds"].job
    build_status.write_status(state, {"state": "idle", "source": builder.source_of(job),
                                      "options": job.options, "errors": ["killed"],
                                      "failed_at": 1.0, "retry_at": 1e12, "failures": 5})
    restarted = make_app().test_client()
    assert "Built after a restart" in restarted.get("/talks.json").data.decode()


def test_retries_wait_longer_each_time_up_to_a_limit():
    delays = [builder.retry_delay(n) for n in range(1, 20)]
    assert delays[0] == builder.RETRY_FIRST
    assert all(a <= b for a, b in zip(delays, delays[1:], strict=False))
    assert delays[-1] == builder.RETRY_MAX


# --- /healthz ---------------------------------------------------------------------

def test_healthz_tells_current_stale_and_forgets_errors_of_a_replaced_version(make_app,
                                                                              data_file):
    client = make_app().test_client()
    ok = client.get("/healthz").json
    assert (ok["status"], ok["state"], ok["errors"]) == ("ok", "current", [])
    assert ok["data_file"] == str(data_file) and ok["source"]["data_file"] == str(data_file)
    good = data_file.read_text()
    data_file.write_text(good.replace("duration: 60", "duration: sixty", 1))
    broken = client.get("/healthz")
    assert broken.status_code == 503
    assert broken.json["state"] == "stale" and broken.json["version"] == ok["version"]
    assert any("duration" in e for e in broken.json["errors"])
    data_file.write_text(good)
    back = client.get("/healthz")
    assert back.status_code == 200 and back.json["errors"] == []
    assert back.json["state"] == "current"


def test_healthz_after_a_restart_on_a_valid_file_names_no_stale_error(make_app, data_file):
    good = data_file.read_text()
    make_app().test_client().get("/")
    data_file.write_text("series: [\n")
    assert make_app().test_client().get("/healthz").status_code == 503
    data_file.write_text(good)  # fixed while the server was down
    os.utime(data_file, (NOW.timestamp(), NOW.timestamp()))
    health = make_app().test_client().get("/healthz")
    assert health.status_code == 200, health.json
    assert health.json["errors"] == []


def test_an_invalid_file_with_nothing_published_says_why(make_app, data_file):
    data_file.write_text("series: [\n")
    client = make_app().test_client()
    response = client.get("/calendar.ics")
    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("text/plain")
    assert str(data_file) in response.data.decode() and "YAML" in response.data.decode()
    health = client.get("/healthz")
    assert health.json["state"] == "none"
    assert any(str(data_file) in e and "YAML" in e for e in health.json["errors"])


def test_an_unwritable_state_folder_is_degraded_and_still_serves(make_app, data_file,
                                                                 monkeypatch):
    app = make_app()
    client = app.test_client()
    good = client.get("/calendar.ics").data
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).endswith(layout.LOCK) or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(30, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(build_status.os, "open", read_only)
    monkeypatch.setattr(build_status.os, "chmod", lambda *a: read_only("x", os.O_RDWR))
    data_file.write_text(data_file.read_text().replace("Finite-Time", "Never published"))
    health = client.get("/healthz")
    assert health.status_code == 503
    assert any("cannot be written" in e for e in health.json["errors"])
    assert client.get("/calendar.ics").data == good
    restarted = make_app().test_client()  # a restart on it serves the good build
    assert restarted.get("/calendar.ics").data == good
    assert restarted.get("/healthz").status_code == 503


class FailingChild:
    """A builder process that ended at once with status 1."""

    def __init__(self, *args, **kwargs):
        FailingChild.started += 1

    def poll(self) -> int:
        return 1

    started = 0


def test_a_builder_that_keeps_failing_is_started_again_later_and_logged_once(
        make_app, data_file, monkeypatch, caplog):
    app = make_app(BUILD_MODE="process", CHECK_INTERVAL=0.0)
    publisher = app.extensions["feeds"]
    publisher._watch.interval = 1e6  # the watcher thread looks no more
    publisher._watch.check(lambda: None, force=True)
    time.sleep(0.2)  # a look under way ends
    if publisher._child is not None:  # the first build, by a real builder
        publisher._child.wait(timeout=60)
    monkeypatch.setattr(publisher_module.subprocess, "Popen", FailingChild)
    moments = [100.0]
    publisher._monotonic = lambda: moments[0]
    publisher._hold_until = 0.0
    publisher._child = None
    data_file.write_text(data_file.read_text().replace("Finite-Time", "Edited"))
    os.utime(data_file, (1.0, 1.0))
    FailingChild.started = 0
    for _ in range(200):  # 200 looks within one second
        moments[0] += 0.005
        publisher._watch.check(publisher._look, force=True)
    assert 1 <= FailingChild.started <= 3
    assert caplog.text.count("ended with status 1") == 1
    assert "builder" in " ".join(app.test_client().get("/healthz").json["errors"])


def test_the_state_folder_is_keyed_by_data_file_and_settings(tmp_path):
    from feeds.publish.snapshot import BuildOptions
    from feeds.urls import Site

    def key(path: Path, site: str = SITE_URL, limit: int = 100, max_age: int = 3600) -> Path:
        return publisher_module.state_dir(str(tmp_path), "", path,
                                          BuildOptions(Site(site), limit), max_age)

    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    assert key(a) == key(a) and key(a).parent == tmp_path / "sources"
    assert len({key(a), key(b), key(a, OTHER_SITE), key(a, limit=5), key(a, max_age=60)}) == 5
    json.dumps(str(key(a)))
