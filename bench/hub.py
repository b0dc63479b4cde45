"""A hub of many series (run by hand, not by pytest): 100 series of 200
synthetic talks each (20 000 talks) by default.

Each measurement runs in a fresh process (empty memo, as a builder
process starts) and is CPU time (time.process_time: the machine is shared,
wall-clock time drifts with the other work on it); every figure is also
given as a ratio to a baseline measured in the same run:

- *cold hub build*: recording every series in its ledger, loading and
  rendering every route of the hub (every series as alone plus the hub's
  own views), as the builder does (feeds.publish.hub_load.load + hub.render_hub);
  its peak memory (the process's max RSS);
- *series alone, summed*: each series' cold build alone (build_snapshot,
  a fresh process's memo: the memo is emptied between series), summed;
  the baseline of the 1.3x target;
- *combined /calendar.ics* size (Google's limit is about 1 MB);
- *one-talk edit*: the builder's publish of the hub after one talk of one
  series changed (run_build in a fresh process, as a builder process),
  against the builder's cold publish of the same hub.

    python bench/hub.py                        # 100 series x 200 talks
    python bench/hub.py --series 10 --talks 50 # a quick smoke run"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import synthetic  # noqa: E402

TAGS = ("machine-learning", "theory", "systems", "language", "vision", "robotics")


def series_text(n: int, talks: int, edited: int | None = None, revision: int = 2) -> str:
    """Series n: synthetic talks (ids repeat across series), its own title,
    authority and one or two tags; `edited`: one talk's title changed."""
    text = synthetic.data_text(talks, edited=edited, revision=revision if edited is not None else 1)
    tags = sorted({TAGS[n % len(TAGS)], TAGS[(n * 7) % len(TAGS)]})
    return text.replace("  title: Efficient ML Reading Group",
                        f"  title: Series {n:03d}\n  tags: [{', '.join(tags)}]\n"
                        f"  id_authority: series{n:03d}.example.org", 1)


def write_hub(folder: Path, series: int, talks: int) -> Path:
    (folder / "series").mkdir(parents=True, exist_ok=True)
    (folder / "site.yaml").write_text("title: A hub of many series\ncontact: hub@example.org\n",
                                      encoding="utf-8")
    for n in range(series):
        (folder / "series" / f"s{n:03d}.yaml").write_text(series_text(n, talks), encoding="utf-8")
    return folder


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- children: one measurement each, in a fresh process ------------------------------------------

