"""How the commands report problems: as text on stderr, each also as a
GitHub Actions annotation on stdout with ``--format github``, and one exit
status for every error."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from feeds.data.recorded import Recorded
from feeds.data.yaml_reader import Problem

#: The exit status of a command that failed.
EXIT_ERROR = 1
#: How problems are printed (`feeds validate --format`).
FORMATS = ("text", "github")


def github_annotation(level: str, message: str, problem: Problem | None = None) -> str:
    """A GitHub Actions workflow command (``::error file=…,line=…,col=…::message``)
    that shows `message` at the problem's file and line in a pull request.
    Values are escaped as the Actions toolkit escapes them."""
    def data(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(text: str) -> str:
        return data(text).replace(":", "%3A").replace(",", "%2C")

    where = ""
    if problem is not None:
        fields = [f"file={prop(problem.source)}"]
        if problem.line:
            fields += [f"line={problem.line}", f"col={problem.column}"]
        where = " " + ",".join(fields)
        who = f"talk {problem.talk_id}: " if problem.talk_id else ""
        message = who + problem.message
    return f"::{level}{where}::{data(message)}"


def print_problems(problems: Iterable[Problem], output: str = "text") -> None:
    """The data file's problems, each at its file:line."""
    for problem in problems:
        if output == "github":
            print(github_annotation("error", "", problem))
        print(problem, file=sys.stderr)


def print_warnings(warnings: Iterable[Problem], output: str = "text") -> None:
    """What in the data file works but should change, each at its file:line."""
    for warning in warnings:
        if output == "github":
            print(github_annotation("warning", "", warning))
        print(f"warning: {warning}", file=sys.stderr)


def print_notes(level: str, messages: Iterable[str], file: Path, output: str = "text") -> None:
    """Warnings (`level` "warning") or errors ("error") about `file`, each
    naming it already; with `output` "github" also annotations on it."""
    for message in messages:
        if output == "github":
            print(github_annotation(level, message, Problem(str(file), 0, 0, message)))
        print(f"warning: {message}" if level == "warning" else message, file=sys.stderr)


def print_recorded(recorded: Recorded, output: str = "text") -> None:
    """Everything wrong or odd in reading and recording a data file."""
    print_problems(recorded.problems, output)
    print_warnings(recorded.data_warnings, output)
    print_notes("warning", recorded.warnings, recorded.ledger, output)
    print_notes("error", recorded.errors, recorded.ledger, output)


def fail(message: str, *more: str) -> int:
    """Say what went wrong (and `more` lines), then return EXIT_ERROR."""
    print(f"error: {message}", file=sys.stderr)
    for line in more:
        print(line, file=sys.stderr)
    return EXIT_ERROR
