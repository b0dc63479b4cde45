"""`feeds add`, `feeds recording`, `feeds cancel` through `feeds.commands.cli.main`,
with paper look-ups served by a local stand-in for the APIs."""

from __future__ import annotations

import errno
import multiprocessing
import os
import sys
from pathlib import Path

import pytest

from feeds.commands import cli, organiser
from feeds.data import revisions
from feeds.data.loader import load_schedule, parse_schedule
from feeds.data.revisions import ledger_path, read_ledger

from helpers import NOW
from paper_api import closed_port_env, crossref_work, hostile_api, paper_api, send


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(organiser, "utc_now", lambda: NOW)


def state(path: Path) -> tuple[bytes, int, bytes | None]:
    """What must not change when a command fails: bytes, mtime, the ledger."""
    ledger = ledger_path(path)
    return (path.read_bytes(), os.stat(path).st_mtime_ns,
            ledger.read_bytes() if ledger.exists() else None)


def run(*argv: str) -> int:
    return cli.main(list(argv))


def test_add_from_arxiv_picks_the_next_slot_and_records_the_talk(data_file, monkeypatch, capsys):
    with paper_api() as (env, seen):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert run("add", "--paper", "https://arxiv.org/abs/2501.19393v3", "--speaker",
                   "Niklas Muennighoff, Stanford University, USA", "--data", str(data_file)) == 0
    out = capsys.readouterr().out
    assert "2026-06-22" in out and "2026-06-22-muennighoff" in out
    talk = load_schedule(data_file).talk("2026-06-22-muennighoff")
    assert talk is not None
    assert talk.title == "s1: Simple test-time scaling"
    assert talk.speakers[0].affiliation == "Stanford University, USA"
    assert talk.links[0].label == "arXiv" and talk.links[0].url == "https://arxiv.org/abs/2501.19393"
    assert talk.abstract.startswith("Placeholder abstract for the tests")
    assert talk.start.isoformat() == "2026-06-22T17:00:00+02:00"
    assert "mailto:efficientml@gmail.com" in seen.requests[0][1]["User-Agent"]
    assert "2026-06-22-muennighoff" in read_ledger(ledger_path(data_file))


def test_add_with_date_time_and_two_speakers(data_file, monkeypatch, capsys):
    with paper_api() as (env, _):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        assert run("add", "--paper", "https://openreview.net/forum?id=lbtOctHDQ3",
                   "--speaker", "Ting Han, Lamarr Institute, TU Dortmund, Germany",
                   "--speaker", "Ada Example", "--date", "2027-01-11", "--time", "16:00",
                   "--data", str(data_file)) == 0
    talk = load_schedule(data_file).talk("2027-01-11-han-example")
    assert talk is not None and talk.start.isoformat() == "2027-01-11T16:00:00+01:00"
    assert [s.name for s in talk.speakers] == ["Ting Han", "Ada Example"]
    assert talk.speakers[0].affiliation == "Lamarr Institute, TU Dortmund, Germany"
    assert talk.links[0].label == "OpenReview"
    assert talk.links[0].url == "https://openreview.net/forum?id=lbtOctHDQ3"


def test_add_by_hand_with_an_abstract_file(data_file, tmp_path, capsys):
    abstract = tmp_path / "abstract.txt"
    abstract.write_text("Line one\nline two.\n\nSecond paragraph.\n", encoding="utf-8")
    assert run("add", "--title", "A talk: by hand", "--abstract-file", str(abstract),
               "--speaker", "Rahim Entezari, Wayve.ai", "--id", "hand-made",
               "--date", "2026-07-06", "--data", str(data_file)) == 0
    talk = load_schedule(data_file).talk("hand-made")
    assert talk.title == "A talk: by hand" and talk.links == ()
    assert talk.abstract == "Line one line two.\n\nSecond paragraph."


def test_without_a_speaker_it_lists_the_authors_and_writes_nothing(data_file, monkeypatch,
                                                                   capsys):
    before = state(data_file)
    with paper_api() as (env, _):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        code = run("add", "--paper", "10.5555/12345678", "--data", str(data_file))
    captured = capsys.readouterr()
    assert code != 0
    assert "Josiah Carberry" in captured.out and "Placeholder Consortium" in captured.out
    assert "--speaker" in captured.err
    assert state(data_file) == before


