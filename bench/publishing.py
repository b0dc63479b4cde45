"""Publishing at scale (run by hand): cold builds and edits as the server
makes them.

1. Cold builds: per size, a fresh builder process (the server's, with no
   build before it) over an empty state folder: wall time, CPU time and peak
   memory (the process's maximum RSS), beside the baseline of a process that
   only imports the builder, in the same run. Linear means a flat cost per
   added talk.
2. Edit to served: per size, gunicorn with the project's gunicorn.conf.py
   (2 workers, the default check interval) over an empty state folder. The
   start until /calendar.ics answers 200 is the cold start (the first build
   included); then one talk's title is changed (the file replaced at once)
   --edits times, and the time until the talk's page carries the new title is
   taken (with --idle, each edit waits until the builder has finished
   preparing the next build's tree instead). Every request opens a new connection and each worker follows
   `current` on every request, so once one answer has the new bytes every
   worker serves them. The ratio is edit ÷ cold start, both from the same
   server. The builder that stays (it keeps the rendered work) is measured
   for peak and resident memory after the edits.

The data is bench/synthetic.py's, dated around the moment of the run so
that the last 50 talks are upcoming: the same shape on any day.

    python bench/publishing.py                                   # the README's sizes
    python bench/publishing.py --cold 100 300 --edit 100 --edits 1   # a quick smoke run

Everything runs on 127.0.0.1 in a temporary directory."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE), str(ROOT / "tests")]

from feeds.data.recorded import record  # noqa: E402
from feeds.publish.builder import BuildJob  # noqa: E402
from feeds.publish.builder_process import BUILDER_COMMAND  # noqa: E402

import synthetic  # noqa: E402
from helpers import free_port  # noqa: E402

SITE_URL = "https://talks.example.org"
COLD_SIZES = (1000, 5000, 10000, 20000)
EDIT_SIZES = (3000, 5000, 20000)


def data_file(folder: Path, size: int, now: datetime) -> Path:
    """The synthetic data, dated around `now`, with its ledger recorded (as
    `feeds validate` would before a deploy)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = synthetic.write(folder / "talks.yaml", size, now=now)
    assert record(path, now).schedule is not None
    return path


