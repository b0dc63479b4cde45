"""The `feeds` command: validate the data file, build the static site, mint
members' tokens, edit talks and announce them. Settings come from feeds.settings, as the server's do."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from feeds import settings, urls
from feeds.commands import announce, hub_starter, organiser, starter
from feeds.commands.report import EXIT_ERROR, FORMATS, print_problems, print_recorded
from feeds.data.hub import HubRecorded, is_hub, record_hub
from feeds.data.recorded import Recorded, record
from feeds.data.secrets_file import add_token
from feeds.data.yaml_reader import InvalidData
from feeds.formats import schema
from feeds.formats.calendar_links import subscribe_links
from feeds.model import Schedule
from feeds.publish import export, hub_load
from feeds.publish import hub as hub_build
from feeds.publish.builder import collector_paused
from feeds.publish.snapshot import BuildOptions, build_snapshot
from feeds.settings import Settings, SettingsError, utc_now
from feeds.timezones import format_when

#: The exit status after a bad setting (2 is taken: argparse's bad option,
#: `feeds add`'s "choose a speaker").
EXIT_SETTINGS = 1


def recorded_or_report(file: Path, now: datetime, output: str = "text") -> Recorded | None:
    """The data file read and recorded in its ledger, or None after printing
    why it cannot be published (as GitHub annotations on stdout too where
    `output` is "github"). Warnings (a deprecated key, the ledger's) are
    printed either way."""
    recorded = record(file, now)
    print_recorded(recorded, output)
    if recorded.schedule is None:
        print(f"{len(recorded.problems)} problem(s) in {file}; nothing was published.",
              file=sys.stderr)
        return None
    if not recorded.recorded:
        print(f"the revision ledger {recorded.ledger} does not record this version of "
              f"{file}; nothing was published.", file=sys.stderr)
        return None
    return recorded


def _settings(**overrides: Any) -> Settings:
    """The settings, with the options given on the command line."""
    return Settings.load({key: value for key, value in overrides.items() if value})


def hub_recorded_or_report(folder: Path, now: datetime, output: str = "text") -> HubRecorded | None:
    """A hub folder read and each series recorded in its ledger, or None
    after printing every problem, each at its own file:line."""
    recorded = record_hub(folder, now)
    print_problems(recorded.problems, output)
    for got in recorded.series.values():
        print_recorded(got, output)
    if not recorded.ok:
        problems = len(recorded.all_problems) + sum(len(r.errors) for r in recorded.series.values())
        print(f"{problems} problem(s) in {folder}; nothing was published.", file=sys.stderr)
        return None
    return recorded


def _next_line(schedule: Schedule, now: datetime) -> str:
    upcoming = schedule.upcoming(now)
    return (f"next: {format_when(upcoming[0].start)} — {upcoming[0].title}"
            if upcoming else "no upcoming talk")


def validate_hub(folder: Path, output: str) -> int:
    """`feeds validate` of a hub folder: every file, or a line per series."""
    now = utc_now()
    recorded = hub_recorded_or_report(folder, now, output)
    if recorded is None:
        return EXIT_ERROR
    for got in recorded.series.values():
        assert got.schedule is not None
        print(f"{got.data_file}: OK, {len(got.schedule.talks)} talks; "
              f"{_next_line(got.schedule, now)}")
    print(f"{folder}: OK, a hub of {len(recorded.series)} series")
    return 0


def validate(args: argparse.Namespace) -> int:
    """Print every problem and fail, or print a one-line summary."""
    file = Path(_settings(talks_file=args.file).talks_file)
    if is_hub(file):
        return validate_hub(file, args.format)
    now = utc_now()
    recorded = recorded_or_report(file, now, args.format)
    if recorded is None or recorded.schedule is None:
        return EXIT_ERROR
    schedule = recorded.schedule
    print(f"{file}: OK, {len(schedule.talks)} talks; {_next_line(schedule, now)}")
    return 0


def build(args: argparse.Namespace) -> int:
    """Write every route into OUTDIR for a static host (see feeds/export.py)."""
    with collector_paused():  # what is loaded and rendered lives to the end
        return _build(args)


def _build(args: argparse.Namespace) -> int:
    config = _settings(talks_file=args.data, site_url=args.site_url)
    data = Path(config.talks_file)
    now = utc_now()
    if is_hub(data):
        hub = hub_recorded_or_report(data, now)
        if hub is None:
            return EXIT_ERROR
        parsed = {slug: got.schedule for slug, got in hub.series.items() if got.schedule}
        context = hub_load.from_recorded(hub, BuildOptions.from_settings(config), now).context(
            parsed)
        snapshot = hub_build.render_hub(context)
        schedule = snapshot.context.schedule
    else:
        recorded = recorded_or_report(data, now)
        if recorded is None or recorded.schedule is None or recorded.revisions is None:
            return EXIT_ERROR
        schedule = recorded.schedule
        snapshot = build_snapshot(schedule, recorded.revisions,
                                  BuildOptions.from_settings(config), now)
    rules = export.header_rules(snapshot, config.cache_max_age)
    try:
        routes = export.write_site(snapshot, args.outdir, config.cache_max_age, rules)
    except (export.ExportError, OSError) as exc:
        print(f"{args.outdir}: {exc}; nothing was published.", file=sys.stderr)
        return EXIT_ERROR
    if config.site_url == settings.SITE_URL:
        print(f"warning: every link points at {settings.SITE_URL}; give "
              "--site-url or FEEDS_SITE_URL the public address", file=sys.stderr)
    if len(rules) > export.RULE_LIMIT:
        print(f"warning: {len(rules)} header rules; Cloudflare Pages reads only "
              f"{export.RULE_LIMIT}", file=sys.stderr)
    print(f"{args.outdir}: {routes} routes for {len(schedule.talks)} talks from {data}, "
          f"for {config.site_url}")
    return 0


def token_new(args: argparse.Namespace) -> int:
    """`feeds token new LABEL`: mint a token, record it, print the member's links."""
    config = _settings(secrets_file=args.secrets, site_url=args.site)
    secrets_file = Path(config.secrets_file or "secrets.yaml")
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
    if config.site_url == settings.SITE_URL:
        print(f"warning: the links point at {settings.SITE_URL}; give --site or "
              "FEEDS_SITE_URL the public address", file=sys.stderr)
    print(f"Added a token for {args.label!r} to {secrets_file} (keep that file private).")
    print("Send the member these links to subscribe; whoever has them can read the join link:")
    for name, link in subscribe_links(urls.Site(config.site_url), token).items():
        print(f"  {name:7} {link}")
    return 0


def init(args: argparse.Namespace) -> int:
    """`feeds init DIR`: start a new series (or, with --hub, a hub) in an empty folder."""
    series = starter.NewSeries(title=args.title or starter.title_from_folder(args.folder),
                               contact=args.contact, timezone=args.timezone, time=args.time)
    create = hub_starter.create if args.hub else starter.create
    try:
        written = create(args.folder, series, utc_now())
    except starter.InitError as exc:
        print(f"error: {exc}; nothing was written.", file=sys.stderr)
        return 1
    except InvalidData as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print("error: fix the option named above; nothing was written.", file=sys.stderr)
        return 1
    print(f"Started {'the hub ' if args.hub else ''}{series.title!r} in {args.folder}:")
    for name in written:
        print(f"  {name}")
    if args.hub:
        print(f"""Next:
  feeds serve --data {args.folder}      # the site, updated as you edit
  edit {args.folder}/site.yaml and {args.folder}/series/example.yaml; add series/<slug>.yaml files
  feeds validate {args.folder}          # every file, each problem at its file:line""")
        return 0
    print(f"""Next:
  cd {args.folder}
  feeds serve        # the site at http://127.0.0.1:{settings.SERVE_PORT}, updated as you edit
  edit {settings.DATA_FILE}: the description{', the contact' if args.contact ==
                                               starter.PLACEHOLDER_CONTACT else ''} and the example talk
  feeds validate     # then commit data/ and push to GitHub (see README.md there)""")
    if starter.LOCAL_COPY in (args.folder / starter.REQUIREMENTS).read_text(encoding="utf-8"):
        print(f"warning: edit {starter.REQUIREMENTS}: this feeds was installed from a local "
              "folder, so CI does not know where to install it from", file=sys.stderr)
    return 0


def print_schema(args: argparse.Namespace) -> int:
    """`feeds schema`: the data file's JSON Schema, for editors and checkers."""
    sys.stdout.write((schema.render_site() if args.hub else schema.render()).decode())
    return 0


def serve(args: argparse.Namespace) -> int:
    """`feeds serve`: the web layer is loaded for this command only."""
    from feeds.server.devserver import serve as run_server

    return run_server(args.data, args.host, args.port)


def installed_version() -> str:
    """This copy's version, from its installed metadata (pyproject.toml's)."""
    try:
        return metadata.version("feeds")
    except metadata.PackageNotFoundError:  # a checkout that was never installed
        return "(not installed)"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="feeds", description=__doc__)
    top.add_argument("--version", action="version", version=f"feeds {installed_version()}")
    commands = top.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="check the data file and record revisions")
    check.add_argument("file", nargs="?", type=Path,
                       help=f"the data file (default: FEEDS_TALKS_FILE or {settings.DATA_FILE})")
    check.add_argument("--format", choices=FORMATS, default="text",
                       help="text (default), or github: also print each problem as a GitHub "
                            "Actions annotation (::error file=…,line=…,col=…::…) on stdout")
    check.set_defaults(run=validate)
    show = commands.add_parser("schema", help="print the data file's JSON Schema (2020-12)")
    show.add_argument("--hub", action="store_true", help="the schema of a hub's site.yaml")
    show.set_defaults(run=print_schema)
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
    local = commands.add_parser("serve", help="serve the site locally; edits appear at once")
    local.add_argument("--data", type=Path, help="the data file (default: FEEDS_TALKS_FILE "
                                                 f"or {settings.DATA_FILE})")
    local.add_argument("--host", default=settings.SERVE_HOST,
                       help=f"the address to listen on (default: {settings.SERVE_HOST}; "
                            "0.0.0.0: every interface)")
    local.add_argument("--port", type=int, default=settings.SERVE_PORT,
                       help=f"the port (default: {settings.SERVE_PORT}; 0 picks a free one)")
    local.set_defaults(run=serve)
    new = commands.add_parser("init", help="start a new series in an empty folder")
    new.add_argument("folder", type=Path, help="the folder (created if missing; may hold .git)")
    new.add_argument("--title", help="the series' title (default: from the folder's name)")
    new.add_argument("--contact", default=starter.PLACEHOLDER_CONTACT,
                     help="the organisers' e-mail address (default: a placeholder to replace)")
    new.add_argument("--timezone", default=starter.NewSeries.timezone,
                     help="the series' IANA zone, e.g. Europe/Berlin (default: UTC)")
    new.add_argument("--time", default=starter.NewSeries.time,
                     help="the usual start time, HH:MM (default: 17:00)")
    new.add_argument("--hub", action="store_true",
                     help="start a hub (site.yaml and series/<slug>.yaml) with one example "
                          "series; --title and --contact are the hub's")
    new.set_defaults(run=init)
    organiser.register(commands)  # add, recording, cancel
    announce.register(commands)  # announce
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except SettingsError as exc:  # a bad FEEDS_* variable: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_SETTINGS


if __name__ == "__main__":
    sys.exit(main())
