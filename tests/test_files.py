"""File utilities: one look per interval, atomic writes that keep what the
owner set, and whole-directory swaps."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from feeds import files


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_watch_looks_at_most_once_per_interval(tmp_path):
    ticks, looks = Ticks(), []
    watch = files.FileWatch(tmp_path / "f", 1.0, ticks)
    for _ in range(100):
        watch.check(lambda: looks.append(1))
    assert len(looks) == 1
    ticks.now = 0.99
    watch.check(lambda: looks.append(1))
    assert len(looks) == 1
    ticks.now = 1.0
    watch.check(lambda: looks.append(1))
    assert len(looks) == 2
    watch.check(lambda: looks.append(1), force=True)  # forced: now
    assert len(looks) == 3


def test_a_retry_brings_the_next_look_forward(tmp_path):
    ticks, looks = Ticks(), []
    watch = files.FileWatch(tmp_path / "f", 10.0, ticks)
    watch.check(lambda: looks.append(1))
    watch.retry_in(0.25)
    ticks.now = 0.25
    watch.check(lambda: looks.append(1))
    assert len(looks) == 2


def test_no_request_waits_while_another_thread_looks(tmp_path):
    watch = files.FileWatch(tmp_path / "f", 0.0)
    inside, release, skipped = threading.Event(), threading.Event(), []

    def slow() -> None:
        inside.set()
        release.wait(5)

    worker = threading.Thread(target=watch.check, args=(slow,))
    worker.start()
    assert inside.wait(5)
    watch.check(lambda: skipped.append("ran"))  # returns at once: someone is already looking
    release.set()
    worker.join(5)
    assert skipped == []


def test_a_signature_changes_with_each_write_and_is_none_for_a_missing_file(tmp_path):
    path = tmp_path / "f"
    assert files.stat_signature(path) is None
    path.write_text("a")
    first = files.stat_signature(path)
    files.write_atomically(path, "b")
    assert files.stat_signature(path) != first


def test_atomic_writes_keep_mode_and_write_through_links(tmp_path):
    target = tmp_path / "real.yaml"
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    files.write_atomically(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_new_file_gets_the_mode_asked_for(tmp_path):
    files.write_atomically(tmp_path / "secret", "x", new_mode=0o600)
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600


def test_a_refusal_before_the_replace_leaves_the_file_and_no_temporary(tmp_path):
    path = tmp_path / "f"
    path.write_text("old")

    def refuse() -> None:
        raise RuntimeError("changed meanwhile")

    with pytest.raises(RuntimeError):
        files.write_atomically(path, "new", before_replace=refuse)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["f"]


def test_a_directory_is_replaced_whole(tmp_path):
    target = tmp_path / "site"
    target.mkdir()
    (target / "old.html").write_text("old")
    new = files.sibling_directory(target)
    assert new.parent == tmp_path and new.name.startswith(".site.")
    (new / "new.html").write_text("new")
    files.replace_directory(new, target)
    assert sorted(os.listdir(target)) == ["new.html"]
    assert os.listdir(tmp_path) == ["site"]


def test_the_lock_is_shared_by_every_writer(tmp_path):
    path = tmp_path / "ledger.tsv"
    order: list[str] = []

    def second_writer() -> None:
        with files.locked(path):
            order.append("b")

    with files.locked(path):
        worker = threading.Thread(target=second_writer)
        worker.start()
        worker.join(0.3)
        order.append("a")  # the second writer is still waiting
    worker.join(5)
    assert order == ["a", "b"]
