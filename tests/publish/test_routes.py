"""The route table each build writes (feeds.publish.routes)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from feeds.publish.routes import RouteTables


def rows(database: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(database)) as db:
        return db.execute("SELECT * FROM routes ORDER BY position").fetchall()


def table(count: int, edited: int | None = None) -> dict[str, list[object]]:
    return {f"/talks/t{n}/": [f"talks/t{n}/index.html", 0, f"etag{n}{'x' if n == edited else ''}",
                              1 if n == edited else 0, 0, "", 1] for n in range(count)}


def test_a_table_updated_from_the_last_is_the_table_made_anew(tmp_path):
    kept = RouteTables()
    kept.write(tmp_path / "first.sqlite", table(500))
    kept.write(tmp_path / "edited.sqlite", table(500, edited=250))  # one row changed
    kept.write(tmp_path / "added.sqlite", table(501, edited=250))  # one route more
    for name, routes in (("edited", table(500, edited=250)), ("added", table(501, edited=250))):
        RouteTables().write(tmp_path / f"{name}-anew.sqlite", routes)
        assert rows(tmp_path / f"{name}.sqlite") == rows(tmp_path / f"{name}-anew.sqlite")
    assert rows(tmp_path / "edited.sqlite")[250][4:6] == ("etag250x", 1)
    assert rows(tmp_path / "first.sqlite")[250][4:6] == ("etag250", 0)  # the last build's stays


def test_a_damaged_table_on_disk_is_not_carried_into_the_next(tmp_path):
    kept = RouteTables()
    kept.write(tmp_path / "first.sqlite", table(300))
    (tmp_path / "first.sqlite").write_bytes(b"\0" * 4096)  # damaged after it was written
    kept.write(tmp_path / "next.sqlite", table(300, edited=7))
    RouteTables().write(tmp_path / "anew.sqlite", table(300, edited=7))
    assert rows(tmp_path / "next.sqlite") == rows(tmp_path / "anew.sqlite")
