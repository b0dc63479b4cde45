"""Reading only the talks that changed: after any edit, a file read again
with the talks of its last reading kept gives the schedule (and the
problems, file:line) of a reading from scratch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from feeds.data import loader, talk_texts
from feeds.data.loader import InvalidData, parse_schedule
from feeds.model import Schedule

ROOT = Path(__file__).resolve().parents[2]
SEED = (ROOT / "data" / "talks.yaml").read_text()
SOURCE = "talks.yaml"
Edit = Callable[[str], str]


@pytest.fixture(autouse=True)
def kept() -> Iterator[None]:
    """Talks kept by their text, as a builder process keeps them."""
    loader.keep_talks()
    yield
    loader.keep_talks(0)


def fresh(text: str) -> Schedule:
    """The schedule read with nothing kept."""
    loader._kept.pop(SOURCE, None)
    try:
        return parse_schedule(text, SOURCE)
    finally:
        loader._kept.pop(SOURCE, None)


def lines(schedule: Schedule) -> list[tuple[str, int]]:
    return [(t.id, t.line) for t in schedule.talks]


def second_talk(text: str) -> int:
    """Where the seed's second talk starts."""
    return text.index("\n  - id:", text.index("\n  - id:") + 1) + 1


EDITS: dict[str, Edit] = {
    "a title": lambda t: t.replace("Revisiting Glorot Initialization", "Glorot, Revisited", 1),
    "a talk added first": lambda t: t.replace(
        "talks:\n", "talks:\n  - id: 2027-01-11-new\n    date: 2027-01-11\n    title: New\n", 1),
    "a talk removed": lambda t: t[:second_talk(t)] + t[t.index("\n  - id:", second_talk(t)) + 1:],
    "a line added to an abstract": lambda t: t.replace("    abstract: |\n",
                                                       "    abstract: |\n      One more line.\n", 1),
    "the series' zone": lambda t: t.replace("timezone: Europe/Berlin", "timezone: Europe/London", 1),
    "the series' time": lambda t: t.replace('time: "17:00"', 'time: "18:00"', 1),
    "a comment between talks": lambda t: t.replace("\n  - id:", "\n# a note\n  - id:", 2),
    "the talks moved above the series": lambda t: t[t.index("talks:\n"):] + "\n"
                                                  + t[:t.index("talks:\n")],
}


@pytest.mark.parametrize("name", EDITS)
def test_an_edit_read_with_the_last_talks_kept_reads_as_from_scratch(name):
    assert talk_texts.cut(SEED) is not None
    parse_schedule(SEED, SOURCE)  # the last reading, kept
    edited = EDITS[name](SEED)
    assert edited != SEED
    again = parse_schedule(edited, SOURCE)
    expected = fresh(edited)
    assert again == expected
    assert lines(again) == lines(expected)


def test_talks_are_kept_only_where_asked_for():
    loader.keep_talks(0)
    first = parse_schedule(SEED, SOURCE)
    again = parse_schedule(EDITS["a title"](SEED), SOURCE)
    assert SOURCE not in loader._kept
    assert not any(t is old for t in again.talks for old in first.talks)


def test_talks_written_as_before_are_not_read_again():
    first = parse_schedule(SEED, SOURCE)
    edited = EDITS["a title"](SEED)
    again = parse_schedule(edited, SOURCE)
    unchanged = [t for t in again.talks if "Glorot" not in t.title]
    assert unchanged and all(any(t is old for old in first.talks) for t in unchanged)
    changed = next(t for t in again.talks if "Glorot" in t.title)
    assert changed.title.startswith("Glorot, Revisited")


@pytest.mark.parametrize("mistake, where", [
    (lambda t: t.replace("date: 2026-06-08", "date: 2026-13-08", 1), "is not a date"),
    (lambda t: t.replace("title: Revisiting", "titel: Revisiting", 1), "unknown key"),
    (lambda t: t.replace("id: 2026-06-08-seleznova", f"id: {t.split('- id: ')[2].split()[0]}", 1),
     "already used"),
    (lambda t: t.replace("    title: Revisiting", "    title: [Revisiting", 1), "not valid YAML"),
])
def test_a_mistake_after_a_kept_reading_names_the_same_line(mistake, where):
    parse_schedule(SEED, SOURCE)
    edited = mistake(SEED)
    with pytest.raises(InvalidData) as kept:
        parse_schedule(edited, SOURCE)
    with pytest.raises(InvalidData) as scratch:
        fresh(edited)
    assert where in str(kept.value)
    assert [str(p) for p in kept.value.problems] == [str(p) for p in scratch.value.problems]


WHOLE = {
    "an anchor used by a later talk": (
        "  - &first\n    id: a\n    date: 2026-05-04\n    title: A\n"
        "  - id: b\n    date: 2026-05-11\n    title: B\n    speakers: [*first]\n"),
    "a flow list": "  [{id: a, date: 2026-05-04, title: A}]\n",
    "a document marker": "  - id: a\n    date: 2026-05-04\n    title: A\n---\n",
}
HEAD = 'series:\n  title: T\n  contact: x@example.org\n  timezone: Europe/Berlin\n  time: "17:00"\n'


@pytest.mark.parametrize("name", WHOLE)
def test_a_file_the_cut_cannot_vouch_for_is_read_whole(name):
    text = HEAD + "talks:\n" + WHOLE[name]
    assert talk_texts.cut(text) is None


def test_a_title_quoted_over_what_looks_like_the_next_talk_reads_as_from_scratch():
    """A quoted title whose second line starts like an item: the piece
    before it does not read alone, so the whole file is read."""
    first = HEAD + "talks:\n  - id: a\n    date: 2026-05-04\n    title: A\n" \
                   "  - id: b\n    date: 2026-05-11\n    title: B\n"
    parse_schedule(first, SOURCE)
    tricky = first.replace("title: A\n", 'title: "A\n  - id: c"\n')
    assert parse_schedule(tricky, SOURCE) == fresh(tricky)
    assert [t.title for t in fresh(tricky).talks] == ["A - id: c", "B"]


def test_talks_at_the_keys_indentation_are_cut_too():
    text = HEAD + "talks:\n- id: a\n  date: 2026-05-04\n  title: A\n" \
                  "- id: b\n  date: 2026-05-11\n  title: B\n"
    pieces = talk_texts.cut(text)
    assert pieces is not None and [p.line for p in pieces.talks] == [6, 9]
    parse_schedule(text, SOURCE)
    edited = text.replace("title: B", "title: Bee")
    assert parse_schedule(edited, SOURCE) == fresh(edited)


def test_a_talk_written_below_its_dash_keeps_its_line_when_the_file_shifts(monkeypatch):
    text = HEAD + "talks:\n  - id: a\n    date: 2026-05-04\n    title: A\n" \
                  "  -\n    id: b\n    date: 2026-05-11\n    title: B\n"
    parse_schedule(text, SOURCE)
    read_alone: list[str] = []
    real = loader._talk_alone

    def spy(piece, *args):  # type: ignore[no-untyped-def]
        read_alone.append(piece.text.split("id: ")[1].split()[0])
        return real(piece, *args)
    monkeypatch.setattr(loader, "_talk_alone", spy)
    shifted = text.replace("talks:\n", "talks:\n  - id: c\n    date: 2026-05-18\n    title: C\n")
    again = parse_schedule(shifted, SOURCE)
    assert read_alone == ["c"]  # a and b kept
    assert lines(again) == lines(fresh(shifted))
    assert dict(lines(again))["b"] == shifted.splitlines().index("    id: b") + 1