def timed(command: list[str]) -> tuple[float, float, float]:
    """Wall s, CPU s (user + system) and peak RSS MB of one process (its
    VmHWM, read every 20 ms: the rusage figure would count the copy of this
    benchmark's own memory that the process starts as)."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0.0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        try:
            text = Path(f"/proc/{proc.pid}/status").read_text()
            peak = max(peak, int(text.split("VmHWM:")[1].split()[0]) / 1024)
        except (OSError, IndexError):
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else proc.returncode
    return wall, usage.ru_utime + usage.ru_stime, peak


def cold_builds(tmp: Path, sizes: list[int], now: datetime, rounds: int) -> list[dict[str, float]]:
    baseline = [sys.executable, "-c", "import feeds.publish.builder_process"]
    rows = []
    for size in sizes:
        data = data_file(tmp / f"cold{size}", size, now)
        runs, bases = [], []
        for r in range(rounds):
            state = tmp / f"cold{size}" / f"state{r}"
            job = BuildJob(str(data), str(state), SITE_URL, 100, 3600, 3, 600.0, 0.0)
            bases.append(timed(baseline))
            runs.append(timed([*BUILDER_COMMAND, json.dumps(asdict(job))]))
            files = sum(1 for p in (state / "current" / "site").rglob("*") if p.is_file())
            subprocess.run(["rm", "-rf", str(state)], check=True)
        best = min(runs)
        rows.append({"talks": size, "wall": best[0], "cpu": best[1],
                     "rss": max(r[2] for r in runs), "import": min(bases)[0],
                     "import_rss": max(b[2] for b in bases), "files": files})
    return rows


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait(predicate, limit: float, proc: subprocess.Popen[bytes]) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    while True:
        try:
            if predicate():
                return time.perf_counter() - start
        except OSError:
            pass
        assert proc.poll() is None, "gunicorn stopped"
        assert time.perf_counter() - start < limit, "timed out"
        time.sleep(0.02)


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def builder_pid(master: int) -> int | None:
    """The staying builder (a process below gunicorn's master), if there is one."""
    for pid in descendants(master):
        try:
            if b"feeds.publish.builder" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return None


def builder_memory(master: int) -> tuple[float, float]:
    """The staying builder's peak and current RSS MB (0, 0 if none)."""
    pid = builder_pid(master)
    if pid is None:
        return 0.0, 0.0
    status = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(status["VmHWM"].split()[0]) / 1024, int(status["VmRSS"].split()[0]) / 1024


def wait_until_idle(master: int, quiet: float = 0.5, limit: float = 120) -> None:
    """Until the staying builder's CPU time (user and system: its links
    and folders count) has not moved for `quiet` seconds."""
    pid = builder_pid(master)
    if pid is None:
        return
    ticks = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    deadline = time.monotonic() + limit
    last, since = cpu(), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        time.sleep(0.05)
        now = cpu()
        if now != last:
            last, since = now, time.monotonic()


@dataclass(frozen=True)
class EditCase:
    """What one edit-to-served run serves and edits."""

    name: str
    talks: int
    #: The data file, or a hub's folder.
    data: Path
    #: Writes edit number n (2, 3, ...) at once; returns the text the page will show.
    edit: Callable[[int], str]
    #: The edited talk's page.
    page: str


def series_case(tmp: Path, size: int, now: datetime) -> EditCase:
    folder = tmp / f"edit{size}"
    data = data_file(folder, size, now)
    edited = size - 10  # an upcoming talk

    def edit(n: int) -> str:
        replace_file(data, synthetic.data_text(size, edited, n, now))
        return f"(revision {n})"
    return EditCase(f"{size:,}", size, data, edit, f"/talks/{synthetic.talk_id(edited, size, now)}/")


def hub_case(tmp: Path, series: int, talks: int, now: datetime) -> EditCase:
    """bench/hub.py's hub; one talk of its middle series edited."""
    import hub as hub_bench  # bench/hub.py

    folder = hub_bench.write_hub(tmp / f"hub{series}x{talks}", series, talks)
    for path in sorted((folder / "series").glob("*.yaml")):
        assert record(path, now).schedule is not None
    n = series // 2
    path = folder / "series" / f"s{n:03d}.yaml"
    edited = talks // 3
    talk = re.findall(r"^  - id: (\S+)$", path.read_text(), re.M)[edited]

    def edit(revision: int) -> str:
        replace_file(path, hub_bench.series_text(n, talks, edited=edited, revision=revision))
        return f"(revision {revision})"
    return EditCase(f"hub: {series} × {talks:,}", series * talks, folder, edit, f"/s{n:03d}/talks/{talk}/")


def replace_file(path: Path, text: str) -> None:
    staged = path.with_name(path.name + ".new")
    staged.write_text(text, encoding="utf-8")
    os.replace(staged, path)


def edit_to_served(tmp: Path, case: EditCase, edits: int, idle: bool = False) -> dict[str, Any]:
    port = free_port()
    # A longer time limit than the default 60 s: on a loaded machine the
    # first build at 20 000 talks may need it (the cold builds above say).
    env = {**os.environ, "FEEDS_TALKS_FILE": str(case.data),
           "FEEDS_STATE_DIR": str(tmp / f"state-{case.data.name}"),
           "FEEDS_SITE_URL": SITE_URL, "FEEDS_BUILD_TIMEOUT": "300"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                             "--bind", f"127.0.0.1:{port}", "--workers", "2",
                             "--access-logfile", "/dev/null", "wsgi:app"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait(lambda: get(base + case.page)[0] == 200, 600, proc)
        cold = time.perf_counter() - start
        times = []
        for n in range(edits):
            if idle:
                wait_until_idle(proc.pid)
            shown = case.edit(n + 2)
            edit_start = time.perf_counter()
            wait(lambda t=shown: t.encode() in get(base + case.page)[1], 600, proc)
            times.append(time.perf_counter() - edit_start)
            time.sleep(1.0)
        peak, rss = builder_memory(proc.pid)
    finally:
        below = descendants(proc.pid)
        proc.terminate()
        proc.wait(timeout=60)
        # The builder ends with its worker; wait for it before the folder goes.
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in below) and time.monotonic() < deadline:
            time.sleep(0.05)
    return {"name": case.name, "talks": case.talks, "cold": cold, "edit": statistics.median(times),
            "edit_min": min(times), "edit_max": max(times), "peak": peak, "rss": rss}


def report(cold: list[dict[str, float]], edits: list[dict[str, Any]], load: str) -> str:
    lines = [f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
             f"{platform.python_version()}; load average {load}", ""]
    if cold:
        lines += ["| talks | cold build s | CPU s | ms per talk | marginal ms per added talk "
                  "| peak RSS MB | KB per talk | import alone s / MB | build ÷ import | files |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        previous = None
        for row in cold:
            marginal = "–" if previous is None else \
                f"{(row['wall'] - previous['wall']) / (row['talks'] - previous['talks']) * 1000:.2f}"
            per_kb = (row["rss"] - row["import_rss"]) * 1024 / row["talks"]
            lines.append(f"| {row['talks']:,} | {row['wall']:.2f} | {row['cpu']:.2f} | "
                         f"{row['wall'] / row['talks'] * 1000:.2f} | {marginal} | {row['rss']:.0f} | "
                         f"{per_kb:.0f} | {row['import']:.2f} / {row['import_rss']:.0f} | "
                         f"{row['wall'] / row['import']:.0f} | {row['files']:,} |")
            previous = row
        lines.append("")
    if edits:
        lines += ["| talks | cold start s (first build) | edit → served s med (min–max) "
                  "| edit ÷ cold start | builder peak RSS MB | builder RSS after MB |",
                  "| ---: | ---: | ---: | ---: | ---: | ---: |"]
        for row in edits:
            lines.append(f"| {row['name']} | {row['cold']:.2f} | {row['edit']:.2f} "
                         f"({row['edit_min']:.2f}–{row['edit_max']:.2f}) | "
                         f"{row['edit'] / row['cold']:.2f} | {row['peak']:.0f} | {row['rss']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", type=int, nargs="*", default=list(COLD_SIZES))
    parser.add_argument("--edit", type=int, nargs="*", default=list(EDIT_SIZES))
    parser.add_argument("--edits", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1, help="cold builds per size (best)")
    parser.add_argument("--hub", type=int, nargs=2, metavar=("SERIES", "TALKS"),
                        help="also edit one talk of a hub of SERIES series of TALKS talks "
                             "(bench/hub.py's)")
    parser.add_argument("--idle", action="store_true",
                        help="each edit waits until the builder is idle (its CPU time still "
                             "for 0.5 s), instead of coming 1 s after the last one was served")
    args = parser.parse_args(argv)
    now = datetime.now(timezone.utc)
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        cold = cold_builds(tmp, args.cold, now, args.rounds)
        loads.append(os.getloadavg()[0])
        cases = [series_case(tmp, size, now) for size in args.edit]
        if args.hub:
            cases.append(hub_case(tmp, *args.hub, now))
        edits = [edit_to_served(tmp, case, args.edits, args.idle) for case in cases]
        loads.append(os.getloadavg()[0])
    print(report(cold, edits, f"{min(loads):.1f}–{max(loads):.1f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
