"""How building scales with the number of talks (run by hand, not by pytest).

For synthetic data files of each size it measures, each size in a fresh
process: YAML parsing, loading and validating, a cold build (every
memoisation cache empty) split by format, the rebuild after a one-talk
edit, the time from that edit until the app serves the new version, the
peak memory, and a naive baseline that builds the calendar with icalendar
and the RSS feed with feedgen on every request. It also checks that the
rebuild gives exactly the bytes of a cold build.

    python bench/scaling.py                      # 12, 100, 1000, 10000 talks
    python bench/scaling.py --sizes 12 50 --repeat 1   # a quick smoke run

Times are the best of --repeat runs; every figure is also given as a ratio
to a baseline measured in the same run."""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from feeds.data.loader import load_schedule  # noqa: E402
from feeds.data.revisions import advance  # noqa: E402
from feeds.data.yaml_reader import YamlLoader  # noqa: E402
from feeds.formats import ical, pages, syndication, talks_json  # noqa: E402
from feeds.formats.memo import Kept  # noqa: E402
from feeds.publish.snapshot import BuildOptions, build_snapshot  # noqa: E402
from feeds.server import app as app_module  # noqa: E402
from feeds.urls import Site  # noqa: E402

import synthetic  # noqa: E402

SITE_URL = "https://talks.example.org"
SIZES = (12, 100, 1000, 10000)
# Which renderer makes which format; whatever is not listed counts as "other".
FORMATS: dict[str, tuple[tuple[Any, str], ...]] = {
    "calendar.ics": ((ical, "calendar_feed"),),
    "talk .ics": ((ical, "talk_file"),),
    "rss+atom": ((syndication, "rss_feed"), (syndication, "atom_feed")),
    "talk pages": ((pages, "talk_page"),),
    "home/embed/404": ((pages, "home"), (pages, "embed"), (pages, "not_found")),
    "json": ((talks_json, "render"),),
}


# --- measuring --------------------------------------------------------------------

def best(function: Callable[[], Any], repeat: int, number: int = 1) -> tuple[float, Any]:
    """The shortest time per call over `repeat` batches of `number` calls,
    and the last result."""
    times, result = [], None
    gc.collect()
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            result = function()
        times.append((time.perf_counter() - start) / number)
    return min(times), result


class FormatTimer:
    """Time spent in each format's renderer (outermost calls only)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self._depth = 0
        for fmt, targets in FORMATS.items():
            for module, name in targets:
                if hasattr(module, name):
                    setattr(module, name, self._wrap(fmt, getattr(module, name)))

    def _wrap(self, fmt: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth:
                return function(*args, **kwargs)
            self._depth += 1
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self._depth -= 1
                self.totals[fmt] += time.perf_counter() - start
        return timed

    def run(self, build: Callable[[], Any]) -> tuple[float, dict[str, float], Any]:
        self.totals.clear()
        start = time.perf_counter()
        result = build()
        total = time.perf_counter() - start
        split = dict(self.totals)
        split["other"] = max(total - sum(split.values()), 0.0)
        return total, split, result


# --- the naive baseline -----------------------------------------------------------

def naive_calendar(schedule, revisions, site) -> bytes:  # type: ignore[no-untyped-def]
    """/calendar.ics as one icalendar Calendar, built and serialized per request."""
    return ical.calendar_object(schedule, revisions, site).to_ical()


def request_times(size: int, path: Path, now, repeat: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Per request: serving /calendar.ics and /rss.xml from the snapshot, and
    building them on every request (icalendar, feedgen) in the same Flask."""
    app = app_module.create_app({"TALKS_FILE": str(path), "SITE_URL": SITE_URL,
                                 "CHECK_INTERVAL": 3600.0, "CLOCK": lambda: now,
                                 "BUILD_MODE": "inline", "STATE_DIR": str(path.parent / "state")})
    snap = app.extensions["feeds"].current()
    schedule, revisions = snap.schedule, snap.revisions
    site = Site(SITE_URL).for_series(schedule.series.id_authority)
    app.add_url_rule("/naive/calendar.ics", "naive_calendar",
                     lambda: naive_calendar(schedule, revisions, site))
    app.add_url_rule("/naive/rss.xml", "naive_rss", lambda: syndication.rss_feed(
        schedule, revisions, site, now, app_module.settings_of(app).feed_limit))
    client = app.test_client()
    assert client.get("/naive/calendar.ics").data == client.get("/calendar.ics").data
    assert client.get("/naive/rss.xml").data == client.get("/rss.xml").data
    naive_calls = 1 if size >= 1000 else 10
    result = {}
    for route in ("/calendar.ics", "/rss.xml"):
        result[f"naive {route}"] = best(functools.partial(client.get, "/naive" + route), repeat,
                                        naive_calls)[0]
        result[f"served {route}"] = best(functools.partial(client.get, route), repeat, 200)[0]
    return result


# --- one size, in its own process --------------------------------------------------

