"""Shared fixtures: a private copy of the data, a fixed clock, an app."""

from __future__ import annotations

import contextlib
import shutil
import threading
from datetime import datetime, timezone
from pathlib import Path
from socketserver import BaseServer
from typing import Callable, Iterator

import pytest

from feeds import create_app
from feeds.loader import load_schedule
from feeds.model import Schedule
from feeds.revisions import Revision, advance
from feeds.snapshot import BuildOptions, Snapshot, build_snapshot
from feeds.urls import Site

ROOT = Path(__file__).resolve().parent.parent
SEED_DATA = ROOT / "data" / "talks.yaml"
SITE_URL = "https://talks.example.org"
# A fixed "now" between the March and April 2026 talks of the seed.
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=timezone.utc)


class FakeClock:
    """An injectable clock that tests move by hand."""

    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    """A writable copy of data/talks.yaml (without its ledger)."""
    target = tmp_path / "talks.yaml"
    shutil.copy(SEED_DATA, target)
    return target


@pytest.fixture
def seed() -> Schedule:
    return load_schedule(SEED_DATA)


def revisions_for(schedule: Schedule, now: datetime = NOW) -> dict[str, Revision]:
    """Fresh revisions for every talk, as a new ledger would record them."""
    return advance({}, schedule, now)


def snapshot_for(schedule: Schedule, now: datetime = NOW, site: str = SITE_URL) -> Snapshot:
    return build_snapshot(schedule, revisions_for(schedule, now), BuildOptions(Site(site)), now)


def routes(app) -> dict[str, object]:
    """The public routes of the app's current snapshot."""
    return app.extensions["feeds"].snapshot().routes


def add_to_talk(data_file: Path, talk_id: str, line: str) -> None:
    """Add a `key: value` line to one talk of the data file."""
    text = data_file.read_text(encoding="utf-8")
    marker = f"  - id: {talk_id}\n"
    assert marker in text
    data_file.write_text(text.replace(marker, f"{marker}    {line}\n"), encoding="utf-8")


@pytest.fixture
def make_app(data_file: Path, clock: FakeClock) -> Callable[..., object]:
    """Build an app over the private data copy; keyword args override config."""

    def factory(**config: object):
        settings = {"TESTING": True, "TALKS_FILE": str(data_file), "SITE_URL": SITE_URL,
                    "CLOCK": clock, "CHECK_INTERVAL": 0.0}
        settings.update(config)
        return create_app(settings)

    return factory


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@contextlib.contextmanager
def serving(server: BaseServer) -> Iterator[str]:
    """Run `server` (bound to 127.0.0.1) in a thread; yields its base URL."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
