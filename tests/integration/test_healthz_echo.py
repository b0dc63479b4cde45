"""/healthz is public: its errors name the data file, the line and the kind
of mistake, never what is written there (attack run D31: a data file linked
to /etc/shadow was listed line by line as "unknown key 'root:*:…'"). The
detailed messages stay on the terminal (`feeds validate`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ROOT

MARK = "S3CRETx9"  # stands for private text that must never reach /healthz
SHADOW = (f"root:$6${MARK}rootHash:20228:0:99999:7:::\n"
          f"daemon:*:{MARK}:0:99999:7:::\n"
          f"ada:$y${MARK}adaHash:20228:0:99999:7:::\n")


def replace_in_seed(data_file: Path, old: str, new: str) -> None:
    text = data_file.read_text(encoding="utf-8")
    assert old in text
    data_file.write_text(text.replace(old, new, 1), encoding="utf-8")


def degraded(client) -> dict:
    """/healthz once the edit was looked at (inline builds wait out a fresh write)."""
    deadline = time.monotonic() + 20
    while True:
        health = client.get("/healthz").json
        if health["status"] == "degraded":
            return health
        assert time.monotonic() < deadline, health
        time.sleep(0.1)


def test_a_data_file_linked_to_a_private_file_is_not_echoed(make_app, data_file, tmp_path):
    client = make_app().test_client()
    assert client.get("/healthz").json["status"] == "ok"
    shadow = tmp_path / "shadow"
    shadow.write_text(SHADOW, encoding="utf-8")
    data_file.unlink()
    data_file.symlink_to(shadow)
    health = degraded(client)
    public = json.dumps(health)
    assert MARK not in public and "root:" not in public and "daemon" not in public
    assert "Hash" not in public and "99999" not in public
    for line in (1, 2, 3):
        assert any(error.startswith(f"{data_file}:{line}:") for error in health["errors"]), health
    # the organiser still gets every detail on the terminal
    result = subprocess.run([sys.executable, "-m", "feeds", "validate", str(data_file)],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 1 and f"root:$6${MARK}" in result.stdout + result.stderr


@pytest.mark.parametrize("old, new, line", [
    ("title: Efficient ML Reading Group", f"title: Efficient ML Reading Group\n  {MARK}: x", 7),
    ("timezone: Europe/Berlin", f"timezone: Europe/{MARK}", 15),
    ("contact: efficientml@gmail.com", f"contact: {MARK}?x@example.org", 11),
    ("  - id: 2026-06-08-seleznova\n    date: 2026-06-08",
     f"  - id: 2026-06-08-seleznova\n    date: 2026-{MARK}", 28),
    ("  - id: 2026-06-08-seleznova", f"  - id: 2026/{MARK}", 27),
    ("    title: Revisiting Glorot", f"    status: {MARK}\n    title: Revisiting Glorot", 29),
    ("    title: Revisiting Glorot", f"    recording: javascript:{MARK}\n    title: Revisiting Glorot",
     29),
    ("  time: \"17:00\"", f"  time: \"{MARK}\"", 16),
    ("  duration: 60", f"  duration: {MARK}", 17),
    ("  location: Online", f"  location: [\"{MARK}\"", 0),  # YAML finds it later
    ("  location: Online", f"  location: \"{MARK}\tx\\u0001\"", 18),
])
def test_no_kind_of_mistake_echoes_the_file(make_app, data_file, old, new, line):
    client = make_app().test_client()
    assert client.get("/healthz").json["status"] == "ok"
    replace_in_seed(data_file, old, new)
    health = degraded(client)
    assert MARK not in json.dumps(health), health["errors"]
    where = f"{data_file}:{line}:" if line else f"{data_file}:"
    assert any(error.startswith(where) for error in health["errors"]), health
    assert all(len(error) < 300 for error in health["errors"])


def test_a_file_that_is_not_utf8_is_named_without_its_bytes(make_app, data_file):
    client = make_app().test_client()
    assert client.get("/healthz").json["status"] == "ok"
    data_file.write_bytes(data_file.read_bytes() + f"# {MARK} \xff\n".encode("latin-1"))
    health = degraded(client)
    assert MARK not in json.dumps(health)
    assert any(str(data_file) in error and "UTF-8" in error for error in health["errors"])
