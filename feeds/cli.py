"""The `feeds` command: validate the data file, build the static site, and
mint members' tokens."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path

from flask import Config

from . import export, members, organiser
from .app import DEFAULTS, build_options, configure
from .loader import InvalidData, load_schedule
from .model import Schedule
from .publisher import utc_now
from .revisions import Revision, ledger_path, update_ledger
from .snapshot import build_snapshot
from .timezones import format_when

DEFAULT_FILE = "data/talks.yaml"


def load_or_report(file: Path) -> Schedule | None:
    """The schedule in `file`, or None after printing every problem."""
    try:
        return load_schedule(file)
    except InvalidData as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {file}; nothing was published.",
              file=sys.stderr)
        return None


def record(file: Path, schedule: Schedule, now: datetime) -> dict[str, Revision]:
    """Record `schedule` in the ledger beside `file`; warn if it cannot be written."""
    revisions, warning = update_ledger(ledger_path(file), schedule, now)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return revisions


def validate(args: argparse.Namespace) -> int:
    """Print every problem and fail, or print a one-line summary."""
    schedule = load_or_report(args.file)
    if schedule is None:
        return 1
    now = utc_now()
    record(args.file, schedule, now)
    upcoming = schedule.upcoming(now)
    nxt = (f"next: {format_when(upcoming[0].start)} — {upcoming[0].title}"
           if upcoming else "no upcoming talk")
    print(f"{args.file}: OK, {len(schedule.talks)} talks; {nxt}")
    return 0


def build(args: argparse.Namespace) -> int:
    """Write every route into OUTDIR for a static host (see feeds/export.py)."""
    overrides = {"TALKS_FILE": args.data, "SITE_URL": args.site_url}
    config = configure(Config("."), {k: v for k, v in overrides.items() if v})
    data = Path(config["TALKS_FILE"])
    schedule = load_or_report(data)
    if schedule is None:
        return 1
    now = utc_now()
    snapshot = build_snapshot(schedule, record(data, schedule, now), build_options(config), now)
    try:
        routes = export.write_site(snapshot, args.outdir, config["CACHE_MAX_AGE"])
    except (export.ExportError, OSError) as exc:
        print(f"{args.outdir}: {exc}; nothing was published.", file=sys.stderr)
        return 1
    if config["SITE_URL"] == DEFAULTS["SITE_URL"]:
        print(f"warning: links and calendar UIDs point at {DEFAULTS['SITE_URL']}; give "
              "--site-url or FEEDS_SITE_URL the public address", file=sys.stderr)
    rules = len(export.header_rules(snapshot, config["CACHE_MAX_AGE"]))
    if rules > export.RULE_LIMIT:
        print(f"warning: {rules} header rules; Cloudflare Pages reads only "
              f"{export.RULE_LIMIT}", file=sys.stderr)
    print(f"{args.outdir}: {routes} routes for {len(schedule.talks)} talks from {data}, "
          f"for {config['SITE_URL']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="feeds", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="check the data file and record revisions")
    check.add_argument("file", nargs="?", default=DEFAULT_FILE, type=Path)
    check.set_defaults(run=validate)
    site = commands.add_parser("build", help="write the site into OUTDIR for a static host")
    site.add_argument("outdir", type=Path)
    site.add_argument("--data", type=Path, help="the data file (default: FEEDS_TALKS_FILE "
                                                "or data/talks.yaml)")
    site.add_argument("--site-url", help="the public base URL (default: FEEDS_SITE_URL)")
    site.set_defaults(run=build)
    token = commands.add_parser("token", help="members' calendar tokens").add_subparsers(
        dest="action", required=True).add_parser("new", help="mint a token, print its links")
    token.add_argument("label", help="who the token is for: a member or a mailing list")
    token.add_argument("--secrets", type=Path, default=os.environ.get("FEEDS_SECRETS_FILE",
                                                                      "secrets.yaml"))
    token.add_argument("--site", default=os.environ.get("FEEDS_SITE_URL", DEFAULTS["SITE_URL"]))
    token.set_defaults(run=members.token_new)
    organiser.register(commands)  # add, recording, cancel
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
