"""A route table names files inside its build only (attack run D32): a
planted row with an absolute path or '..' is never served, whoever wrote
the state folder (SECURITY.md says who may)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import pytest

from feeds.publish.builds import PublishedBuild

MARK = b"outside the build: must never be served\n"


def current_build(state: Path) -> Path:
    return (state / "current").resolve()


def plant(build: Path, route: str, file: str) -> None:
    """Point `route` of the build's route table at `file`."""
    database = build / "routes.sqlite"
    os.chmod(database, 0o644)
    with contextlib.closing(sqlite3.connect(database)) as db:
        assert db.execute("UPDATE routes SET file = ? WHERE route = ?", (file, route)).rowcount == 1
        db.commit()


@pytest.fixture
def planted(make_app, data_file, tmp_path):
    """A served build whose route table was changed afterwards, and the
    paths it names (all to one file outside the build)."""
    app = make_app()
    app.test_client().get("/")  # the first build
    state = app.extensions["feeds"].state
    build = current_build(state)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(MARK)
    depth = len((build / "site").relative_to(tmp_path).parts)
    forms = {"/calendar.ics": "../" * depth + "outside.txt",
             "/rss.xml": str(outside),
             "/atom.xml": "talks/../../" + "../" * depth + "outside.txt",
             "/talks.json": "./" + "../" * depth + "outside.txt"}
    for route, file in forms.items():
        plant(build, route, file)
    assert (build / "site" / forms["/calendar.ics"]).resolve() == outside.resolve()
    return build, forms


def test_a_planted_route_file_is_never_served(planted, make_app):
    build, forms = planted
    client = make_app().test_client()  # a new process opens the planted build
    assert current_build(client.application.extensions["feeds"].state) == build
    for route in forms:
        for method in (client.get, client.head):
            response = method(route)
            assert MARK not in response.data, route
            assert response.status_code == 404, (route, response.status_code)
    assert client.get("/").status_code == 200  # the rest of the build still serves


def test_the_build_refuses_such_rows_when_asked(planted):
    build, forms = planted
    opened = PublishedBuild(build)
    for route in forms:
        assert opened.routes.get(route) is None and route not in opened.routes
    assert opened.routes.get("/talks/2026-04-13-fischer/") is not None
