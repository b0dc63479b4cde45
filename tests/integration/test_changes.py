"""Moves, cancellations and postponements: detected from the ledger (never
declared in the data file) and told by every output."""

from __future__ import annotations

import calendar
import json
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import icalendar
import lxml.html
import pytest
import vobject
from werkzeug.serving import make_server

from feeds.commands import announce, cli, organiser
from feeds.data.announced import read_sent, sent_path
from feeds.data.loader import load_schedule
from feeds.data.revisions import (
    LedgerError,
    Revision,
    ledger_path,
    parse_line,
    read_ledger,
    render_ledger,
    update_ledger,
)

from calendar_readers import READERS
from helpers import NOW, FakeClock, newsboat, serving
from smtp_server import Inbox, smtp_server

MEHLIG = "2026-05-11-mehlig"
BERLIN = ZoneInfo("Europe/Berlin")


def edit(data_file: Path, talk_id: str, old: str, new: str) -> None:
    """Replace `old` by `new` within one talk's lines of the data file."""
    text = data_file.read_text()
    start = text.index(f"- id: {talk_id}\n")
    end = text.find("\n  - id:", start)
    end = len(text) if end < 0 else end
    part = text[start:end]
    assert old in part, (old, part)
    data_file.write_text(text[:start] + part.replace(old, new, 1) + text[end:])


def record(data_file: Path, now: datetime) -> dict[str, Revision]:
    update = update_ledger(ledger_path(data_file), load_schedule(data_file), now)
    assert update.recorded and update.revisions is not None
    return update.revisions


# --- the ledger ------------------------------------------------------------------

def test_a_talk_moved_twice_keeps_both_previous_starts_in_order_across_restarts(data_file):
    first = record(data_file, NOW)[MEHLIG]
    assert first.changes == () and first.start == datetime(2026, 5, 11, 17, 0, tzinfo=BERLIN)
    edit(data_file, MEHLIG, "date: 2026-05-11", "date: 2026-05-12")
    record(data_file, NOW + timedelta(hours=1))
    edit(data_file, MEHLIG, "date: 2026-05-12", 'date: 2026-05-19\n    time: "18:30"')
    record(data_file, NOW + timedelta(hours=2))
    again = read_ledger(ledger_path(data_file))[MEHLIG]  # what a restart reads
    assert again.previous_starts == (datetime(2026, 5, 11, 17, 0, tzinfo=BERLIN),
                                     datetime(2026, 5, 12, 17, 0, tzinfo=BERLIN))
    assert [(c.kind, c.sequence, c.at) for c in again.changes] == [
        ("moved", first.sequence + 1, NOW + timedelta(hours=1)),
        ("moved", first.sequence + 2, NOW + timedelta(hours=2))]
    assert again.start == datetime(2026, 5, 19, 18, 30, tzinfo=BERLIN)
    # nothing new: nothing moves, nothing is written
    before = ledger_path(data_file).read_bytes()
    assert record(data_file, NOW + timedelta(hours=3))[MEHLIG] == again
    assert ledger_path(data_file).read_bytes() == before


def test_a_change_of_zone_alone_is_a_move(data_file):
    record(data_file, NOW)
    edit(data_file, MEHLIG, "date: 2026-05-11", "date: 2026-05-11\n    timezone: Europe/London")
    revision = record(data_file, NOW + timedelta(hours=1))[MEHLIG]
    assert revision.previous_starts == (datetime(2026, 5, 11, 17, 0, tzinfo=BERLIN),)
    assert str(revision.start.tzinfo) == "Europe/London" if revision.start else False


def test_other_edits_are_not_moves(data_file):
    record(data_file, NOW)
    edit(data_file, MEHLIG, "title: Finite-Time", "title: Finite Time")
    revision = record(data_file, NOW + timedelta(hours=1))[MEHLIG]
    assert revision.changes == () and revision.sequence == 1


def test_a_correction_before_the_talk_was_ever_published_is_not_a_move(data_file):
    edit(data_file, MEHLIG, "date: 2026-05-11", "date: 2026-05-18")  # never recorded
    edit(data_file, MEHLIG, "date: 2026-05-18", "date: 2026-05-25")  # corrected at once
    revision = record(data_file, NOW)[MEHLIG]
    assert revision.changes == () and revision.sequence == 0
    assert revision.start == datetime(2026, 5, 25, 17, 0, tzinfo=BERLIN)


