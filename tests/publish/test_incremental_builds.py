"""Incremental publishing: after a one-talk edit a build writes only the
files whose bytes changed and hard-links the rest from the build before it,
and serves exactly what a cold build of the same data serves; a builder
process that stays builds every later edit itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import icalendar
from lxml import html

from feeds.publish import build_status, builds, layout
from feeds.publish.builder import BuildJob, run_build
from feeds.publish.builder_process import BUILDER_COMMAND
from feeds.publish.builds import PublishedBuild
from feeds.publish.prepared import prepare_next

from helpers import NOW, SITE_URL

EDITED = "2026-05-11-mehlig"
TITLE = "Finite-Time Lyapunov Exponents"
WALL = 1_000_000.0


def job_for(data_file: Path, state: Path, interval: float = 0.0) -> BuildJob:
    return BuildJob(str(data_file), str(state), SITE_URL, 100, 3600, 3, 60.0, 0.0,
                    interval=interval)


def site_files(build: PublishedBuild) -> dict[str, os.stat_result]:
    site = build.directory / layout.SITE
    return {str(p.relative_to(site)): p.stat() for p in site.rglob("*") if p.is_file()}


def served(build: PublishedBuild) -> dict[str, tuple[bytes, tuple[tuple[str, str], ...]]]:
    """Every route's bytes and headers, as a worker sends them."""
    return {route: (build.routes[route].body, build.routes[route].headers)
            for route in build.routes}


def test_an_edit_writes_only_what_changed_and_serves_what_a_cold_build_serves(data_file,
                                                                             tmp_path):
    state = tmp_path / "state"
    job = job_for(data_file, state)
    run_build(job, clock=lambda: NOW, wall=lambda: WALL)
    before = builds.open_current(state)
    assert before is not None
    data_file.write_text(data_file.read_text().replace(TITLE, "Edited Lyapunov"))
    later = NOW + timedelta(minutes=5)
    run_build(job, clock=lambda: later, wall=lambda: WALL + 60)
    after = builds.open_current(state)
    assert after is not None and after.name != before.name

    old, new = site_files(before), site_files(after)
    old_site, new_site = before.directory / layout.SITE, after.directory / layout.SITE
    linked = {f for f, st in new.items() if f in old and st.st_ino == old[f].st_ino}
    for name in linked:  # a link: the same bytes and date, two names
        assert new[name].st_nlink >= 2
    written = set(new) - linked
    # Written: exactly the files whose bytes or date differ from the build before.
    differs = {f for f in new if f not in old
               or (new_site / f).read_bytes() != (old_site / f).read_bytes()
               or new[f].st_mtime != old[f].st_mtime}
    assert written == differs
    assert f"talks/{EDITED}/index.html" in written and f"talks/{EDITED}.ics" in written
    assert "calendar.ics" in written and "talks.json" in written
    # The other talks' files are not written again (counted without the .gz
    # beside pages, feeds and JSON, which follow their file).
    assert len({f for f in linked if not f.endswith(".gz")}) > len(
        {f for f in written if not f.endswith(".gz")})
    assert all(f + ".gz" in linked for f in linked if f + ".gz" in new)
    untouched = [f for f in new if f.startswith("talks/") and f.endswith(".ics")
                 and EDITED not in f]
    assert untouched and all(f in linked for f in untouched)
    page = html.fromstring((new_site / f"talks/{EDITED}/index.html").read_bytes())
    assert "Edited Lyapunov" in page.xpath("string(//h1)")

    # A cold build of the same data (the same ledger, seen at the same moment).
    cold_state = tmp_path / "cold"
    run_build(job_for(data_file, cold_state), clock=lambda: later, wall=lambda: WALL + 60)
    cold = builds.open_current(cold_state)
    assert cold is not None and cold.version == after.version
    assert served(after) == served(cold)  # every route: bytes and headers
    cold_files = site_files(cold)
    assert set(cold_files) == set(new)
    dated = {str(Path(after.routes[route].file).relative_to(new_site)) for route in after.routes}
    for name, st in cold_files.items():
        assert (cold.directory / layout.SITE / name).read_bytes() == (new_site / name).read_bytes()
        if name in dated:  # a route's file: dated by its Last-Modified, for static hosts
            assert st.st_mtime == new[name].st_mtime, name
    events = icalendar.Calendar.from_ical(after.routes[f"/talks/{EDITED}.ics"].body).walk("VEVENT")
    assert len(events) == 1 and str(events[0]["SUMMARY"]).startswith("Edited Lyapunov of Deep")


