"""A smoke run of bench/hub.py at toy size: the script works and what it
checks on the way holds (every build without errors, the edit published as
a new build, the combined calendar under 1 MB); never how fast anything is."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from helpers import ROOT

pytestmark = pytest.mark.slow


def test_hub_bench_smoke():
    done = subprocess.run([sys.executable, "bench/hub.py", "--series", "3", "--talks", "12"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Hub: 3 series x 12 talks = 36 talks" in done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 6  # the header and five measurements
    size = re.search(r"Combined /calendar.ics: \d+ KiB \(([\d.]+) MB", done.stdout)
    assert size is not None and float(size.group(1)) < 1.0
