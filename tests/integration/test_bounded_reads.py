"""Every reader of the data file and of the secrets file looks before it
reads (attack run D24, D30): a file over the limit is refused without being
read, a symbolic link to /dev/zero or a named pipe is refused at once, and
`feeds serve` keeps answering (and picks up the next good edit) meanwhile.

The readers run in child processes with a memory cap and a timeout, so that
a reader that does not look first fails the test instead of the machine."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import ROOT, SEED_DATA

#: The child's address-space cap: far below what reading 2 GB would need.
MEMORY_CAP = 1024 * 1024 * 1024
HUGE = 2 * 1024 * 1024 * 1024  # a sparse file: no disk space used


def run_reader(code: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run `code` (argv: args) in a child with MEMORY_CAP; stdout is its result."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))

    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, preexec_fn=cap, cwd=ROOT)


LOAD = """
import sys
from feeds.data.loader import load_schedule
from feeds.data.yaml_reader import InvalidData
try:
    load_schedule(sys.argv[1])
    print("loaded")
except InvalidData as exc:
    print(exc)
except MemoryError:
    print("MemoryError")
# VmHWM: this program's own peak (ru_maxrss would carry the forking test
# worker's size across exec).
peak = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(int(peak.split()[1]) // 1024, "MB")
"""

SECRETS = """
import sys
from feeds.data.secrets_file import load_secrets
from feeds.data.yaml_reader import InvalidData
try:
    load_secrets(sys.argv[1])
    print("loaded")
except InvalidData as exc:
    print(exc)
except MemoryError:
    print("MemoryError")
"""

EDIT = """
import sys
from feeds.commands.cli import main
sys.exit(main(["cancel", "2026-04-13-fischer", "--data", sys.argv[1]]))
"""


@pytest.fixture
def huge(tmp_path: Path) -> Path:
    path = tmp_path / "talks.yaml"
    with open(path, "wb") as handle:
        handle.truncate(HUGE)
    return path


@pytest.fixture
def zero(tmp_path: Path) -> Path:
    path = tmp_path / "talks.yaml"
    path.symlink_to("/dev/zero")
    return path


@pytest.fixture
def fifo(tmp_path: Path):
    path = tmp_path / "talks.yaml"
    os.mkfifo(path)
    yield path
    release(path)


def release(path: Path) -> None:
    """Open the pipe's other end, so that a reader stuck on it ends."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return  # nobody is reading it
    os.close(fd)


def test_a_data_file_over_the_limit_is_refused_before_reading(huge):
    result = run_reader(LOAD, str(huge))
    message, peak = result.stdout.splitlines()
    assert f"{huge}: the file is larger than 32 MB" in message
    assert "split off the archive" in message
    assert int(peak.split()[0]) < 200, peak  # the file is 2 GB


def test_a_data_file_linked_to_dev_zero_is_refused_at_once(zero):
    started = time.monotonic()
    result = run_reader(LOAD, str(zero))
    message, peak = result.stdout.splitlines()
    assert message == f"{zero}: cannot read the file: it is a character device, not a " \
                      "regular file; give the path of the file itself"
    assert int(peak.split()[0]) < 200 and time.monotonic() - started < 20


def test_a_data_file_that_is_a_pipe_is_refused_without_waiting(fifo):
    try:
        result = run_reader(LOAD, str(fifo), timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("the loader waited on the named pipe")
    assert result.stdout.splitlines()[0] == (
        f"{fifo}: cannot read the file: it is a named pipe (FIFO), not a regular file; "
        "give the path of the file itself")


@pytest.mark.parametrize("kind", ["huge", "zero", "fifo"])
def test_organiser_commands_refuse_such_a_file(request, kind):
    path = request.getfixturevalue(kind)
    try:
        result = run_reader(EDIT, str(path), timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("the command waited on the file")
    assert result.returncode == 1, result.stderr
    expected = {"huge": "is larger than 32 MB", "zero": "it is a character device",
                "fifo": "it is a named pipe (FIFO)"}[kind]
    assert expected in result.stderr and "Nothing was written." in result.stderr
    assert "MemoryError" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["huge", "zero", "fifo"])
def test_the_secrets_file_is_refused_the_same_way(request, kind):
    path = request.getfixturevalue(kind)
    try:
        result = run_reader(SECRETS, str(path), timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("the secrets reader waited on the file")
    expected = {"huge": "the file is larger than 1 MB", "zero": "it is a character device",
                "fifo": "it is a named pipe (FIFO)"}[kind]
    assert result.stdout.startswith(f"{path}: ") and expected in result.stdout, result.stdout


def test_feeds_serve_keeps_answering_while_the_data_file_is_a_pipe(make_app, data_file):
    """Inline builds (`feeds serve`) run in the request: a pipe must not stop
    them, and the next regular file is published."""
    client = make_app().test_client()
    assert client.get("/healthz").json["status"] == "ok"
    good = data_file.read_text(encoding="utf-8")
    data_file.unlink()
    os.mkfifo(data_file)
    answers: list[object] = []
    worker = threading.Thread(target=lambda: answers.append(client.get("/healthz")), daemon=True)
    try:
        worker.start()
        worker.join(20)
        assert answers, "the request waited on the named pipe"
    finally:
        release(data_file)
        worker.join(5)
    health = answers[0].json
    assert health["status"] == "degraded"
    assert any("not a regular file" in error for error in health["errors"]), health
    assert client.get("/calendar.ics").status_code == 200  # the last good build
    data_file.unlink()
    edited = data_file.with_name("edited.yaml")
    edited.write_text(good.replace("Efficient ML Reading Group", "Edited Reading Group", 1),
                      encoding="utf-8")
    edited.replace(data_file)
    deadline = time.monotonic() + 20
    while b"Edited Reading Group" not in client.get("/").data:
        assert time.monotonic() < deadline, "the next good edit was never published"
        time.sleep(0.1)
    assert client.get("/healthz").json["status"] == "ok"


def test_a_regular_file_within_the_limit_still_loads(tmp_path):
    copy = tmp_path / "talks.yaml"
    shutil.copy(SEED_DATA, copy)
    link = tmp_path / "link.yaml"
    link.symlink_to(copy)
    for path in (copy, link):
        assert run_reader(LOAD, str(path)).stdout.startswith("loaded")


def test_an_abstract_file_is_read_up_to_the_limit_only(tmp_path, zero):
    data = tmp_path / "data.yaml"
    shutil.copy(SEED_DATA, data)
    add = """
import sys
from feeds.commands.cli import main
sys.exit(main(["add", "--title", "T", "--speaker", "A B", "--date", "2026-12-14",
               "--abstract-file", sys.argv[1], "--data", sys.argv[2]]))
"""
    before = data.read_bytes()
    result = run_reader(add, str(zero), str(data))
    assert result.returncode == 1 and "is larger than 32 MB" in result.stderr, result.stderr
    assert data.read_bytes() == before
