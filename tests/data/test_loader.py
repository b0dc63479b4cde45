"""Loading and validating the data file: YAML traps, and an error with
file:line:column and a hint for every kind of mistake."""

from __future__ import annotations

from datetime import datetime, time, timezone

import pytest

from feeds.data.loader import InvalidData, load_schedule, parse_schedule

SERIES = """\
series:
  title: Test Series
  contact: x@example.org
  timezone: Europe/Berlin
  time: "17:00"
talks:
"""


def talk_block(talk_id: str = "t1", day: str = "2026-05-04", extra: str = "") -> str:
    return f"""\
  - id: {talk_id}
    date: {day}
    title: A talk
    speakers:
      - name: Ada Lovelace
        affiliation: Analytical Engines
{extra}"""


def line_of(text: str, marker: str) -> int:
    """The 1-based line of `text` on which `marker` first appears."""
    for number, line in enumerate(text.splitlines(), 1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in the test input")


def problems(text: str) -> list:
    with pytest.raises(InvalidData) as caught:
        parse_schedule(text, "talks.yaml")
    return caught.value.problems


def test_the_seed_file_loads(seed):
    assert len(seed.talks) == 12
    assert seed.series.title == "Efficient ML Reading Group"
    fischer = seed.talk("2026-04-13-fischer")
    assert fischer.start.astimezone(timezone.utc) == datetime(2026, 4, 13, 15, 0, tzinfo=timezone.utc)
    assert fischer.speakers[0].affiliation == "TU Dortmund and Lamarr Institute, Germany"
    assert all(not t.recording for t in seed.talks)  # the seed gives no recording addresses


def test_unquoted_time_means_the_clock_time_not_sexagesimal():
    text = SERIES.replace('time: "17:00"', "time: 17:00") + talk_block(extra="    time: 18:30\n")
    schedule = parse_schedule(text)
    assert schedule.talks[0].start.time() == time(18, 30)
    text = SERIES.replace('time: "17:00"', "time: 17:00") + talk_block()
    assert parse_schedule(text).talks[0].start.time() == time(17, 0)


def test_date_quoted_or_unquoted():
    a = parse_schedule(SERIES + talk_block(day="2026-05-04"))
    b = parse_schedule(SERIES + talk_block(day='"2026-05-04"'))
    assert a.talks[0].start == b.talks[0].start


def test_datetime_with_offset_is_converted_into_the_talk_zone():
    schedule = parse_schedule(SERIES + talk_block(day="2026-05-04T11:00:00-04:00"))
    start = schedule.talks[0].start
    assert start.tzinfo.key == "Europe/Berlin"
    assert (start.hour, start.minute) == (17, 0)  # 15:00Z is 17:00 CEST


def test_yes_and_no_stay_text():
    text = SERIES + talk_block(extra="    note: no\n").replace("title: A talk", "title: yes")
    talk = parse_schedule(text).talks[0]
    assert (talk.title, talk.note) == ("yes", "no")


@pytest.mark.parametrize("case, marker, expected", [
    ("unknown key", "    titel: typo\n", "unknown key 'titel'"),
    ("bad url", "    recording: ftp://example.org/x\n", "write a full http:// or https:// URL"),
    ("url with space", "    recording: https://example.org/a b\n", "without spaces"),
    ("javascript url", "    links:\n      - label: x\n        url: javascript:alert(1)\n", "http:// or https://"),
    ("unknown zone", "    timezone: Europe/Berlinn\n", "not a known time zone"),
    ("bad status", "    status: delayed\n", "status 'delayed' is unknown"),
    ("bad duration", "    duration: long\n", "whole number of minutes"),
    ("bad time", "    time: 25:00\n", "time of day"),
])
def test_each_mistake_names_its_line_talk_and_fix(case, marker, expected):
    text = SERIES + talk_block("my-talk", extra=marker)
    (problem,) = problems(text)
    assert problem.line == line_of(text, marker.strip().splitlines()[-1].strip())
    assert problem.talk_id == "my-talk"
    assert expected in problem.message
    assert str(problem).startswith(f"talks.yaml:{problem.line}:")


ENCODED_CRLF = "=?utf-8?q?=0D=0AReply-To:_attacker=40evil.example?="


@pytest.mark.parametrize("marker", [
    f'    title: "Scaling laws {ENCODED_CRLF} für Transformer"\n',
    "    title: =?UTF-8?B?QmNjOiB2aWN0aW1AZXhhbXBsZS5vcmc=?=\n",
    f'    note: "Moved. {ENCODED_CRLF}"\n',
    f'      - name: "Eve {ENCODED_CRLF}"\n',
])
def test_text_that_mail_would_decode_is_refused_at_its_line(marker):
    """An encoded word (RFC 2047) in a title, a note or a speaker's name would
    be decoded in an announcement's headers, on older Pythons into more headers."""
    text = SERIES + talk_block("my-talk", extra=marker).replace("    title: A talk\n", "") + (
        "" if "title:" in marker else "    title: A talk\n")
    (problem,) = problems(text)
    assert problem.line == line_of(text, marker.strip())
    assert problem.talk_id == "my-talk" and "encoded word (RFC 2047)" in problem.message
    assert str(problem).startswith(f"talks.yaml:{problem.line}:")


def test_an_encoded_word_in_the_series_title_is_refused():
    text = SERIES.replace("title: Test Series", "title: =?utf-8?q?Test=0D=0ABcc:_x=40y.org?=")
    (problem,) = problems(text + talk_block())
    assert problem.line == 2 and "series.title" in problem.message


def test_text_that_only_looks_like_mail_syntax_stays():
    for title in ("Why =? is not an operator", "a=?b, c?=d", "Q&A: what? why? = how?",
                  "<Bcc: x@example.org>", "E = mc²?"):
        text = SERIES + talk_block().replace("title: A talk", f"title: {title!r}")
        assert parse_schedule(text).talks[0].title == title


def test_missing_required_key_and_empty_title():
    text = SERIES + "  - id: no-title\n    date: 2026-05-04\n" + talk_block("empty").replace(
        "title: A talk", 'title: ""')
    found = problems(text)
    messages = {p.talk_id: p for p in found}
    assert "missing the required key 'title'" in messages["no-title"].message
    assert messages["no-title"].line == line_of(text, "id: no-title")
    assert "title must not be empty" in messages["empty"].message
    assert messages["empty"].line == line_of(text, 'title: ""')


def test_duplicate_id_points_at_both_talks():
    text = SERIES + talk_block("same") + talk_block("same", day="2026-05-11")
    (problem,) = problems(text)
    lines = [n for n, line in enumerate(text.splitlines(), 1) if "id: same" in line]
    assert problem.line == lines[1]
    assert f"line {lines[0]}" in problem.message


@pytest.mark.parametrize("bad_id", ["has space", "slash/id", "dots..", "ümlaut", "-leading"])
def test_id_must_be_url_safe(bad_id):
    text = SERIES + talk_block(f'"{bad_id}"')
    (problem,) = problems(text)
    assert "not URL-safe" in problem.message
    assert problem.line == line_of(text, "- id:")


def test_nonexistent_local_time_on_spring_forward_day():
    text = SERIES + talk_block(day="2026-03-29", extra='    time: "02:30"\n')
    (problem,) = problems(text)
    assert "does not exist" in problem.message
    assert problem.line == line_of(text, '"02:30"')


def test_ambiguous_local_time_on_fall_back_day():
    text = SERIES + talk_block(day="2026-10-25", extra='    time: "02:30"\n')
    (problem,) = problems(text)
    assert "happens twice" in problem.message
    assert problem.line == line_of(text, '"02:30"')


def test_all_errors_are_reported_at_once():
    text = (SERIES + talk_block("a", extra="    colour: red\n")
            + talk_block("b", extra="    timezone: Mars/Olympus\n")
            + talk_block("c", extra="    recording: not-a-url\n"))
    found = problems(text)
    assert [p.talk_id for p in found] == ["a", "b", "c"]
    assert [p.line for p in found] == [line_of(text, "colour"), line_of(text, "Mars"),
                                       line_of(text, "not-a-url")]


def test_malformed_yaml_gets_its_line():
    text = SERIES + talk_block() + "    abstract: [unclosed\n  - id: x\n"
    (problem,) = problems(text)
    assert "not valid YAML" in problem.message
    assert problem.line >= line_of(text, "[unclosed")


def test_unknown_series_zone():
    text = SERIES.replace("Europe/Berlin", "Berlin") + talk_block()
    (problem,) = problems(text)
    assert problem.line == line_of(text, "timezone: Berlin")
    assert "Europe/Berlin" in problem.message  # the hint shows the right form


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidData) as caught:
        load_schedule(tmp_path / "nope.yaml")
    assert "cannot read the file" in str(caught.value)
    assert "nope.yaml" in str(caught.value)