def test_cancelling_and_postponing_are_changes_and_a_new_date_is_a_move(data_file):
    record(data_file, NOW)
    edit(data_file, MEHLIG, "date: 2026-05-11", "date: 2026-05-11\n    status: postponed")
    postponed = record(data_file, NOW + timedelta(days=1))[MEHLIG]
    assert [(c.kind, c.previous) for c in postponed.changes] == [("postponed", None)]
    assert postponed.status == "postponed"
    edit(data_file, MEHLIG, "date: 2026-05-11\n    status: postponed", "date: 2026-06-01")
    moved = record(data_file, NOW + timedelta(days=2))[MEHLIG]
    assert [(c.kind, c.previous) for c in moved.changes] == [
        ("postponed", None), ("moved", datetime(2026, 5, 11, 17, 0, tzinfo=BERLIN))]
    edit(data_file, MEHLIG, "date: 2026-06-01", "date: 2026-06-01\n    status: cancelled")
    cancelled = record(data_file, NOW + timedelta(days=3))[MEHLIG]
    assert [c.kind for c in cancelled.changes] == ["postponed", "moved", "cancelled"]
    assert [c.sequence for c in cancelled.changes] == [1, 2, 3]
    assert cancelled.sequence == 3


def test_an_old_ledger_reads_fine_and_gains_the_starts_without_a_new_sequence(data_file):
    record(data_file, NOW)
    path = ledger_path(data_file)
    old_lines = ["\t".join(line.split("\t")[:6]) for line in path.read_text().splitlines()
                 if line and not line.startswith("#")]
    path.write_text("# an old ledger\n" + "\n".join(old_lines) + "\n")
    legacy = read_ledger(path)[MEHLIG]
    assert legacy.start is None and legacy.changes == ()
    edit(data_file, MEHLIG, "date: 2026-05-11", "date: 2026-05-12")
    # the published start is unknown: the first change after the upgrade is no move
    revision = record(data_file, NOW + timedelta(hours=1))[MEHLIG]
    assert revision.sequence == legacy.sequence + 1 and revision.changes == ()
    assert revision.modified >= legacy.modified
    others = read_ledger(path)
    assert all(r.start is not None for r in others.values())
    assert all(r.sequence == 0 for tid, r in others.items() if tid != MEHLIG)
    edit(data_file, MEHLIG, "date: 2026-05-12", "date: 2026-05-13")
    assert record(data_file, NOW + timedelta(hours=2))[MEHLIG].previous_starts == (
        datetime(2026, 5, 12, 17, 0, tzinfo=BERLIN),)


def test_a_ledger_line_round_trips_with_its_changes(data_file):
    record(data_file, NOW)
    edit(data_file, MEHLIG, "date: 2026-05-11", "date: 2026-05-12\n    status: cancelled")
    entries = record(data_file, NOW + timedelta(hours=1))
    text = render_ledger(entries)
    line = next(x for x in text.splitlines() if x.startswith(MEHLIG))
    assert line.split("\t")[6:] == [
        "2026-05-12T17:00:00+02:00[Europe/Berlin]", "cancelled",
        "cancelled,1,2026-04-01T13:00:00Z,2026-05-11T17:00:00+02:00[Europe/Berlin]"]
    assert parse_line(line) == (MEHLIG, entries[MEHLIG])



@pytest.mark.parametrize("start, status, changes, complaint", [
    ("2026-05-11T17:00:00+02:00[Mars/Olympus]", "scheduled", "-", "names no zone"),
    ("2026-05-11 17:00", "scheduled", "-", "the start '2026-05-11 17:00'"),
    ("-", "delayed", "-", "the status 'delayed'"),
    ("-", "scheduled", "moved,x,2026-04-01T12:00:00Z", "the change 'moved,x,"),
    ("-", "scheduled", "gone,1,2026-04-01T12:00:00Z", "the change 'gone,1,"),
], ids=["zone", "start", "status", "sequence", "kind"])
def test_a_damaged_start_status_or_change_is_reported_with_its_line(data_file, start, status,
                                                                    changes, complaint):
    record(data_file, NOW)
    path = ledger_path(data_file)
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(MEHLIG))
    lines[index] = "\t".join(lines[index].split("\t")[:6] + [start, status, changes])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(LedgerError) as caught:
        read_ledger(path)
    assert f"{path}:{index + 1}: a damaged ledger line" in str(caught.value)
    assert complaint in str(caught.value)

