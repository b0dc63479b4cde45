"""The revision contract: stable bytes while nothing changes, and one edit
moving exactly one SEQUENCE and LAST-MODIFIED."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import feedparser
import icalendar
import pytest

from feeds.commands import cli
from feeds.data import revisions as revisions_module
from feeds.data.loader import load_schedule
from feeds.data.revisions import LedgerError, ledger_path, read_ledger, update_ledger

from helpers import NOW, SEED_DATA, add_to_talk, talk_id_of


def events(client) -> dict[str, icalendar.Event]:
    response = client.get("/calendar.ics")
    assert response.status_code == 200
    cal = icalendar.Calendar.from_ical(response.data)
    return {talk_id_of(e): e for e in cal.walk("VEVENT")}


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


def test_deleted_ledger_does_not_stop_serving(make_app, data_file, clock, tmp_path):
    published = make_app().test_client().get("/calendar.ics").data
    ledger = ledger_path(data_file)
    ledger.unlink()
    clock.now = NOW + timedelta(days=2)
    # A restart over the same state serves the published build as it was.
    assert make_app().test_client().get("/calendar.ics").data == published
    # A new server (no published build) writes the ledger anew.
    fresh = make_app(STATE_DIR=str(tmp_path / "fresh-state")).test_client()
    assert fresh.get("/calendar.ics").status_code == 200
    assert all(e["SEQUENCE"] == 0 for e in events(fresh).values())
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


# --- an unreadable or damaged ledger is never rewritten ------------------------------

MEHLIG = "2026-05-11-mehlig"
MEHLIG_TITLE = "title: Finite-Time Lyapunov Exponents of Deep Neural Networks"


def retitle(data_file, title: str) -> None:
    """Give the Mehlig talk `title` (and the file a new mtime, so it is seen)."""
    text = data_file.read_text()
    start = text.index("  - id: 2026-05-11-mehlig")
    end = text.index("\n    title: ", start) + 1
    line_end = text.index("\n", end)
    data_file.write_text(text[:end] + f"    title: {title}" + text[line_end:])
    stamp = data_file.stat().st_mtime_ns + 10**9
    os.utime(data_file, ns=(stamp, stamp))


def sequence_and_modified(client, talk_id: str = MEHLIG) -> tuple[int, datetime]:
    event = events(client)[talk_id]
    return int(event["SEQUENCE"]), event["LAST-MODIFIED"].dt


def health(client) -> dict:
    return client.get("/healthz").get_json()


@pytest.mark.parametrize("damage", [
    pytest.param(lambda text: text.encode()[:200] + b"\xff" + text.encode()[200:], id="non-UTF-8 byte"),
])
def test_an_undecodable_ledger_is_kept_and_the_server_serves_what_it_had(make_app, data_file,
                                                                          clock, damage):
    client = make_app().test_client()
    seq, modified = sequence_and_modified(client)
    ledger = ledger_path(data_file)
    broken = damage(ledger.read_text())
    ledger.write_bytes(broken)
    clock.now = NOW + timedelta(hours=1)
    retitle(data_file, "Lyapunov, edited")
    assert "Lyapunov, edited" in str(events(client)[MEHLIG]["SUMMARY"])
    new_seq, new_modified = sequence_and_modified(client)  # from memory, not reset
    assert new_seq == seq + 1 and new_modified > modified
    assert all(int(e["SEQUENCE"]) == 0 for tid, e in events(client).items() if tid != MEHLIG)
    state = health(client)
    assert state["status"] == "degraded" and str(ledger) in " ".join(state["errors"])
    assert "not UTF-8" in " ".join(state["errors"])
    assert ledger.read_bytes() == broken
    # A restart serves the build published last (the published revisions are
    # its memory), still degraded, and still never rewrites the ledger.
    served = client.get("/calendar.ics").data
    fresh = make_app().test_client()
    assert fresh.get("/calendar.ics").data == served
    assert str(ledger) in " ".join(health(fresh)["errors"])
    assert ledger.read_bytes() == broken


def test_validate_and_build_fail_on_an_undecodable_ledger(data_file, tmp_path, capsys):
    assert cli.main(["validate", str(data_file)]) == 0
    ledger = ledger_path(data_file)
    broken = ledger.read_bytes().replace(b"\t0\t", b"\t\xe9\t", 1)
    ledger.write_bytes(broken)
    capsys.readouterr()
    assert cli.main(["validate", str(data_file)]) == 1
    err = capsys.readouterr().err
    assert str(ledger) in err and "not UTF-8" in err and "Traceback" not in err
    assert cli.main(["build", str(tmp_path / "site"), "--data", str(data_file)]) == 1
    assert "nothing was published" in capsys.readouterr().err
    assert not (tmp_path / "site").exists()
    assert ledger.read_bytes() == broken


SEED_LINE = "2026-05-11-mehlig\t{fp}\t{seq}\t2026-04-01T12:00:00Z\t2026-04-01T12:00:00Z\t-"


@pytest.mark.parametrize("line, complaint", [
    (SEED_LINE.format(fp="0" * 20, seq="-5"), "the sequence '-5'"),
    (SEED_LINE.format(fp="0" * 20, seq=str(2**31)), f"the sequence '{2**31}'"),
    (SEED_LINE.format(fp="0" * 20, seq="+3"), "the sequence '+3'"),
    (SEED_LINE.format(fp="0" * 20, seq="1").replace("2026-04-01T12:00:00Z", "2026-13-01T12:00:00Z", 1),
     "the last change '2026-13-01T12:00:00Z'"),
    (SEED_LINE.format(fp="0" * 20, seq="1").replace("2026-04-01T12:00:00Z", "0001-01-01T00:00:00Z", 1),
     "the last change '0001-01-01T00:00:00Z'"),
    (SEED_LINE.format(fp="xyz", seq="1"), "the fingerprint 'xyz'"),
    (SEED_LINE.format(fp="0" * 20, seq="1")[:-2], "5 tab-separated fields"),
    ("../etc\t" + "0" * 20 + "\t1\t2026-04-01T12:00:00Z\t2026-04-01T12:00:00Z\t-", "talk id '../etc'"),
], ids=["negative", "2^31", "signed", "month 13", "year 1", "fingerprint", "short", "bad id"])
def test_every_ledger_field_is_checked_and_reported_with_its_line(data_file, tmp_path, capsys,
                                                                  line, complaint):
    assert cli.main(["validate", str(data_file)]) == 0
    ledger = ledger_path(data_file)
    lines = [x for x in ledger.read_text().splitlines() if not x.startswith(MEHLIG)]
    lines.insert(5, line)
    damaged = "\n".join(lines) + "\n"
    ledger.write_text(damaged)
    with pytest.raises(LedgerError) as caught:
        read_ledger(ledger)
    assert f"{ledger}:6: a damaged ledger line" in str(caught.value)
    assert complaint in str(caught.value)
    capsys.readouterr()
    assert cli.main(["build", str(tmp_path / "site"), "--data", str(data_file)]) == 1
    err = capsys.readouterr().err
    assert f"{ledger}:6:" in err and complaint in err and "Traceback" not in err
    assert cli.main(["validate", str(data_file)]) == 1
    assert ledger.read_text() == damaged  # the talk is not silently reset


def test_a_duplicated_ledger_line_is_reported(data_file):
    update_ledger(ledger_path(data_file), load_schedule(data_file), NOW)
    ledger = ledger_path(data_file)
    text = ledger.read_text()
    line = next(x for x in text.splitlines() if x.startswith(MEHLIG))
    ledger.write_text(text + line.replace("\t0\t", "\t7\t") + "\n")
    with pytest.raises(LedgerError, match="is already on line"):
        read_ledger(ledger)


def test_a_huge_sequence_is_never_published(make_app, data_file):
    """2^31 - 1 is the largest SEQUENCE iCalendar allows: a talk there stays there."""
    path = ledger_path(data_file)
    update_ledger(path, load_schedule(data_file), NOW)
    text = path.read_text()
    line = next(x for x in text.splitlines() if x.startswith(MEHLIG))
    fields = line.split("\t")
    fields[2] = str(2**31 - 1)
    path.write_text(text.replace(line, "\t".join(fields)))
    retitle(data_file, "Edited at the limit")
    client = make_app().test_client()
    assert client.get("/calendar.ics").status_code == 200
    assert sequence_and_modified(client)[0] == 2**31 - 1


# --- read-only or full: SEQUENCE and dates still only go forward ----------------------

def refuse_writes(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(revisions_module, "write_atomically", refuse)


def test_while_nothing_can_be_written_every_edit_and_revert_moves_forward(make_app, data_file,
                                                                         clock, monkeypatch):
    client = make_app().test_client()
    seq, modified = sequence_and_modified(client)
    refuse_writes(monkeypatch)
    seen = [(seq, modified)]
    contents = {seq: client.get(f"/talks/{MEHLIG}.ics").data.split(b"DTSTAMP")[1]}
    for hours, title in enumerate(["First edit", "Second edit",
                                   "Finite-Time Lyapunov Exponents of Deep Neural Networks"], 1):
        clock.now = NOW + timedelta(hours=hours)
        retitle(data_file, title)
        now_seq, now_modified = sequence_and_modified(client)
        assert now_seq > seen[-1][0] and now_modified > seen[-1][1], title
        seen.append((now_seq, now_modified))
        state = health(client)
        assert state["status"] == "degraded"
        assert "not recorded" in " ".join(state["errors"])
        body = client.get(f"/talks/{MEHLIG}.ics").data.split(b"DTSTAMP")[1]
        assert contents.setdefault(now_seq, body) == body  # one content per SEQUENCE
    assert [s for s, _ in seen] == [seq, seq + 1, seq + 2, seq + 3]
    monkeypatch.undo()  # space again: the next look records what was published
    assert health(client)["status"] == "ok"
    assert read_ledger(ledger_path(data_file))[MEHLIG].sequence == seq + 3


def test_validate_fails_when_it_cannot_record_the_change(data_file, monkeypatch, capsys):
    assert cli.main(["validate", str(data_file)]) == 0
    retitle(data_file, "Not recorded")
    refuse_writes(monkeypatch)
    capsys.readouterr()
    assert cli.main(["validate", str(data_file)]) == 1
    err = capsys.readouterr().err
    assert "cannot write the revision ledger" in err and "No space left" in err


# --- clock jumps ----------------------------------------------------------------------

def feed_dates(client) -> dict[str, datetime]:
    feed = feedparser.parse(client.get("/atom.xml").data)
    return {"feed": datetime(*feed.feed.updated_parsed[:6], tzinfo=timezone.utc),
            **{e.id: datetime(*e.updated_parsed[:6], tzinfo=timezone.utc) for e in feed.entries}}


def test_a_clock_that_goes_backwards_dates_nothing_backwards(make_app, data_file, clock, caplog):
    clock.now = NOW + timedelta(days=10)
    client = make_app().test_client()
    seq, modified = sequence_and_modified(client)
    before = client.get("/calendar.ics")
    dates = feed_dates(client)
    clock.now = NOW  # ten days back
    retitle(data_file, "Edited with a slow clock")
    after_seq, after_modified = sequence_and_modified(client)
    assert after_seq == seq + 1 and after_modified > modified
    event = events(client)[MEHLIG]
    assert event["DTSTAMP"].dt > modified
    new_dates = feed_dates(client)
    assert all(new_dates[k] >= dates[k] for k in dates)
    assert new_dates["feed"] > dates["feed"]
    changed = client.get("/calendar.ics", headers={
        "If-Modified-Since": before.headers["Last-Modified"]})
    assert changed.status_code == 200
    assert "Edited with a slow clock" in str(events(client)[MEHLIG]["SUMMARY"])
    assert "the clock went backwards" in caplog.text
    assert any("clock" in w for w in health(client)["warnings"])


def test_a_forward_jump_leaves_no_date_that_later_goes_back(make_app, data_file, clock):
    client = make_app().test_client()
    clock.now = NOW + timedelta(days=400)  # the clock jumps a year ahead
    retitle(data_file, "Edited in the future")
    jumped = feed_dates(client)
    seq, modified = sequence_and_modified(client)
    clock.now = NOW + timedelta(hours=1)  # fixed
    retitle(data_file, "Edited after the fix")
    fixed = feed_dates(client)
    assert all(fixed[k] >= jumped[k] for k in jumped)
    now_seq, now_modified = sequence_and_modified(client)
    assert now_seq == seq + 1 and now_modified > modified
    restarted = make_app().test_client()  # a restart rebuilds the same dates
    assert feed_dates(restarted) == fixed
    assert any("clock" in w for w in health(restarted)["warnings"])


# --- leftovers and shared directories -------------------------------------------------

def test_a_temporary_file_left_by_a_killed_write_is_removed_on_the_next(data_file):
    path = ledger_path(data_file)
    update_ledger(path, load_schedule(data_file), NOW)
    stale = data_file.parent / f".{path.name}.k9dead.tmp"
    stale.write_text("half a ledger")
    other = data_file.parent / ".unrelated.tmp"
    other.write_text("not ours")
    retitle(data_file, "After a kill")
    assert update_ledger(path, load_schedule(data_file), NOW + timedelta(hours=1)).recorded
    assert not stale.exists() and other.exists()


AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
SERVER, ORGANISER, GROUP = 40001, 40002, 40010  # two accounts that share one group


def as_user(uid: int, run) -> int:
    """Run `run()` in a child process as `uid` in GROUP with umask 002 (the
    modules it needs are imported already); its exit code."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 99
        try:
            os.setgroups([GROUP])
            os.setgid(GROUP)
            os.setuid(uid)
            os.umask(0o002)
            code = run()
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.fixture
def shared_data():
    """A data directory owned by GROUP, setgid and group-writable, with the seed."""
    folder = Path(tempfile.mkdtemp(dir="/tmp", prefix="feeds-shared-"))
    try:
        os.chown(folder, SERVER, GROUP)
        folder.chmod(0o2775)
        data = folder / "talks.yaml"
        data.write_text(SEED_DATA.read_text())
        os.chown(data, SERVER, GROUP)
        data.chmod(0o664)
        yield data
    finally:
        shutil.rmtree(folder)