def run_failing(data_file: Path, monkeypatch, *argv: str, env: dict[str, str] | None = None,
                **mode: str) -> None:
    """Run a command that must fail, and check that nothing changed."""
    before = state(data_file)
    with paper_api(**mode) as (served, _):
        for key, value in (env or served).items():
            monkeypatch.setenv(key, value)
        code = run(*argv, "--data", str(data_file))
    assert code != 0
    assert state(data_file) == before
    assert not [p for p in data_file.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("argv, mode, message", [
    (("add", "--paper", "2599.99999", "--speaker", "A B"), {}, "no arXiv paper"),
    (("add", "--paper", "1234.12345", "--speaker", "A B"), {}, "incorrect id format"),
    (("add", "--paper", "https://openreview.net/forum?id=zzzz", "--speaker", "A B"), {},
     "no OpenReview paper"),
    (("add", "--paper", "10.5555/0", "--speaker", "A B"), {}, "does not know the DOI"),
    (("add", "--paper", "2501.19393", "--speaker", "A B"), {"status": "500"}, "HTTP 500"),
    (("add", "--paper", "not a paper", "--speaker", "A B"), {}, "not a paper reference"),
    (("add", "--paper", "2501.19393", "--speaker", "A B", "--id", "2026-03-09-wen"), {},
     "already used"),
    (("add", "--paper", "2501.19393", "--speaker", "A B", "--id", "bad id"), {},
     "not URL-safe"),
    (("add", "--paper", "2501.19393", "--speaker", "A B", "--date", "next monday"), {},
     "not a date"),
    (("add", "--paper", "2501.19393", "--speaker", "A B", "--time", "5pm"), {},
     "not a time of day"),
    (("add", "--paper", "2501.19393", "--speaker", "A B", "--date", "2026-03-29",
      "--time", "02:30"), {}, "would make the file invalid"),  # the spring-forward gap
    (("add", "--speaker", "A B"), {}, "give --paper"),
    (("recording", "2026-03-09-wen", "youtube.com/watch"), {}, "not a web address"),
    (("recording", "no-such-talk", "https://video.example.org/x"), {}, "no talk with the id"),
    (("cancel", "no-such-talk"), {}, "no talk with the id"),
])
def test_every_error_is_clear_and_writes_nothing(data_file, monkeypatch, capsys, argv, mode,
                                                 message):
    run_failing(data_file, monkeypatch, *argv, **mode)
    err = capsys.readouterr().err
    assert message in err and "Nothing was written." in err


def test_no_network_writes_nothing(data_file, monkeypatch, capsys):
    run_failing(data_file, monkeypatch, "add", "--paper", "2501.19393", "--speaker", "A B",
                env=closed_port_env())
    assert "cannot reach the arXiv API" in capsys.readouterr().err


def test_an_invalid_data_file_is_not_edited(data_file, monkeypatch, capsys):
    data_file.write_text(data_file.read_text().replace("date: 2026-03-09", "date: 2026-13-09"))
    run_failing(data_file, monkeypatch, "recording", "2026-03-02-walter", "https://v.example.org/")
    assert "fix them first" in capsys.readouterr().err


def test_recording_sets_the_url_and_the_ledger_sees_it(data_file, capsys):
    assert run("recording", "2026-03-09-wen", "https://video.example.org/wen",
               "--data", str(data_file)) == 0
    assert load_schedule(data_file).talk("2026-03-09-wen").recording == (
        "https://video.example.org/wen")
    assert read_ledger(ledger_path(data_file))["2026-03-09-wen"].recording_seen is not None
    assert "https://video.example.org/wen" in capsys.readouterr().out


def test_cancel_marks_the_talk_and_keeps_it(data_file, capsys):
    original = parse_schedule(data_file.read_text())
    assert run("cancel", "2026-06-08-seleznova", "--note", "Postponed to the autumn.",
               "--data", str(data_file)) == 0
    after = load_schedule(data_file)
    talk = after.talk("2026-06-08-seleznova")
    assert talk.cancelled and talk.note == "Postponed to the autumn."
    assert len(after.talks) == len(original.talks)
    assert run("cancel", "2026-06-08-seleznova", "--data", str(data_file)) == 0
    assert "already cancelled" in capsys.readouterr().out


def test_mistakes_in_the_arguments_are_caught_before_any_request(data_file, monkeypatch,
                                                                 capsys):
    with paper_api() as (env, seen):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        for bad in (("--date", "2026-02-30"), ("--time", "25:00"), ("--id", "2026-03-09-wen"),
                    ("--speaker", ", no name")):
            assert run("add", "--paper", "2501.19393", "--speaker", "A B", *bad,
                       "--data", str(data_file)) != 0
    assert seen.requests == []


@pytest.mark.parametrize("argv, written", [
    (("recording", "2026-03-09-wen", "https://video.example.org/wen"), "https://video.example.org/wen"),
    (("cancel", "2026-03-09-wen", "--note", "moved to April"), "moved to April"),
    (("add", "--title", "A talk by hand", "--speaker", "Ada Example", "--date", "2027-01-11"),
     "A talk by hand"),
])
def test_an_edit_the_ledger_cannot_record_exits_non_zero(data_file, capsys, argv, written):
    """A ledger that cannot be read cannot record the edit: the command
    names the ledger, writes nothing and fails."""
    assert run("validate", str(data_file)) == 0
    ledger = ledger_path(data_file)
    broken = ledger.read_bytes().replace(b"\t0\t", b"\t\xe9\t", 1)
    ledger.write_bytes(broken)
    capsys.readouterr()
    assert run(*argv, "--data", str(data_file)) == 1
    err = capsys.readouterr().err
    assert str(ledger) in err and "not UTF-8" in err and "Traceback" not in err
    assert f"{data_file} was not written" in err and "Nothing was written." in err
    assert written not in data_file.read_text(encoding="utf-8")
    assert ledger.read_bytes() == broken


def test_an_edit_whose_ledger_cannot_be_written_exits_non_zero(data_file, monkeypatch, capsys):
    assert run("validate", str(data_file)) == 0
    ledger = ledger_path(data_file)
    recorded = ledger.read_bytes()

    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(revisions, "write_atomically", refuse)
    capsys.readouterr()
    assert run("recording", "2026-03-09-wen", "https://video.example.org/wen",
               "--data", str(data_file)) == 1
    err = capsys.readouterr().err
    assert "cannot write the revision ledger" in err and "No space left" in err
    assert "Nothing was written." in err
    assert load_schedule(data_file).talk("2026-03-09-wen").recording == ""
    assert ledger.read_bytes() == recorded


# --- two organisers at once, and a ledger that cannot record -------------------------

def _edit(barrier, argv: list[str]) -> None:
    """One organiser's command, started together with the other's."""
    barrier.wait(timeout=30)
    sys.exit(cli.main(argv))


def test_two_edits_at_once_both_land(data_file, capsys):
    """Two commands on different talks, started at the same instant in two
    processes, round after round: each succeeds and neither edit is lost."""
    revisions.update_ledger(ledger_path(data_file), load_schedule(data_file), NOW)  # as in a series
    context = multiprocessing.get_context("fork")
    commands = {
        "2026-03-09-wen": lambda n: ["recording", "2026-03-09-wen",
                                     f"https://video.example.org/wen/{n}"],
        "2026-06-08-seleznova": lambda n: ["cancel", "2026-06-08-seleznova",
                                           "--note", f"Postponed, round {n}."],
    }
    for n in range(25):
        barrier = context.Barrier(2)
        workers = [context.Process(target=_edit, args=(barrier, [*argv(n), "--data", str(data_file)]))
                   for argv in commands.values()]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert [worker.exitcode for worker in workers] == [0, 0], capsys.readouterr().err
        schedule = load_schedule(data_file)
        assert schedule.talk("2026-03-09-wen").recording == f"https://video.example.org/wen/{n}"
        assert schedule.talk("2026-06-08-seleznova").note == f"Postponed, round {n}."
    ledger = read_ledger(ledger_path(data_file))
    # every round changed both talks once: no change counted twice, none lost
    assert ledger["2026-03-09-wen"].sequence == ledger["2026-06-08-seleznova"].sequence == 25


def test_a_damaged_ledger_stops_the_edit(data_file, capsys):
    ledger = ledger_path(data_file)
    ledger.write_text("garbage line\n", encoding="utf-8")
    before = state(data_file)
    assert run("recording", "2026-03-09-wen", "https://video.example.org/wen",
               "--data", str(data_file)) == 1
    err = capsys.readouterr().err
    assert f"{ledger}:1" in err and "Nothing was written." in err
    assert state(data_file) == before


def test_a_ledger_that_cannot_be_written_stops_the_edit(data_file, monkeypatch, capsys):
    """A full disk (ENOSPC) while the ledger is written: the data file is
    left as it was and the command fails."""
    revisions.update_ledger(ledger_path(data_file), load_schedule(data_file), NOW)
    before = state(data_file)
    real = revisions.write_atomically

    def full(path, text, *args, **kwargs):
        if Path(path) == ledger_path(data_file):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, text, *args, **kwargs)

    monkeypatch.setattr(revisions, "write_atomically", full)
    for argv in (("recording", "2026-03-09-wen", "https://video.example.org/wen"),
                 ("cancel", "2026-06-08-seleznova"),
                 ("add", "--title", "By hand", "--speaker", "A B", "--date", "2026-07-06")):
        assert run(*argv, "--data", str(data_file)) == 1
        err = capsys.readouterr().err
        assert "No space left on device" in err and "Nothing was written." in err
        assert state(data_file) == before


def test_a_paper_answer_of_the_wrong_shape_writes_nothing(data_file, monkeypatch, capsys):
    """A title given as an object is refused, never written as "{'x': 1}" (attack run D27)."""
    before = state(data_file)
    body = crossref_work(title={"x": 1}, author=[{"given": "Ada", "family": "Lovelace"}])
    with hostile_api(lambda handler: send(handler, 200, body)) as (env, _):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        code = run("add", "--paper", "10.5555/12345678", "--speaker", "Ada Lovelace",
                   "--date", "2026-12-14", "--data", str(data_file))
    assert code != 0 and state(data_file) == before
    error = capsys.readouterr().err
    assert "wrong shape: its title is an object" in error and "{'x'" not in error
