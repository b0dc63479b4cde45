"""The state folder under real gunicorn servers on 127.0.0.1 (issue 19):
from its first request on, a server answers with its own series and
address; a damaged build heals at a restart; a killed build is tried again;
a read-only state folder is reported and still served; a builder never
outlives its server, and gunicorn logs no misleading worker lines."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from feeds.publish import layout

from helpers import SEED_DATA, gunicorn, slow_builds

SITE_A, SITE_B = "https://talks.example.org", "https://other.example.net"
TITLE_A, TITLE_B = "Efficient ML Reading Group", "Series B Private Club"
TALK = "Finite-Time Lyapunov Exponents"
PATHS = ("/", "/calendar.ics", "/rss.xml", "/talks.json", "/talks/2026-05-11-mehlig/")

pytestmark = pytest.mark.slow


def get(base: str, path: str, timeout: float = 20) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def first_answer(base: str, path: str, within: float = 20) -> tuple[int, bytes]:
    """The first answer to `path`, retried only while nothing listens yet."""
    deadline = time.monotonic() + within
    while True:
        try:
            return get(base, path)
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "nothing listened"
            time.sleep(0.02)


ONLY_A, ONLY_B = "2026-05-11-mehlig", "2026-05-11-only-in-b"


def series(folder: Path, title: str) -> Path:
    """Another series: the seed with another title and one talk's id changed."""
    folder.mkdir()
    path = folder / "talks.yaml"
    path.write_text(SEED_DATA.read_text(encoding="utf-8").replace(
        f"  title: {TITLE_A}\n", f"  title: {title}\n", 1).replace(
        f"  - id: {ONLY_A}\n", f"  - id: {ONLY_B}\n"), encoding="utf-8")
    return path


def health(base: str) -> dict:
    return json.loads(get(base, "/healthz")[1])


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def builders(master: subprocess.Popen[bytes]) -> list[int]:
    """The builder processes under `master`'s workers."""
    found = []
    for worker in children(master.pid):
        for child in children(worker):
            with contextlib.suppress(OSError):
                if b"feeds.publish.builder" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_every_answer_from_the_first_is_the_configured_series_and_address(data_file, tmp_path):
    """Two data files and two site addresses on one state folder, started
    in turn: every answer, polled every 100 ms for 6 s from the first
    request on, is the configured series with the configured address."""
    shared = tmp_path / "shared-state"
    b_file = series(tmp_path / "b", TITLE_B)
    log = tmp_path / "gunicorn.log"
    configs = [(data_file, SITE_A, TITLE_A), (b_file, SITE_B, TITLE_B),
               (data_file, SITE_B, TITLE_A), (b_file, SITE_A, TITLE_B)]
    for path, site, title in configs:
        env = {"FEEDS_STATE_DIR": str(shared), "FEEDS_SITE_URL": site,
               "FEEDS_CHECK_INTERVAL": "0.2"}
        with gunicorn(path, log, "--workers", "2", env=env, ready="") as (base, _):
            status, body = first_answer(base, "/calendar.ics")
            assert status == 200, body[:300]  # the first request gets the calendar
            assert f"X-WR-CALNAME:{title}".encode() in body
            deadline, count = time.monotonic() + 6, 0
            other = SITE_B if site == SITE_A else SITE_A
            while time.monotonic() < deadline:
                for probe in ("/calendar.ics", "/talks.json"):
                    status, body = get(base, probe)
                    assert status == 200, (probe, body[:300])
                    text = body.decode()
                    assert title in text and site in text and other not in text, probe
                    count += 1
                time.sleep(0.1)
            assert count > 40
            state = health(base)
            assert state["state"] == "current" and state["source"]["site"] == site
    for path, own, other in ((data_file, ONLY_A, ONLY_B), (b_file, ONLY_B, ONLY_A)):
        ledger = path.with_name("talks.revisions.tsv").read_text()
        ids = {line.split("\t")[0] for line in ledger.splitlines() if line and line[0] != "#"}
        assert len(ids) == 12 and own in ids and other not in ids  # never the other's talks


def test_the_first_rebuild_logs_no_worker_exit_and_builders_die_with_the_server(
        data_file, tmp_path):
    log = tmp_path / "gunicorn.log"
    # The default interval of 1 s: the watcher wakes with gunicorn's own 1 s
    # loop in the worker, which is how the spurious lines appeared.
    step, env = slow_builds(tmp_path, FEEDS_CHECK_INTERVAL="1.0")
    with gunicorn(data_file, log, "--workers", "2", env=env) as (base, master):
        text = data_file.read_text()
        for n in range(6):
            data_file.write_text(text.replace(TALK, f"Edited once {n}"))
            wait_for(lambda n=n: f"Edited once {n}".encode() in get(base, "/talks.json")[1])
        step.set("60")  # the next build takes a minute
        data_file.write_text(text.replace(TALK, "Edited twice"))
        wait_for(lambda: builders(master) != [])
        (orphaned,) = builders(master)
        worker = int(Path(f"/proc/{orphaned}/stat").read_text().rsplit(")", 1)[1].split()[1])
        assert worker in children(master.pid)
        os.kill(worker, signal.SIGKILL)  # its worker dies: the builder goes too
        wait_for(lambda: not alive(orphaned), timeout=15)  # (it may still be starting)
        wait_for(lambda: builders(master) != [], timeout=30)  # tried again by a worker
        running = builders(master)
        master.send_signal(signal.SIGTERM)
        master.wait(timeout=40)
        # Before the helper's clean-up, which would kill what is left.
        wait_for(lambda: not any(alive(pid) for pid in running), timeout=10)  # none left
    out = log.read_text()
    assert "Parent changed" not in out and "Worker exiting" not in out.split("Handling signal")[0]


