"""`feeds announce` through `feeds.commands.cli.main`, against a real SMTP server on
loopback (aiosmtpd). Received messages are parsed with the standard `email`
package, attachments read by icalendar, vobject and the strict `ical`
package and compared with the app's /calendar.ics; expected times come from
zoneinfo, not from the code under test."""

from __future__ import annotations

import email.policy
import email.utils
import json
import os
import re
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject
from ical.calendar_stream import IcsCalendarStream
from playwright.sync_api import sync_playwright

from feeds.commands import announce, cli, mailer
from feeds.data.loader import load_schedule
from feeds.data.revisions import ledger_path, update_ledger
from feeds.urls import Site

from helpers import (
    ARGS,
    ARTIFACTS,
    CHROMIUM,
    NOW,
    ROOT,
    SITE_URL,
    FakeClock,
    add_to_talk,
    clean_environment,
    revisions_for,
    talk_id_of,
    talk_uid,
)
from smtp_server import PASSWORD, Inbox, smtp_server

TALK = "2026-04-13-fischer"  # the next talk after NOW (Monday 13 April 2026, 17:00 Berlin)
BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 4, 13, 17, 0, tzinfo=BERLIN)
LIST = "list@example.org"
JOIN = "https://meet.example.org/j/SECRETJOIN123?pwd=ZZtopSECRET"
OVERRIDE = "https://other.example.net/room/OVERRIDESECRET456"
TOKEN = "tokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
SECRETS = ("SECRETJOIN123", "ZZtopSECRET", "OVERRIDESECRET456", TOKEN)


def when(moment: datetime, month: str = "%B") -> str:
    """'Mon 13 April 2026, 17:00 CEST', from the tz database."""
    return f"{moment:%a} {moment.day} {moment.strftime(month)} {moment:%Y, %H:%M} {moment.tzname()}"


def clock_in(zone: str, moment: datetime = START) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    day = f"{local:%a} " if local.date() != moment.date() else ""
    return f"{day}{local:%H:%M} {local.tzname()}"


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    clock = FakeClock(NOW)
    monkeypatch.setattr(announce, "utc_now", clock)
    return clock


