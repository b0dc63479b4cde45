"""Published builds (run by hand): per size, a worker's time from start to
first response and its resident memory; /calendar.ics against a minimal
Flask app under the same gunicorn config; and slow clients.

    python bench/published.py                      # 12, 1000 and 10000 talks
    python bench/published.py --sizes 12 1000 --duration 3

Everything runs on 127.0.0.1 in a temporary directory. Needs wrk."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE), str(ROOT / "tests")]

import throughput  # noqa: E402
from test_published import slow_clients  # noqa: E402

from feeds.publish.builder import BuildJob  # noqa: E402
from feeds.publish.builder_process import BUILDER_COMMAND  # noqa: E402
from feeds.publish.builds import PublishedBuild  # noqa: E402
from feeds.publish.snapshot import BuildOptions  # noqa: E402
from feeds.server.publisher import state_dir  # noqa: E402
from feeds.urls import Site  # noqa: E402

import synthetic  # noqa: E402
from helpers import free_port  # noqa: E402


def data_file(folder: Path, size: int) -> Path:
    folder.mkdir(parents=True)
    # Dated around now (the server's clock): the same shape on any day.
    return synthetic.write(folder / "talks.yaml", size, now=datetime.now(timezone.utc))


SITE_URL = "https://talks.example.org"


def served_state(data: Path, state: Path) -> Path:
    """The folder a server with FEEDS_STATE_DIR=`state` serves `data` from."""
    return state_dir(str(state), "", data, BuildOptions(Site(SITE_URL)), 3600)


def build(data: Path, state: Path) -> float:
    """Build `data` where a server with FEEDS_STATE_DIR=`state` looks for it."""
    job = BuildJob(str(data), str(served_state(data, state)), SITE_URL, 100, 3600, 3, 600.0, 0.0)
    start = time.perf_counter()
    subprocess.run([*BUILDER_COMMAND,
                    json.dumps(asdict(job))], check=True, capture_output=True)
    return time.perf_counter() - start


def gunicorn(app: str, env: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                             "--bind", f"127.0.0.1:{port}", "--access-logfile", "/dev/null", *args,
                             app], cwd=HERE if app.startswith("minimal") else ROOT,
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}"


def first_answer(base: str, proc: subprocess.Popen[bytes], path: str = "/calendar.ics") -> float:
    start = time.perf_counter()
    while True:
        try:
            with urllib.request.urlopen(base + path, timeout=2) as response:
                response.read()
                return time.perf_counter() - start
        except OSError:
            assert proc.poll() is None and time.perf_counter() - start < 60
            time.sleep(0.01)


def worker_rss(proc: subprocess.Popen[bytes]) -> float:
    pids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    text = Path(f"/proc/{pids[0]}/status").read_text()
    return int(next(line for line in text.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[12, 1000, 10000])
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print("| talks | build s | start -> first response s | RSS per worker MB |")
        for size in args.sizes:
            data = data_file(Path(tmp) / f"t{size}", size)
            state = data.parent / "state"
            built = build(data, state)
            env = {"FEEDS_TALKS_FILE": str(data), "FEEDS_STATE_DIR": str(state),
                   "FEEDS_SITE_URL": "https://talks.example.org"}
            proc, base = gunicorn("wsgi:app", env, "--workers", "1")
            started = first_answer(base, proc)
            routes = PublishedBuild(served_state(data, state) / "current").routes
            for route in list(routes)[:3000]:
                urllib.request.urlopen(base + route, timeout=10).read()
            print(f"| {size} | {built:.1f} | {started:.2f} | {worker_rss(proc):.0f} |")
            stop(proc)
        # Throughput: the seed-sized file against the minimal app, same config, same run.
        data = data_file(Path(tmp) / "tp", 12)
        state = data.parent / "state"
        build(data, state)
        body = served_state(data, state) / "current" / "site" / "calendar.ics"
        env = {"FEEDS_TALKS_FILE": str(data), "FEEDS_STATE_DIR": str(state), "BENCH_BODY": str(body)}
        results = {}
        for name, app in (("minimal Flask app", "minimal_app:app"), ("feeds", "wsgi:app")) * 2:
            proc, base = gunicorn(app, env)
            first_answer(base, proc)
            load = throughput.Load(name, "/calendar.ics")
            ns = argparse.Namespace(threads=1, connections=64, duration=args.duration)
            results.setdefault(name, []).append(throughput.run_wrk(base, load, ns))
            stop(proc)
        best = {name: max(runs, key=lambda r: r.rps) for name, runs in results.items()}
        ceiling = best["minimal Flask app"]
        print("\n| app | requests/s | ÷ minimal | p99 ms (64 connections) |")
        for name, r in best.items():
            print(f"| {name} | {r.rps:,.0f} | {r.rps / ceiling.rps:.2f} | {r.p99 * 1000:.1f} |")
        print("\n| worker class | slow clients | mode | probes | max probe s |")
        for worker in ("sync", "gthread", "gevent"):
            for mode in ("headers", "read"):
                proc, base = gunicorn("wsgi:app", env, "--worker-class", worker)
                first_answer(base, proc)
                try:
                    probes = slow_clients(base, 500, mode, 4.0)
                    print(f"| {worker} | 500 | {mode} | {len(probes)} | {max(probes):.3f} |")
                except Exception as exc:
                    print(f"| {worker} | 500 | {mode} | failed | {type(exc).__name__} |")
                stop(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
