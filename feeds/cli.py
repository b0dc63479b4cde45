"""The `feeds` command: validate the data file, build the static site, and
mint members' tokens. Settings come from feeds.settings, as the server's do."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from . import export, organiser, settings, urls
from .loader import load_schedule
from .members import subscribe_links
from .model import Schedule
from .reader import InvalidData
from .revisions import Revision, ledger_path, update_ledger
from .secrets_file import add_token
from .settings import utc_now
from .snapshot import BuildOptions, build_snapshot
from .timezones import format_when


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


def record(file: Path, schedule: Schedule, now: datetime) -> dict[str, Revision] | None:
    """Record `schedule` in the ledger beside `file`; None, after saying
    why, if the change could not be recorded."""
    update = update_ledger(ledger_path(file), schedule, now)
    for warning in update.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for error in update.errors:
        print(error, file=sys.stderr)
    if not update.recorded:
        print(f"the revision ledger {ledger_path(file)} does not record this version of "
              f"{file}; nothing was published.", file=sys.stderr)
        return None
    return update.revisions


def _settings(**overrides: Any) -> dict[str, Any]:
    """The settings, with the options given on the command line."""
    return settings.load({key: value for key, value in overrides.items() if value})


def validate(args: argparse.Namespace) -> int:
    """Print every problem and fail, or print a one-line summary."""
    file = Path(_settings(TALKS_FILE=args.file)["TALKS_FILE"])
    schedule = load_or_report(file)
    if schedule is None:
        return 1
    now = utc_now()
    if record(file, schedule, now) is None:
        return 1
    upcoming = schedule.upcoming(now)
    nxt = (f"next: {format_when(upcoming[0].start)} — {upcoming[0].title}"
           if upcoming else "no upcoming talk")
    print(f"{file}: OK, {len(schedule.talks)} talks; {nxt}")
    return 0


def build(args: argparse.Namespace) -> int:
    """Write every route into OUTDIR for a static host (see feeds/export.py)."""
    config = _settings(TALKS_FILE=args.data, SITE_URL=args.site_url)
    data = Path(config["TALKS_FILE"])
    schedule = load_or_report(data)
    if schedule is None:
        return 1
    now = utc_now()
    revisions = record(data, schedule, now)
    if revisions is None:
        return 1
    snapshot = build_snapshot(schedule, revisions, BuildOptions.from_settings(config), now)
    try:
        routes = export.write_site(snapshot, args.outdir, config["CACHE_MAX_AGE"])
    except (export.ExportError, OSError) as exc:
        print(f"{args.outdir}: {exc}; nothing was published.", file=sys.stderr)
        return 1
    if config["SITE_URL"] == settings.SITE_URL:
        print(f"warning: every link points at {settings.SITE_URL}; give "
              "--site-url or FEEDS_SITE_URL the public address", file=sys.stderr)
    rules = len(export.header_rules(snapshot, config["CACHE_MAX_AGE"]))
    if rules > export.RULE_LIMIT:
        print(f"warning: {rules} header rules; Cloudflare Pages reads only "
              f"{export.RULE_LIMIT}", file=sys.stderr)
    print(f"{args.outdir}: {routes} routes for {len(schedule.talks)} talks from {data}, "
          f"for {config['SITE_URL']}")
    return 0


def token_new(args: argparse.Namespace) -> int:
    """`feeds token new LABEL`: mint a token, record it, print the member's links."""
    config = _settings(SECRETS_FILE=args.secrets, SITE_URL=args.site)
    secrets_file = Path(config["SECRETS_FILE"] or "secrets.yaml")
    try:
        token = add_token(secrets_file, args.label)
    except InvalidData as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"no token was added to {secrets_file}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot write {secrets_file}: {exc.strerror or exc}; no token was added",
              file=sys.stderr)
        return 1
    print(f"Added a token for {args.label!r} to {secrets_file} (keep that file private).")
    print("Send the member these links to subscribe; whoever has them can read the join link:")
    for name, link in subscribe_links(urls.Site(config["SITE_URL"]), token).items():
        print(f"  {name:7} {link}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="feeds", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="check the data file and record revisions")
    check.add_argument("file", nargs="?", type=Path,
                       help=f"the data file (default: FEEDS_TALKS_FILE or {settings.DATA_FILE})")
    check.set_defaults(run=validate)
    site = commands.add_parser("build", help="write the site into OUTDIR for a static host")
    site.add_argument("outdir", type=Path)
    site.add_argument("--data", type=Path, help="the data file (default: FEEDS_TALKS_FILE "
                                                f"or {settings.DATA_FILE})")
    site.add_argument("--site-url", help="the public base URL (default: FEEDS_SITE_URL)")
    site.set_defaults(run=build)
    token = commands.add_parser("token", help="members' calendar tokens").add_subparsers(
        dest="action", required=True).add_parser("new", help="mint a token, print its links")
    token.add_argument("label", help="who the token is for: a member or a mailing list")
    token.add_argument("--secrets", type=Path,
                       help="the secrets file (default: FEEDS_SECRETS_FILE or secrets.yaml)")
    token.add_argument("--site", help="the public base URL (default: FEEDS_SITE_URL)")
    token.set_defaults(run=token_new)
    organiser.register(commands)  # add, recording, cancel
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
