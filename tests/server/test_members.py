"""The members' calendar: secrets file, tokens, join links, and the promise
that neither a token nor the join link ever reaches a public output or a log."""

from __future__ import annotations

import hmac
import logging
import os
import stat
from pathlib import Path

import icalendar
import pytest
import vobject
from ical.calendar_stream import IcsCalendarStream

from feeds.commands import cli
from feeds.data import secrets_file as secrets_io
from feeds.data.loader import InvalidData, load_schedule
from feeds.server import accesslog, members

from helpers import SEED_DATA, talk_id_of

JOIN = "https://meet.example.org/j/SECRETJOIN123?pwd=ZZtopSECRET"
OVERRIDE = "https://other.example.net/room/OVERRIDESECRET456"
SECRET_MARKERS = ("SECRETJOIN123", "ZZtopSECRET", "OVERRIDESECRET456")
TOKEN = "tokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
OTHER = "tokenBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"


def unfold(data: bytes) -> str:
    """Text with iCalendar line folding undone, so that a folded URL is found."""
    return data.decode("utf-8", "replace").replace("\r\n ", "").replace("\r\n\t", "")


def seed_talk_ids() -> tuple[str, str]:
    """A scheduled talk for the per-talk override, and a cancelled one if any."""
    talks = load_schedule(SEED_DATA).talks
    scheduled = [t.id for t in talks if not t.cancelled]
    return scheduled[0], next((t.id for t in talks if t.cancelled), "")


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    override_id, _ = seed_talk_ids()
    path = tmp_path / "secrets.yaml"
    path.write_text(
        f"join_url: {JOIN}\n"
        f"talks:\n  {override_id}: {OVERRIDE}\n"
        f"tokens:\n  - token: {TOKEN}\n    label: Jane Doe\n"
        f"  - token: {OTHER}\n    label: the members' list\n", encoding="utf-8")
    return path


@pytest.fixture
def member_app(make_app, secrets_file):
    return make_app(SECRETS_FILE=str(secrets_file))


@pytest.fixture
def member_client(member_app):
    return member_app.test_client()


def members_ics(client, token: str = TOKEN):
    return client.get(f"/members/{token}/calendar.ics")


# --- the calendar ---------------------------------------------------------------

def test_member_calendar_carries_join_link_in_location_description_and_conference(member_client):
    response = members_ics(member_client)
    assert response.status_code == 200
    assert response.content_type == "text/calendar; charset=utf-8"
    override_id, cancelled_id = seed_talk_ids()
    cal = icalendar.Calendar.from_ical(response.data)
    assert str(cal["X-WR-CALNAME"]).endswith("(members)")
    assert "SOURCE" not in cal  # never points clients back at the public calendar
    events = {talk_id_of(e): e for e in cal.walk("VEVENT")}
    assert events
    for talk_id, event in events.items():
        if talk_id == cancelled_id:
            assert "CONFERENCE" not in event and JOIN not in str(event["DESCRIPTION"])
            continue
        link = OVERRIDE if talk_id == override_id else JOIN
        assert str(event["LOCATION"]) == link
        assert str(event["DESCRIPTION"]).startswith(f"Join: {link}\n\n")
        [conference] = event.conferences
        assert conference.uri == link
        assert conference.feature == ["AUDIO", "VIDEO"]


def test_member_calendar_reads_in_strict_parsers(member_client):
    data = members_ics(member_client).data
    strict = IcsCalendarStream.calendar_from_ics(data.decode("utf-8"))
    assert any(event.location == JOIN for event in strict.events)
    parsed = vobject.readOne(data.decode("utf-8"))
    assert any(e.location.value == JOIN for e in parsed.vevent_list)
    assert b"FEATURE=AUDIO,VIDEO;" in data  # a list, not the quoted single value


def test_member_calendar_keeps_public_uids_and_times(member_client):
    public = icalendar.Calendar.from_ical(member_client.get("/calendar.ics").data)
    private = icalendar.Calendar.from_ical(members_ics(member_client).data)
    def pick(cal):
        return [(str(e["UID"]), e.start, e.end, e["SEQUENCE"]) for e in cal.walk("VEVENT")]
    assert pick(public) == pick(private)


