"""`feeds announce`: a talk's announcement, or its short day-of reminder, as
one e-mail (text, an HTML alternative and the talk's .ics), written to a
file or sent through SMTP (feeds.commands.mailer); `--due` sends what a daily job
should send.

Every message sent is recorded in a ledger beside the data file
(`talks.announced.tsv`: talk, kind, SEQUENCE, when, to whom), so that
nothing goes out twice. The attachment is the talk's own calendar entry
(feeds.formats.ical), with the UID and SEQUENCE of /calendar.ics: a calendar that
already has the talk updates it. The join link appears only with
`--members`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from feeds import settings, timezones, urls
from feeds.commands import mailer
from feeds.data.announced import (
    ANNOUNCEMENT,
    REMINDER,
    UPDATE,
    AnnounceError,
    Sent,
    already_sent,
    due_messages,
    due_updates,
    last_sent,
    read_sent,
    render_sent,
    sent_path,
)
from feeds.data.loader import load_schedule
from feeds.data.revisions import Revision, ledger_path, update_ledger
from feeds.data.secrets_file import Secrets, load_secrets
from feeds.data.yaml_reader import InvalidData, valid_url
from feeds.files import locked, write_atomically
from feeds.formats.announcement import compose, subject
from feeds.formats.text import one_line
from feeds.model import Schedule, Talk
from feeds.publish.snapshot import BuildOptions
from feeds.settings import Settings, utc_now

EXIT_ERROR = 1


# --- addresses ---------------------------------------------------------------------

def parse_addresses(text: str, what: str) -> tuple[Address, ...]:
    """The addresses in `text` ("Name <a@b>, c@d"), none for blank text;
    AnnounceError names `what`."""
    if not text.strip():
        # Never asked of getaddresses: Pythons with the CVE-2023-27043 fix
        # (Debian 12's 3.11.2, 3.13) read "" as one blank address.
        return ()
    found = []
    for name, addr in getaddresses([" ".join(text.split())]):
        try:
            if "@" not in addr:
                raise ValueError(addr)
            found.append(Address(display_name=" ".join(name.split()), addr_spec=addr))
        except (ValueError, IndexError, HeaderParseError):
            raise AnnounceError(f"{what}: {addr or text!r} is not an e-mail address") from None
    if not found and text.strip():
        raise AnnounceError(f"{what}: {text!r} holds no e-mail address")
    return tuple(found)


def recipients_key(to: Iterable[Address]) -> str:
    """How the ledger names a list of recipients."""
    return ",".join(sorted({a.addr_spec.lower() for a in to}))


# --- the command -------------------------------------------------------------------

def register(commands: Any) -> None:
    """Add `feeds announce` to the `feeds` parser's subparsers."""
    cmd = commands.add_parser(
        "announce", help="e-mail a talk's announcement or reminder (a file, or through SMTP)",
        description="feeds announce ID [--members] [--reminder] (--output FILE.eml | --send) "
                    "[--to ADDRESS] [--force]; feeds announce --due [--send]")
    cmd.add_argument("id", nargs="?", help="the talk's id")
    cmd.add_argument("--due", action="store_true",
                     help="every announcement (FEEDS_ANNOUNCE_DAYS before) and day-of reminder "
                          "now due and not sent yet; without --send, only list them")
    cmd.add_argument("--members", action="store_true",
                     help="include the join link (from FEEDS_SECRETS_FILE or FEEDS_JOIN_URL)")
    cmd.add_argument("--reminder", action="store_true", help="the short day-of version")
    out = cmd.add_mutually_exclusive_group()
    out.add_argument("--output", type=Path, metavar="FILE.eml", help="write the message there")
    out.add_argument("--send", action="store_true", help="send it through FEEDS_SMTP_HOST")
    cmd.add_argument("--to", metavar="ADDRESS", help="the recipients (default: FEEDS_ANNOUNCE_TO)")
    cmd.add_argument("--force", action="store_true",
                     help="send even if this very message was sent already, or the talk is over")
    cmd.add_argument("--data", type=Path, metavar="FILE",
                     help=f"the data file (default: FEEDS_TALKS_FILE or {settings.DATA_FILE})")
    cmd.set_defaults(run=run)