def test_a_killed_build_is_tried_again(data_file, tmp_path):
    step, env = slow_builds(tmp_path, FEEDS_CHECK_INTERVAL="0.2")
    with gunicorn(data_file, tmp_path / "log", "--workers", "2", env=env) as (base, master):
        step.set("30")
        data_file.write_text(data_file.read_text().replace(TALK, "Killed, then built"))
        wait_for(lambda: builders(master) != [])
        for pid in builders(master):
            os.kill(pid, signal.SIGKILL)
        step.set("")
        wait_for(lambda: b"Killed, then built" in get(base, "/talks.json")[1], timeout=30)
        wait_for(lambda: health(base)["state"] == "current")


@pytest.mark.parametrize("damage", ["routes", "index", "dangling"])
def test_a_damaged_build_serves_every_route_again_after_a_restart(data_file, tmp_path, damage):
    state = tmp_path / "state"
    log = tmp_path / "gunicorn.log"
    with gunicorn(data_file, log, env={"FEEDS_STATE_DIR": str(state)}) as (base, _):
        good = {path: get(base, path) for path in PATHS}
        assert all(status == 200 for status, _ in good.values())
    (folder,) = (state / "sources").iterdir()
    build = folder / layout.BUILDS / layout.current_name(folder)
    if damage == "routes":
        os.truncate(build / layout.ROUTES, 4096)
    elif damage == "index":
        os.truncate(build / layout.INDEX, 50)
    else:
        (folder / layout.CURRENT).unlink()
        os.symlink(f"{layout.BUILDS}/000099-nonexistent", folder / layout.CURRENT)
    with gunicorn(data_file, log, env={"FEEDS_STATE_DIR": str(state)}, ready="") as (base, _):
        start = time.monotonic()
        assert first_answer(base, PATHS[0]) == good[PATHS[0]]  # the first answer, whole
        for path in PATHS[1:]:
            assert get(base, path) == good[path], path
        # gunicorn's start and a new build, on 2 shared cores: about 2 s alone
        assert time.monotonic() - start < 20
        assert health(base)["state"] == "current"


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only bind mount needs root")
def test_a_read_only_state_folder_is_degraded_and_a_restart_still_serves(data_file, tmp_path):
    state = tmp_path / "state"
    log = tmp_path / "gunicorn.log"
    env = {"FEEDS_STATE_DIR": str(state), "FEEDS_CHECK_INTERVAL": "0.2"}
    with gunicorn(data_file, log, env=env) as (base, _):
        good = get(base, "/calendar.ics")
    subprocess.run(["mount", "--bind", str(state), str(state)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(state)], check=True)
        data_file.write_text(data_file.read_text().replace(TALK, "Never published"))
        with gunicorn(data_file, log, env=env, ready="/calendar.ics") as (base, _):
            assert get(base, "/calendar.ics") == good
            wait_for(lambda: health(base)["status"] == "degraded")
            assert "cannot be written" in " ".join(health(base)["errors"])
            assert get(base, "/calendar.ics") == good
    finally:
        subprocess.run(["umount", str(state)], check=True)


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                   check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Fill the file system of `folder` to the last byte."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as handle:
        for chunk in (65536, 1):
            with contextlib.suppress(OSError):
                while handle.write(b"\0" * chunk):
                    pass
    return filler


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_a_full_state_folder_never_makes_builders_loop(data_file, tmp_path):
    log = tmp_path / "gunicorn.log"
    with tmpfs(tmp_path / "state", "8m") as state:
        env = {"FEEDS_STATE_DIR": str(state), "FEEDS_CHECK_INTERVAL": "0.2"}
        with gunicorn(data_file, log, "--workers", "2", env=env) as (base, _):
            good = get(base, "/calendar.ics")
            filler = fill(state)
            before = log.read_text().count("[builder ")
            data_file.write_text(data_file.read_text().replace(TALK, "Published once freed"))
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                assert get(base, "/calendar.ics") == good
                time.sleep(0.2)
            state_now = health(base)
            assert state_now["status"] == "degraded", state_now
            out = log.read_text()
            started = len({line.split("]")[0] for line in out.splitlines()[-400:]
                           if line.startswith("[builder ")})
            assert out.count("[builder ") - before <= 10  # a few tries, not 1.8 per second
            assert started <= 10
            assert out.count("ended with status 1") <= 2  # once per worker
            filler.unlink()
            wait_for(lambda: b"Published once freed" in get(base, "/talks.json")[1], timeout=60)
            wait_for(lambda: health(base)["status"] == "ok")
