"""A hub under real gunicorn workers and builder processes: served from
published builds like one series; an edit of one series is published while
another is broken, and /healthz names the broken file."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

from helpers import fetch, gunicorn, write_hub


def wait_for(check, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time limit"
        time.sleep(0.2)


def health(base: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_gunicorn_serves_a_hub_and_publishes_an_edit_beside_a_broken_series(tmp_path: Path):
    hub = write_hub(tmp_path / "hub")
    with gunicorn(hub, tmp_path / "gunicorn.log", "--workers", "2") as (base, _):
        assert b"Talks of the Network" in fetch(base + "/")
        assert b"BEGIN:VCALENDAR" in fetch(base + "/theory/calendar.ics")
        theory_before = fetch(base + "/theory/calendar.ics")
        theory = hub / "series" / "theory.yaml"
        theory.write_text(theory.read_text(encoding="utf-8").replace(
            "timezone: ", "timezone: Mars/"), encoding="utf-8")
        kyoto = hub / "series" / "kyoto-nlp.yaml"
        kyoto.write_text(kyoto.read_text(encoding="utf-8").replace(
            "title: Kyoto NLP talk 3", "title: Renamed in Kyoto"), encoding="utf-8")
        wait_for(lambda: b"Renamed in Kyoto" in fetch(base + "/kyoto-nlp/talks/talk-3/"))
        for _ in range(4):  # every worker, each request may land on either
            assert b"Renamed in Kyoto" in fetch(base + "/archive.ics")
            assert fetch(base + "/theory/calendar.ics") == theory_before
        status, state = health(base)
        assert status == 503, state
        assert any("series/theory.yaml:4:" in str(e) for e in state["errors"])  # type: ignore[union-attr]