@dataclass(frozen=True)
class Mailing:
    """Everything one run of `feeds announce` works with: the settings, the
    data, who sends and who receives."""

    settings: Settings
    data_file: Path
    schedule: Schedule
    revisions: Mapping[str, Revision]
    site: urls.Site
    sender: Address
    to: tuple[Address, ...]
    join_urls: Mapping[str, str]
    now: datetime

    def message(self, talk: Talk, kind: str, update: Sent | None) -> EmailMessage:
        return compose(talk, self.revisions[talk.id], self.schedule.series, self.site, kind,
                       sender=self.sender, to=self.to, now=self.now,
                       join_url=self.join_urls.get(talk.id, ""), update=update)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _usage(args: argparse.Namespace) -> str:
    """What is wrong with the combination of options, if anything."""
    if args.due == bool(args.id):
        return "give a talk's id, or --due"
    if args.due and (args.output or args.reminder or args.force):
        return "--due decides itself what to send; it takes only --send, --members, --to, --data"
    if args.id and not (args.output or args.send):
        return "say where the message goes: --output FILE.eml or --send"
    return ""


def _join_urls(config: Settings, schedule: Schedule) -> dict[str, str]:
    """The join links, as the members' calendar has them (feeds.server.members)."""
    env_link = config.join_url
    if env_link and not valid_url(env_link):
        raise AnnounceError("FEEDS_JOIN_URL is not a web address")
    secrets = Secrets(env_link)
    if config.secrets_file:
        try:
            secrets = load_secrets(config.secrets_file)
        except FileNotFoundError:
            raise AnnounceError(f"the secrets file {config.secrets_file} is missing") from None
        except InvalidData as exc:
            raise AnnounceError("the secrets file has problems:\n" + "\n".join(
                str(p) for p in exc.problems)) from None
        if env_link:
            secrets = replace(secrets, join_url=env_link)
    links = secrets.join_urls(schedule)
    if not links:
        raise AnnounceError("--members needs the join link: set FEEDS_JOIN_URL, or join_url in "
                            "the secrets file FEEDS_SECRETS_FILE")
    return links


def prepare(args: argparse.Namespace, now: datetime) -> Mailing:
    """Read the settings, the data, the ledger and (for --members) the secrets."""
    config = Settings.load({"talks_file": args.data} if args.data else {})
    data_file = Path(config.talks_file)
    try:
        schedule = load_schedule(data_file)
    except InvalidData as exc:
        raise AnnounceError(f"{data_file} has problems; fix them first (feeds validate):\n"
                            + "\n".join(str(p) for p in exc.problems)) from None
    except OSError as exc:
        raise AnnounceError(f"cannot read {data_file}: {exc.strerror or exc}") from None
    update = update_ledger(ledger_path(data_file), schedule, now)
    for warning in update.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if update.revisions is None or update.errors:  # an announcement names a SEQUENCE
        raise AnnounceError("the revision ledger does not record this version of the talks, "
                            "so nothing is announced:\n" + "\n".join(update.errors))
    revisions = update.revisions
    site = BuildOptions.from_settings(config).site.for_series(schedule.series.id_authority)
    if config.site_url == settings.SITE_URL:
        print(f"warning: the links point at {settings.SITE_URL}; set FEEDS_SITE_URL to the "
              "public address", file=sys.stderr)
    series = schedule.series
    senders = (parse_addresses(config.mail_from, "FEEDS_MAIL_FROM") if config.mail_from
               else parse_addresses(series.contact, "the series' contact"))
    if not config.mail_from:
        senders = tuple(Address(one_line(series.title), addr_spec=a.addr_spec) for a in senders)
    if len(senders) != 1:
        raise AnnounceError("FEEDS_MAIL_FROM must be one address")
    to = parse_addresses(args.to if args.to is not None else config.announce_to,
                         "--to" if args.to is not None else "FEEDS_ANNOUNCE_TO")
    if args.send and not to:
        raise AnnounceError("no recipient: give --to ADDRESS or set FEEDS_ANNOUNCE_TO")
    join_urls = _join_urls(config, schedule) if args.members else {}
    return Mailing(config, data_file, schedule, revisions, site, senders[0], to, join_urls, now)


def run(args: argparse.Namespace, now: Callable[[], datetime] | None = None) -> int:
    """`feeds announce`."""
    problem = _usage(args)
    if problem:
        return _fail(problem)
    try:
        mailing = prepare(args, (now or utc_now)())
        smtp = mailer.SmtpSettings.from_settings(mailing.settings) if args.send else None
        if args.due:
            return run_due(mailing, smtp)
        return run_one(mailing, args, smtp)
    except (AnnounceError, mailer.MailError) as exc:
        return _fail(str(exc))