# --- every output, through the running app ---------------------------------------

PINSON = "2026-04-27-pinson"
FISCHER = "2026-04-13-fischer"
MEHLIG_TITLE = "Finite-Time Lyapunov Exponents of Deep Neural Networks"
FEEDS = {"/rss.xml": "application/rss+xml", "/atom.xml": "application/atom+xml"}


def calendar_events(body: bytes) -> dict[str, icalendar.Event]:
    """Events by talk id (the UID's form is not relied on: the URL is)."""
    cal = icalendar.Calendar.from_ical(body)
    return {str(e["URL"]).rstrip("/").rsplit("/", 1)[-1]: e for e in cal.walk("VEVENT")}


def feed_entries(client, path: str) -> list[feedparser.FeedParserDict]:
    response = client.get(path)
    assert response.status_code == 200
    parsed = feedparser.parse(response.data, response_headers={"content-type": FEEDS[path]})
    assert not parsed.bozo, parsed.get("bozo_exception")
    return list(parsed.entries)


def json_ld(page: bytes) -> dict:
    doc = lxml.html.fromstring(page)
    [script] = doc.xpath('//script[@type="application/ld+json"]')
    return json.loads(script.text)


def notice(page: bytes) -> str:
    doc = lxml.html.fromstring(page)
    [article] = doc.xpath("//main//article")
    status = article.xpath('.//p[contains(@class, "status")]')
    return " ".join(status[0].text_content().split()) if status else ""


