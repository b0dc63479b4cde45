"""A hub's published build: what it is made from, stored and read back; a
rebuild when a talk ends; a broken series kept at its last good version."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from feeds import urls
from feeds.publish import build_status, builds, hub_load, hub_made_from
from feeds.publish import hub as hub_build
from feeds.publish.builder import BuildJob, run_build
from feeds.publish.snapshot import BuildOptions

from helpers import NOW, SITE_URL, FakeClock, write_hub

OPTIONS = BuildOptions(urls.Site(SITE_URL))


def job(hub: Path, state: Path) -> BuildJob:
    return BuildJob(str(hub), str(state), SITE_URL, 100, 3600, 3, 60.0, 0.0)


def test_what_a_hub_build_is_made_from_reads_back_the_same(tmp_path):
    loaded = hub_load.load(write_hub(tmp_path / "hub"), OPTIONS, NOW, None)
    assert loaded.made_from is not None
    blob = loaded.made_from.to_json()
    again = hub_made_from.read_made_from(blob, "context.json")
    assert isinstance(again, hub_made_from.HubMadeFrom)
    assert again == loaded.made_from
    first = hub_build.render_hub(loaded.context())
    second = hub_build.render_hub(again.context())
    assert first.version == second.version


def test_the_builder_publishes_a_hub_and_rebuilds_it_when_a_talk_ends(tmp_path):
    hub, state = write_hub(tmp_path / "hub"), tmp_path / "state"
    clock = FakeClock(NOW)
    with build_status.build_lock(state):
        run_build(job(hub, state), clock)
    first = builds.open_current(state)
    assert first is not None and first.is_hub and first.talks == 12
    assert first.hub_context is not None and set(first.hub_context.series) == {
        "efficient-ml", "theory", "kyoto-nlp"}
    assert first.valid_until is not None
    clock.now = first.valid_until + timedelta(seconds=1)
    with build_status.build_lock(state):
        run_build(job(hub, state), clock)
    second = builds.open_current(state)
    assert second is not None and second.name != first.name
    assert build_status.read_status(state)["rebuilt_for"] == first.name


def test_a_broken_series_keeps_the_version_of_the_build_before(tmp_path):
    hub, state = write_hub(tmp_path / "hub"), tmp_path / "state"
    with build_status.build_lock(state):
        run_build(job(hub, state), FakeClock(NOW))
    before = builds.open_current(state)
    assert before is not None
    theory_calendar = before.routes["/theory/calendar.ics"].body
    theory = hub / "series" / "theory.yaml"
    theory.write_text(theory.read_text(encoding="utf-8").replace("title: Theory Seminar talk 1",
                                                                 "title: [unclosed"),
                      encoding="utf-8")
    kyoto = hub / "series" / "kyoto-nlp.yaml"
    kyoto.write_text(kyoto.read_text(encoding="utf-8").replace("Kyoto NLP talk 2", "Edited"),
                     encoding="utf-8")
    with build_status.build_lock(state):
        run_build(job(hub, state), FakeClock(NOW))
    after = builds.open_current(state)
    assert after is not None and after.name != before.name
    assert after.routes["/theory/calendar.ics"].body == theory_calendar
    assert b"Edited" in after.routes["/kyoto-nlp/calendar.ics"].body
    errors = build_status.read_status(state)["errors"]
    assert errors and all("series/theory.yaml" in e for e in errors)