def test_the_build_before_is_left_as_it_was(data_file, tmp_path):
    """Linking shares the files, never changes them: the build served
    until the switch keeps its bytes and dates."""
    state = tmp_path / "state"
    job = job_for(data_file, state)
    run_build(job, clock=lambda: NOW, wall=lambda: WALL)
    before = builds.open_current(state)
    assert before is not None
    kept = {f: ((before.directory / layout.SITE / f).read_bytes(), st.st_mtime)
            for f, st in site_files(before).items()}
    data_file.write_text(data_file.read_text().replace(TITLE, "Edited again"))
    run_build(job, clock=lambda: NOW + timedelta(minutes=1), wall=lambda: WALL + 60)
    assert layout.current_name(state) != before.name
    assert {f: ((before.directory / layout.SITE / f).read_bytes(), st.st_mtime)
            for f, st in site_files(before).items()} == kept


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_builder_that_stays_builds_each_edit_and_ends_with_its_parent(data_file, tmp_path):
    """The server's builder process, with an interval: after its first
    build it stays, holding no build lock, and builds the next edit itself."""
    state = tmp_path / "state"
    state.mkdir()
    job = job_for(data_file, state, interval=0.1)
    with build_status.build_lock(state) as fd:
        assert fd is not None
        proc = subprocess.Popen([*BUILDER_COMMAND, json.dumps(asdict(job)), str(os.getpid()),
                                 str(fd)], pass_fds=(fd,), stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: build_status.read_status(state).get("ok_at") is not None)
        first = layout.current_name(state)
        # the status is written before the builder takes the warm lock
        wait_for(lambda: build_status.warm_builder(state, job.origin))
        with build_status.build_lock(state) as fd:  # released after the first build
            assert fd is not None
        time.sleep(0.3)  # nothing due: nothing built
        assert layout.current_name(state) == first
        data_file.write_text(data_file.read_text().replace(TITLE, "Built by the same process"))
        wait_for(lambda: layout.current_name(state) != first)
        build = builds.open_current(state)
        assert build is not None
        assert b"Built by the same process" in build.routes["/talks.json"].body
        assert build_status.read_status(state)["builder"] == proc.pid
        assert proc.poll() is None  # still there for the next edit
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert not build_status.warm_builder(state, job.origin)


def test_a_file_damaged_in_the_build_before_is_written_again_not_linked(data_file, tmp_path):
    state = tmp_path / "state"
    job = job_for(data_file, state)
    run_build(job, clock=lambda: NOW, wall=lambda: WALL)
    before = builds.open_current(state)
    assert before is not None
    other = next(r for r in before.routes if r.startswith("/talks/") and r.endswith(".ics")
                 and EDITED not in r)
    good = before.routes[other].body
    damaged = Path(before.routes[other].file)
    damaged.write_bytes(good[: len(good) // 2])  # cut short on disk
    data_file.write_text(data_file.read_text().replace(TITLE, "Edited after damage"))
    run_build(job, clock=lambda: NOW + timedelta(minutes=1), wall=lambda: WALL + 60)
    after = builds.open_current(state)
    assert after is not None and after.name != before.name
    assert after.routes[other].body == good
    assert os.stat(after.routes[other].file).st_ino != damaged.stat().st_ino


def tree(site: Path) -> dict[str, bytes | None]:
    """Every folder (None) and file (its bytes) under `site`."""
    return {str(p.relative_to(site)): None if p.is_dir() else p.read_bytes()
            for p in site.rglob("*")}


def test_a_tree_made_ahead_becomes_the_tree_a_cold_build_writes(data_file, tmp_path):
    """The builder that stays makes the next build's folders and links its
    files while it waits; the next build keeps what is unchanged, writes
    what changed (a file damaged on disk too: the tree made ahead checks
    each link's size) and removes the files and folders of a talk that is
    gone: its tree is a cold build's."""
    state = tmp_path / "state"
    job = job_for(data_file, state)
    run_build(job, clock=lambda: NOW, wall=lambda: WALL)
    before = builds.open_current(state)
    assert before is not None
    other = next(r for r in before.routes if r.startswith("/talks/") and r.endswith(".ics")
                 and EDITED not in r)
    good = before.routes[other].body
    damaged = Path(before.routes[other].file)
    damaged.write_bytes(good[: len(good) // 2])  # cut short on disk
    ahead = prepare_next(state)
    ahead.wait()
    prepared = ahead.directory / layout.SITE
    assert (prepared / "talks" / EDITED / "index.html").is_file()
    assert tree(prepared) == tree(before.directory / layout.SITE)
    text = data_file.read_text()
    start = text.index(f"  - id: {EDITED}\n")
    end = text.index("  - id: ", start + 1)
    data_file.write_text(text[:start] + text[end:])  # the talk is gone
    later = NOW + timedelta(minutes=5)
    run_build(job, clock=lambda: later, wall=lambda: WALL + 60)
    after = builds.open_current(state)
    assert after is not None and after.name != before.name
    assert not ahead.directory.exists()  # taken by the build
    assert after.routes[other].body == good
    assert "/talks/" + EDITED + "/" not in after.routes
    kept = [f for f, st in site_files(after).items() if f.startswith("talks/")
            and st.st_ino == site_files(before)[f].st_ino]
    assert kept  # unchanged files stay linked

    run_build(job_for(data_file, tmp_path / "cold"), clock=lambda: later, wall=lambda: WALL + 60)
    cold = builds.open_current(tmp_path / "cold")
    assert cold is not None
    made = tree(after.directory / layout.SITE)
    assert f"talks/{EDITED}" not in made and f"talks/{EDITED}.ics" not in made
    assert made == tree(cold.directory / layout.SITE)
    assert served(after) == served(cold)


def test_a_tree_made_ahead_serves_only_its_own_state_folder_and_outlives_a_failed_build(
        data_file, tmp_path):
    state = tmp_path / "state"
    run_build(job_for(data_file, state), clock=lambda: NOW, wall=lambda: WALL)
    ahead = prepare_next(state)
    ahead.wait()
    assert prepare_next(state) is ahead  # no new build since: kept
    other = tmp_path / "other"
    run_build(job_for(data_file, other), clock=lambda: NOW, wall=lambda: WALL)
    assert ahead.directory.exists()  # not taken by another state folder's build
    first = builds.open_current(other)
    assert first is not None
    assert all(st.st_nlink == 1 for st in site_files(first).values())  # nothing linked in
