"""Shared fixtures: a private copy of the data, a fixed clock, an app.
Helpers that tests import live in tests/helpers.py."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from feeds import create_app
from feeds.data.loader import load_schedule
from feeds.model import Schedule
from feeds.publish import snapshot

from helpers import SEED_DATA, SITE_URL, FakeClock


@pytest.fixture(autouse=True)
def fresh_embed_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with a full /embed render budget (it is per process)."""
    monkeypatch.setattr(snapshot, "EMBED_BUDGET", snapshot.RenderBudget(
        snapshot.EMBED_BUDGET.capacity, snapshot.EMBED_BUDGET.rate))


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


@pytest.fixture
def make_app(data_file: Path, clock: FakeClock) -> Callable[..., object]:
    """Build an app over the private data copy; keyword args override config."""

    def factory(**config: object):
        settings = {"TESTING": True, "TALKS_FILE": str(data_file), "SITE_URL": SITE_URL,
                    "CLOCK": clock, "CHECK_INTERVAL": 0.0, "BUILD_MODE": "inline",
                    "STATE_DIR": str(data_file.parent / "state")}
        settings.update(config)
        return create_app(settings)

    return factory


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()
