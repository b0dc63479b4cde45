"""The organisers' commands: `feeds add`, `feeds recording`, `feeds cancel`,
`feeds move`, `feeds postpone`.

Each reads the data file, makes one form-keeping edit (feeds.data.editing),
validates the result and only then records it in the ledger and writes it,
holding the data file's lock from reading to writing, so that two commands
at once never lose an edit. Any error prints a message, exits non-zero and
writes nothing."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from feeds import timezones
from feeds.commands import papers, report
from feeds.data import editing, talk_input
from feeds.data.loader import MAX_BYTES, parse_schedule
from feeds.data.recorded import Recorded
from feeds.data.yaml_reader import InvalidData
from feeds.model import Link, Schedule, Talk
from feeds.settings import DATA_FILE, Settings, utc_now

EXIT_CHOOSE = 2  # the organiser has to choose (which author speaks)


def _data_default() -> Path:
    return Path(Settings.load().talks_file)


def register(commands: Any) -> None:
    """Add the organisers' subcommands to the `feeds` parser's subparsers."""
    data_help = f"the data file (default: FEEDS_TALKS_FILE or {DATA_FILE})"
    add = commands.add_parser("add", help="add a talk, from a paper's arXiv, OpenReview "
                                          "or DOI metadata or by hand")
    add.add_argument("--paper", help="an arXiv id or URL, an OpenReview URL, or a DOI")
    add.add_argument("--speaker", action="append", default=[], metavar='"NAME, AFFILIATION"',
                     help="who speaks (repeat for each speaker); the first comma ends the name")
    add.add_argument("--date", help="YYYY-MM-DD (default: the series' next regular slot)")
    add.add_argument("--time", help="HH:MM, local to the series' zone (default: series.time)")
    add.add_argument("--id", help="the talk's permanent id (default: DATE-SURNAME[-SURNAME])")
    add.add_argument("--title", help="the title (without --paper, or to override the paper's)")
    text = add.add_mutually_exclusive_group()
    text.add_argument("--abstract", help="the abstract, plain text")
    text.add_argument("--abstract-file", type=Path, help="a UTF-8 file holding the abstract")
    add.add_argument("--data", type=Path, default=None, help=data_help)
    add.set_defaults(run=run_add)
    rec = commands.add_parser("recording", help="set a talk's recording URL")
    rec.add_argument("id")
    rec.add_argument("url")
    rec.add_argument("--data", type=Path, default=None, help=data_help)
    rec.set_defaults(run=run_recording)
    stop = commands.add_parser("cancel", help="mark a talk cancelled (it stays in the file)")
    stop.add_argument("id")
    stop.add_argument("--note", default="", help="a note for subscribers, e.g. the new date")
    stop.add_argument("--data", type=Path, default=None, help=data_help)
    stop.set_defaults(run=run_cancel)
    move = commands.add_parser("move", help="move a talk to another date or time (calendars, "
                                            "feeds and pages tell subscribers it moved)")
    move.add_argument("id")
    move.add_argument("--date", required=True, help="the new day, YYYY-MM-DD")
    move.add_argument("--time", help="the new start, HH:MM in the talk's zone "
                                     "(default: the time it has now)")
    move.add_argument("--data", type=Path, default=None, help=data_help)
    move.set_defaults(run=run_move)
    later = commands.add_parser("postpone", help="mark a talk postponed: it will take place, "
                                                 "its new date is not known yet")
    later.add_argument("id")
    later.add_argument("--note", default="", help="a note for subscribers")
    later.add_argument("--data", type=Path, default=None, help=data_help)
    later.set_defaults(run=run_postpone)


def _fail(message: str) -> int:
    return report.fail(message, "Nothing was written.")


def _load(path: Path) -> tuple[str, Schedule]:
    text = editing.read_text(path)
    try:
        return text, parse_schedule(text, str(path))
    except InvalidData as exc:
        raise editing.EditError(f"{path} has problems; fix them first (feeds validate):\n"
                                + "\n".join(str(p) for p in exc.problems)) from None


def _save(path: Path, original: str, new: str, now: datetime) -> Recorded:
    """Record `new` in the ledger, then write it (see editing.write: a ledger
    that cannot record the change raises EditError, nothing written)."""
    recorded = editing.write(path, original, new, now)
    report.print_notes("warning", recorded.warnings, recorded.ledger)
    return recorded


def _abstract(args: argparse.Namespace) -> str | None:
    if args.abstract_file is not None:  # a pipe (/dev/stdin) is fine: read at most the limit
        try:
            with open(args.abstract_file, "rb") as handle:
                raw = handle.read(MAX_BYTES + 1)
            if len(raw) > MAX_BYTES:
                raise editing.EditError(f"{args.abstract_file} is larger than "
                                        f"{MAX_BYTES // 2**20} MB; that is no abstract")
            return raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise editing.EditError(f"cannot read {args.abstract_file}: {exc}") from None
    return args.abstract


def run_add(args: argparse.Namespace, today: date | None = None,
            now: Callable[[], datetime] | None = None) -> int:
    """`feeds add`: the talk is written only once everything is known and valid."""
    path = args.data or _data_default()
    try:
        _, schedule = _load(path)
        if not args.paper and not args.title:
            return _fail("give --paper (arXiv, OpenReview or DOI), or --title (and "
                         "--abstract) by hand")
        # Everything given by hand is checked before the paper is looked up.
        speakers = tuple(talk_input.parse_speaker(s) for s in args.speaker)
        day: date | None = None
        if args.date:
            try:
                day = date.fromisoformat(args.date)
            except ValueError:
                return _fail(f"--date {args.date!r} is not a date; write YYYY-MM-DD")
        if args.id:
            talk_input.check_id(args.id, {t.id for t in schedule.talks})
        start = talk_input.check_time(args.time) if args.time else ""
        hand_abstract = _abstract(args)
        # The look-up happens before the lock: a slow API never holds up another edit.
        paper = papers.fetch_paper(args.paper, contact=schedule.series.contact) if (
            args.paper) else None
        if not speakers:
            return _no_speaker(paper)
        title = " ".join((args.title or (paper.title if paper else "")).split())
        abstract = papers.clean_abstract(hand_abstract) if hand_abstract is not None else (
            paper.abstract if paper else "")
        with editing.lock(path):
            original, schedule = _load(path)  # as any edit made meanwhile left it
            taken = {t.id for t in schedule.talks}
            if args.id:
                talk_input.check_id(args.id, taken)
            if day is None:
                moment = (now or utc_now)()
                day, how = talk_input.next_slot(
                    schedule, today or moment.astimezone(schedule.series.timezone).date())
                print(f"date: {how}; give --date to choose another")
            talk = talk_input.NewTalk(
                id=args.id or talk_input.make_id(day, speakers, taken), day=day, title=title,
                speakers=speakers, abstract=abstract,
                links=(Link(paper.label, paper.url),) if paper else (),
                time=start)
            new = editing.insert_talk(original, str(path), talk)
            _save(path, original, new, (now or utc_now)())
    except (editing.EditError, papers.PaperError) as exc:
        return _fail(str(exc))
    print(f"added talk {talk.id} on {day.isoformat()} to {path}: {title}")
    return 0


def _no_speaker(paper: papers.Paper | None) -> int:
    """List the authors and say how to choose; never guess a speaker."""
    if paper is not None:
        print(f"{paper.label} {paper.url}: {paper.title}")
        print("Authors:" if paper.authors else "The paper lists no authors.")
        for author in paper.authors:
            print(f"  {author}")
    print('Say who speaks with --speaker "Name, Affiliation" (repeat it for each speaker). '
          "Nothing was written.", file=sys.stderr)
    return EXIT_CHOOSE


def _edit_talk(args: argparse.Namespace, now: Callable[[], datetime] | None,
               edit: Callable[[str, str], str], unchanged: str) -> tuple[int | None, Talk | None]:
    """Apply `edit` (file text, file name -> new text) for the talk `args.id`:
    (None, the talk as it was) once written, else (an exit status, None)."""
    path = args.data or _data_default()
    try:
        with editing.lock(path):
            original, schedule = _load(path)
            old = schedule.talk(args.id)
            new = edit(original, str(path))
            if new == original:
                print(unchanged)
                return 0, None
            _save(path, original, new, (now or utc_now)())
    except editing.EditError as exc:
        return _fail(str(exc)), None
    return None, old


def run_recording(args: argparse.Namespace,
                  now: Callable[[], datetime] | None = None) -> int:
    """`feeds recording ID URL`."""
    status, old = _edit_talk(
        args, now, lambda text, source: editing.set_recording(text, source, args.id, args.url),
        f"talk {args.id} already has the recording {args.url.strip()}")
    if status is not None:
        return status
    was = f" (was {old.recording})" if old and old.recording else ""
    print(f"talk {args.id}: recording {args.url.strip()}{was}")
    return 0


def _say_if_note_replaced(old: Talk | None, note: str) -> None:
    """Tell the organiser which note a new one replaced, so nothing is lost unseen."""
    if old and old.note and note.strip() and old.note != note.strip():
        print(f"its note was replaced; it was: {old.note}")


def run_cancel(args: argparse.Namespace, now: Callable[[], datetime] | None = None) -> int:
    """`feeds cancel ID [--note TEXT]`."""
    status, old = _edit_talk(
        args, now, lambda text, source: editing.cancel(text, source, args.id, args.note),
        f"talk {args.id} is already cancelled")
    if status is not None:
        return status
    print(f"talk {args.id} is cancelled; calendars will show it as cancelled")
    _say_if_note_replaced(old, args.note)
    return 0


def run_move(args: argparse.Namespace, now: Callable[[], datetime] | None = None) -> int:
    """`feeds move ID --date YYYY-MM-DD [--time HH:MM]`."""
    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        return _fail(f"--date {args.date!r} is not a date; write YYYY-MM-DD")
    moment = (now or utc_now)()
    status, old = _edit_talk(
        args, lambda: moment,
        lambda text, source: editing.move(text, source, args.id, day, args.time or "", moment),
        f"talk {args.id} already starts then")
    if status is not None:
        return status
    new = _load(args.data or _data_default())[1].talk(args.id)
    if old and new:
        print(f"talk {args.id} moved from {timezones.when(old.start)} to "
              f"{timezones.when(new.start)}; calendars and feeds will say so")
    return 0


def run_postpone(args: argparse.Namespace, now: Callable[[], datetime] | None = None) -> int:
    """`feeds postpone ID [--note TEXT]`."""
    status, old = _edit_talk(
        args, now, lambda text, source: editing.postpone(text, source, args.id, args.note),
        f"talk {args.id} is already postponed")
    if status is not None:
        return status
    print(f"talk {args.id} is postponed: it keeps its slot, marked postponed, until "
          f"`feeds move {args.id} --date …` sets the new date")
    _say_if_note_replaced(old, args.note)
    return 0