def test_member_calendar_is_private_to_caches_and_origins(member_client):
    response = members_ics(member_client)
    assert response.cache_control.private and not response.cache_control.public
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.headers["X-Robots-Tag"] == "noindex"
    again = member_client.get(f"/members/{TOKEN}/calendar.ics",
                              headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_every_listed_token_works_and_shares_one_rendering(member_app):
    client = member_app.test_client()
    assert members_ics(client, TOKEN).data == members_ics(client, OTHER).data
    calendar = member_app.extensions["feeds.members"].calendar
    snapshot = member_app.extensions["feeds"].current()
    assert calendar(snapshot, TOKEN) is calendar(snapshot, OTHER)  # rendered once


def test_join_url_from_the_environment(make_app, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(f"tokens:\n  - token: {TOKEN}\n    label: x\n")
    client = make_app(SECRETS_FILE=str(path), JOIN_URL=JOIN).test_client()
    assert f"LOCATION:{JOIN}" in unfold(members_ics(client).data)


def test_bad_join_url_from_the_environment_is_ignored_and_reported(make_app, secrets_file):
    client = make_app(SECRETS_FILE=str(secrets_file), JOIN_URL="javascript:alert(1)").test_client()
    assert "javascript" not in unfold(members_ics(client).data)
    assert any("FEEDS_JOIN_URL" in w for w in client.get("/healthz").json["warnings"])


# --- tokens ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    f"/members/{'x' * 43}/calendar.ics",
    f"/members/{TOKEN[:-1]}/calendar.ics",  # one character short
    f"/members/{TOKEN}x/calendar.ics",
    f"/members/{TOKEN.upper()}/calendar.ics",
    f"/members/{TOKEN}/calendar.ICS",
    f"/members/{TOKEN}/",
    "/members/",
    "/members//calendar.ics",
])
def test_unknown_token_gets_the_same_404_as_any_unknown_page(member_client, path):
    unknown = member_client.get(path)
    page = member_client.get("/no-such-page")
    assert unknown.status_code == page.status_code == 404
    assert unknown.data == page.data
    def strip(r):
        return {k: v for k, v in r.headers.items() if k != "Date"}
    assert strip(unknown) == strip(page)


