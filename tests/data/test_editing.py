"""Form-keeping edits of the data file: the new fields land right and every
other byte of the file stays as it was."""

from __future__ import annotations

import difflib
import os
from datetime import date, datetime, timezone

import pytest

from feeds.data import editing, talk_input
from feeds.data.loader import parse_schedule
from feeds.data.revisions import ledger_path, read_ledger
from feeds.data.talk_input import EditError, NewTalk
from feeds.model import Link, Speaker

from helpers import NOW, SEED_DATA

SEED = SEED_DATA.read_bytes().decode("utf-8")
SPEAKER = (Speaker("Niklas Muennighoff", "Stanford University, USA"),)


def only_insertion(old: str, new: str) -> list[str]:
    """The lines `new` adds to `old`, asserting that nothing else changed."""
    ops = [op for op in difflib.SequenceMatcher(None, old.splitlines(True), new.splitlines(True),
                                                autojunk=False).get_opcodes()
           if op[0] != "equal"]
    assert len(ops) == 1 and ops[0][0] == "insert", ops
    _, i1, _, j1, j2 = ops[0]
    added = new.splitlines(True)[j1:j2]
    assert "".join(new.splitlines(True)[:j1]) + "".join(added) + "".join(
        new.splitlines(True)[j2:]) == new
    assert "".join(new.splitlines(True)[:j1] + new.splitlines(True)[j2:]) == old
    return added


def file_order(text: str) -> list[str]:
    return [line.split("id: ", 1)[1].strip() for line in text.splitlines()
            if line.startswith("  - id: ")]


def talk(**fields) -> NewTalk:
    values = {"id": "2026-06-22-muennighoff", "day": date(2026, 6, 22),
              "title": "s1: Simple test-time scaling", "speakers": SPEAKER}
    values.update(fields)
    return NewTalk(**values)


def test_new_talk_lands_first_in_a_newest_first_file_and_nothing_else_moves():
    new = editing.insert_talk(SEED, "seed", talk(
        abstract="First paragraph.\n\nSecond paragraph.",
        links=(Link("arXiv", "https://arxiv.org/abs/2501.19393"),), time="18:30"))
    only_insertion(SEED, new)
    assert file_order(new)[:2] == ["2026-06-22-muennighoff", "2026-06-08-seleznova"]
    added = parse_schedule(new).talk("2026-06-22-muennighoff")
    assert added is not None
    assert added.title == "s1: Simple test-time scaling"
    assert added.speakers == SPEAKER
    assert added.abstract == "First paragraph.\n\nSecond paragraph."
    assert added.links == (Link("arXiv", "https://arxiv.org/abs/2501.19393"),)
    assert added.start.isoformat() == "2026-06-22T18:30:00+02:00"
    # Every other talk is exactly what it was.
    before = parse_schedule(SEED)
    assert tuple(t for t in parse_schedule(new).talks if t.id != added.id) == before.talks


def test_new_talk_is_written_in_the_seeds_own_form():
    new = editing.insert_talk(SEED, "seed", talk(abstract="One line.",
                                                 links=(Link("arXiv", "https://x.org/a"),)))
    block = "".join(only_insertion(SEED, new))
    assert block.startswith("  - id: 2026-06-22-muennighoff\n    date: 2026-06-22\n")
    assert '    title: "s1: Simple test-time scaling"\n' in block
    assert "    speakers:\n      - name: Niklas Muennighoff\n" in block
    assert "        affiliation: Stanford University, USA\n" in block
    assert "    abstract: |\n      One line.\n" in block
    assert "    links:\n      - label: arXiv\n        url: https://x.org/a\n" in block
    assert block.endswith("\n\n")  # the blank line between talks, as in the seed


def test_talk_between_others_goes_where_its_date_belongs_above_their_comments():
    new = editing.insert_talk(SEED, "seed", talk(id="x", day=date(2026, 4, 6)))
    only_insertion(SEED, new)
    order = file_order(new)
    assert order[order.index("x") - 1:order.index("x") + 2] == [
        "2026-04-13-fischer", "x", "2026-03-30-muennighoff"]
    # The comment above the March talk still sits right above it.
    lines = new.splitlines()
    at = lines.index("  - id: 2026-03-30-muennighoff")
    assert lines[at - 1].lstrip().startswith("# are not known here")


def test_oldest_talk_goes_last():
    new = editing.insert_talk(SEED, "seed", talk(id="old", day=date(2025, 12, 1)))
    only_insertion(SEED, new)
    assert file_order(new)[-1] == "old"
    assert new.endswith("  - id: old\n    date: 2025-12-01\n"
                        '    title: "s1: Simple test-time scaling"\n    speakers:\n'
                        "      - name: Niklas Muennighoff\n"
                        "        affiliation: Stanford University, USA\n")


OLDEST_FIRST = """\
# oldest first, no blank lines, CRLF
series:
  title: T
  contact: a@example.org
  timezone: Europe/Berlin
  time: '17:00'
talks:
- id: a   # first
  date: 2026-01-05
  title: 'A'
- id: c
  date: 2026-01-19
  title: C
""".replace("\n", "\r\n")