# --- limits: what no talk series holds, and what bounds a build ---------------------

def pathological(zones: int, years: tuple[int, int]) -> str:
    """The 25 kB file of issue 10: talks in many zones, in far-apart years."""
    import zoneinfo

    names = sorted(zoneinfo.available_timezones() - {"Factory", "localtime"})[:zones]
    lines = ["series:", "  title: T", "  contact: a@example.org", "  timezone: Europe/Berlin",
             "  time: \"17:00\"", "talks:"]
    for i, name in enumerate(names):
        year = years[i % 2]
        lines += [f"  - id: t{i}", f"    date: {year}-06-0{1 + i % 7}", f"    timezone: {name}",
                  f"    title: Talk {i}", "    speakers: [{name: A}]"]
    return "\n".join(lines) + "\n"


def test_a_file_with_talks_in_1970_and_2999_in_90_zones_is_refused():
    with pytest.raises(InvalidData) as caught:
        parse_schedule(pathological(90, (1970, 2999)), "talks.yaml")
    messages = [str(p) for p in caught.value.problems]
    assert any("talks.yaml:" in m and "between 1900 and 2200" in m for m in messages)
    with pytest.raises(InvalidData) as caught:
        parse_schedule(pathological(90, (2026, 2027)), "talks.yaml")
    assert any("at most 24 different zones" in str(p) and ":" in str(p)
               for p in caught.value.problems)