def test_tokens_are_compared_in_constant_time_against_all(member_client, monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(secrets_io.hmac, "compare_digest", spy)
    assert members_ics(member_client, TOKEN).status_code == 200
    assert len(calls) == 2  # every token, even after the first matched
    calls.clear()
    assert members_ics(member_client, "short").status_code == 404
    assert calls == [(32, 32), (32, 32)]  # digests: the length of a guess does not show


def test_no_secrets_file_means_no_members_calendar(client):
    assert members_ics(client).status_code == 404


def test_secrets_are_reloaded_when_the_file_changes(member_client, secrets_file):
    new = "tokenCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"
    assert members_ics(member_client, new).status_code == 404
    secrets_io.add_token(secrets_file, "Newcomer", token=new)
    assert members_ics(member_client, new).status_code == 200
    # Revoking is removing the line.
    text = secrets_file.read_text().replace(f"  - token: {TOKEN}\n    label: Jane Doe\n", "")
    secrets_file.write_text(text)
    os.utime(secrets_file, ns=(1, 1))  # a different stat even within one clock tick
    assert members_ics(member_client, TOKEN).status_code == 404
    assert members_ics(member_client, OTHER).status_code == 200


def test_invalid_secrets_keep_the_last_good_ones_and_warn(member_client, secrets_file):
    secrets_file.write_text(secrets_file.read_text() + "join_url: javascript:alert(1)\n")
    assert members_ics(member_client).status_code == 200
    health = member_client.get("/healthz")
    assert health.status_code == 200  # the public site is fine; members' data is stale
    warnings = " ".join(health.json["warnings"])
    assert "secrets" in warnings and "javascript" not in warnings
    assert TOKEN not in health.get_data(as_text=True)


def test_removing_the_secrets_file_revokes_every_token(member_client, secrets_file):
    secrets_file.unlink()
    assert members_ics(member_client).status_code == 404
    assert "missing" in " ".join(member_client.get("/healthz").json["warnings"])


# --- the secrets file -----------------------------------------------------------------

@pytest.mark.parametrize("text, line, needle", [
    ("join_url: javascript:alert(1)\n", 1, "web address"),
    ("join_url: ftp://x.example/\n", 1, "web address"),
    ("talks:\n  ../etc: https://x.example/\n", 2, "talk id"),
    ("talks: [https://x.example/]\n", 1, "map talk ids"),
    ("tokens:\n  - token: short\n    label: x\n", 2, "22 characters"),
    ("tokens:\n  - token: a/bcdefghijklmnopqrstuvwxyz\n    label: x\n", 2, "22 characters"),
    (f"tokens:\n  - token: {TOKEN}\n    label: a\n  - token: {TOKEN}\n    label: b\n", 4,
     "already listed on line 2"),
    (f"tokens:\n  - token: {TOKEN}\n", 2, "label"),
    ("join_ur1: https://x.example/\n", 1, "unknown key"),
    ("tokens: {a: b}\n", 1, "must be a list"),
    ("tokens:\n  - token: [x\n", 3, "not valid YAML"),
])
def test_secrets_file_mistakes_name_their_line_and_never_echo_secrets(text, line, needle):
    with pytest.raises(InvalidData) as info:
        secrets_io.parse_secrets(text, "secrets.yaml")
    assert any(p.line == line and needle in p.message for p in info.value.problems), info.value
    message = str(info.value)
    assert TOKEN not in message and "alert(1)" not in message and "x.example" not in message


def test_an_empty_secrets_file_has_nothing():
    assert secrets_io.parse_secrets("# nothing yet\n") == secrets_io.Secrets()


# --- feeds token new ------------------------------------------------------------------

def test_token_new_appends_atomically_and_prints_subscribe_links(tmp_path, capsys):
    path = tmp_path / "secrets.yaml"
    path.write_text(f"join_url: {JOIN}  # keep me\ntokens:\n  - token: {TOKEN}\n    label: Old\n"
                    "# trailing comment\n")
    path.chmod(0o640)
    assert cli.main(["token", "new", "Ada \"the\" Countess", "--secrets", str(path),
                     "--site", "https://talks.example.org/rg"]) == 0
    out = capsys.readouterr().out
    loaded = secrets_io.load_secrets(path)
    assert [t.label for t in loaded.tokens] == ["Old", 'Ada "the" Countess']
    token = loaded.tokens[-1].token
    assert len(token) >= 43 and secrets_io.TOKEN_PATTERN.fullmatch(token)
    assert f"https://talks.example.org/rg/members/{token}/calendar.ics" in out
    assert f"webcal://talks.example.org/rg/members/{token}/calendar.ics" in out
    assert ("https://calendar.google.com/calendar/r?cid=webcal%3A%2F%2Ftalks.example.org"
            f"%2Frg%2Fmembers%2F{token}%2Fcalendar.ics") in out
    text = path.read_text()
    assert "# keep me" in text and "# trailing comment" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # the owner's choice is kept
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_token_new_creates_the_file(tmp_path, capsys):
    path = tmp_path / "new" / "secrets.yaml"
    path.parent.mkdir()
    assert cli.main(["token", "new", "list", "--secrets", str(path)]) == 0
    assert len(secrets_io.load_secrets(path).tokens) == 1
    assert "PRIVATE" in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # readable by its owner only


def test_token_new_warns_when_its_links_say_localhost(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("FEEDS_SITE_URL", raising=False)
    path = tmp_path / "secrets.yaml"
    assert cli.main(["token", "new", "Ada", "--secrets", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "http://localhost:5000/members/" in out
    assert "warning: the links point at http://localhost:5000" in err and "FEEDS_SITE_URL" in err
    assert cli.main(["token", "new", "Bob", "--secrets", str(path),
                     "--site", "https://talks.example.org"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_token_new_refuses_a_file_it_cannot_extend(tmp_path, capsys):
    path = tmp_path / "secrets.yaml"
    path.write_text("tokens: []\n")
    assert cli.main(["token", "new", "x", "--secrets", str(path)]) == 1
    assert path.read_text() == "tokens: []\n"
    assert "no token was added" in capsys.readouterr().err


def test_minted_tokens_differ():
    assert len({secrets_io.mint_token() for _ in range(50)}) == 50


# --- never in public outputs ------------------------------------------------------------

def public_bodies(app) -> dict[str, bytes]:
    """Every public route, through the test client, plus /healthz and a few 404s."""
    client = app.test_client()
    snapshot = app.extensions["feeds"].current()
    paths = [*snapshot.routes, "/healthz", "/members/", "/no-such-page"]
    return {path: client.get(path).data for path in paths}


def assert_no_secret(bodies: dict[str, bytes]) -> None:
    for path, body in bodies.items():
        text = unfold(body)
        for secret in (*SECRET_MARKERS, TOKEN, OTHER, "Jane Doe"):
            assert secret not in text, f"{secret!r} leaked into {path}"


def test_no_public_route_contains_the_join_link_or_a_token(member_app, member_client):
    assert any(m in unfold(members_ics(member_client).data) for m in SECRET_MARKERS)
    snapshot = member_app.extensions["feeds"].current()
    assert_no_secret({path: r.body for path, r in snapshot.routes.items()})
    assert_no_secret(public_bodies(member_app))
    assert not any("members" in path for path in snapshot.routes)


def test_the_static_export_and_the_published_builds_contain_no_secret(member_app, data_file,
                                                                     tmp_path):
    from feeds.commands import cli

    member_client = member_app.test_client()
    assert member_client.get(f"/members/{TOKEN}/calendar.ics").status_code == 200
    outdir = tmp_path / "site"
    assert cli.main(["build", str(outdir), "--data", str(data_file),
                     "--site-url", "https://talks.example.org"]) == 0
    state = Path(member_app.extensions["feeds"].state)
    files = {str(p): p.read_bytes() for root in (outdir, state) for p in root.rglob("*")
             if p.is_file() and "private" not in p.relative_to(root).parts}
    assert any("/builds/" in name for name in files) and any(name.startswith(str(outdir))
                                                             for name in files)
    assert_no_secret(files)


def test_the_last_good_secrets_are_kept_where_only_the_server_can_read_them(member_app):
    kept = member_app.extensions["feeds.members"].kept
    assert kept.read_text() and TOKEN in kept.read_text()
    assert stat.S_IMODE(kept.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600


def test_a_restart_with_a_broken_secrets_file_keeps_the_members_calendar(member_app, make_app,
                                                                         secrets_file):
    before = member_app.test_client().get(f"/members/{TOKEN}/calendar.ics")
    assert before.status_code == 200
    secrets_file.write_text("tokens: [\n")
    restarted = make_app(SECRETS_FILE=str(secrets_file)).test_client()
    after = restarted.get(f"/members/{TOKEN}/calendar.ics")
    assert after.status_code == 200
    assert after.data == before.data and after.headers["ETag"] == before.headers["ETag"]
    health = restarted.get("/healthz").get_json()
    assert any("secrets file" in w for w in health["warnings"])
    secrets_file.unlink()  # revoking: the copy goes too, also for the next start
    assert restarted.get(f"/members/{TOKEN}/calendar.ics").status_code == 404
    again = make_app(SECRETS_FILE=str(secrets_file)).test_client()
    assert again.get(f"/members/{TOKEN}/calendar.ics").status_code == 404


# --- never in logs ---------------------------------------------------------------------------

def test_dev_server_and_app_logs_are_redacted(member_app, caplog):
    caplog.set_level(logging.INFO)
    logging.getLogger("werkzeug").info('%s - - [x] "%s" %s %s', "127.0.0.1",
                                       f"GET /members/{TOKEN}/calendar.ics HTTP/1.1", 200, 10)
    member_app.logger.error("Exception on /members/%s/calendar.ics [GET]", TOKEN)
    assert len(caplog.records) == 2
    assert TOKEN not in caplog.text and accesslog.REDACTED in caplog.text


def test_an_error_in_the_members_view_is_logged_without_the_token(member_app, caplog,
                                                                    monkeypatch):
    member_app.config["TESTING"] = False  # a real 500, logged by Flask
    member_app.testing = False

    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(members, "render_calendar", broken)
    response = members_ics(member_app.test_client())
    assert response.status_code == 500
    assert b"boom" not in response.data and b"Traceback" not in response.data
    assert "Exception on" in caplog.text and TOKEN not in caplog.text


def test_redaction_covers_the_whole_request_target_and_keeps_the_log_line():
    line = f'1.2.3.4 - - [x] "GET /members/"{TOKEN}/a?b HTTP/1.1" 404 12 "-" "curl/8"'
    assert accesslog.redact(line) == '1.2.3.4 - - [x] "GET /members/<redacted> HTTP/1.1" 404 12 "-" "curl/8"'


# --- no secret as a Referer ---------------------------------------------------------

def test_members_responses_and_404_pages_send_no_referrer(member_client):
    for path in (f"/members/{TOKEN}/calendar.ics", f"/members/{TOKEN}/other",
                 "/members/not-a-token/calendar.ics", "/no-such-page"):
        response = member_client.get(path)
        assert response.headers["Referrer-Policy"] == "no-referrer", path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
    page = member_client.get(f"/members/{TOKEN}/other")
    assert page.status_code == 404
    assert b'<meta name="referrer" content="no-referrer">' in page.data  # any host, any header


def test_every_public_response_has_a_referrer_policy_and_nosniff(member_app):
    client = member_app.test_client()
    for path in [*member_app.extensions["feeds"].current().routes, "/healthz", "/embed?limit=x"]:
        response = client.get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin", path


# --- mistakes in the secrets file never repeat a secret ------------------------------

@pytest.mark.parametrize("text", [
    f"{JOIN}: the link\n",
    f"join_url: x\n{JOIN}:\n",
    f"tokens:\n  - {TOKEN}: Ada\n",
    f"tokens:\n  - token: {OTHER}\n    label: a\n    {TOKEN}: b\n",
    f"talks:\n  {TOKEN}: {OVERRIDE}\n  {TOKEN}: {OVERRIDE}\n",
    f"{TOKEN}: [\n",
    f"\"{TOKEN}\": {{\n",
    f"tokens:\n  - token: {TOKEN}\n    label: x\n  - !{TOKEN} x\n",
], ids=["join link as key", "join link as second key", "token as key", "token as token's key",
        "token twice under talks", "YAML error", "quoted YAML error", "tag"])
def test_a_secret_written_as_a_key_is_never_repeated(tmp_path, text, caplog, capsys, make_app):
    path = tmp_path / "secrets.yaml"
    path.write_text(text)
    with pytest.raises(InvalidData) as info:
        secrets_io.load_secrets(path)
    assert all(p.line for p in info.value.problems), info.value  # each names its line
    leaked = [s for s in (*SECRET_MARKERS, TOKEN, OTHER) if s in str(info.value)]
    assert not leaked, str(info.value)
    caplog.set_level(logging.INFO)
    app = make_app(SECRETS_FILE=str(path))  # the server's log and /healthz
    health = app.test_client().get("/healthz").get_data(as_text=True)
    assert cli.main(["token", "new", "Ada", "--secrets", str(path)]) == 1
    out = capsys.readouterr()
    for where in (caplog.text, health, out.out, out.err):
        assert not [s for s in (*SECRET_MARKERS, TOKEN, OTHER) if s in where], where


# --- how the secrets file is kept ------------------------------------------------------

def test_token_new_writes_through_a_symlink_keeping_mode_and_group(tmp_path, capsys):
    target = tmp_path / "private" / "secrets.yaml"
    target.parent.mkdir()
    target.write_text(f"tokens:\n  - token: {TOKEN}\n    label: Old\n")
    target.chmod(0o640)
    group = next((g for g in os.getgroups() if g != os.getegid()), os.getegid())
    if os.geteuid() == 0:
        group = 40010  # any group will do for root
    os.chown(target, -1, group)
    link = tmp_path / "secrets.yaml"
    link.symlink_to(target)
    assert cli.main(["token", "new", "Ada", "--secrets", str(link)]) == 0
    assert link.is_symlink() and link.resolve() == target
    assert [t.label for t in secrets_io.load_secrets(target).tokens] == ["Old", "Ada"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.stat().st_gid == group
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_world_readable_secrets_file_is_warned_about(make_app, secrets_file, caplog):
    secrets_file.chmod(0o644)
    caplog.set_level(logging.WARNING)
    client = make_app(SECRETS_FILE=str(secrets_file)).test_client()
    state = client.get("/healthz").get_json()
    assert any("readable by every account" in w and "0644" in w for w in state["warnings"])
    assert "readable by every account" in caplog.text
    assert members_ics(client).status_code == 200  # a warning, not an outage
    secrets_file.chmod(0o600)
    os.utime(secrets_file, ns=(secrets_file.stat().st_mtime_ns + 10**9,) * 2)
    assert not any("readable" in w for w in client.get("/healthz").get_json()["warnings"])