@pytest.mark.skipif(not AS_ROOT, reason="switching between two accounts needs root")
def test_two_accounts_sharing_a_group_directory_keep_one_ledger(shared_data):
    ledger = ledger_path(shared_data)
    schedule = load_schedule(shared_data)

    def server() -> int:
        return 0 if update_ledger(ledger, load_schedule(shared_data), NOW).recorded else 1

    assert as_user(SERVER, server) == 0  # the server writes the ledger first
    assert ledger.stat().st_uid == SERVER and ledger.stat().st_gid == GROUP
    assert stat.S_IMODE(ledger.stat().st_mode) == 0o664
    text = shared_data.read_text().replace(MEHLIG_TITLE, "title: Edited by the organiser")
    shared_data.write_text(text)
    assert as_user(ORGANISER, lambda: cli.main(["validate", str(shared_data)])) == 0
    assert ledger.stat().st_uid == ORGANISER and ledger.stat().st_gid == GROUP
    assert stat.S_IMODE(ledger.stat().st_mode) == 0o664
    assert read_ledger(ledger)[MEHLIG].sequence == 1
    shared_data.write_text(text.replace("Edited by the organiser", "Edited again"))
    assert as_user(SERVER, server) == 0  # and the server can still write it
    assert read_ledger(ledger)[MEHLIG].sequence == 2
    assert schedule.talks