def child_hub(folder: Path, talks: int) -> dict[str, Any]:
    from feeds import urls
    from feeds.data import loader
    from feeds.publish import hub, hub_load
    from feeds.publish.snapshot import BuildOptions

    loader.keep_talks()  # as a builder process does
    now = synthetic.now_for(talks)
    started = time.process_time()
    loaded = hub_load.load(folder, BuildOptions(urls.Site("https://hub.example.org")), now, None)
    assert loaded.made_from is not None and not loaded.errors, loaded.errors
    context = loaded.context()
    snapshot = hub.render_hub(context)
    seconds = time.process_time() - started
    # The same process, warm (as a long-lived builder): one talk of one series edited.
    edited = sorted((folder / "series").glob("*.yaml"))[len(context.series) // 2]
    edited.write_text(series_text(int(edited.stem[1:]), talks, edited=talks // 3, revision=3),
                      encoding="utf-8")
    started = time.process_time()
    again = hub_load.load(folder, BuildOptions(urls.Site("https://hub.example.org")), now,
                         loaded.made_from)
    rebuilt = hub.render_hub(again.context())
    warm = time.process_time() - started
    assert rebuilt.version != snapshot.version
    return {"seconds": seconds, "warm_edit": warm, "routes": len(snapshot.routes),
            "rss": max_rss_mb(),
            "calendar": len(snapshot.routes["/calendar.ics"].body),
            "archive": len(snapshot.routes["/archive.ics"].body),
            "talks": context.talks}


def child_alone(folder: Path, talks: int) -> dict[str, Any]:
    from feeds import urls
    from feeds.data.recorded import record
    from feeds.formats.memo import Kept
    from feeds.publish.snapshot import BuildOptions, build_snapshot

    now = synthetic.now_for(talks)
    total = 0.0
    for path in sorted((folder / "series").glob("*.yaml")):
        memo = Kept()  # each series as in a builder process of its own
        started = time.process_time()
        got = record(path, now)
        assert got.schedule is not None and got.revisions is not None
        build_snapshot(got.schedule, got.revisions,
                       BuildOptions(urls.Site(f"https://hub.example.org/{path.stem}")), now, memo)
        total += time.process_time() - started
    return {"seconds": total, "rss": max_rss_mb()}


def child_publish(folder: Path, state: Path, talks: int) -> dict[str, Any]:
    """One builder run (run_build), as a builder process does it."""
    from feeds.publish import build_status, layout
    from feeds.publish.builder import BuildJob, run_build

    now = synthetic.now_for(talks)
    job = BuildJob(str(folder), str(state), "https://hub.example.org", 100, 3600, 3,
                   3600.0, 0.0)
    started = time.process_time()
    with build_status.build_lock(state) as fd:
        assert fd is not None
        run_build(job, clock=lambda: now)
    seconds = time.process_time() - started
    status = build_status.read_status(state)
    assert not status.get("errors"), status
    return {"seconds": seconds, "rss": max_rss_mb(), "build": layout.current_name(state)}


def run_child(*args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--talks", type=int, default=200)
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        folder, talks = Path(rest[0]), int(rest[-1])
        if kind == "hub":
            result = child_hub(folder, talks)
        elif kind == "alone":
            result = child_alone(folder, talks)
        else:
            result = child_publish(folder, Path(rest[1]), talks)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        # Ledgers first (a fresh ledger per measurement would date every talk anew).
        folder = write_hub(base / "hub", args.series, args.talks)
        alone = run_child("alone", str(folder), str(args.talks))
        state = base / "state"
        publish_cold = run_child("publish", str(folder), str(state), str(args.talks))
        edited = folder / "series" / "s042.yaml" if args.series > 42 else \
            sorted((folder / "series").glob("*.yaml"))[-1]
        n = int(edited.stem[1:])
        edited.write_text(series_text(n, args.talks, edited=args.talks // 2), encoding="utf-8")
        os.utime(edited, (time.time() - 5, time.time() - 5))
        publish_edit = run_child("publish", str(folder), str(state), str(args.talks))
        assert publish_edit["build"] != publish_cold["build"]
        cold = run_child("hub", str(folder), str(args.talks))
    ratio = cold["seconds"] / alone["seconds"]
    print(f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}")
    print(f"Hub: {args.series} series x {args.talks} talks = {cold['talks']} talks, "
          f"{cold['routes']} routes")
    print()
    print("| measurement | CPU s | ratio | max RSS MB |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| series built alone, summed (baseline) | {alone['seconds']:.1f} | 1.00 | "
          f"{alone['rss']:.0f} |")
    print(f"| cold hub build (load + render) | {cold['seconds']:.1f} | {ratio:.2f} | "
          f"{cold['rss']:.0f} |")
    print(f"| same process, warm: one-talk edit, load + render | {cold['warm_edit']:.1f} | "
          f"{cold['warm_edit'] / cold['seconds']:.2f} of the cold hub build | |")
    print(f"| builder: cold publish (baseline) | {publish_cold['seconds']:.1f} | 1.00 | "
          f"{publish_cold['rss']:.0f} |")
    print(f"| builder: publish after a one-talk edit | {publish_edit['seconds']:.1f} | "
          f"{publish_edit['seconds'] / publish_cold['seconds']:.2f} | {publish_edit['rss']:.0f} |")
    print()
    print(f"Combined /calendar.ics: {cold['calendar'] / 1024:.0f} KiB "
          f"({cold['calendar'] / 1_000_000:.2f} MB; Google's limit about 1 MB); "
          f"/archive.ics: {cold['archive'] / 1_000_000:.1f} MB")


if __name__ == "__main__":
    main()
