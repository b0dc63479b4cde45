"""Faults: a data file truncated, invalid, removed or unreadable, and a ledger
that cannot be written. In each case the server keeps serving the last good
version, /healthz says what is wrong, and the ledger is never lost or
corrupted.

These tests run as root in CI, and root ignores file permissions: `chmod 000`
does not stop root from reading a file, nor a read-only directory stop it
from writing. So unreadability and an unwritable ledger are simulated in
ways that really fail for root too (a directory where the file should be, or
the failing system call patched to raise the error a permission problem
raises); the real permission variants run only when the tests are not root.
"""

from __future__ import annotations

import itertools
import os
import pathlib
import unittest.mock
from pathlib import Path

import pytest

from feeds import files
from feeds.data import revisions
from feeds.data.revisions import ledger_path, read_ledger

from helpers import NOW, SEED_DATA

OLD_TITLE = "Revisiting Glorot Initialization for Long-Range Linear Recurrences"
_mtimes = itertools.count(1_700_000_000)
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def write(path: Path, text: str) -> None:
    """Write `text` and give the file a new mtime, so that every write is seen."""
    path.write_text(text, encoding="utf-8")
    stamp = next(_mtimes) * 10**9
    os.utime(path, ns=(stamp, stamp))


def edited(data_file: Path, title: str) -> str:
    """The seed data with one talk's title changed."""
    text = SEED_DATA.read_text(encoding="utf-8")
    assert OLD_TITLE in text
    return text.replace(OLD_TITLE, title)


@pytest.fixture
def served(make_app, data_file):
    """(client, every public route's good bytes) of a freshly started app."""
    app = make_app()
    client = app.test_client()
    routes = sorted(app.extensions["feeds"].current().routes)
    good = {path: client.get(path).data for path in routes}
    assert client.get("/healthz").status_code == 200
    return client, good


def assert_serving(client, good: dict[str, bytes]) -> None:
    for path, body in good.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.data == body, path


def degraded(client, *needles: str) -> list[str]:
    response = client.get("/healthz")
    assert response.status_code == 503
    state = response.get_json()
    assert state["status"] == "degraded" and state["talks"] > 0 and state["last_good_load"]
    errors = " ".join(state["errors"])
    for needle in needles:
        assert needle in errors, errors
    return state["errors"]


def healthy(client) -> dict:
    response = client.get("/healthz")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def assert_ledger_whole(data_file: Path, ids: set[str]) -> None:
    path = ledger_path(data_file)
    entries = read_ledger(path)
    assert ids <= set(entries)
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    assert len(lines) == len(entries)  # no damaged line was skipped
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


# --- the data file -----------------------------------------------------------------

def test_a_file_caught_mid_write_keeps_the_last_good_version(served, data_file):
    client, good = served
    full = edited(data_file, "A New Title")
    cut = full.index("date: 20") + len("date: 20")  # stops inside the first date
    with open(data_file, "w", encoding="utf-8") as handle:
        handle.write(full[:cut])
        handle.flush()
        assert_serving(client, good)
        errors = degraded(client, "talks.yaml:")
        assert any(":" in e and e.split(":")[1].isdigit() for e in errors)  # file:line
        handle.write(full[cut:])
    write(data_file, full)
    assert b"A New Title" in client.get("/calendar.ics").data
    assert healthy(client)["errors"] == []


