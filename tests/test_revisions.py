"""The revision contract: stable bytes while nothing changes, and one edit
moving exactly one SEQUENCE and LAST-MODIFIED."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import icalendar

from feeds import revisions as revisions_module
from feeds.loader import load_schedule
from feeds.revisions import ledger_path, read_ledger, update_ledger

from helpers import NOW, add_to_talk


def events(client) -> dict[str, icalendar.Event]:
    response = client.get("/calendar.ics")
    assert response.status_code == 200
    cal = icalendar.Calendar.from_ical(response.data)
    return {str(e["UID"]).split("@")[0]: e for e in cal.walk("VEVENT")}


def test_output_is_byte_identical_across_requests_and_restarts(make_app, clock):
    first = make_app().test_client()
    a = first.get("/calendar.ics").data
    assert first.get("/calendar.ics").data == a
    clock.now = NOW + timedelta(days=3)  # a restart three days later
    assert make_app().test_client().get("/calendar.ics").data == a


def test_one_edit_moves_exactly_one_sequence(make_app, data_file, clock):
    client = make_app().test_client()
    before = events(client)
    clock.now = NOW + timedelta(hours=5)
    text = data_file.read_text()
    data_file.write_text(text.replace("title: Finite-Time Lyapunov Exponents of Deep Neural Networks",
                                      "title: Finite-Time Lyapunov Exponents of Deep Networks"))
    after = events(make_app().test_client())
    changed = {tid for tid in before if before[tid]["SEQUENCE"] != after[tid]["SEQUENCE"]}
    assert changed == {"2026-05-11-mehlig"}
    assert after["2026-05-11-mehlig"]["SEQUENCE"] == before["2026-05-11-mehlig"]["SEQUENCE"] + 1
    assert after["2026-05-11-mehlig"]["LAST-MODIFIED"].dt == clock.now
    for tid in before:
        if tid != "2026-05-11-mehlig":
            assert after[tid]["LAST-MODIFIED"].dt == before[tid]["LAST-MODIFIED"].dt
            assert after[tid].to_ical() == before[tid].to_ical()


def test_whitespace_and_comments_change_nothing(make_app, data_file, clock):
    a = make_app().test_client().get("/calendar.ics").data
    clock.now = NOW + timedelta(days=1)
    text = data_file.read_text()
    data_file.write_text("# a new comment\n" + text.replace("talks:\n", "talks:   # the talks\n\n", 1))
    assert make_app().test_client().get("/calendar.ics").data == a


def test_deleted_ledger_does_not_stop_serving(make_app, data_file, clock):
    make_app()
    ledger = ledger_path(data_file)
    ledger.unlink()
    clock.now = NOW + timedelta(days=2)
    response = make_app().test_client().get("/calendar.ics")
    assert response.status_code == 200
    assert all(e["SEQUENCE"] == 0 for e in events(make_app().test_client()).values())
    assert ledger.exists()


def test_concurrent_writers_agree(data_file):
    schedule = load_schedule(data_file)
    path = ledger_path(data_file)
    first = update_ledger(path, schedule, NOW).revisions
    second = update_ledger(path, schedule, NOW + timedelta(hours=1)).revisions  # another worker
    assert first == second == read_ledger(path)


def test_unwritable_ledger_dates_changes_with_the_data_files_mtime(data_file, monkeypatch):
    schedule = load_schedule(data_file)
    path = ledger_path(data_file)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(revisions_module, "write_atomically", refuse)
    mtime = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
    update = update_ledger(path, schedule, NOW, fallback_now=mtime)
    assert not update.recorded
    assert "cannot write the revision ledger" in update.errors[0]
    assert update.revisions is not None
    assert {r.modified for r in update.revisions.values()} == {mtime}
    assert not path.exists()


def test_recording_first_seen_is_kept(data_file):
    path = ledger_path(data_file)
    update_ledger(path, load_schedule(data_file), NOW)
    add_to_talk(data_file, "2026-03-09-wen", "recording: https://example.org/rec")
    later = NOW + timedelta(days=1)
    revisions = update_ledger(path, load_schedule(data_file), later).revisions
    assert revisions is not None
    assert revisions["2026-03-09-wen"].recording_seen == later
    assert revisions["2026-03-09-wen"].sequence == 1
    assert revisions["2026-03-02-walter"].recording_seen is None