def measure(size: int, repeat: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"feeds-bench-{size}-"))
    path = synthetic.write(tmp / "talks.yaml", size)
    now = synthetic.now_for(size)
    options = BuildOptions(Site(SITE_URL))
    timer = FormatTimer()
    memo = Kept()  # what a running server keeps between builds
    # Warm up imports and templates on a tiny file: a server has them ready, too.
    tiny = load_schedule(synthetic.write(tmp / "tiny.yaml", 12))
    build_snapshot(tiny, advance({}, tiny, now), options, now, Kept())

    text = path.read_text(encoding="utf-8")
    out: dict[str, Any] = {"talks": size}
    out["yaml"], _ = best(lambda: yaml.compose(text, Loader=YamlLoader), repeat)
    out["load"], schedule = best(lambda: load_schedule(path), repeat)
    revisions = advance({}, schedule, now)

    colds = []
    for _ in range(repeat):
        gc.collect()
        colds.append(timer.run(lambda: build_snapshot(schedule, revisions, options, now, Kept())))
    out["cold"], out["cold_split"], cold = min(colds, key=lambda c: c[0])
    out["routes"] = len(cold.routes)
    out["bytes"] = sum(len(r.body) for r in cold.routes.values())

    # One-talk edits, each a new title of another talk, on warm caches.
    rebuilds, latest = [], (schedule, revisions, None)
    for r in range(repeat):
        edited = load_schedule(synthetic.write(tmp / f"edit{r}.yaml", size, size // 2 + r, r + 1))
        edited_revisions = advance(revisions, edited, now + timedelta(minutes=r + 1))
        build_snapshot(schedule, revisions, options, now, memo)  # the version before the edit
        gc.collect()
        total, split, warm = timer.run(
            functools.partial(build_snapshot, edited, edited_revisions, options, now, memo))
        rebuilds.append((total, split))
        latest = (edited, edited_revisions, warm)
    out["rebuild"], out["rebuild_split"] = min(rebuilds, key=lambda c: c[0])
    edited, edited_revisions, warm = latest
    reference = build_snapshot(edited, edited_revisions, options, now, Kept())
    out["identical"] = warm.routes == reference.routes

    out["served_after_edit"] = served_after_edit(tmp, size, now, repeat)
    out.update(request_times(size, path, now, repeat))

    gc.collect()
    tracemalloc.start()
    loaded = load_schedule(path)
    kept = build_snapshot(loaded, advance({}, loaded, now), options, now, Kept())
    out["peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    del kept
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def served_after_edit(tmp: Path, size: int, now, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """From an edit of the data file to the first response with the new
    version, through the app (stat, load, ledger, rebuild, swap, send), with
    the check interval at 0; a server adds at most FEEDS_CHECK_INTERVAL (1 s)."""
    data = tmp / "served" / "talks.yaml"
    data.parent.mkdir()
    synthetic.write(data, size)
    app = app_module.create_app({"TALKS_FILE": str(data), "SITE_URL": SITE_URL,
                                 "CHECK_INTERVAL": 0.0, "CLOCK": lambda: now,
                                 "BUILD_MODE": "inline", "STATE_DIR": str(data.parent / "state")})
    client = app.test_client()
    client.get("/calendar.ics")
    times = []
    for r in range(repeat):
        marker = f"(revision {100 + r})"
        staged = data.with_suffix(".new")
        staged.write_text(synthetic.data_text(size, size // 3 + r, 100 + r), encoding="utf-8")
        start = time.perf_counter()
        os.replace(staged, data)
        body = client.get(f"/talks/{edited_id(size, size // 3 + r)}/").data
        times.append(time.perf_counter() - start)
        assert marker.encode() in body, "the edit was not served"
    return min(times)


def edited_id(size: int, index: int) -> str:
    return f"{synthetic.talk_day(index).isoformat()}-speaker{index}"


# --- the report -------------------------------------------------------------------

def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor() or "unknown CPU")
    return (f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def report(results: list[dict[str, Any]]) -> str:
    lines = [f"Machine: {machine()}", ""]
    lines += ["| talks | routes | YAML parse ms | load+validate ms | cold build ms | "
              "rebuild after 1-talk edit ms | rebuild / cold | edit → served ms | "
              "rebuild identical | peak MB (tracemalloc) | max RSS MB |",
              "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r['talks']:,} | {r['routes']:,} | {ms(r['yaml'])} | {ms(r['load'])} | "
                     f"{ms(r['cold'])} | {ms(r['rebuild'])} | {r['rebuild'] / r['cold']:.3f} | "
                     f"{ms(r['served_after_edit'])} | {'yes' if r['identical'] else 'NO'} | "
                     f"{r['peak_mb']:.1f} | {r['maxrss_mb']:.0f} |")
    formats = list(FORMATS) + ["other"]
    lines += ["", "Build time by format, ms: cold / after a one-talk edit (share of the cold build)", "",
              "| talks | " + " | ".join(formats) + " |",
              "| ---: | " + " | ".join("---:" for _ in formats) + " |"]
    for r in results:
        cells = [f"{ms(r['cold_split'].get(f, 0))} / {ms(r['rebuild_split'].get(f, 0))} "
                 f"({r['rebuild_split'].get(f, 0) / r['cold']:.0%})" for f in formats]
        lines.append(f"| {r['talks']:,} | " + " | ".join(cells) + " |")
    lines += ["", "Per request, ms: built on every request (icalendar, feedgen) vs served "
              "from the snapshot, same bytes, same Flask app", "",
              "| talks | naive /calendar.ics | served | naive ÷ served | naive /rss.xml | served "
              "| naive ÷ served |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        cells = []
        for route in ("/calendar.ics", "/rss.xml"):
            naive, served = r[f"naive {route}"], r[f"served {route}"]
            cells += [ms(naive), f"{served * 1000:.2f}", f"{naive / served:,.0f}×"]
        lines.append(f"| {r['talks']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: one size
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.repeat)))
        return 0
    results = []
    for size in args.sizes:
        done = subprocess.run([sys.executable, __file__, "--one", str(size),
                               "--repeat", str(args.repeat)],
                              check=True, capture_output=True, text=True)
        results.append(json.loads(done.stdout.splitlines()[-1]))
        print(f"measured {size} talks", file=sys.stderr)
    print(report(results))
    return 0 if all(r["identical"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
