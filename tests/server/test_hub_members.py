"""The members' calendars of a hub: per series, a token of the series or
of the whole hub, each talk's join link from its own series' secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import icalendar
import pytest

from feeds import create_app

from helpers import SITE_URL, FakeClock, write_hub

THEORY_TOKEN = "theory-member-token-0123456789"
HUB_TOKEN = "hub-wide-member-token-0123456789"
THEORY_LINK = "https://meet.example.org/theory-secret-room"
KYOTO_LINK = "https://meet.example.org/kyoto-secret-room"


@pytest.fixture
def app(tmp_path: Path) -> Any:
    hub = write_hub(tmp_path / "hub")
    secrets = tmp_path / "secrets"
    (secrets / "series").mkdir(parents=True)
    (secrets / "site.yaml").write_text(
        f"tokens:\n  - token: {HUB_TOKEN}\n    label: the network's list\n", encoding="utf-8")
    (secrets / "series" / "theory.yaml").write_text(
        f"join_url: {THEORY_LINK}\ntokens:\n  - token: {THEORY_TOKEN}\n    label: Ada\n",
        encoding="utf-8")
    (secrets / "series" / "kyoto-nlp.yaml").write_text(f"join_url: {KYOTO_LINK}\n",
                                                         encoding="utf-8")
    for path in [secrets / "site.yaml", *(secrets / "series").iterdir()]:
        path.chmod(0o600)
    return create_app({"TESTING": True, "TALKS_FILE": str(hub), "SITE_URL": SITE_URL,
                       "CLOCK": FakeClock(), "CHECK_INTERVAL": 0.0, "BUILD_MODE": "inline",
                       "STATE_DIR": str(tmp_path / "state"), "SECRETS_FILE": str(secrets)})


def events(body: bytes) -> list[Any]:
    return list(icalendar.Calendar.from_ical(body).walk("VEVENT"))


def test_a_series_token_opens_that_series_calendar_with_its_join_links(app):
    client = app.test_client()
    response = client.get(f"/theory/members/{THEORY_TOKEN}/calendar.ics")
    assert response.status_code == 200
    assert "private" in response.headers["Cache-Control"]
    found = events(response.data)
    assert found and all("Theory Seminar" in str(e["SUMMARY"]) for e in found)
    assert all(str(e["LOCATION"]) == THEORY_LINK for e in found)
    assert client.get(f"/kyoto-nlp/members/{THEORY_TOKEN}/calendar.ics").status_code == 404


def test_a_hub_token_opens_every_series_with_its_own_join_links(app):
    client = app.test_client()
    kyoto = events(client.get(f"/kyoto-nlp/members/{HUB_TOKEN}/calendar.ics").data)
    assert kyoto and all(str(e["LOCATION"]) == KYOTO_LINK for e in kyoto)
    theory = events(client.get(f"/theory/members/{HUB_TOKEN}/calendar.ics").data)
    assert theory and all(str(e["LOCATION"]) == THEORY_LINK for e in theory)
    plain = events(client.get(f"/efficient-ml/members/{HUB_TOKEN}/calendar.ics").data)
    assert plain and all(str(e["LOCATION"]) == "Online" for e in plain)


def test_unknown_tokens_and_the_root_address_get_404(app):
    client = app.test_client()
    assert client.get("/theory/members/not-a-token-at-all-0123456789/calendar.ics"
                      ).status_code == 404
    assert client.get(f"/members/{HUB_TOKEN}/calendar.ics").status_code == 404
    assert client.get(f"/nope/members/{HUB_TOKEN}/calendar.ics").status_code == 404


def test_no_join_link_reaches_a_public_route(app):
    client = app.test_client()
    for route in app.extensions["feeds"].current().routes:
        body = client.get(route).data
        assert THEORY_LINK.encode() not in body and KYOTO_LINK.encode() not in body, route


def test_a_secrets_file_instead_of_a_folder_is_reported(tmp_path):
    hub = write_hub(tmp_path / "hub")
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(f"join_url: {THEORY_LINK}\n", encoding="utf-8")
    app = create_app({"TESTING": True, "TALKS_FILE": str(hub), "SITE_URL": SITE_URL,
                      "CLOCK": FakeClock(), "CHECK_INTERVAL": 0.0, "BUILD_MODE": "inline",
                      "STATE_DIR": str(tmp_path / "state"), "SECRETS_FILE": str(secrets)})
    warnings = app.test_client().get("/healthz").get_json()["warnings"]
    assert any("is not a folder" in w for w in warnings)