def test_oldest_first_file_keeps_its_order_line_ends_and_indentation():
    new = editing.insert_talk(OLDEST_FIRST, "f", talk(id="b", day=date(2026, 1, 12)))
    only_insertion(OLDEST_FIRST, new)
    assert [t.id for t in parse_schedule(new).talks] == ["a", "b", "c"]
    assert new.index("- id: b") < new.index("- id: c")
    assert "\r\n- id: b\r\n  date: 2026-01-12\r\n" in new and "\n" not in new.replace("\r\n", "")
    newest = editing.insert_talk(OLDEST_FIRST, "f", talk(id="d", day=date(2026, 2, 2)))
    assert newest.endswith("- id: d\r\n  date: 2026-02-02\r\n"
                           '  title: "s1: Simple test-time scaling"\r\n  speakers:\r\n'
                           "    - name: Niklas Muennighoff\r\n"
                           "      affiliation: Stanford University, USA\r\n")
    assert newest.startswith(OLDEST_FIRST)


@pytest.mark.parametrize("title", ["s1: Simple", "# not a comment", "- a dash", "it's 'quoted'",
                                   'say "hi"', "yes", "17:00", "null", "@home", "a #b", "[x]",
                                   "Ünïcödé — dash"])
def test_titles_that_need_quoting_come_back_unchanged(title):
    new = editing.insert_talk(SEED, "seed", talk(title=title))
    only_insertion(SEED, new)
    assert parse_schedule(new).talk("2026-06-22-muennighoff").title == title


def test_recording_is_added_as_one_line_in_readme_key_order():
    new = editing.set_recording(SEED, "seed", "2026-02-09-zhang", "https://video.example.org/z")
    added = only_insertion(SEED, new)
    assert added == ["    recording: https://video.example.org/z\n"]
    lines = new.splitlines()
    at = lines.index("    recording: https://video.example.org/z")
    assert lines[at + 1].startswith("    note:")  # before the note, after the links
    assert parse_schedule(new).talk("2026-02-09-zhang").recording == "https://video.example.org/z"


def test_recording_on_the_last_talk_of_the_file():
    new = editing.set_recording(SEED, "seed", "2026-01-12-han", "https://video.example.org/h")
    assert only_insertion(SEED, new) == ["    recording: https://video.example.org/h\n"]


def test_recording_replaces_the_old_value_in_place():
    once = editing.set_recording(SEED, "seed", "2026-03-09-wen", "https://video.example.org/1")
    twice = editing.set_recording(once, "seed", "2026-03-09-wen", "https://video.example.org/2")
    assert twice == once.replace("https://video.example.org/1", "https://video.example.org/2")


@pytest.mark.parametrize("url", ["video.example.org/x", "https://exa mple.org", "ftp://x.org/v",
                                 ""])
def test_a_bad_recording_url_is_refused(url):
    with pytest.raises(EditError, match="not a web address"):
        editing.set_recording(SEED, "seed", "2026-03-09-wen", url)


def test_unknown_talk_is_refused():
    with pytest.raises(EditError, match="no talk with the id 'nope'"):
        editing.set_recording(SEED, "seed", "nope", "https://video.example.org/x")
    with pytest.raises(EditError, match="no talk with the id 'nope'"):
        editing.cancel(SEED, "seed", "nope")


def test_cancel_sets_status_and_note_and_keeps_the_rest():
    new = editing.cancel(SEED, "seed", "2026-05-11-mehlig", "Moved: see 2026-07-06 #later")
    added = only_insertion(SEED, new)
    assert added[-1] == "    status: cancelled\n"
    talk_after = parse_schedule(new).talk("2026-05-11-mehlig")
    assert talk_after.cancelled and talk_after.note == "Moved: see 2026-07-06 #later"


def test_cancel_replaces_an_existing_note():
    new = editing.cancel(SEED, "seed", "2026-02-09-zhang", "Postponed.\n\nNew date soon.")
    zhang = parse_schedule(new).talk("2026-02-09-zhang")
    assert zhang.cancelled and zhang.note == "Postponed.\n\nNew date soon."
    again = editing.cancel(new, "seed", "2026-02-09-zhang", "Short.")
    assert parse_schedule(again).talk("2026-02-09-zhang").note == "Short."
    assert again.count("2026-02-09-zhang") == 1 and "Postponed" not in again


# --- next slot and id ------------------------------------------------------------


@pytest.mark.parametrize("today, expected", [
    (NOW.date(), date(2026, 6, 22)),  # all slots up to the last talk are taken
    (date(2026, 6, 9), date(2026, 6, 22)),
    (date(2026, 6, 22), date(2026, 6, 22)),  # on or after today
    (date(2026, 6, 23), date(2026, 7, 6)),
    (date(2027, 1, 1), date(2027, 1, 4)),  # 15 fortnights after 2026-06-08
])
def test_next_slot_follows_the_seeds_fortnightly_mondays(seed, today, expected):
    day, how = talk_input.next_slot(seed, today)
    assert day == expected and day.weekday() == 0
    assert expected.isoformat() in how and "14 days" in how