@pytest.mark.skipif(not AS_ROOT, reason="a ledger another account cannot read needs root to set up")
def test_a_ledger_another_account_cannot_read_is_not_rewritten(shared_data):
    ledger = ledger_path(shared_data)
    update_ledger(ledger, load_schedule(shared_data), NOW)
    os.chown(ledger, 0, 0)
    ledger.chmod(0o600)
    before = ledger.read_bytes()
    assert as_user(ORGANISER, lambda: cli.main(["validate", str(shared_data)])) == 1
    assert ledger.read_bytes() == before and ledger.stat().st_uid == 0


def test_two_workers_that_numbered_one_change_differently_both_move_forward(data_file):
    """Two workers that each kept an unrecorded change in memory, with
    different dates, meet at the ledger: the result is ahead of both."""
    path = ledger_path(data_file)
    recorded = update_ledger(path, load_schedule(data_file), NOW).revisions
    assert recorded is not None
    retitle(data_file, "Edited while nothing could be written")
    schedule = load_schedule(data_file)
    one = revisions_module.advance(recorded, schedule, NOW + timedelta(hours=1))
    two = revisions_module.advance(recorded, schedule, NOW + timedelta(hours=2))
    merged = update_ledger(path, schedule, NOW + timedelta(hours=3), known=one)
    assert merged.recorded and merged.revisions is not None
    for other in (two, one):
        again = update_ledger(path, schedule, NOW + timedelta(hours=4), known=other).revisions
        assert again is not None
        for talk_id, mine in other.items():
            assert again[talk_id].sequence >= mine.sequence
            assert again[talk_id].modified >= mine.modified
            if mine != one[talk_id] or mine != two[talk_id]:
                assert again[talk_id].sequence > mine.sequence
    assert read_ledger(path) == again  # one ledger, whole and valid, that both agree on