@pytest.fixture
def environment(monkeypatch, data_file):
    """Only the settings each test gives: the data, the site, the list."""
    import os
    for name in [n for n in os.environ if n.startswith("FEEDS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FEEDS_TALKS_FILE", str(data_file))
    monkeypatch.setenv("FEEDS_SITE_URL", SITE_URL)
    monkeypatch.setenv("FEEDS_ANNOUNCE_TO", f"Reading group <{LIST}>")
    return monkeypatch


@pytest.fixture
def inbox(environment, clock) -> Iterator[Inbox]:
    with smtp_server("none") as (env, received):
        for key, value in env.items():
            environment.setenv(key, value)
        yield received


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.yaml"
    path.write_text(f"join_url: {JOIN}\ntalks:\n  2026-04-27-pinson: {OVERRIDE}\n"
                    f"tokens:\n  - token: {TOKEN}\n    label: the list\n", encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["announce", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def calendar_part(message: EmailMessage) -> EmailMessage:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert isinstance(part, EmailMessage)
    return part


def texts(message: EmailMessage) -> tuple[str, str]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def event_of(ics: bytes, talk_id: str = TALK) -> icalendar.Event:
    events = [e for e in icalendar.Calendar.from_ical(ics).walk("VEVENT")
              if talk_id_of(e) == talk_id]
    assert len(events) == 1
    return events[0]


def public_event(make_app, talk_id: str = TALK) -> icalendar.Event:
    """The talk's VEVENT in the app's /calendar.ics (the same data file and ledger)."""
    return event_of(make_app().test_client().get("/calendar.ics").data, talk_id)


# --- the announcement --------------------------------------------------------------

def test_the_announcement_carries_the_calendars_uid_sequence_and_instant(
        inbox, data_file, make_app, capsys):
    # published a week ago, then edited: the calendar says SEQUENCE:1
    update_ledger(ledger_path(data_file), load_schedule(data_file), NOW - timedelta(days=7))
    add_to_talk(data_file, TALK, 'note: "Slides will be shared after the talk."')
    public = public_event(make_app)
    assert public["SEQUENCE"] == 1
    code, out, err = run(capsys, TALK, "--send")
    assert code == 0, err
    assert "sent the announcement" in out
    [received] = inbox.messages
    assert received.rcpt_tos == [LIST] and received.mail_from == "efficientml@gmail.com"
    message = received.message
    assert message.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/calendar"]
    part = calendar_part(message)
    assert part.get_param("method") == "PUBLISH"
    assert part.get_content_disposition() == "attachment" and part.get_filename() == f"{TALK}.ics"
    ics = part.get_payload(decode=True)
    assert isinstance(ics, bytes)

    calendar = icalendar.Calendar.from_ical(ics)
    assert calendar["METHOD"] == "PUBLISH"
    event = event_of(ics)
    assert event["UID"] == public["UID"] == talk_uid(TALK)
    assert event["SEQUENCE"] == public["SEQUENCE"] == 1
    instant = START.astimezone(timezone.utc)
    assert event.decoded("DTSTART") == public.decoded("DTSTART") == instant
    parsed = vobject.readOne(ics.decode("utf-8")).vevent
    assert parsed.uid.value == str(public["UID"]) and int(parsed.sequence.value) == 1
    assert parsed.dtstart.value == instant
    [strict] = IcsCalendarStream.calendar_from_ics(ics.decode("utf-8")).events
    assert strict.uid == str(public["UID"]) and strict.sequence == 1 and strict.dtstart == instant

    assert message["Subject"] == (
        f"[Efficient ML Reading Group] Sustainable Development and Energy Efficiency in Deep "
        f"Learning — {when(START, '%b')}")
    assert message["To"].addresses[0].addr_spec == LIST
    assert message["From"].addresses[0].addr_spec == "efficientml@gmail.com"
    # A random id under the site's public host (SITE_URL's): one @, a dotted domain.
    left, right = str(message["Message-ID"]).strip("<>").split("@")
    assert left and right == "talks.example.org"
    assert email.utils.parsedate_to_datetime(message["Date"]) == NOW
    plain, html = texts(message)
    for text in (plain, html):
        assert "Sustainable Development and Energy Efficiency in Deep Learning" in text
        assert "Raphael Fischer" in text and "TU Dortmund and Lamarr Institute, Germany" in text
        assert when(START) in text and "Europe/Berlin" in text
        for shown in (clock_in("UTC"), "New York " + clock_in("America/New_York"),
                      "Los Angeles " + clock_in("America/Los_Angeles"),
                      "Tokyo " + clock_in("Asia/Tokyo")):
            assert shown in text, shown
        assert f"{SITE_URL}/talks/{TALK}" in text
        assert f"{SITE_URL}/calendar.ics" in text and f"{SITE_URL}/#subscribe" in text
        assert "Slides will be shared after the talk." in text
        assert "Online" in text
    assert "Tokyo Tue 00:00 JST" in plain  # the day after, spelled out
    talk = load_schedule(data_file).talk(TALK)
    assert talk is not None and talk.abstract.split()[0] in plain
    assert all(len(line) <= 100 for line in plain.splitlines())  # wrapped for mail


def test_without_members_no_secret_appears_anywhere(inbox, environment, secrets_file, capsys):
    environment.setenv("FEEDS_SECRETS_FILE", str(secrets_file))
    environment.setenv("FEEDS_JOIN_URL", JOIN)
    assert run(capsys, TALK, "--send")[0] == 0
    [received] = inbox.messages
    decoded = [p.get_payload(decode=True) for p in received.message.walk()
               if not p.is_multipart()]
    for blob in [received.data, *decoded]:
        assert isinstance(blob, bytes)
        for secret in SECRETS:
            assert secret.encode() not in blob


def test_members_puts_the_join_link_in_text_html_location_and_conference(
        inbox, environment, secrets_file, capsys):
    environment.setenv("FEEDS_SECRETS_FILE", str(secrets_file))
    for talk_id, link in ((TALK, JOIN), ("2026-04-27-pinson", OVERRIDE)):
        code, out, err = run(capsys, talk_id, "--members", "--send")
        assert code == 0, err
        assert "join link" in out and link not in out + err
        message = inbox.messages[-1].message
        plain, html = texts(message)
        assert link in plain
        assert link.replace("&", "&amp;") in html or link in html
        event = event_of(calendar_part(message).get_payload(decode=True), talk_id)
        assert str(event["LOCATION"]) == link
        [conference] = event.conferences
        assert conference.uri == link
        for secret in SECRETS:
            if secret not in link:
                assert secret.encode() not in inbox.messages[-1].data
        assert TOKEN.encode() not in inbox.messages[-1].data


def test_members_without_a_join_link_is_an_error(inbox, capsys):
    code, _, err = run(capsys, TALK, "--members", "--send")
    assert code == 1 and "FEEDS_JOIN_URL" in err
    assert inbox.messages == []


def test_a_second_send_refuses_and_force_sends_again(inbox, data_file, capsys):
    assert run(capsys, TALK, "--send")[0] == 0
    code, out, err = run(capsys, TALK, "--send")
    assert code == 1 and "was sent" in err and "--force" in err
    assert len(inbox.messages) == 1
    assert run(capsys, TALK, "--send", "--force")[0] == 0
    assert len(inbox.messages) == 2
    # another list is another message; the reminder is another kind
    assert run(capsys, TALK, "--send", "--to", "other@example.org")[0] == 0
    assert run(capsys, TALK, "--send", "--reminder")[0] == 0
    assert [m.rcpt_tos for m in inbox.messages] == [[LIST], [LIST], ["other@example.org"], [LIST]]
    ledger = data_file.with_name("talks.announced.tsv")
    assert ledger.exists() and ledger.read_text(encoding="utf-8").count(TALK) == 4


def test_a_message_the_server_accepted_is_sent_once_whatever_quit_answers(
        environment, clock, data_file, capsys):
    clock.now = datetime(2026, 4, 6, 5, 0, tzinfo=timezone.utc)  # the announcement is due
    with smtp_server("none", quit_reply="500 5.5.1 QUIT failed") as (env, received):
        for key, value in env.items():
            environment.setenv(key, value)
        code, out, err = run(capsys, TALK, "--send")
        assert code == 0 and "sent the announcement" in out, err
        code, _, err = run(capsys, TALK, "--send")  # a retry by hand
        assert code == 1 and "was sent" in err
        assert run(capsys, "--due", "--send")[0] == 0  # the daily job
    assert len(received.messages) == 1
    lines = data_file.with_name("talks.announced.tsv").read_text(encoding="utf-8").splitlines()
    assert [line.split("\t")[:2] for line in lines if TALK in line] == [[TALK, "announcement"]]


def test_a_changed_talk_is_announced_again_as_an_update(inbox, data_file, clock, make_app,
                                                        capsys):
    assert run(capsys, TALK, "--send")[0] == 0
    first = event_of(calendar_part(inbox.messages[0].message).get_payload(decode=True))
    clock.now = NOW + timedelta(days=2)
    add_to_talk(data_file, TALK, "time: \"18:00\"")
    code, out, err = run(capsys, TALK, "--send")
    assert code == 0, err
    assert "an update" in out
    message = inbox.messages[1].message
    assert "Updated" in message["Subject"] and when(START + timedelta(hours=1), "%b") in message[
        "Subject"]
    plain, html = texts(message)
    assert "UPDATE" in plain and "changed since" in plain and "changed since" in html
    assert "Wed 1 April 2026" in plain  # the day of the first announcement (NOW)
    event = event_of(calendar_part(message).get_payload(decode=True))
    public = public_event(make_app)
    assert event["UID"] == first["UID"] == public["UID"]
    assert event["SEQUENCE"] == first["SEQUENCE"] + 1 == public["SEQUENCE"]
    assert event.decoded("DTSTART") == public.decoded("DTSTART") == (
        START + timedelta(hours=1)).astimezone(timezone.utc)
    assert run(capsys, TALK, "--send")[0] == 1  # and that update only once
    assert len(inbox.messages) == 2


def test_the_reminder_is_the_short_day_of_version(inbox, data_file, clock, tmp_path, capsys):
    assert run(capsys, TALK, "--send", "--reminder")[0] == 0
    message = inbox.messages[0].message
    plain, html = texts(message)
    talk = load_schedule(data_file).talk(TALK)
    assert talk is not None
    assert talk.title in plain and when(START) in plain and clock_in("UTC") in plain
    assert talk.abstract[:40] not in plain and talk.abstract[:40] not in html
    assert "Reminder: " in message["Subject"]  # sent 12 days early, by hand
    assert event_of(calendar_part(message).get_payload(decode=True))["UID"] == talk_uid(TALK)
    clock.now = datetime(2026, 4, 12, 20, 0, tzinfo=timezone.utc)
    target = tmp_path / "tomorrow.eml"
    assert run(capsys, TALK, "--output", str(target), "--reminder")[0] == 0
    parsed = email.message_from_bytes(target.read_bytes(), policy=email.policy.default)
    assert "Tomorrow: " in str(parsed["Subject"])


def test_output_writes_a_message_file_and_records_nothing(inbox, data_file, tmp_path, capsys):
    target = tmp_path / "announcement.eml"
    code, out, _ = run(capsys, TALK, "--output", str(target))
    assert code == 0 and str(target) in out
    raw = target.read_bytes()
    assert raw.isascii() and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert texts(parsed)[0].count("Sustainable Development") == 1
    assert calendar_part(parsed).get_param("method") == "PUBLISH"
    assert inbox.messages == []
    assert not data_file.with_name("talks.announced.tsv").exists()
    assert run(capsys, TALK, "--output", str(target))[0] == 0  # a file may be written again


@pytest.mark.parametrize(("argv", "needle"), [
    (("no-such-talk", "--send"), "no talk has the id"),
    ((TALK,), "--output FILE.eml or --send"),
    (("--due", "--reminder"), "--due decides"),
    ((TALK, "--due", "--send"), "give a talk's id, or --due"),
    (("2026-03-30-muennighoff", "--send"), "took place"),
    ((TALK, "--send", "--to", "not an address"), "is not an e-mail address"),
])
def test_mistakes_are_named_and_send_nothing(inbox, capsys, argv, needle):
    code, _, err = run(capsys, *argv)
    assert code == 1 and needle in err
    assert inbox.messages == []


def test_no_recipient_is_an_error(inbox, environment, capsys):
    environment.delenv("FEEDS_ANNOUNCE_TO")
    code, _, err = run(capsys, TALK, "--send")
    assert code == 1 and "FEEDS_ANNOUNCE_TO" in err and inbox.messages == []


def test_output_and_due_need_no_recipient(inbox, environment, clock, tmp_path, capsys):
    """Writing a message to a file, or listing what is due, sends nothing and
    needs no list; on Pythons whose getaddresses reads "" as one blank
    address (Debian 12's python3, which the tests' venv is made from) too."""
    environment.setenv("FEEDS_ANNOUNCE_TO", "")
    target = tmp_path / "look-first.eml"
    code, out, err = run(capsys, TALK, "--output", str(target))
    assert code == 0, err
    parsed = email.message_from_bytes(target.read_bytes().replace(b"\r\n", b"\n"),
                                      policy=email.policy.default)
    assert parsed["To"] is None and "Sustainable Development" in parsed["Subject"]
    environment.delenv("FEEDS_ANNOUNCE_TO")
    clock.now = datetime(2026, 4, 6, 5, 0, tzinfo=timezone.utc)  # a week before the talk
    code, out, err = run(capsys, "--due")
    assert code == 0, err
    assert f"would send the announcement of {TALK} to (no recipient set)" in out
    code, out, err = run(capsys, TALK, "--send")
    assert code == 1 and "no recipient" in err and inbox.messages == []


def test_a_failed_login_exits_non_zero_without_the_password(environment, clock, data_file, capsys):
    with smtp_server("none", login=True) as (env, received):
        for key, value in env.items():
            environment.setenv(key, value)
        environment.setenv("FEEDS_SMTP_PASSWORD", "Wr0ng-" + PASSWORD)
        code, out, err = run(capsys, TALK, "--send")
    assert code == 1 and "refused the login" in err
    assert PASSWORD not in out + err and "Wr0ng" not in out + err
    assert received.messages == []
    assert not data_file.with_name("talks.announced.tsv").exists()


def test_a_damaged_sent_ledger_stops_before_sending(inbox, data_file, capsys):
    data_file.with_name("talks.announced.tsv").write_text("garbage line\n", encoding="utf-8")
    code, _, err = run(capsys, TALK, "--send")
    assert code == 1 and "talks.announced.tsv:1" in err and inbox.messages == []


# --- --due -------------------------------------------------------------------------

def test_due_over_a_simulated_fortnight_sends_exactly_what_is_due_once(
        inbox, data_file, clock, capsys):
    add_to_talk(data_file, "2026-04-27-pinson", "status: cancelled")  # gets nothing
    clock.now = datetime(2026, 4, 6, 5, 0, tzinfo=timezone.utc)
    code, out, _ = run(capsys, "--due")  # a dry run lists, sends and records nothing
    assert code == 0 and f"would send the announcement of {TALK}" in out
    assert inbox.messages == [] and not data_file.with_name("talks.announced.tsv").exists()

    sent: list[tuple[datetime, str, bool]] = []
    day = datetime(2026, 4, 3, tzinfo=timezone.utc)
    while day < datetime(2026, 4, 22, tzinfo=timezone.utc):
        for hour in (5, 16, 21):  # a daily job, run again by hand later that day
            clock.now = day + timedelta(hours=hour)
            before = len(inbox.messages)
            code, out, err = run(capsys, "--due", "--send")
            assert code == 0, err
            for received in inbox.messages[before:]:
                message = received.message
                uid = event_of(calendar_part(message).get_payload(decode=True))["UID"]
                assert uid == talk_uid(TALK)
                sent.append((email.utils.parsedate_to_datetime(message["Date"]), TALK,
                             message["Subject"].startswith("[Efficient ML Reading Group] Today")))
        day += timedelta(days=1)
    assert sent == [
        (datetime(2026, 4, 6, 5, 0, tzinfo=timezone.utc), TALK, False),  # 7 days before
        (datetime(2026, 4, 13, 5, 0, tzinfo=timezone.utc), TALK, True),  # the day itself
    ]


def test_due_follows_the_talks_zone_and_announce_days(inbox, environment, data_file, clock,
                                                      capsys):
    environment.setenv("FEEDS_ANNOUNCE_DAYS", "3")
    # Thursday 9 April, 23:30 Berlin is still 21:30 UTC: the 10th is 3 days before
    clock.now = datetime(2026, 4, 9, 21, 30, tzinfo=timezone.utc)
    assert "nothing is due" in run(capsys, "--due", "--send")[1]
    clock.now = datetime(2026, 4, 9, 22, 30, tzinfo=timezone.utc)  # 00:30 on the 10th
    assert run(capsys, "--due", "--send")[0] == 0
    assert len(inbox.messages) == 1
    clock.now = START.astimezone(timezone.utc) + timedelta(minutes=1)  # started: no reminder
    assert "nothing is due" in run(capsys, "--due", "--send")[1]
    assert len(inbox.messages) == 1
    environment.setenv("FEEDS_ANNOUNCE_DAYS", "-1")
    code, _, err = run(capsys, "--due")
    assert code == 1 and "FEEDS_ANNOUNCE_DAYS" in err


# --- headers -----------------------------------------------------------------------

HOSTILE_TITLES = (
    "Evil\r\nBcc: victim@example.org\r\n\r\nInjected body",
    "Line\nBreak\rX-Injected: 1",
    "Ünïcödé 東京 — ✓ " * 12 + "\u2028Bcc: victim@example.org",
)


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_no_title_can_inject_a_header(title, seed):
    talk = replace(seed.talk(TALK), title=title)
    series = replace(seed.series, title="Séries\r\nBcc: victim@example.org")
    message = announce.compose(talk, revisions_for(seed)[TALK], series, Site(SITE_URL),
                               announce.ANNOUNCEMENT, sender=Address("Series", addr_spec="s@x.org"),
                               to=(Address("List", addr_spec=LIST),), now=NOW)
    with smtp_server("none") as (env, received):
        mailer.send(message, mailer.SmtpSettings("127.0.0.1", int(env["FEEDS_SMTP_PORT"]), "none"))
    [got] = received.messages
    assert got.rcpt_tos == [LIST]
    header_block = got.data.split(b"\r\n\r\n", 1)[0]
    assert header_block.isascii()
    for line in header_block.split(b"\r\n"):
        assert len(line) <= 78 or line[:1] in (b" ", b"\t")
    parsed = got.message
    assert sorted(parsed.keys()) == sorted(["Subject", "From", "To", "Date", "Message-ID",
                                            "MIME-Version", "Content-Type"])
    assert "victim" not in str(parsed["To"]) and parsed["Bcc"] is None
    assert parsed["Subject"] == (f"[{' '.join(series.title.split())}] {' '.join(title.split())}"
                                 f" — {when(START, '%b')}")


@pytest.mark.parametrize(("site_url", "domain"), [
    ("https://talks.example.org/reading-group", "talks.example.org"),
    # No public host while trying things out: the sender's domain instead.
    ("http://localhost:5000", "x.org"), ("http://127.0.0.1:8000", "x.org"),
    ("http://[::1]:5000", "x.org"),
])
def test_the_message_id_is_random_under_the_sites_host(seed, site_url, domain):
    ids = []
    for _ in range(2):
        message = announce.compose(seed.talk(TALK), revisions_for(seed)[TALK], seed.series,
                                   Site(site_url).for_series(seed.series.id_authority),
                                   announce.ANNOUNCEMENT, sender=Address("S", addr_spec="s@x.org"),
                                   to=(Address("List", addr_spec=LIST),), now=NOW)
        parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
        header = parsed["Message-ID"]
        assert not header.defects, header.defects
        assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", str(header)), str(header)
        right = str(header)[1:-1].split("@")[1]
        assert right == domain and "." in right
        ids.append(str(header))
    assert ids[0] != ids[1]


ENCODED_CRLF = "=?utf-8?q?=0D=0AReply-To:_attacker=40evil.example?="


def test_a_title_with_an_encoded_word_is_refused_at_its_line(inbox, data_file, tmp_path, capsys):
    """The title would be decoded in the Subject (into a Reply-To header on
    Pythons before 3.11.10): feeds validate and feeds announce name its line."""
    text = data_file.read_text(encoding="utf-8")
    line = "    title: Sustainable Development and Energy Efficiency in Deep Learning\n"
    data_file.write_text(text.replace(line, f'    title: "Scaling laws {ENCODED_CRLF} für"\n'),
                         encoding="utf-8")
    number = text[:text.index(line)].count("\n") + 1
    target = tmp_path / "a.eml"
    code, _, err = run(capsys, TALK, "--output", str(target))
    assert code == 1 and f"{data_file}:{number}:" in err and "encoded word" in err
    assert run(capsys, TALK, "--send")[0] == 1
    assert not target.exists() and inbox.messages == []
    assert cli.main(["validate", str(data_file)]) == 1
    assert f"{data_file}:{number}:" in capsys.readouterr().err


def test_a_sender_or_list_name_with_an_encoded_word_is_refused(inbox, environment, tmp_path,
                                                               capsys):
    """FEEDS_MAIL_FROM and FEEDS_ANNOUNCE_TO never pass the loader: the
    From and To headers are checked as they are written."""
    target = tmp_path / "a.eml"
    hostile = "=?utf-8?q?Group=0D=0ABcc=3A_victim=40example.org?="
    for name, value in (("FEEDS_MAIL_FROM", f"{hostile} <series@example.org>"),
                        ("FEEDS_ANNOUNCE_TO", f"{hostile} <{LIST}>")):
        environment.setenv(name, value)
        code, _, err = run(capsys, TALK, "--output", str(target))
        assert code == 1 and "encoded word" in err and not target.exists()
        assert run(capsys, TALK, "--send")[0] == 1
        environment.delenv(name)
    assert inbox.messages == []


# What compose makes of titles and series titles that never passed the
# loader (one process per Python): refused, or headers that read as written.
PROBE = """
import email, email.policy, json, sys
from dataclasses import replace
from datetime import datetime, timezone
from email.headerregistry import Address
from feeds.data.announced import ANNOUNCEMENT, AnnounceError
from feeds.data.loader import load_schedule
from feeds.data.revisions import advance
from feeds.formats.announcement import compose
from feeds.urls import Site
data, talk_id, site, now, cases = sys.argv[1:]
seed, now = load_schedule(data), datetime.fromisoformat(now)
answers = []
for series_title, title in json.loads(cases):
    series, talk = replace(seed.series, title=series_title), replace(seed.talk(talk_id), title=title)
    sender = Address(" ".join(series_title.split()), addr_spec="series@example.org")
    try:
        message = compose(talk, advance({}, seed, now)[talk_id], series, Site(site), ANNOUNCEMENT,
                          sender=sender, to=(Address("List", addr_spec="list@example.org"),), now=now)
    except AnnounceError as exc:
        answers.append({"refused": str(exc)})
        continue
    parsed = email.message_from_bytes(message.as_bytes().replace(b"\\r\\n", b"\\n"),
                                      policy=email.policy.default)
    answers.append({"headers": [[name, str(value)] for name, value in parsed.items()],
                    "from": [[a.display_name, a.addr_spec] for a in parsed["From"].addresses]})
print(json.dumps({"version": sys.version, "answers": answers}))
"""


def pythons() -> list:
    """This venv's Python (Debian's python3 in CI) and, where pyenv has them,
    the other builds of this minor version (3.11.7 has CVE-2024-6923)."""
    found = [pytest.param(sys.executable, id="venv")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    minor = "{}.{}.".format(*sys.version_info[:2])
    for python in sorted(pyenv.glob(minor + "*/bin/python3")):
        found.append(pytest.param(str(python), id=python.parent.parent.name))
    if len(found) == 1:
        found.append(pytest.param("", id="pyenv", marks=pytest.mark.skip(
            reason=f"no pyenv build of Python {minor}x here to test against")))
    return found


@pytest.mark.parametrize("python", pythons())
def test_no_title_becomes_a_header_on_any_python(python, data_file):
    hostile = [("Efficient ML Reading Group", f"Scaling laws {ENCODED_CRLF} für Transformer"),
               ("Efficient ML Reading Group", "=?UTF-8?B?DQpCY2M6IHZpY3RpbUBleGFtcGxlLm9yZw==?="),
               (f"Group {ENCODED_CRLF}", "A title")]
    plain = [('ML "Reading" Group (Dortmund), Inc.', 'Quotes "x" (parens) <a@b.c>, semi; colon:'),
             ("Ünïcödé Group", "Ünïcödé 東京 — ✓ a=?b, c?=d"),
             ("Efficient ML Reading Group", "A long title, folded " * 8),
             ("Lesegruppe für effizientes maschinelles Lernen — Dortmund, Bonn & Köln",
              "Ein Vortrag über Größe; Übersicht: (1) Modelle <schnell>")]
    paths = sysconfig.get_paths()
    env = clean_environment(PYTHONPATH=os.pathsep.join([str(ROOT), paths["purelib"],
                                                        paths["platlib"]]))
    result = subprocess.run([python, "-c", PROBE, str(data_file), TALK, SITE_URL, NOW.isoformat(),
                             json.dumps(hostile + plain)], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for (series_title, title), answer in zip(hostile + plain, report["answers"], strict=True):
        if "refused" in answer:
            assert (series_title, title) in hostile, answer
            assert "encoded word" in answer["refused"]
            continue
        names = [name.lower() for name, _ in answer["headers"]]
        assert sorted(names) == ["content-type", "date", "from", "message-id", "mime-version",
                                 "subject", "to"], (report["version"], answer)
        subject = dict(answer["headers"])["Subject"]
        written = f"[{series_title}] {' '.join(title.split())} — {when(START, '%b')}"
        # The same text; CPython's folding may drop a space between two
        # encoded words ("— ✓" reads "—✓"), a quirk of its own, not of the data.
        assert subject.replace(" ", "") == written.replace(" ", ""), report["version"]
        assert [[name.replace(" ", ""), address] for name, address in answer["from"]] == [
            [series_title.replace(" ", ""), "series@example.org"]]
    assert all("refused" in answer for answer in report["answers"][:len(hostile)])


# --- the HTML part in a browser --------------------------------------------------------

def test_the_html_part_reads_on_a_phone_and_loads_nothing(inbox, environment, secrets_file,
                                                          tmp_path, capsys):
    environment.setenv("FEEDS_SECRETS_FILE", str(secrets_file))
    target = tmp_path / "members.eml"
    assert run(capsys, TALK, "--members", "--output", str(target))[0] == 0
    message = email.message_from_bytes(target.read_bytes().replace(b"\r\n", b"\n"),
                                       policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    html = texts(message)[1]
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 360, "height": 740}, device_scale_factor=2,
                                    is_mobile=True, has_touch=True, java_script_enabled=False)
            page.route("**/*", lambda route: (requests.append(route.request.url), route.abort()))
            page.set_content(html, wait_until="load")
            shown = page.inner_text("body")
            assert "Sustainable Development and Energy Efficiency in Deep Learning" in shown
            assert when(START) in shown
            for clock in (clock_in("UTC"), clock_in("America/New_York"), clock_in("Asia/Tokyo")):
                assert clock in shown
            join = page.get_by_role("link", name="Join the talk")
            assert join.get_attribute("href") == JOIN
            # one column: nothing wider than the phone, and text large enough to read
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
            assert page.evaluate(
                "parseFloat(getComputedStyle(document.body).fontSize)") >= 16
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "announce-phone.png"), full_page=True)
        finally:
            browser.close()
    assert requests == []