def weekly(*days: str) -> str:
    talks = "".join(f"  - id: t{i}\n    date: {d}\n    title: T\n" for i, d in enumerate(days))
    return ("series:\n  title: S\n  contact: a@example.org\n  timezone: Europe/Berlin\n"
            f"  time: \"17:00\"\ntalks:\n{talks}")


def test_next_slot_fills_a_free_week_before_the_last_booked_talk():
    schedule = parse_schedule(weekly("2026-05-06", "2026-05-13", "2026-05-20", "2026-06-03"))
    assert talk_input.next_slot(schedule, date(2026, 5, 21))[0] == date(2026, 5, 27)
    assert talk_input.next_slot(schedule, date(2026, 5, 28))[0] == date(2026, 6, 10)


def test_an_irregular_series_keeps_its_weekday(seed):
    schedule = parse_schedule(weekly("2026-05-05", "2026-05-15", "2026-05-26"))  # Tue Fri Tue
    day, _ = talk_input.next_slot(schedule, date(2026, 6, 1))
    assert day == date(2026, 6, 2) and day.weekday() == 1


@pytest.mark.parametrize("names, expected", [
    (["Niklas Muennighoff"], "2027-01-11-muennighoff"),
    (["Eugenia Iofinova", "Andrej Jovanovic"], "2027-01-11-iofinova-jovanovic"),
    (["Emmanuel Candès"], "2027-01-11-candes"),
    (["Jürgen Straße"], "2027-01-11-strasse"),
    (["Anna Smith-Jones"], "2027-01-11-smith-jones"),
    (["李 王"], "2027-01-11-talk"),
])
def test_ids_follow_the_seeds_scheme(names, expected):
    speakers = [Speaker(n) for n in names]
    assert talk_input.make_id(date(2027, 1, 11), speakers, set()) == expected


def test_seed_ids_are_what_the_scheme_gives(seed):
    for existing in seed.talks:
        if len(existing.speakers) and existing.id != "2026-01-19-entezari":
            assert talk_input.make_id(existing.day, existing.speakers, set()) == existing.id


def test_ids_are_unique():
    taken = {"2027-01-11-wen", "2027-01-11-wen-2"}
    assert talk_input.make_id(date(2027, 1, 11), [Speaker("Kaiyue Wen")], taken) == "2027-01-11-wen-3"


@pytest.mark.parametrize("given", ["has space", "-dash-first", "ü", "x" * 101])
def test_a_bad_hand_made_id_is_refused(given):
    with pytest.raises(EditError, match="not URL-safe"):
        talk_input.check_id(given, set())


def test_a_taken_id_is_refused():
    with pytest.raises(EditError, match="already used"):
        talk_input.check_id("2026-03-09-wen", {"2026-03-09-wen"})


def test_speaker_is_split_at_the_first_comma():
    assert talk_input.parse_speaker("Ting Han, Lamarr Institute, TU Dortmund, Germany") == Speaker(
        "Ting Han", "Lamarr Institute, TU Dortmund, Germany")
    assert talk_input.parse_speaker("  Rahim   Entezari ") == Speaker("Rahim Entezari")
    with pytest.raises(EditError, match="no name"):
        talk_input.parse_speaker(", Somewhere")


# --- writing ------------------------------------------------------------------------


def test_write_keeps_mode_and_records_the_ledger(data_file):
    os.chmod(data_file, 0o640)
    original = editing.read_text(data_file)
    new = editing.insert_talk(original, str(data_file), talk())
    at = datetime(2026, 4, 2, 9, 0, tzinfo=timezone.utc)
    editing.write(data_file, original, new, at)
    assert data_file.read_bytes() == new.encode("utf-8")
    assert os.stat(data_file).st_mode & 0o777 == 0o640
    ledger = read_ledger(ledger_path(data_file))
    assert ledger["2026-06-22-muennighoff"].first_seen == at
    assert not [p for p in data_file.parent.iterdir() if p.name.endswith(".tmp")]


def test_an_invalid_result_is_never_written(data_file):
    original = editing.read_text(data_file)
    before = (data_file.read_bytes(), os.stat(data_file).st_mtime_ns)
    broken = original.replace("  - id: 2026-03-09-wen\n", "  - id: 2026-03-02-walter\n")
    with pytest.raises(EditError, match="already used"):
        editing.write(data_file, original, broken, NOW)
    assert (data_file.read_bytes(), os.stat(data_file).st_mtime_ns) == before
    assert not ledger_path(data_file).exists()


def test_a_file_changed_meanwhile_is_not_overwritten(data_file):
    original = editing.read_text(data_file)
    new = editing.insert_talk(original, str(data_file), talk())
    data_file.write_text(original + "# someone else's edit\n", encoding="utf-8")
    with pytest.raises(EditError, match="changed while"):
        editing.write(data_file, original, new, NOW)
    assert data_file.read_text(encoding="utf-8").endswith("# someone else's edit\n")