def run_one(mailing: Mailing, args: argparse.Namespace, smtp: mailer.SmtpSettings | None) -> int:
    """One talk's message, to a file or (once) to the recipients."""
    talk = mailing.schedule.talk(args.id)
    if talk is None:
        raise AnnounceError(f"no talk has the id {args.id!r} in {mailing.data_file}")
    kind = REMINDER if args.reminder else ANNOUNCEMENT
    if args.members and talk.id not in mailing.join_urls and not talk.cancelled:
        raise AnnounceError(f"no join link for {talk.id}: set one in the secrets file")
    ledger = sent_path(mailing.data_file)
    to = recipients_key(mailing.to)
    if smtp is None:
        previous = last_sent(read_sent(ledger), talk.id, to)
        update = previous if previous and previous.sequence < mailing.revisions[talk.id].sequence else None
        message = mailing.message(talk, kind, update)
        try:
            write_atomically(args.output, message.as_string())
        except OSError as exc:
            raise AnnounceError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        print(f"wrote the {kind} of {talk.id} to {args.output}: {message['Subject']}")
        return 0
    if talk.end <= mailing.now and not args.force:
        raise AnnounceError(f"{talk.id} took place on {talk.day}; --force sends it anyway")
    return 0 if _send(mailing, ledger, talk, kind, smtp, args.force) else EXIT_ERROR


def run_due(mailing: Mailing, smtp: mailer.SmtpSettings | None) -> int:
    """Everything due now, each once; without SMTP settings, only the list."""
    ledger = sent_path(mailing.data_file)
    to = recipients_key(mailing.to)
    days = mailing.settings.announce_days
    if days < 0:
        raise AnnounceError(f"FEEDS_ANNOUNCE_DAYS={days}: give a number of days, 0 or more")
    entries = read_sent(ledger)
    pending = due_updates(mailing.schedule, mailing.revisions, entries, to) \
        + due_messages(mailing.schedule, entries, mailing.now, days, to)
    if not pending:
        print(f"nothing is due (announcements go out {days} days ahead, reminders on the day)")
    for talk, kind in pending:
        if smtp is None:
            print(f"would send the {kind} of {talk.id} to {to or '(no recipient set)'}: "
                  f"{subject(talk, mailing.schedule.series, kind, False, mailing.now)}")
        elif not _send(mailing, ledger, talk, kind, smtp, force=False, once=kind != UPDATE):
            return EXIT_ERROR
    return 0


def _send(mailing: Mailing, ledger: Path, talk: Talk, kind: str, smtp: mailer.SmtpSettings,
          force: bool, once: bool = False) -> bool:
    """Send one message and record it, under the ledger's lock so that two
    runs never send the same message; False after printing why not."""
    sequence = mailing.revisions[talk.id].sequence
    to = recipients_key(mailing.to)
    with locked(ledger):
        entries = read_sent(ledger)
        same = (next((e for e in entries if (e.talk_id, e.kind, e.to) == (talk.id, kind, to)), None)
                if once else already_sent(entries, talk.id, kind, sequence, to))
        if same is not None and not force:
            print(f"error: the {kind} of {talk.id} (SEQUENCE {same.sequence}) was sent to {to} "
                  f"at {timezones.isoformat_utc(same.sent_at)}; nothing was sent. "
                  "--force sends it again", file=sys.stderr)
            return False
        previous = last_sent(entries, talk.id, to)
        update = previous if previous and previous.sequence < sequence else None
        message = mailing.message(talk, kind, update)
        refused = mailer.send(message, smtp)
        entries.append(Sent(talk.id, kind, sequence, mailing.now.astimezone(timezone.utc)
                            .replace(microsecond=0), to))
        try:
            write_atomically(ledger, render_sent(entries))
        except OSError as exc:
            print(f"error: the {kind} of {talk.id} was sent, but {ledger} cannot be written "
                  f"({exc.strerror or exc}): add this line to it by hand before the next run:\n"
                  + render_sent(entries[-1:]).splitlines()[-1], file=sys.stderr)
            return False
    for who, why in refused.items():
        print(f"warning: {smtp.address} refused {who}: {why}", file=sys.stderr)
    members = " with the join link" if mailing.join_urls else ""
    print(f"sent the {kind}{' (an update)' if update else ''} of {talk.id}{members} "
          f"(SEQUENCE {sequence}) to {to}: {message['Subject']}")
    return True