def test_a_move_a_cancellation_and_a_postponement_are_told_by_every_output(make_app, data_file,
                                                                           clock):
    client = make_app().test_client()
    before = calendar_events(client.get("/archive.ics").data)
    old_entries = {path: {e.id: e for e in feed_entries(client, path)} for path in FEEDS}
    uids = {tid: str(e["UID"]) for tid, e in before.items()}

    clock.now = NOW + timedelta(hours=2)
    edit(data_file, MEHLIG, "date: 2026-05-11", 'date: 2026-05-12\n    time: "18:00"')
    edit(data_file, FISCHER, "date: 2026-04-13", "date: 2026-04-13\n    status: cancelled\n"
                                                 "    note: The speaker is ill.")
    edit(data_file, PINSON, "date: 2026-04-27", "date: 2026-04-27\n    status: postponed")
    archive = client.get("/archive.ics").data  # the same app: no restart
    after = calendar_events(archive)

    # calendars: the same UIDs, a higher SEQUENCE, the new instant or status
    for tid in (MEHLIG, FISCHER, PINSON):
        assert str(after[tid]["UID"]) == uids[tid]
        assert after[tid]["SEQUENCE"] == before[tid]["SEQUENCE"] + 1
    for name, read in READERS.items():
        instants = read(archive)
        assert instants[uids[MEHLIG]] == "2026-05-12T16:00:00Z", name
        assert instants[uids[PINSON]] == "2026-04-27T15:00:00Z", name  # its old slot
        assert instants[uids[FISCHER]] == "2026-04-13T15:00:00Z", name
    assert str(after[MEHLIG]["DESCRIPTION"]).startswith("Moved from Mon 11 May, 17:00 CEST")
    assert str(after[MEHLIG]["STATUS"]) == "CONFIRMED"
    assert str(after[FISCHER]["SUMMARY"]).startswith("CANCELLED: ")
    assert str(after[FISCHER]["STATUS"]) == "CANCELLED"
    assert str(after[PINSON]["SUMMARY"]).startswith("Postponed: ")
    assert str(after[PINSON]["STATUS"]) == "TENTATIVE"
    vobject_cal = vobject.readOne(archive.decode())
    statuses = {e.uid.value: e.status.value for e in vobject_cal.vevent_list}
    assert statuses[uids[PINSON]] == "TENTATIVE" and statuses[uids[FISCHER]] == "CANCELLED"

    # RSS and Atom: one new entry per change, each talk's own entry keeps its id
    for path in FEEDS:
        entries = {e.id: e for e in feed_entries(client, path)}
        new = {i: e for i, e in entries.items() if i not in old_entries[path]}
        assert set(old_entries[path]) <= set(entries)
        assert sorted(e.title for e in new.values()) == sorted([
            "Cancelled: Sustainable Development and Energy Efficiency in Deep Learning",
            f"Moved: {MEHLIG_TITLE} — now Tue 12 May 2026, 18:00 CEST",
            "Postponed: It's not a Lottery, it's a Race: Understanding How Gradient Descent "
            "Adapts the Network's Capacity to the Task"])
        for entry_id, entry in new.items():
            assert entry_id.endswith("/revision/1")
            assert entry.link.startswith("https://talks.example.org/talks/")
            assert calendar_from(entry.published_parsed) == clock.now
        moved = next(e for e in new.values() if e.title.startswith("Moved: "))
        assert MEHLIG in moved.id and moved.link.rstrip("/").endswith(f"/talks/{MEHLIG}")
        talk_entry = next(e for i, e in entries.items() if i in old_entries[path]
                          and MEHLIG in i and "revision" not in i)
        assert "Tue 12 May 2026, 18:00 CEST" in talk_entry.title

    # the pages: a notice at the top, and the JSON-LD
    page = client.get(f"/talks/{MEHLIG}/").data
    assert notice(page) == "Moved: This talk moved from Mon 11 May to Tue 12 May, 18:00 CEST."
    ld = json_ld(page)
    assert ld["eventStatus"] == "https://schema.org/EventRescheduled"
    assert ld["previousStartDate"] == ["2026-05-11T17:00:00+02:00"]
    assert ld["startDate"] == "2026-05-12T18:00:00+02:00"
    page = client.get(f"/talks/{FISCHER}/").data
    assert json_ld(page)["eventStatus"] == "https://schema.org/EventCancelled"
    assert "will not take place" in notice(page)
    assert "The speaker is ill." in lxml.html.fromstring(page).xpath(
        '//article//div[@class="status-note"]')[0].text_content()
    page = client.get(f"/talks/{PINSON}/").data
    assert json_ld(page)["eventStatus"] == "https://schema.org/EventPostponed"
    assert notice(page) == ("Postponed: This talk is postponed; the new date will be "
                            "announced here.")

    # JSON
    talks = {t["id"]: t for t in client.get("/talks.json").get_json()["talks"]}
    assert talks[MEHLIG]["previous_starts"] == ["2026-05-11T15:00:00Z"]
    assert talks[MEHLIG]["start"] == "2026-05-12T16:00:00Z"
    assert (talks[MEHLIG]["status"], talks[FISCHER]["status"], talks[PINSON]["status"]) == (
        "scheduled", "cancelled", "postponed")
    assert talks[FISCHER]["previous_starts"] == []
    embedded = {t["url"].rstrip("/").rsplit("/", 1)[-1]: t
                for t in client.get("/embed.json").get_json()["talks"]}
    assert embedded[MEHLIG]["previous_starts"] == ["2026-05-11T15:00:00Z"]
    assert embedded[PINSON]["status"] == "postponed"

    # a restart adds nothing: the same entries, the same bytes
    again = make_app().test_client()
    for path in FEEDS:
        assert again.get(path).data == client.get(path).data
    assert again.get("/archive.ics").data == archive


def calendar_from(parsed) -> datetime:
    return datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc)


def test_a_postponed_talk_stays_listed_after_its_old_slot(make_app, data_file, clock):
    client = make_app().test_client()
    edit(data_file, PINSON, "date: 2026-04-27", "date: 2026-04-27\n    status: postponed")
    clock.now = datetime(2026, 5, 1, tzinfo=timezone.utc)  # after the old slot
    home = lxml.html.fromstring(client.get("/").data)
    [article] = home.xpath(f'//section[@id="upcoming"]//article[@id="{PINSON}"]')
    assert "the new date will be announced here" in article.text_content()
    embed = lxml.html.fromstring(client.get("/embed/").data)
    [item] = [li for li in embed.xpath('//li[contains(@class, "fe-talk")]')
              if PINSON in li.xpath(".//a/@href")[0]]
    assert "the new date will be announced here" in item.text_content()
    assert "fe-upcoming" in item.get("class")
    # once a date is set, it is simply moved: no longer postponed, the old slot its previous start
    clock.now += timedelta(hours=1)
    edit(data_file, PINSON, "date: 2026-04-27\n    status: postponed", "date: 2026-06-15")
    talk = next(t for t in client.get("/talks.json").get_json()["talks"] if t["id"] == PINSON)
    assert talk["status"] == "scheduled"
    assert talk["previous_starts"] == ["2026-04-27T15:00:00Z"]
    assert "This talk moved from Mon 27 April to Mon 15 June, 17:00 CEST." in talk["notice"]


