"""Throughput of the production server (run by hand, not by pytest).

Starts gunicorn with the repository's gunicorn.conf.py on 127.0.0.1, then
loads it with wrk, bounded in time and connections, on each route in turn:
a trivial route of the same app (the ceiling), /calendar.ics, /rss.xml, /
and a 304 revalidation of /calendar.ics, in --rounds rounds, so that drift
in the machine's load hits every route alike. Prints the median requests
per second and p99 latency of each, each as a ratio to the ceiling's.

    python bench/throughput.py                     # the seed data, 7 rounds of 3 s per route
    python bench/throughput.py --talks 1000        # a synthetic file of 1000 talks
    python bench/throughput.py --rounds 1 --duration 1 --connections 2   # a smoke run

The data file is copied to a temporary directory: the run never touches
data/ or its ledger. Needs wrk (Debian package `wrk`)."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE), str(ROOT / "tests")]

import synthetic  # noqa: E402
from helpers import gunicorn  # noqa: E402  (the one gunicorn launcher of tests and benchmarks)

TRIVIAL = "/_bench/trivial"  # added by bench/benchapp.py
TARGET = 0.9  # every feed at 0.9 or more of the trivial route's requests per second
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass(frozen=True)
class Load:
    name: str
    path: str
    headers: tuple[str, ...] = ()
    status: int = 200


@dataclass(frozen=True)
class Result:
    load: Load
    rps: float
    p99: float  # seconds
    requests: int
    errors: int  # non-2xx/3xx responses and socket errors


def median(results: list[Result]) -> Result:
    """The median figures of several runs of one load, errors summed."""
    return Result(results[0].load, statistics.median(r.rps for r in results),
                  statistics.median(r.p99 for r in results),
                  sum(r.requests for r in results), sum(r.errors for r in results))


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def parse_wrk(output: str) -> tuple[float, float, int, int]:
    """(requests/s, p99 seconds, requests, errors) from `wrk --latency`."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M).groups()  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:Non-2xx or 3xx responses|connect|read|write|timeout)"
                                            r"[: ]\s*(\d+)", output))
    return rps, float(value) * UNITS[unit], requests, errors


def run_wrk(base: str, load: Load, args: argparse.Namespace) -> Result:
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
               "--timeout", "5s", "--latency"]
    for header in load.headers:
        command += ["-H", header]
    done = subprocess.run(command + [base + load.path], capture_output=True, text=True,
                          timeout=args.duration + 60, check=True)
    rps, p99, requests, errors = parse_wrk(done.stdout)
    return Result(load, rps, p99, requests, errors)


def loads(base: str) -> list[Load]:
    """The routes, each checked once before it is measured."""
    status, headers, _ = fetch(base + "/calendar.ics")
    etag = headers["ETag"]
    result = [Load("trivial (ceiling)", TRIVIAL), Load("/calendar.ics", "/calendar.ics"),
              Load("/rss.xml", "/rss.xml"), Load("/", "/"),
              Load("304 /calendar.ics", "/calendar.ics", (f"If-None-Match: {etag}",), 304)]
    for load in result:
        answer = fetch(base + load.path, dict(h.split(": ", 1) for h in load.headers))[0]
        if answer != load.status:
            raise RuntimeError(f"{load.name}: expected {load.status}, got {answer}")
    return result


def report(results: list[Result], args: argparse.Namespace, talks: str,
           load: tuple[float, ...]) -> str:
    ceiling = results[0]
    ceiling_rps, ceiling_p99 = ceiling.rps, ceiling.p99
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?")
    lines = [f"{talks}; gunicorn.conf.py ({args.workers or 'its default'} workers); wrk "
             f"-t{args.threads} -c{args.connections} -d{args.duration}s, median of {args.rounds} "
             f"rounds; {os.cpu_count()} CPUs "
             f"({cpu}), Python {sys.version.split()[0]}", "",
             "| route | requests/s | ÷ ceiling | p99 ms | ÷ ceiling | errors |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r.load.name} | {r.rps:,.0f} | {r.rps / ceiling_rps:.2f} | "
                     f"{r.p99 * 1000:.2f} | {r.p99 / ceiling_p99:.2f} | {r.errors} |")
    below = [r.load.name for r in results
             if r.load.path != TRIVIAL and r.rps / ceiling_rps < TARGET]
    lines += ["", f"1-minute load average before the run: {load[0]:.2f} (other work on the "
              "machine skews every figure)",
              f"target: every route ≥ {TARGET} of the ceiling's requests/s — "
              + ("met" if not below else "NOT met: " + ", ".join(below))]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per route and round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (wrk shares the CPUs)")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: the config's)")
    parser.add_argument("--talks", type=int, help="a synthetic data file of this many talks "
                                                  "(default: data/talks.yaml)")
    args = parser.parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="feeds-throughput-") as tmp:
        data = Path(tmp) / "talks.yaml"
        if args.talks:
            # Dated around now (the server's clock): the same shape on any day.
            synthetic.write(data, args.talks, now=datetime.now(timezone.utc))
            talks = f"{args.talks} synthetic talks"
        else:
            shutil.copy(ROOT / "data" / "talks.yaml", data)
            talks = "data/talks.yaml"
        workers = ["--workers", str(args.workers)] if args.workers else []
        # The access log stays on (as in production) but goes to a file.
        with gunicorn(data, Path(tmp) / "gunicorn.log", *workers, app="benchapp:app") as (base, _):
            plan = loads(base)
            runs = [[run_wrk(base, load, args) for load in plan] for _ in range(args.rounds)]
            results = [median([round_[i] for round_ in runs]) for i in range(len(plan))]
    print(report(results, args, talks, (before,)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
