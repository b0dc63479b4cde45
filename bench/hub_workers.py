"""A worker's memory under a hub (run by hand): gunicorn (2 workers) over
bench/hub.py's hub, every kind of published route requested three times
(the 41 MB /archive.ics streamed too), then each worker's resident and
peak memory from /proc. Compare two sizes in one run:

    python bench/hub_workers.py 3 20 100 200

With --custom-embed the workers are also asked for an /embed/ with
options the build did not publish, which a worker renders from the hub's
data (as for one series)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE), str(ROOT / "tests")]

import hub as hub_bench  # noqa: E402
from publishing import descendants, get  # noqa: E402

from feeds.data.recorded import record  # noqa: E402

from helpers import gunicorn  # noqa: E402

ROUTES = ("/", "/calendar.ics", "/archive.ics", "/talks.json", "/embed-all.json",
          "/tags/machine-learning/", "/tags/machine-learning/calendar.ics", "/s000/",
          "/s000/archive.ics", "/healthz")


def workers_memory(series: int, talks: int, custom_embed: bool) -> list[tuple[int, int]]:
    """(RSS MB, peak MB) of each worker after the requests."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        hub = hub_bench.write_hub(tmp / "hub", series, talks)
        for path in sorted((hub / "series").glob("*.yaml")):
            assert record(path, datetime.now(timezone.utc)).schedule is not None
        # The tests' and benchmarks' one gunicorn launcher (its process group is waited for).
        with gunicorn(hub, tmp / "gunicorn.log", "--workers", "2", ready="/calendar.ics",
                      timeout=600, env={"FEEDS_BUILD_TIMEOUT": "300"}) as (base, proc):
            routes = ROUTES + (("/embed/?tag=theory",) if custom_embed else ())
            for _ in range(3):
                for route in routes:
                    assert get(base + route)[0] == 200, route
            found = []
            for pid in descendants(proc.pid):
                if b"gunicorn" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    continue  # the builder
                status = dict(line.split(":", 1) for line in
                              Path(f"/proc/{pid}/status").read_text().splitlines())
                found.append((int(status["VmRSS"].split()[0]) // 1024,
                              int(status["VmHWM"].split()[0]) // 1024))
            return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", type=int, nargs="+", help="SERIES TALKS pairs")
    parser.add_argument("--custom-embed", action="store_true")
    args = parser.parse_args()
    pairs = list(zip(args.sizes[::2], args.sizes[1::2], strict=True))
    print("| hub | worker RSS MB (peak) |", "| --- | --- |", sep="\n")
    for series, talks in pairs:
        memory = workers_memory(series, talks, args.custom_embed)
        print(f"| {series} × {talks} | " + ", ".join(f"{r} ({p})" for r, p in memory) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