# --- the organisers' commands ------------------------------------------------------

def file_state(path: Path) -> tuple[bytes, bytes | None]:
    ledger = ledger_path(path)
    return path.read_bytes(), ledger.read_bytes() if ledger.exists() else None


@pytest.fixture
def organiser_clock(monkeypatch) -> FakeClock:
    clock = FakeClock()
    monkeypatch.setattr(organiser, "utc_now", clock)
    return clock


def test_feeds_move_edits_one_talk_and_the_ledger_remembers_where_it_was(
        data_file, organiser_clock, capsys):
    record(data_file, NOW)
    original = data_file.read_text()
    organiser_clock.now = NOW + timedelta(hours=1)
    assert cli.main(["move", MEHLIG, "--date", "2026-05-12", "--time", "18:00",
                     "--data", str(data_file)]) == 0
    out = capsys.readouterr().out
    assert "Mon 11 May 2026, 17:00 CEST" in out and "Tue 12 May 2026, 18:00 CEST" in out
    text = data_file.read_text()
    # byte-identical outside the talk
    start, end = original.index(f"- id: {MEHLIG}"), original.index("- id: 2026-04-27-pinson")
    assert text[:start] == original[:start]
    assert text.endswith(original[end:])
    talk = load_schedule(data_file).talk(MEHLIG)
    assert talk is not None and talk.start == datetime(2026, 5, 12, 18, 0, tzinfo=BERLIN)
    revision = read_ledger(ledger_path(data_file))[MEHLIG]
    assert revision.previous_starts == (datetime(2026, 5, 11, 17, 0, tzinfo=BERLIN),)
    assert revision.changes[0].at == organiser_clock.now
    # without --time the talk keeps its time of day
    assert cli.main(["move", MEHLIG, "--date", "2026-05-19", "--data", str(data_file)]) == 0
    talk = load_schedule(data_file).talk(MEHLIG)
    assert talk is not None and talk.start == datetime(2026, 5, 19, 18, 0, tzinfo=BERLIN)
    assert read_ledger(ledger_path(data_file))[MEHLIG].previous_starts == (
        datetime(2026, 5, 11, 17, 0, tzinfo=BERLIN), datetime(2026, 5, 12, 18, 0, tzinfo=BERLIN))


def test_feeds_postpone_then_move_and_cancel_with_a_note(data_file, organiser_clock, capsys):
    record(data_file, NOW)
    assert cli.main(["postpone", MEHLIG, "--note", "The speaker's visa is late.",
                     "--data", str(data_file)]) == 0
    talk = load_schedule(data_file).talk(MEHLIG)
    assert talk is not None and talk.postponed and talk.note == "The speaker's visa is late."
    assert talk.start == datetime(2026, 5, 11, 17, 0, tzinfo=BERLIN)  # its old slot
    assert cli.main(["postpone", MEHLIG, "--data", str(data_file)]) == 0
    assert "already postponed" in capsys.readouterr().out
    assert cli.main(["move", MEHLIG, "--date", "2026-06-22", "--data", str(data_file)]) == 0
    talk = load_schedule(data_file).talk(MEHLIG)
    assert talk is not None and talk.status == "scheduled"
    assert cli.main(["cancel", MEHLIG, "--note", "Sadly off.", "--data", str(data_file)]) == 0
    talk = load_schedule(data_file).talk(MEHLIG)
    assert talk is not None and talk.cancelled and talk.note == "Sadly off."
    kinds = [c.kind for c in read_ledger(ledger_path(data_file))[MEHLIG].changes]
    assert kinds == ["postponed", "moved", "cancelled"]


