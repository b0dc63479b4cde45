"""The `feeds` command: validate the data file (and, later, build or mint tokens)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .loader import InvalidData, load_schedule
from .publisher import utc_now
from .revisions import ledger_path, update_ledger
from .timezones import format_when

DEFAULT_FILE = "data/talks.yaml"


def validate(args: argparse.Namespace) -> int:
    """Print every problem and fail, or print a one-line summary."""
    try:
        schedule = load_schedule(args.file)
    except InvalidData as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {args.file}; nothing was published.",
              file=sys.stderr)
        return 1
    now = utc_now()
    _, warning = update_ledger(ledger_path(args.file), schedule, now)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    upcoming = schedule.upcoming(now)
    nxt = (f"next: {format_when(upcoming[0].start)} — {upcoming[0].title}"
           if upcoming else "no upcoming talk")
    print(f"{args.file}: OK, {len(schedule.talks)} talks; {nxt}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="feeds", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="check the data file and record revisions")
    check.add_argument("file", nargs="?", default=DEFAULT_FILE, type=Path)
    check.set_defaults(run=validate)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