def test_a_truncated_file_keeps_the_last_good_version(served, data_file):
    client, good = served
    text = data_file.read_text(encoding="utf-8")
    for size in (0, 1, len(text) // 3, len(text) - len(text.splitlines()[-1]) // 2 - 20):
        write(data_file, text[:size])
        if size and "talks:" in text[:size]:
            continue  # a cut between two talks is a valid, shorter file
        assert_serving(client, good)
        degraded(client)


@pytest.mark.parametrize("text, needles", [
    ("series: [unclosed\ntalks:\n  - id: x\n", ("not valid YAML", "talks.yaml:")),
    ("", ()), ("\x00\x01binary", ()), ("- a\n- b\n", ()), ("series: x\ntalks: y\n", ()),
    ("\ufeff" * 3, ()), ("a: &a [*a]\n", ())])
def test_invalid_text_keeps_the_last_good_version(served, data_file, text, needles):
    client, good = served
    write(data_file, text)
    assert_serving(client, good)
    degraded(client, *needles)


def test_a_removed_file_keeps_the_last_good_version(served, data_file):
    client, good = served
    original = data_file.read_text(encoding="utf-8")
    data_file.unlink()
    assert_serving(client, good)
    degraded(client, "cannot read the file")
    write(data_file, original)
    assert_serving(client, good)
    assert healthy(client)["errors"] == []


def test_a_directory_in_place_of_the_file_keeps_the_last_good_version(served, data_file):
    client, good = served
    data_file.unlink()
    data_file.mkdir()  # unreadable even for root
    assert_serving(client, good)
    degraded(client, "cannot read the file")


def test_an_unreadable_file_keeps_the_last_good_version(served, data_file, monkeypatch):
    client, good = served
    real = os.open

    def refuse(path, *args, **kwargs):
        if pathlib.Path(path) == data_file:  # what opening a chmod 000 file raises for a non-root user
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    write(data_file, edited(data_file, "Never Seen"))
    assert_serving(client, good)
    degraded(client, "Permission denied")


@pytest.mark.skipif(AS_ROOT, reason="root reads a chmod 000 file anyway")
def test_a_chmod_000_file_keeps_the_last_good_version(served, data_file):
    client, good = served
    write(data_file, edited(data_file, "Never Seen"))
    data_file.chmod(0)
    try:
        assert_serving(client, good)
        degraded(client, "Permission denied")
    finally:
        data_file.chmod(0o644)


def test_non_utf8_bytes_keep_the_last_good_version(served, data_file):
    client, good = served
    data_file.write_bytes(b"series:\n  title: \xff\xfe\n")
    os.utime(data_file, ns=(next(_mtimes) * 10**9,) * 2)
    assert_serving(client, good)
    degraded(client, "UTF-8")


# --- the ledger -------------------------------------------------------------------------

def fail_mkstemp(*args, **kwargs):
    raise PermissionError(13, "Permission denied")  # what a read-only directory raises


def fail_replace(*args, **kwargs):
    raise PermissionError(13, "Permission denied")


def fail_fsync(fd):
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("target, failure", [
    ("tempfile.mkstemp", fail_mkstemp),
    ("os.replace", fail_replace),
    ("os.fsync", fail_fsync),
], ids=["read-only directory", "rename refused", "disk full"])
def test_an_unwritable_ledger_is_never_lost_and_serving_goes_on(served, data_file, monkeypatch,
                                                                 target, failure):
    client, good = served
    ledger = ledger_path(data_file)
    before = ledger.read_bytes()
    ids = set(read_ledger(ledger))
    module, name = target.split(".")
    real = revisions.write_atomically

    def failing(*args, **kwargs):  # only the ledger's write fails, not the state directory's
        with unittest.mock.patch.object(getattr(files, module), name, failure):
            return real(*args, **kwargs)

    monkeypatch.setattr(revisions, "write_atomically", failing)

    write(data_file, edited(data_file, "Edited While Read-Only"))
    assert b"Edited While Read-Only" in client.get("/calendar.ics").data  # the edit is live
    degraded(client, "cannot write the revision ledger", "not recorded")
    assert ledger.read_bytes() == before  # untouched, not truncated
    assert_ledger_whole(data_file, ids)

    monkeypatch.undo()
    write(data_file, edited(data_file, "Edited Again"))
    assert b"Edited Again" in client.get("/calendar.ics").data
    assert healthy(client)["warnings"] == []
    assert ledger.read_bytes() != before
    assert_ledger_whole(data_file, ids)


@pytest.mark.skipif(AS_ROOT, reason="root writes into a read-only directory anyway")
def test_a_read_only_directory(served, data_file):
    client, good = served
    ledger = ledger_path(data_file)
    before = ledger.read_bytes()
    data_file.parent.chmod(0o555)
    try:
        write(data_file, edited(data_file, "Edited While Read-Only"))
        assert b"Edited While Read-Only" in client.get("/calendar.ics").data
        degraded(client, "cannot write the revision ledger")
        assert ledger.read_bytes() == before
    finally:
        data_file.parent.chmod(0o755)


def test_a_ledger_replaced_by_a_directory_does_not_stop_serving(served, data_file):
    client, good = served
    ledger = ledger_path(data_file)
    ledger.unlink()
    ledger.mkdir()
    write(data_file, edited(data_file, "Edited Anyway"))
    assert b"Edited Anyway" in client.get("/calendar.ics").data
    degraded(client, str(ledger))


def test_a_crash_while_writing_the_ledger_leaves_the_old_one(data_file, monkeypatch, tmp_path):
    """An exception of any kind between writing and renaming (a kill, say)
    leaves the previous ledger whole and no temporary file behind."""
    from feeds.data.loader import load_schedule

    schedule = load_schedule(data_file)
    ledger = ledger_path(data_file)
    revisions.update_ledger(ledger, schedule, NOW)
    before = ledger.read_bytes()

    def killed(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "fsync", killed)
    write(data_file, edited(data_file, "Killed Midway"))
    with pytest.raises(KeyboardInterrupt):
        revisions.update_ledger(ledger, load_schedule(data_file), NOW)
    assert ledger.read_bytes() == before
    assert not [p for p in data_file.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_damaged_ledger_line_is_reported_and_never_overwritten(served, data_file):
    client, good = served
    ledger = ledger_path(data_file)
    damaged = ledger.read_text() + "half-written\tline\n"
    ledger.write_text(damaged)
    number = len(damaged.splitlines())
    write(data_file, edited(data_file, "After Damage"))
    assert b"After Damage" in client.get("/calendar.ics").data  # served from memory
    degraded(client, f"{ledger}:{number}:")
    assert ledger.read_text() == damaged  # the operator's evidence is kept
