"""The ids subscribers' apps match talks on, fixed forever from 1.0: every
calendar UID is a UUID made from the talk's tag: id (README, 'The data
file'), the same in /calendar.ics, /archive.ics, each /talks/<id>.ics, the
members' calendar and the announcement's attachment, wherever the site is
served, and under the data file's old key uid_domain. Read back by the
calendar readers real clients are built on."""

from __future__ import annotations

import email
import email.policy
import uuid
from pathlib import Path

import icalendar
import pytest

from feeds.commands import announce, cli
from feeds.data.loader import load_schedule

from calendar_readers import READERS
from helpers import NOW, SEED_DATA, talk_id_of, talk_uid

SITES = ("https://talks.example.org", "http://localhost:5000/reading-group")
TOKEN = "tokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
TALKS = [t.id for t in load_schedule(SEED_DATA).talks]


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.yaml"
    path.write_text("join_url: https://meet.example.org/j/SECRET\n"
                    f"tokens:\n  - token: {TOKEN}\n    label: the members' list\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def announcement(talk_id: str, site: str, data_file: Path, tmp_path: Path, monkeypatch) -> bytes:
    """The .ics attached to `feeds announce TALK --output`, as a mail client saves it."""
    monkeypatch.setenv("FEEDS_TALKS_FILE", str(data_file))
    monkeypatch.setenv("FEEDS_SITE_URL", site)
    monkeypatch.setattr(announce, "utc_now", lambda: NOW)
    target = tmp_path / f"{talk_id}.eml"
    assert cli.main(["announce", talk_id, "--output", str(target), "--force",
                     "--to", "list@example.org"]) == 0
    message = email.message_from_bytes(target.read_bytes(), policy=email.policy.default)
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload


def outputs(site: str, make_app, data_file: Path, secrets_file: Path, tmp_path: Path,
            monkeypatch) -> dict[str, bytes]:
    """Every calendar file that carries a talk, as served for `site`."""
    client = make_app(SITE_URL=site, SECRETS_FILE=str(secrets_file)).test_client()
    found = {"/calendar.ics": client.get("/calendar.ics").data,
             "/archive.ics": client.get("/archive.ics").data,
             "members' calendar": client.get(f"/members/{TOKEN}/calendar.ics").data}
    for talk_id in TALKS:
        found[f"/talks/{talk_id}.ics"] = client.get(f"/talks/{talk_id}.ics").data
        found[f"announcement of {talk_id}"] = announcement(talk_id, site, data_file, tmp_path,
                                                           monkeypatch)
    return found


def uids(data: bytes) -> dict[str, str]:
    """Talk id (from the event's URL) -> UID, as icalendar reads them."""
    return {talk_id_of(e): str(e["UID"]) for e in icalendar.Calendar.from_ical(data).walk("VEVENT")}


def test_every_uid_is_the_uuid_of_its_talk_in_every_output_and_on_every_site(
        make_app, data_file, secrets_file, tmp_path, monkeypatch):
    assert len(TALKS) == 12
    expected = {talk_id: talk_uid(talk_id) for talk_id in TALKS}
    seen: dict[str, set[str]] = {talk_id: set() for talk_id in TALKS}
    for site in SITES:
        for name, data in outputs(site, make_app, data_file, secrets_file, tmp_path,
                                  monkeypatch).items():
            found = uids(data)
            assert found, name
            for talk_id, uid in found.items():
                parsed = uuid.UUID(uid)
                assert str(parsed) == uid and parsed.version == 5, (name, uid)
                assert uid == expected[talk_id], (site, name, talk_id)
                seen[talk_id].add(uid)
            # libical and ical.js run in a process each: every calendar, one of each single file.
            every = {"/calendar.ics", "/archive.ics", "members' calendar",
                     f"/talks/{TALKS[0]}.ics", f"announcement of {TALKS[0]}"}
            for reader, read in READERS.items():
                if name in every or reader in ("icalendar", "vobject"):
                    assert set(read(data)) == set(found.values()), (site, name, reader)
            if name == "/archive.ics":
                assert set(found) == set(TALKS)
    assert all(len(one) == 1 for one in seen.values()), seen
    assert len({next(iter(one)) for one in seen.values()}) == len(TALKS)  # all different


def test_the_old_key_uid_domain_gives_the_same_uids_and_feed_ids(make_app, data_file):
    def identities() -> tuple[dict[str, str], bytes]:
        client = make_app().test_client()
        atom = client.get("/atom.xml").data
        return uids(client.get("/archive.ics").data), atom[:atom.index(b"<updated>")]

    before = identities()
    text = data_file.read_text(encoding="utf-8")
    assert "  id_authority: efficientml@gmail.com\n" in text
    data_file.write_text(text.replace("  id_authority:", "  uid_domain:"), encoding="utf-8")
    after = identities()
    assert after == before
    assert before[0] == {talk_id: talk_uid(talk_id) for talk_id in TALKS}
    assert b"<id>tag:efficientml@gmail.com,2026:feed</id>" in before[1]


def test_healthz_shows_the_old_key_uid_domain_at_its_line(make_app, data_file):
    """The warning goes through the builder's read-and-record step to
    /healthz: file, line and kind, never the value written there."""
    text = data_file.read_text(encoding="utf-8").replace("  id_authority:", "  uid_domain:")
    data_file.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "uid_domain:" in row)
    health = make_app().test_client().get("/healthz")
    assert health.status_code == 200
    warnings = health.json["warnings"]
    assert any(w.startswith(f"{data_file}:{line}:") and "uid_domain" in w for w in warnings)
    assert not any("efficientml@gmail.com" in w for w in warnings)