@pytest.mark.parametrize("argv, message", [
    (("move", "no-such-talk", "--date", "2026-05-12"), "no talk with the id"),
    (("move", MEHLIG, "--date", "2026-03-30"), "in the past"),
    (("move", MEHLIG, "--date", "2026-04-01", "--time", "13:59"), "in the past"),
    (("move", MEHLIG, "--date", "2026-10-25", "--time", "02:30"), "happens twice"),
    (("move", MEHLIG, "--date", "2027-03-28", "--time", "02:30"), "does not exist"),
    (("move", MEHLIG, "--date", "12 May"), "not a date"),
    (("move", MEHLIG, "--date", "2026-05-12", "--time", "6pm"), "not a time of day"),
    (("move", "2026-02-09-zhang", "--date", "2026-05-12"), "is cancelled"),
    (("postpone", "no-such-talk"), "no talk with the id"),
    (("postpone", "2026-02-09-zhang"), "is cancelled"),
])
def test_bad_moves_and_postponements_say_why_and_write_nothing(data_file, organiser_clock,
                                                                 capsys, argv, message):
    record(data_file, NOW)
    cancel = cli.main(["cancel", "2026-02-09-zhang", "--data", str(data_file)])
    assert cancel == 0
    before = file_state(data_file)
    capsys.readouterr()
    assert cli.main([*argv, "--data", str(data_file)]) != 0
    err = capsys.readouterr().err
    assert message in err and "Nothing was written." in err
    assert file_state(data_file) == before


# --- the mailing list: one update per change of an announced talk ------------------

LIST = "list@example.org"
SUBJECT = "[Efficient ML Reading Group] "
FISCHER_TITLE = "Sustainable Development and Energy Efficiency in Deep Learning"