def test_a_file_at_the_limits_is_accepted(tmp_path):
    schedule = parse_schedule(pathological(23, (1900, 2200)), "talks.yaml")  # + the series' zone
    assert len(schedule.talks) == 23


def test_too_many_talks_are_refused_at_the_talks_line(monkeypatch):
    from feeds.data import loader

    monkeypatch.setattr(loader, "MAX_TALKS", 3)
    text = pathological(4, (2026, 2026))
    with pytest.raises(InvalidData) as caught:
        parse_schedule(text, "talks.yaml")
    (problem,) = caught.value.problems
    assert (problem.line, problem.message) == (7, "4 talks; a file holds at most 3")


@pytest.mark.parametrize("name", ["localtime", "posixrules", "Factory", "posix/Europe/Berlin",
                                  "right/UTC", "Europe/../Europe/Berlin"])
def test_names_in_the_zone_directory_that_are_not_tz_database_zones_are_refused(name):
    for text in (SERIES.replace("Europe/Berlin", repr(name)) + talk_block(),
                 SERIES + talk_block(extra=f"    timezone: {name!r}\n")):
        (problem,) = problems(text)
        assert "not a known time zone" in problem.message


@pytest.mark.parametrize("name", ["UTC", "Etc/GMT+5", "America/Argentina/Buenos_Aires"])
def test_tz_database_zones_are_accepted(name):
    schedule = parse_schedule(SERIES.replace("Europe/Berlin", name) + talk_block())
    assert schedule.series.timezone.key == name


