"""Smoke runs of the benchmarks in bench/: tiny sizes and a second per
route. They check that the scripts work and what they verify on the way
(rebuilds identical to cold builds, every route answering as expected under
load), never how fast anything is."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from helpers import ROOT

pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_scaling_smoke():
    done = run("bench/scaling.py", "--sizes", "12", "30", "--repeat", "1")
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith(("| 12 |", "| 30 |"))]
    assert len(rows) == 6  # three tables, two sizes
    assert all("| yes |" in row for row in rows[:2])  # rebuilt bytes equal cold-built ones
    assert "Machine:" in done.stdout


def test_publishing_smoke():
    done = run("bench/publishing.py", "--cold", "30", "60", "--edit", "30", "--edits", "1",
               "--hub", "2", "10", "--idle")
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines()
            if line.startswith(("| 30 |", "| 60 |", "| hub: 2 × 10 |"))]
    assert len(rows) == 4  # two cold builds, one edit of a file, one of a hub
    for row in rows[2:]:
        ratio = float(row.split("|")[4])
        assert 0 < ratio < 2  # the edit was served (its ratio is measured, never asserted here)
    assert "Machine:" in done.stdout


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk (apt-get install wrk)")
def test_throughput_smoke():
    done = run("bench/throughput.py", "--rounds", "1", "--duration", "1", "--connections", "2",
               "--workers", "2")
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    names = [row.split("|")[1].strip() for row in rows[1:]]
    assert names == ["trivial (ceiling)", "/calendar.ics", "/rss.xml", "/", "304 /calendar.ics"]
    assert all(row.rstrip(" |").endswith("| 0") for row in rows[1:]), rows  # no errors


def test_serving_smoke():
    """feeds, the minimal app and nginx over one build; every load answered
    as expected before it is measured (the script checks), no errors."""
    done = run("bench/serving.py", "--rounds", "1", "--duration", "1", "--connections", "2")
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    routes = [row.split("|")[1].strip() for row in rows[1:6]]
    assert routes == ["/calendar.ics", "/", "/ gzip", "304 /calendar.ics", "304 small file"]
    assert "errors (non-2xx/3xx, socket): 0" in done.stdout