@pytest.fixture
def list_server(monkeypatch, data_file) -> Iterator[tuple[FakeClock, Inbox]]:
    """The data, the site, the list and a local SMTP server; the announce clock."""
    import os
    for name in [n for n in os.environ if n.startswith("FEEDS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FEEDS_TALKS_FILE", str(data_file))
    monkeypatch.setenv("FEEDS_SITE_URL", "https://talks.example.org")
    monkeypatch.setenv("FEEDS_ANNOUNCE_TO", f"Reading group <{LIST}>")
    clock = FakeClock(NOW)
    monkeypatch.setattr(announce, "utc_now", clock)
    with smtp_server("none") as (env, received):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield clock, received


def attached_event(message) -> icalendar.Event:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    [event] = icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")
    return event


def test_announce_due_sends_one_update_per_change_of_an_announced_talk_over_a_week(
        list_server, data_file, capsys):
    clock, inbox = list_server
    edits = {  # what the organisers do, at 09:00 UTC that day
        datetime(2026, 4, 7, tzinfo=timezone.utc): (FISCHER, "date: 2026-04-13",
                                                      'date: 2026-04-14\n    time: "18:00"'),
        datetime(2026, 4, 8, tzinfo=timezone.utc): (FISCHER, "date: 2026-04-14",
                                                      "date: 2026-04-14\n    status: postponed"),
        datetime(2026, 4, 9, tzinfo=timezone.utc): (PINSON, "date: 2026-04-27",  # not announced
                                                     "date: 2026-04-27\n    status: cancelled"),
        datetime(2026, 4, 10, tzinfo=timezone.utc): (FISCHER, "status: postponed",
                                                       "status: cancelled"),
    }
    messages = []
    day = datetime(2026, 4, 6, tzinfo=timezone.utc)
    while day < datetime(2026, 4, 13, tzinfo=timezone.utc):
        for hour in (5, 10, 21):  # a daily job, and twice more by hand
            clock.now = day + timedelta(hours=hour)
            if hour == 10 and day in edits:
                edit(data_file, *edits[day])
            before = len(inbox.messages)
            assert cli.main(["announce", "--due", "--send"]) == 0, capsys.readouterr().err
            messages += [(clock.now, r.message) for r in inbox.messages[before:]]
        day += timedelta(days=1)

    assert [(at, m["Subject"]) for at, m in messages] == [
        (datetime(2026, 4, 6, 5, tzinfo=timezone.utc),
         f"{SUBJECT}{FISCHER_TITLE} — Mon 13 Apr 2026, 17:00 CEST"),
        (datetime(2026, 4, 7, 10, tzinfo=timezone.utc),
         f"{SUBJECT}Updated: {FISCHER_TITLE} — Tue 14 Apr 2026, 18:00 CEST"),
        (datetime(2026, 4, 8, 10, tzinfo=timezone.utc),
         f"{SUBJECT}Postponed: {FISCHER_TITLE} — Tue 14 Apr 2026, 18:00 CEST"),
        (datetime(2026, 4, 10, 10, tzinfo=timezone.utc),
         f"{SUBJECT}CANCELLED: {FISCHER_TITLE} — Tue 14 Apr 2026, 18:00 CEST"),
    ]
    events = [attached_event(m) for _, m in messages]
    assert len({str(e["UID"]) for e in events}) == 1  # the same UID throughout
    assert [int(e["SEQUENCE"]) for e in events] == [0, 1, 2, 3]
    assert events[1]["DTSTART"].dt == datetime(2026, 4, 14, 18, 0, tzinfo=BERLIN)
    assert [str(e["STATUS"]) for e in events] == ["CONFIRMED", "CONFIRMED", "TENTATIVE",
                                                  "CANCELLED"]
    plain = messages[1][1].get_body(("plain",)).get_content()
    assert "This talk moved from Mon 13 April to Tue 14 April, 18:00 CEST." in " ".join(
        plain.split())
    sent = read_sent(sent_path(data_file))
    assert [(e.talk_id, e.kind, e.sequence) for e in sent] == [
        (FISCHER, "announcement", 0), (FISCHER, "update", 1), (FISCHER, "update", 2),
        (FISCHER, "update", 3)]


# --- the static export, and a feed reader --------------------------------------------

def export(data_file: Path, outdir: Path, now: datetime, monkeypatch) -> Path:
    monkeypatch.setattr(cli, "utc_now", lambda: now)
    assert cli.main(["build", str(outdir), "--data", str(data_file),
                     "--site-url", "https://talks.example.org"]) == 0
    return outdir


def test_the_export_tells_a_move_once_and_a_rebuild_adds_nothing(data_file, tmp_path,
                                                                  monkeypatch, capsys):
    first = export(data_file, tmp_path / "one", NOW, monkeypatch)
    before = calendar_events((first / "archive.ics").read_bytes())
    later = NOW + timedelta(hours=3)
    edit(data_file, MEHLIG, "date: 2026-05-11", "date: 2026-05-13")
    edit(data_file, PINSON, "date: 2026-04-27", "date: 2026-04-27\n    status: postponed")
    second = export(data_file, tmp_path / "two", later, monkeypatch)
    archive = (second / "archive.ics").read_bytes()
    after = calendar_events(archive)
    assert str(after[MEHLIG]["UID"]) == str(before[MEHLIG]["UID"])
    assert after[MEHLIG]["SEQUENCE"] > before[MEHLIG]["SEQUENCE"]
    for name, read in READERS.items():
        assert read(archive)[str(after[MEHLIG]["UID"])] == "2026-05-13T15:00:00Z", name
    rss = feedparser.parse((second / "rss.xml").read_bytes())
    assert not rss.bozo
    moves = [e for e in rss.entries if e.title.startswith("Moved: ")]
    assert [e.title for e in moves] == [f"Moved: {MEHLIG_TITLE} — now Wed 13 May 2026, 17:00 CEST"]
    assert calendar_from(moves[0].published_parsed) == later
    # a rebuild, later still, with nothing changed: the same entries, the same bytes
    third = export(data_file, tmp_path / "three", later + timedelta(days=1), monkeypatch)
    for name in ("rss.xml", "atom.xml", "archive.ics", "talks.json"):
        assert (third / name).read_bytes() == (second / name).read_bytes(), name


def test_newsboat_shows_one_new_item_per_change_and_keeps_the_talks_own(
        make_app, data_file, clock, tmp_path):
    assert shutil.which("newsboat"), "newsboat is missing: apt-get install newsboat"
    with serving(make_server("127.0.0.1", 0, make_app(), threaded=True)) as base:
        home = tmp_path / "newsboat"
        shown = newsboat(base + "/atom.xml", home)
        clock.now = NOW + timedelta(hours=1)
        edit(data_file, MEHLIG, "date: 2026-05-11", "date: 2026-05-12")
        edit(data_file, FISCHER, "date: 2026-04-13", "date: 2026-04-13\n    status: cancelled")
        after = newsboat(base + "/atom.xml", home)
        again = newsboat(base + "/atom.xml", home)  # a reload with nothing new
    guids = {row[0] for row in shown}
    new = [row for row in after if row[0] not in guids]
    assert sorted(row[1] for row in new) == [
        f"Cancelled: {FISCHER_TITLE}",
        f"Moved: {MEHLIG_TITLE} — now Tue 12 May 2026, 17:00 CEST"]
    assert guids <= {row[0] for row in after}  # every talk keeps its item
    assert len(after) == len(shown) + 2 == len(again)
