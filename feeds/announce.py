"""`feeds announce`: a talk's announcement, or its short day-of reminder, as
one e-mail (text, an HTML alternative and the talk's .ics), written to a
file or sent through SMTP (feeds.mailer); `--due` sends what a daily job
should send.

Every message sent is recorded in a ledger beside the data file
(`talks.announced.tsv`: talk, kind, SEQUENCE, when, to whom), so that
nothing goes out twice. The attachment is the talk's own calendar entry
(feeds.ical), with the UID and SEQUENCE of /calendar.ics: a calendar that
already has the talk updates it. The join link appears only with
`--members`."""

from __future__ import annotations

import argparse
import email.policy
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from . import ical, mailer, pages, settings, timezones, urls
from .event_text import CANCELLED_PREFIX
from .files import locked, write_atomically
from .loader import load_schedule
from .model import Schedule, Series, Talk
from .reader import InvalidData, valid_url
from .revisions import Revision, ledger_path, update_ledger
from .secrets_file import Secrets, load_secrets
from .settings import utc_now
from .snapshot import BuildOptions

ANNOUNCEMENT = "announcement"
REMINDER = "reminder"
KINDS = (ANNOUNCEMENT, REMINDER)
#: CRLF line ends and nothing but ASCII on the wire (non-ASCII text is
#: quoted-printable or base64, headers RFC 2047), so any server takes it.
POLICY = email.policy.SMTP.clone(cte_type="7bit")
WRAP = 72  # columns of the plain-text part
EXIT_ERROR = 1
SENT_HEADER = (
    "# Announcements sent by `feeds announce`. Commit it with the data file; never\n"
    "# edit it by hand. Columns: talk id, kind, SEQUENCE, sent at (UTC), recipients.\n"
)


class AnnounceError(Exception):
    """Something the organiser has to fix; the message says what."""


# --- the sent ledger ---------------------------------------------------------------

@dataclass(frozen=True)
class Sent:
    """One message that went out."""

    talk_id: str
    kind: str
    #: The talk's SEQUENCE in the message's attachment.
    sequence: int
    sent_at: datetime
    #: The recipients' addresses, lower-case, sorted, comma-separated.
    to: str


def sent_path(data_file: str | Path) -> Path:
    """`talks.announced.tsv` beside `talks.yaml` (and its revision ledger)."""
    data_file = Path(data_file)
    return data_file.with_name(data_file.stem + ".announced.tsv")


