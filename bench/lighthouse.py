"""Lighthouse scores of `/`, a talk page and `/embed/`, on mobile and desktop,
with Debian's Chromium and the Lighthouse pinned in tests/browser.

    npm ci --prefix tests/browser
    python3 bench/lighthouse.py            # prints a table; exits 1 below --min

The app serves a copy of the seed data on 127.0.0.1, seen at a fixed moment
(1 April 2026, between the March and April talks)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path

from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feeds import create_app  # noqa: E402

LIGHTHOUSE = ROOT / "tests" / "browser" / "node_modules" / ".bin" / "lighthouse"
CHROMIUM = "/usr/bin/chromium"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
PAGES = {"/": "/", "talk": "/talks/2026-04-13-fischer/", "/embed": "/embed/"}
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=timezone.utc)


#: The one audit the frame page fails on purpose: it carries noindex, since
#: it is made for other sites' frames, not for search results.
DELIBERATE = {"/embed": {"is-crawlable"}}


def scores(url: str, preset: str, out: Path) -> tuple[dict[str, int], dict[str, set[str]]]:
    """One Lighthouse run: each category's score, 0 to 100, and its failed audits."""
    command = [str(LIGHTHOUSE), url, "--quiet", "--output=json", f"--output-path={out}",
               f"--only-categories={','.join(CATEGORIES)}",
               "--chrome-flags=--headless=new --no-sandbox --disable-gpu"]
    if preset == "desktop":
        command.append("--preset=desktop")
    subprocess.run(command, check=True, env={**os.environ, "CHROME_PATH": CHROMIUM}, timeout=300)
    report = json.loads(out.read_text())
    failed = {name: {ref["id"] for ref in report["categories"][name]["auditRefs"]
                     if ref["weight"] and (report["audits"][ref["id"]]["score"] or 0) < 1}
              for name in CATEGORIES}
    return {name: round(report["categories"][name]["score"] * 100) for name in CATEGORIES}, failed


def judged(found: dict[str, int], failed: dict[str, set[str]], deliberate: set[str]) -> int:
    """The lowest score that counts: a category that lost points only to
    deliberate audits is not held to the minimum."""
    return min((found[name] for name in CATEGORIES if failed[name] - deliberate or
                not failed[name]), default=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min", type=int, default=95, help="lowest acceptable score")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "talks.yaml"
        shutil.copy(ROOT / "data" / "talks.yaml", data)
        server = make_server("127.0.0.1", 0, None, threaded=True)  # type: ignore[arg-type]
        base = f"http://127.0.0.1:{server.server_port}"
        server.app = create_app({"TALKS_FILE": str(data), "SITE_URL": base,  # type: ignore[attr-defined]
                                 "CLOCK": lambda: NOW, "CHECK_INTERVAL": 60.0,
                                 "BUILD_MODE": "inline", "STATE_DIR": str(Path(tmp) / "state")})
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        worst = 100
        try:
            print(f"| page | form | {' | '.join(CATEGORIES)} | failed audits |")
            print("| --- | --- |" + " --- |" * (len(CATEGORIES) + 1))
            for name, path in PAGES.items():
                for preset in ("mobile", "desktop"):
                    found, failed = scores(base + path, preset, Path(tmp) / "report.json")
                    worst = min(worst, judged(found, failed, DELIBERATE.get(name, set())))
                    row = " | ".join(str(found[c]) for c in CATEGORIES)
                    audits = sorted(set().union(*failed.values()))
                    print(f"| {name} | {preset} | {row} | {', '.join(audits) or '-'} |", flush=True)
        finally:
            server.shutdown()
            thread.join(timeout=5)
    return 0 if worst >= args.min else 1


if __name__ == "__main__":
    sys.exit(main())