@pytest.mark.parametrize("contact", [
    "a@b.org?cc=x%40evil.org&subject=hi", "a@b.org,c@d.org", "a b@c.org", "<a@b.org>",
    "a@b.org#x", "mailto:a@b.org", "a@b", "a%40b@c.org", "a@b.org&x=1", "a@-b.org",
])
def test_contact_is_one_plain_address(contact):
    text = SERIES.replace("x@example.org", repr(contact)) + talk_block()
    (problem,) = problems(text)
    assert problem.line == line_of(text, "contact:")
    assert "one plain e-mail address" in problem.message


@pytest.mark.parametrize("contact", ["efficientml@gmail.com", "first.last+talks@uni-x.example.de",
                                     "o'brien@example.org"])
def test_plain_addresses_are_accepted(contact):
    assert parse_schedule(SERIES.replace("x@example.org", repr(contact)) + talk_block()
                          ).series.contact == contact


@pytest.mark.parametrize("key", ["id_authority", "uid_domain"])
@pytest.mark.parametrize("pin", ["a b", "http://x.org", "x.org/", "a@b@c.org", "-x.org"])
def test_the_id_authority_is_a_domain_or_an_address(pin, key):
    text = SERIES.replace("talks:\n", f"  {key}: {pin!r}\ntalks:\n") + talk_block()
    (problem,) = problems(text)
    assert f"{key} must be a domain or an e-mail address" in problem.message


def test_the_seed_pins_its_id_authority():
    from helpers import SEED_DATA, SEED_ID_AUTHORITY
    assert f"id_authority: {SEED_ID_AUTHORITY}" in SEED_DATA.read_text()
    assert load_schedule(SEED_DATA).series.id_authority == SEED_ID_AUTHORITY


def test_without_a_pin_the_contact_is_the_id_authority():
    assert parse_schedule(SERIES + talk_block()).series.id_authority == "x@example.org"


def test_the_old_key_uid_domain_works_with_a_warning_at_its_line():
    text = SERIES.replace("talks:\n", "  uid_domain: group.example.org\ntalks:\n") + talk_block()
    warnings: list = []
    schedule = parse_schedule(text, "old.yaml", warnings)
    assert schedule.series.id_authority == "group.example.org"
    (warning,) = warnings
    assert (warning.source, warning.line) == ("old.yaml", line_of(text, "uid_domain"))
    assert str(warning).startswith(f"old.yaml:{line_of(text, 'uid_domain')}:")
    assert "rename the key to id_authority" in warning.message
    renamed = text.replace("uid_domain:", "id_authority:")
    after: list = []
    assert parse_schedule(renamed, "old.yaml", after) == schedule and after == []


def test_both_names_of_the_id_authority_at_once_are_an_error():
    text = SERIES.replace("talks:\n", "  id_authority: a.example.org\n"
                                        "  uid_domain: a.example.org\ntalks:\n") + talk_block()
    (problem,) = problems(text)
    assert problem.line == line_of(text, "uid_domain")
    assert "both id_authority and its old name uid_domain" in problem.message


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "lists.example.org/join", "https://x.org/a b"])
def test_a_join_url_that_is_no_web_address_is_refused_at_its_line(bad):
    text = SERIES.replace('time: "17:00"', f'time: "17:00"\n  join_url: "{bad}"') + talk_block()
    (problem,) = problems(text)
    assert problem.line == line_of(text, "join_url:")
    assert "series.join_url" in problem.message and "web address" in problem.message
    assert str(problem).startswith(f"talks.yaml:{problem.line}:")


def test_join_url_and_rhythm_are_read():
    text = SERIES.replace('time: "17:00"', 'time: "17:00"\n  join_url: https://lists.example.org/join\n'
                                           '  rhythm: "Every Tuesday,   in the evening"') + talk_block()
    series = parse_schedule(text, "talks.yaml").series
    assert series.join_url == "https://lists.example.org/join"
    assert series.rhythm == "Every Tuesday, in the evening"  # one line, like a title


def test_a_rhythm_must_be_text():
    text = SERIES.replace('time: "17:00"', 'time: "17:00"\n  rhythm: [Monday]') + talk_block()
    (problem,) = problems(text)
    assert problem.line == line_of(text, "rhythm:") and "series.rhythm must be text" in problem.message
