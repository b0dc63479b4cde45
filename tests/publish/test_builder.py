"""The builder's decisions over one state folder, with an injected clock."""

from __future__ import annotations

from datetime import timedelta

from feeds.publish import build_status, builds
from feeds.publish.builder import BuildJob, run_build

from helpers import NOW, SITE_URL

WALL = 1_000_000.0


def test_a_rebuild_when_a_talk_ends_keeps_what_is_known_about_the_data(data_file, tmp_path):
    """A talk that starts or ends re-renders the current build; the errors
    /healthz shows about the data (here: a ledger that could not record)
    and the ledger's pending retry must stay, or monitoring sees "ok" while
    the change is still unrecorded."""
    state = tmp_path / "state"
    job = BuildJob(str(data_file), str(state), SITE_URL, 100, 3600, 3, 30.0, 0.0)
    run_build(job, clock=lambda: NOW, wall=lambda: WALL)
    first = builds.open_current(state)
    assert first is not None and first.valid_until is not None
    unrecorded = "the revision ledger cannot be written: No space left on device"
    build_status.write_status(state, {**build_status.read_status(state), "errors": [unrecorded],
                                      "retry_at": WALL + 600})

    later = first.valid_until + timedelta(minutes=1)  # the next talk has started
    run_build(job, clock=lambda: later, wall=lambda: WALL + 1)
    rebuilt = builds.open_current(state)
    assert rebuilt is not None and rebuilt.name != first.name  # re-rendered: "live now"
    status = build_status.read_status(state)
    assert status["errors"] == [unrecorded]
    assert status["retry_at"] == WALL + 600
