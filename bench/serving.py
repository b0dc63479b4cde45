"""Serving published builds (issue 22), run by hand, not by pytest.

Throughput: one build, served at once by feeds (gunicorn.conf.py, 2 gevent
workers, with FEEDS_ACCESS_LOG full, buffered and off), by bench/minimal_app.py
under the same config (the same bytes from memory) and by nginx with
deploy/nginx/feeds.conf over the build's files; wrk on each route and server
in turn, the order rotating per round, so each ratio compares figures of the
same round. The 304 of /calendar.ics is set against the 304 of a small
file (a talk's .ics) of the same server.

The access log (--log-lines N): gunicorn's per-request access log call with
each FEEDS_ACCESS_LOG setting, in-process.

Memory (--memory N): N synthetic talks; 64 clients download /archive.ics
at once while the workers' RSS and PSS are sampled every 50 ms: feeds and
nginx. With --before REF, the code of git revision REF is measured too, in
both runs.

    python bench/serving.py --talks 2000 --rounds 3             # throughput, ~5 min
    python bench/serving.py --skip-throughput --log-lines 20000  # the access log's cost
    python bench/serving.py --memory 20000 --before main --skip-throughput

The data is written to a temporary directory; every server is stopped by
its process id. Needs wrk and nginx (Debian packages)."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE), str(ROOT / "tests")]

from throughput import Load, Result, parse_wrk  # noqa: E402

import synthetic  # noqa: E402
from helpers import gunicorn, nginx  # noqa: E402  (the one launcher of each)

GZIP = "Accept-Encoding: gzip"


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), response.read()


def wrk(base: str, load: Load, connections: int, duration: int, threads: int = 1) -> str:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "30s",
               "--latency", *[arg for header in load.headers for arg in ("-H", header)],
               base + load.path]
    return subprocess.run(command, capture_output=True, text=True, timeout=duration + 120,
                          check=True).stdout


def run_wrk(base: str, load: Load, connections: int, duration: int, threads: int = 1) -> Result:
    rps, p99, requests, errors = parse_wrk(wrk(base, load, connections, duration, threads))
    return Result(load, rps, p99, requests, errors)


def transfer_rate(output: str) -> float:
    """MB/s that wrk read, downloads under way included."""
    value, unit = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", output).groups()  # type: ignore[union-attr]
    return float(value) * {"B": 1e-6, "KB": 1024 / 1e6, "MB": 2**20 / 1e6, "GB": 2**30 / 1e6}[unit]


def data_file(folder: Path, talks: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o755)  # nginx (as nobody) reads the build below it
    path = folder / "talks.yaml"
    if talks:
        synthetic.write(path, talks)
    else:
        shutil.copy(ROOT / "data" / "talks.yaml", path)
    return path


def site_of(state: Path) -> Path:
    (source,) = state.glob("sources/*")
    return source / "current" / "site"


# --- throughput -------------------------------------------------------------------

def loads(base: str, small: str, etags: dict[str, str]) -> list[Load]:
    return [Load("/calendar.ics", "/calendar.ics"), Load("/", "/"),
            Load("/ gzip", "/", (GZIP,)),
            Load("304 /calendar.ics", "/calendar.ics", (f"If-None-Match: {etags['calendar']}",),
                 304),
            Load("304 small file", small, (f"If-None-Match: {etags['small']}",), 304)]


def throughput(args: argparse.Namespace, tmp: Path) -> str:
    data = data_file(tmp / "tp", args.talks)
    state = data.parent / "state"
    env = {"FEEDS_STATE_DIR": str(state), "FEEDS_BUILD_TIMEOUT": "600"}
    with contextlib.ExitStack() as stack:
        servers: dict[str, str] = {}
        for mode in ("full", "buffered", "off"):
            base, _ = stack.enter_context(gunicorn(
                data, tmp / f"feeds-{mode}.log", "--workers", "2", timeout=600,
                env={**env, "FEEDS_ACCESS_LOG": mode}))
            servers[f"feeds (log {mode})"] = base
        site = site_of(state)
        small = next(f"/talks/{p.name}" for p in sorted((site / "talks").glob("*.ics")))
        base, _ = stack.enter_context(gunicorn(
            data, tmp / "minimal.log", "--workers", "2", app="minimal_app:app", ready="",
            env={**env, "BENCH_BODY": str(site / "calendar.ics"),
                 "BENCH_PAGE": str(site / "index.html")}))
        servers["minimal Flask"] = base
        front, _, _ = stack.enter_context(nginx(site, servers["feeds (log full)"],
                                                tmp / "nginx", workers=2))
        servers["nginx"] = front
        if args.before:  # the same data, served by the code of another revision
            before = data_file(tmp / "tp-before", args.talks)
            base, _ = stack.enter_context(gunicorn(
                before, tmp / "before.log", "--workers", "2", timeout=600,
                root=exported(args.before, tmp / "tp-code"),
                env={"FEEDS_STATE_DIR": str(before.parent / "state"),
                     "FEEDS_BUILD_TIMEOUT": "600"}))
            servers[f"feeds at {args.before}"] = base
        time.sleep(1)
        sizes = {"/calendar.ics": len(fetch(front + "/calendar.ics")[2]),
                 "/": len(fetch(front + "/")[2]), "/ gzip": len(fetch(front + "/", {
                     "Accept-Encoding": "gzip"})[2]), small: len(fetch(front + small)[2])}
        plans: dict[str, list[Load]] = {}
        for name, base in servers.items():
            etags = {"calendar": fetch(base + "/calendar.ics")[1]["ETag"]}
            etags["small"] = fetch(base + small)[1]["ETag"] if name != "minimal Flask" else ""
            plans[name] = [load for load in loads(base, small, etags)
                           if not (name == "minimal Flask" and load.name in ("/ gzip",
                                                                            "304 small file"))]
            for load in plans[name]:  # each load answers as expected before it is measured
                request = urllib.request.Request(base + load.path, headers=dict(
                    header.split(": ", 1) for header in load.headers))
                try:
                    status = urllib.request.urlopen(request, timeout=30).status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                assert status == load.status, (name, load.name, status)
        loadavg = [os.getloadavg()[0]]
        results: dict[tuple[str, str], list[Result]] = {}
        names = list(servers)
        for round_ in range(args.rounds):
            order = names[round_ % len(names):] + names[:round_ % len(names)]
            for name in order:
                for load in plans[name]:
                    results.setdefault((name, load.name), []).append(
                        run_wrk(servers[name], load, args.connections, args.duration))
            loadavg.append(os.getloadavg()[0])
    return report(results, names, sizes, small, args, loadavg)


def ratio(results: dict[tuple[str, str], list[Result]], a: tuple[str, str],
          b: tuple[str, str]) -> str:
    """The median of per-round ratios a ÷ b, with their range."""
    if a not in results or b not in results:
        return "–"
    per_round = [x.rps / y.rps for x, y in zip(results[a], results[b], strict=True)]
    return f"{statistics.median(per_round):.2f} ({min(per_round):.2f}–{max(per_round):.2f})"


def report(results: dict[tuple[str, str], list[Result]], names: list[str],
           sizes: dict[str, int], small: str, args: argparse.Namespace,
           loadavg: list[float]) -> str:
    talks = f"{args.talks} synthetic talks" if args.talks else "data/talks.yaml (12 talks)"
    lines = [f"{talks}; /calendar.ics {sizes['/calendar.ics']:,} B, / {sizes['/']:,} B "
             f"({sizes['/ gzip']:,} B gzip'd), {small} {sizes[small]:,} B; wrk -t1 "
             f"-c{args.connections} -d{args.duration}s, {args.rounds} rounds; "
             f"1-minute load {min(loadavg):.1f}–{max(loadavg):.1f}", "",
             "| route | " + " | ".join(f"{n} req/s" for n in names) + " | feeds ÷ minimal | "
             "feeds ÷ nginx | p99 ms " + " / ".join(names) + " |",
             "| --- |" + " ---: |" * (len(names) + 3)]
    routes = list(dict.fromkeys(load for _, load in results))
    feeds = names[0]
    for route in routes:
        cells = []
        for name in names:
            runs = results.get((name, route))
            cells.append(f"{statistics.median(r.rps for r in runs):,.0f}" if runs else "–")
        p99 = " / ".join(f"{statistics.median(r.p99 for r in results[(n, route)]) * 1000:.1f}"
                         if (n, route) in results else "–" for n in names)
        lines.append(f"| {route} | " + " | ".join(cells) + f" | "
                     f"{ratio(results, (feeds, route), ('minimal Flask', route))} | "
                     f"{ratio(results, (feeds, route), ('nginx', route))} | {p99} |")
    lines += ["", "| server | 304 of /calendar.ics ÷ 304 of the small file | log buffered ÷ full "
              "| log off ÷ full |", "| --- | ---: | ---: | ---: |"]
    for name in names:
        if name == "minimal Flask":
            continue
        buffered = off = "–"
        if name == feeds:
            buffered = ratio(results, ("feeds (log buffered)", "/calendar.ics"),
                             (feeds, "/calendar.ics"))
            off = ratio(results, ("feeds (log off)", "/calendar.ics"), (feeds, "/calendar.ics"))
        lines.append(f"| {name} | {ratio(results, (name, '304 /calendar.ics'), (name, '304 small file'))}"
                     f" | {buffered} | {off} |")
    before = [name for name in names if name.startswith("feeds at ")]
    if before:
        lines += ["", f"| route | feeds ÷ {before[0]}, per round |", "| --- | ---: |"]
        lines += [f"| {route} | {ratio(results, (feeds, route), (before[0], route))} |"
                  for route in routes]
    errors = sum(r.errors for runs in results.values() for r in runs)
    lines.append(f"\nerrors (non-2xx/3xx, socket): {errors}")
    return "\n".join(lines)


# --- the access log's cost per request --------------------------------------------

def log_cost(args: argparse.Namespace, tmp: Path) -> str:
    """The access log call gunicorn makes per request, in-process, with each
    FEEDS_ACCESS_LOG setting and the shipped config, writing to a file;
    alternated rounds, the minimum and median µs per line of each."""
    import runpy
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from feeds.server.gunicorn_logger import GunicornLogger

    loggers = {}
    for mode in ("full", "buffered", "off"):
        os.environ["FEEDS_ACCESS_LOG"] = mode
        config = Config()
        for name, value in runpy.run_path(str(ROOT / "gunicorn.conf.py")).items():
            if name in config.settings:
                config.set(name, value)
        config.set("accesslog", str(tmp / f"{mode}.log") if mode != "off" else None)
        loggers[mode] = GunicornLogger(config)
    os.environ.pop("FEEDS_ACCESS_LOG")
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/calendar.ics", "SERVER_PROTOCOL": "HTTP/1.1",
               "PATH_INFO": "/calendar.ics", "QUERY_STRING": "", "REMOTE_ADDR": "127.0.0.1",
               "HTTP_USER_AGENT": "wrk"}
    response, request = SimpleNamespace(status="200 OK", sent=16892, headers=[]), \
        SimpleNamespace(headers=[])
    took: dict[str, list[float]] = {}
    load = [os.getloadavg()[0]]
    for _ in range(args.rounds_log):
        for mode, logger in loggers.items():
            started = time.perf_counter()
            for _ in range(args.log_lines):
                logger.access(response, request, environ, timedelta(microseconds=900))
            took.setdefault(mode, []).append((time.perf_counter() - started) / args.log_lines * 1e6)
    load.append(os.getloadavg()[0])
    lines = [f"The access log per request, in-process ({args.log_lines} lines × {args.rounds_log} "
             f"alternated rounds; 1-minute load {min(load):.1f}–{max(load):.1f})", "",
             "| FEEDS_ACCESS_LOG | µs per request, min | median | ÷ full, min |",
             "| --- | ---: | ---: | ---: |"]
    for mode, runs in took.items():
        lines.append(f"| {mode} | {min(runs):.1f} | {statistics.median(runs):.1f} | "
                     f"{min(runs) / min(took['full']):.2f} |")
    return "\n".join(lines)


# --- memory under concurrent downloads ---------------------------------------------

def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def memory_of(pids: list[int]) -> tuple[float, float]:
    """Summed RSS and PSS (MB) of `pids`."""
    rss = pss = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) / 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) / 1024
    return rss, pss


@contextlib.contextmanager
def sampling(pids: list[int]) -> Iterator[list[tuple[float, float]]]:
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(memory_of(pids))
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()


def download_load(name: str, base: str, workers: list[int], args: argparse.Namespace,
                  size: int) -> str:
    fetch(base + "/archive.ics")  # warm: the file in the page cache, the route looked up
    idle = memory_of(workers)
    with sampling(workers) as samples:
        output = wrk(base, Load("/archive.ics", "/archive.ics"), 64, args.memory_duration)
    _, _, requests, errors = parse_wrk(output)
    peak_rss = max(s[0] for s in samples)
    peak_pss = max(s[1] for s in samples)
    return (f"| {name} | {len(workers)} | {idle[0]:.0f} / {idle[1]:.0f} | {peak_rss:,.0f} / "
            f"{peak_pss:,.0f} | {requests} | {transfer_rate(output):,.0f} | "
            f"{errors} | {os.getloadavg()[0]:.1f} |")


def exported(ref: str, folder: Path) -> Path:
    """The tree of git revision `ref`, to run as "before"."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def memory(args: argparse.Namespace, tmp: Path) -> str:
    data = data_file(tmp / "mem", args.memory)
    lines = [f"{args.memory} synthetic talks (synthetic.py's dates, the real clock); 64 clients "
             f"download /archive.ics for {args.memory_duration} s (wrk -t1 -c64); workers' "
             "memory summed, sampled every 50 ms", "",
             "| server | workers | idle RSS / PSS MB | peak RSS / PSS MB | downloads done | MB/s read | "
             "errors | load |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    codes = [("feeds", ROOT, tmp / "state-after")]
    if args.before:
        codes.append((f"feeds at {args.before} (before)", exported(args.before, tmp / "before"),
                      tmp / "state-before"))
    size = 0
    for name, root, state in codes:
        env = {"FEEDS_STATE_DIR": str(state), "FEEDS_BUILD_TIMEOUT": "900"}
        with gunicorn(data, tmp / f"{state.name}.log", "--workers", "2", env=env, timeout=900,
                      root=root) as (base, proc):
            size = len(fetch(base + "/archive.ics")[2])
            lines.append(download_load(name, base, children(proc.pid), args, size))
            if name == "feeds":
                with nginx(site_of(state), base, tmp / "nginx-mem", workers=2) as (front, _, ngx):
                    lines.append(download_load("nginx", front, children(ngx.pid), args, size))
    lines.insert(1, f"/archive.ics: {size:,} B")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--talks", type=int, default=0, help="synthetic talks (0: the seed)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=3, help="seconds per route and round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--memory", type=int, default=0, help="talks for the memory run (0: none)")
    parser.add_argument("--memory-duration", type=int, default=15)
    parser.add_argument("--before", help="a git revision to serve too, as it was (its own "
                                         "gunicorn.conf.py)")
    parser.add_argument("--log-lines", type=int, default=0,
                        help="lines per round for the access log's cost (0: not measured)")
    parser.add_argument("--rounds-log", type=int, default=7)
    args = parser.parse_args(argv)
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            print(f"{tool} is not installed (apt-get install {tool})", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="feeds-serving-") as folder:
        tmp = Path(folder)
        os.chmod(tmp, 0o755)
        if not args.skip_throughput:
            print(throughput(args, tmp), flush=True)
        if args.log_lines:
            print(log_cost(args, tmp), flush=True)
        if args.memory:
            print(memory(args, tmp), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