def read_sent(path: Path) -> list[Sent]:
    """The ledger's entries, oldest first; none if there is no ledger yet. A
    damaged line stops everything: sending on without it could send twice."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnounceError(f"cannot read {path}: {exc}") from None
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            talk_id, kind, sequence, sent_at, to = line.split("\t")
            if kind not in KINDS:
                raise ValueError(kind)
            entries.append(Sent(talk_id, kind, int(sequence), timezones.parse_utc(sent_at), to))
        except ValueError:
            raise AnnounceError(f"{path}:{number}: a damaged line; restore the file from git "
                                "(it records what was sent) before announcing") from None
    return entries


def render_sent(entries: Iterable[Sent]) -> str:
    return SENT_HEADER + "".join(
        "\t".join((e.talk_id, e.kind, str(e.sequence), timezones.isoformat_utc(e.sent_at), e.to))
        + "\n" for e in entries)


def last_sent(entries: Iterable[Sent], talk_id: str, to: str) -> Sent | None:
    """The latest message about `talk_id` that went to `to`."""
    found = [e for e in entries if e.talk_id == talk_id and e.to == to]
    return max(found, key=lambda e: e.sent_at, default=None)


def already_sent(entries: Iterable[Sent], talk_id: str, kind: str, sequence: int,
                 to: str) -> Sent | None:
    """The same message (talk, kind, SEQUENCE, recipients), if it went out."""
    return next((e for e in entries if (e.talk_id, e.kind, e.sequence, e.to)
                 == (talk_id, kind, sequence, to)), None)


def due(schedule: Schedule, entries: Iterable[Sent], now: datetime, days: int,
        to: str) -> list[tuple[Talk, str]]:
    """What a daily run at `now` sends: the announcement of each upcoming
    talk from `days` days before its day, the reminder on its day (before it
    starts), each once per recipient list. Cancelled talks get neither."""
    done = {(e.talk_id, e.kind) for e in entries if e.to == to}
    found = []
    for talk in schedule.talks:
        if talk.cancelled or talk.start <= now:
            continue
        today = now.astimezone(talk.zone).date()
        if today == talk.day:
            kind = REMINDER
        elif talk.day - timedelta(days=days) <= today:
            kind = ANNOUNCEMENT
        else:
            continue
        if (talk.id, kind) not in done:
            found.append((talk, kind))
    return found


# --- addresses ---------------------------------------------------------------------

def parse_addresses(text: str, what: str) -> tuple[Address, ...]:
    """The addresses in `text` ("Name <a@b>, c@d"); AnnounceError names `what`."""
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


# --- the message -------------------------------------------------------------------

def _wrap(text: str, indent: str = "") -> str:
    """Plain text wrapped for mail, paragraphs kept, addresses never broken."""
    paragraphs = [" ".join(p.split()) for p in text.replace("\r", "").split("\n\n")]
    return "\n\n".join(textwrap.fill(p, WRAP, initial_indent=indent, subsequent_indent=indent,
                                     break_long_words=False, break_on_hyphens=False)
                       for p in paragraphs if p)


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("feeds", "templates"),
                      autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                      auto_reload=False, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters.update(paragraphs=pages.paragraphs, wrap=_wrap)
    return env


ENV = _environment()


def one_line(text: str) -> str:
    """`text` with every run of whitespace, line breaks included, as one space."""
    return " ".join(text.split())


def reminder_word(talk: Talk, now: datetime) -> str:
    """'Today', 'Tomorrow' or 'Reminder': how a reminder sent at `now` leads."""
    days = (talk.day - now.astimezone(talk.zone).date()).days
    return {0: "Today", 1: "Tomorrow"}.get(days, "Reminder")


def subject(talk: Talk, series: Series, kind: str, update: bool, now: datetime) -> str:
    """'[Series] Title — Mon 13 Apr 2026, 17:00 CEST' (time in the series' zone),
    the title led by 'CANCELLED: ', 'Updated: ' or a reminder's 'Today: '."""
    lead = CANCELLED_PREFIX if talk.cancelled else "Updated: " if update else ""
    if kind == REMINDER and not talk.cancelled:
        lead += reminder_word(talk, now) + ": "
    moment = timezones.format_when(talk.start.astimezone(series.timezone))
    return one_line(f"[{series.title}] {lead}{talk.title} — {moment}")


def attachment(talk: Talk, revision: Revision, series: Series, site: urls.Site,
               join_url: str = "") -> bytes:
    """The talk's calendar file: METHOD:PUBLISH, its VTIMEZONE and its VEVENT
    with the UID and SEQUENCE of /calendar.ics (and the join link for members)."""
    return ical.talk_file(talk, revision, series, site, join_url=join_url)


def _day(moment: datetime) -> str:
    """'Mon 6 April 2026'."""
    return moment.strftime(f"%a {moment.day} %B %Y")


def view(talk: Talk, series: Series, site: urls.Site, kind: str, join_url: str,
         update: Sent | None, now: datetime) -> dict[str, Any]:
    """What both parts of the message say."""
    start = talk.start.astimezone(series.timezone)
    word = reminder_word(talk, now)
    return {
        "series": series, "talk": talk, "reminder": kind == REMINDER, "join_url": join_url,
        "heading": "talk announcement" if kind == ANNOUNCEMENT else (
            f"{word.lower()}'s talk" if word != "Reminder" else "reminder"),
        "update": _day(update.sent_at.astimezone(series.timezone)) if update else "",
        "update_kind": update.kind if update else "",
        "when": timezones.when(start), "zone": series.timezone.key,
        "own_when": timezones.when(talk.start) if talk.zone.key != series.timezone.key else "",
        "own_zone": talk.zone.key, "clocks": timezones.display_clocks(start),
        "page": site.url(urls.talk_page(talk.id)),
        "feeds": pages.series_addresses(series, site),
        "subscribe": site.url(urls.HOME) + "#subscribe",
    }


def compose(talk: Talk, revision: Revision, series: Series, site: urls.Site, kind: str, *,
            sender: Address, to: tuple[Address, ...], now: datetime, join_url: str = "",
            update: Sent | None = None) -> EmailMessage:
    """One message: text/plain with a text/html alternative, and the .ics."""
    context = view(talk, series, site, kind, join_url, update, now)
    context["subject"] = subject(talk, series, kind, update is not None, now)
    message = EmailMessage(policy=POLICY)
    message["Subject"] = context["subject"]
    message["From"] = sender
    if to:
        message["To"] = to
    message["Date"] = format_datetime(now.astimezone(timezone.utc))
    message["Message-ID"] = make_msgid(domain=site.domain)
    message.set_content(ENV.get_template("announce.txt").render(context))
    message.add_alternative(ENV.get_template("announce.html").render(context), subtype="html")
    message.add_attachment(attachment(talk, revision, series, site, join_url), maintype="text",
                           subtype="calendar", filename=f"{talk.id}.ics",
                           params={"method": "PUBLISH", "charset": "utf-8"})
    return message


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
class Job:
    """Everything one run works with."""

    config: Mapping[str, Any]
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


def _join_urls(config: Mapping[str, Any], schedule: Schedule) -> dict[str, str]:
    """The join links, as the members' calendar has them (feeds.members)."""
    env_link = str(config["JOIN_URL"])
    if env_link and not valid_url(env_link):
        raise AnnounceError("FEEDS_JOIN_URL is not a web address")
    secrets = Secrets(env_link)
    if config["SECRETS_FILE"]:
        try:
            secrets = load_secrets(config["SECRETS_FILE"])
        except FileNotFoundError:
            raise AnnounceError(f"the secrets file {config['SECRETS_FILE']} is missing") from None
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


def prepare(args: argparse.Namespace, now: datetime) -> Job:
    """Read the settings, the data, the ledger and (for --members) the secrets."""
    config = settings.load({"TALKS_FILE": args.data} if args.data else {})
    data_file = Path(config["TALKS_FILE"])
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
    site = BuildOptions.from_settings(config).site.for_series(schedule.series.uid_domain)
    if config["SITE_URL"] == settings.SITE_URL:
        print(f"warning: the links point at {settings.SITE_URL}; set FEEDS_SITE_URL to the "
              "public address", file=sys.stderr)
    series = schedule.series
    senders = (parse_addresses(str(config["MAIL_FROM"]), "FEEDS_MAIL_FROM") if config["MAIL_FROM"]
               else parse_addresses(series.contact, "the series' contact"))
    if not config["MAIL_FROM"]:
        senders = tuple(Address(one_line(series.title), addr_spec=a.addr_spec) for a in senders)
    if len(senders) != 1:
        raise AnnounceError("FEEDS_MAIL_FROM must be one address")
    to = parse_addresses(args.to if args.to is not None else str(config["ANNOUNCE_TO"]),
                         "--to" if args.to is not None else "FEEDS_ANNOUNCE_TO")
    if args.send and not to:
        raise AnnounceError("no recipient: give --to ADDRESS or set FEEDS_ANNOUNCE_TO")
    join_urls = _join_urls(config, schedule) if args.members else {}
    return Job(config, data_file, schedule, revisions, site, senders[0], to, join_urls, now)


def run(args: argparse.Namespace, now: Callable[[], datetime] | None = None) -> int:
    """`feeds announce`."""
    problem = _usage(args)
    if problem:
        return _fail(problem)
    try:
        job = prepare(args, (now or utc_now)())
        smtp = mailer.SmtpSettings.from_settings(job.config) if args.send else None
        if args.due:
            return run_due(job, smtp)
        return run_one(job, args, smtp)
    except (AnnounceError, mailer.MailError) as exc:
        return _fail(str(exc))


def run_one(job: Job, args: argparse.Namespace, smtp: mailer.SmtpSettings | None) -> int:
    """One talk's message, to a file or (once) to the recipients."""
    talk = job.schedule.talk(args.id)
    if talk is None:
        raise AnnounceError(f"no talk has the id {args.id!r} in {job.data_file}")
    kind = REMINDER if args.reminder else ANNOUNCEMENT
    if args.members and talk.id not in job.join_urls and not talk.cancelled:
        raise AnnounceError(f"no join link for {talk.id}: set one in the secrets file")
    ledger = sent_path(job.data_file)
    to = recipients_key(job.to)
    if smtp is None:
        previous = last_sent(read_sent(ledger), talk.id, to)
        update = previous if previous and previous.sequence < job.revisions[talk.id].sequence else None
        message = job.message(talk, kind, update)
        try:
            write_atomically(args.output, message.as_string())
        except OSError as exc:
            raise AnnounceError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        print(f"wrote the {kind} of {talk.id} to {args.output}: {message['Subject']}")
        return 0
    if talk.end <= job.now and not args.force:
        raise AnnounceError(f"{talk.id} took place on {talk.day}; --force sends it anyway")
    return 0 if _send(job, ledger, talk, kind, smtp, args.force) else EXIT_ERROR


def run_due(job: Job, smtp: mailer.SmtpSettings | None) -> int:
    """Everything due now, each once; without SMTP settings, only the list."""
    ledger = sent_path(job.data_file)
    to = recipients_key(job.to)
    days = int(job.config["ANNOUNCE_DAYS"])
    if days < 0:
        raise AnnounceError(f"FEEDS_ANNOUNCE_DAYS={days}: give a number of days, 0 or more")
    pending = due(job.schedule, read_sent(ledger), job.now, days, to)
    if not pending:
        print(f"nothing is due (announcements go out {days} days ahead, reminders on the day)")
    for talk, kind in pending:
        if smtp is None:
            print(f"would send the {kind} of {talk.id} to {to or '(no recipient set)'}: "
                  f"{subject(talk, job.schedule.series, kind, False, job.now)}")
        elif not _send(job, ledger, talk, kind, smtp, force=False, once=True):
            return EXIT_ERROR
    return 0


def _send(job: Job, ledger: Path, talk: Talk, kind: str, smtp: mailer.SmtpSettings,
          force: bool, once: bool = False) -> bool:
    """Send one message and record it, under the ledger's lock so that two
    runs never send the same message; False after printing why not."""
    sequence = job.revisions[talk.id].sequence
    to = recipients_key(job.to)
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
        message = job.message(talk, kind, update)
        refused = mailer.send(message, smtp)
        entries.append(Sent(talk.id, kind, sequence, job.now.astimezone(timezone.utc)
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
    members = " with the join link" if job.join_urls else ""
    print(f"sent the {kind}{' (an update)' if update else ''} of {talk.id}{members} "
          f"(SEQUENCE {sequence}) to {to}: {message['Subject']}")
    return True
