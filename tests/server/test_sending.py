"""Published routes as sent: gzip'd for clients that accept it (never a
calendar), the same bytes once decompressed, a 304 decided without opening
the file, a HEAD that does not read it, and bodies streamed a block at a
time rather than read into memory."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import pytest
from werkzeug.test import EnvironBuilder

from feeds.commands import cli
from feeds.server import sending

from helpers import NOW, SITE_URL, routes

GZIP = {"Accept-Encoding": "gzip, deflate, br, zstd"}  # what browsers send
TALK = "2026-04-13-fischer"


def site_of(app) -> Path:
    return app.extensions["feeds"].current().directory / "site"


@pytest.mark.parametrize("header, expected", [
    ("gzip", True),
    ("gzip, deflate, br, zstd", True),
    ("GZip;Q=0.5", True),
    (" deflate ,  gzip ; q=0.8 ", True),
    ("x-gzip", True),  # the alias RFC 9110 keeps
    ("*", True),
    ("br;q=1, *;q=0.5", True),
    ("identity;q=0, gzip;q=0.1", True),
    ("", False),  # an empty value asks for no coding at all
    ("identity", False),
    ("deflate, br", False),
    ("gzip;q=0", False),
    ("gzip;q=0.000", False),
    ("*;q=0", False),
    ("gzip;q=0, *", False),  # the explicit coding wins over the wildcard
    ("gzip;q=0.5, identity", False),  # identity preferred
    ("gzip;q=0.5, *", False),  # identity preferred, through the wildcard
    ("gzip;q=1.5", False),  # not a qvalue
    ("gzip;q=yes", False),
])
def test_accept_encoding_is_read_as_rfc_9110_says(header, expected):
    assert sending.accepts_gzip(header) is expected


def test_text_routes_are_sent_gzipped_and_decompress_to_the_same_bytes(app, client):
    compressed = set()
    for path in routes(app):
        plain = client.get(path)
        packed = client.get(path, headers=GZIP)
        assert packed.status_code == plain.status_code == 200, path
        if packed.headers.get("Content-Encoding") == "gzip":
            compressed.add(path)
            assert gzip.decompress(packed.data) == plain.data, path
            assert len(packed.data) < len(plain.data), path
            assert int(packed.headers["Content-Length"]) == len(packed.data), path
            assert packed.headers["ETag"] != plain.headers["ETag"], path
            for response in (plain, packed):
                assert response.headers["Vary"] == "Accept-Encoding", path
            for name in ("Content-Type", "Cache-Control", "Last-Modified",
                         "X-Content-Type-Options", "Referrer-Policy"):
                assert packed.headers[name] == plain.headers[name], (path, name)
            assert packed.headers.getlist("Content-Type") == [plain.headers["Content-Type"]]
        else:
            assert packed.data == plain.data, path
    # Pages, feeds, JSON and the stylesheet and script are compressed; calendars never.
    assert {"/", f"/talks/{TALK}/", "/rss.xml", "/atom.xml", "/talks.json",
            "/embed.json"} <= compressed
    assert any(path.endswith(".css") for path in compressed)
    assert any(path.endswith(".js") for path in compressed)
    assert not any(path.endswith(".ics") for path in compressed)


def test_a_client_that_refuses_gzip_gets_the_plain_bytes(app, client):
    body = routes(app)["/"].body
    for accept in ("gzip;q=0", "identity", ""):
        response = client.get("/", headers={"Accept-Encoding": accept})
        assert "Content-Encoding" not in response.headers, accept
        assert response.data == body
        assert response.headers["Vary"] == "Accept-Encoding"


def test_each_representation_revalidates_with_its_own_etag(client):
    plain, packed = client.get("/"), client.get("/", headers=GZIP)
    again = client.get("/", headers={**GZIP, "If-None-Match": packed.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == packed.headers["ETag"]
    assert again.headers["Vary"] == "Accept-Encoding"
    assert "Content-Encoding" not in again.headers  # a 304 has no content
    assert client.get("/", headers={"If-None-Match": plain.headers["ETag"]}).status_code == 304
    # A cache that kept the gzip'd bytes cannot revalidate them for a client that refuses gzip.
    crossed = client.get("/", headers={"If-None-Match": packed.headers["ETag"]})
    assert crossed.status_code == 200 and crossed.data == plain.data


def test_the_build_writes_reproducible_gz_files_beside_the_pages(app, build_site):
    site = site_of(app)
    packed = sorted(site.rglob("*.gz"))
    assert site / "index.html.gz" in packed
    assert not [p for p in packed if p.name.endswith(".ics.gz")]
    assert not list(site.rglob("*.gz.gz"))
    for file in packed:
        plain = file.with_name(file.name.removesuffix(".gz"))
        assert gzip.decompress(file.read_bytes()) == plain.read_bytes(), file
        assert file.stat().st_size < plain.stat().st_size, file
        assert file.stat().st_mtime == plain.stat().st_mtime, file  # nginx's Last-Modified
    # `feeds build` writes the same files, byte for byte.
    exported = build_site()
    relative = {p.relative_to(site) for p in packed}
    assert {p.relative_to(exported) for p in exported.rglob("*.gz")} == relative
    for name in relative:
        assert (exported / name).read_bytes() == (site / name).read_bytes(), name


@pytest.fixture
def build_site(data_file: Path, tmp_path: Path, monkeypatch):
    """`feeds build` of the same data at the same moment, into a new folder."""
    monkeypatch.setattr(cli, "utc_now", lambda: NOW)

    def run() -> Path:
        outdir = tmp_path / "export"
        assert cli.main(["build", str(outdir), "--data", str(data_file),
                         "--site-url", SITE_URL]) == 0
        return outdir

    return run


def test_a_304_is_answered_without_the_file(app, client):
    """Calendar apps revalidate on every refresh: the answer comes from the
    route table, so it holds even with the file gone."""
    cached = {path: (client.get(path).headers["ETag"], client.get(path, headers=GZIP).headers["ETag"])
              for path in ("/calendar.ics", "/", "/talks.json")}
    for path in cached:
        file = Path(routes(app)[path].file)
        file.unlink()
        file.with_name(file.name + ".gz").unlink(missing_ok=True)
    for path, (plain, packed) in cached.items():
        assert client.get(path, headers={"If-None-Match": plain}).status_code == 304, path
        assert client.get(path, headers={**GZIP, "If-None-Match": packed}).status_code == 304, path


def test_head_and_304_open_no_file(app, client, monkeypatch):
    expected = {path: (client.get(path), client.get(path, headers=GZIP))
                for path in ("/calendar.ics", "/", "/talks.json")}
    opened: list[str] = []
    real_open = open

    def recording_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(sending, "open", recording_open, raising=False)
    for path, (plain, packed) in expected.items():
        for get, headers in ((plain, {}), (packed, GZIP)):
            head = client.head(path, headers=headers)
            assert head.status_code == 200 and head.data == b""
            for name in ("Content-Length", "Content-Encoding", "ETag", "Content-Type"):
                assert head.headers.get(name) == get.headers.get(name), (path, name)
            fresh = client.get(path, headers={**headers, "If-None-Match": get.headers["ETag"]})
            assert fresh.status_code == 304
    assert opened == []
    client.get("/calendar.ics")
    assert opened == [routes(app)["/calendar.ics"].file]  # the instrument sees a GET's open


@pytest.mark.parametrize("headers", [{}, GZIP], ids=["plain", "gzip"])
def test_a_body_is_streamed_a_block_at_a_time(app, headers, monkeypatch):
    """However large the file and however many clients download it, a
    download holds one block of it in the worker, never the whole file."""
    monkeypatch.setattr(sending, "CHUNK", 1024)
    environ = EnvironBuilder(path="/talks.json", headers=headers).get_environ()
    status: list[str] = []
    result = app.wsgi_app(environ, lambda line, headers, exc_info=None: status.append(line))
    assert status == ["200 OK"]
    file = routes(app)["/talks.json"].file + (".gz" if headers else "")
    expected = Path(file).read_bytes()
    assert len(expected) > 2 * 1024
    blocks = []
    try:
        for block in result:
            assert len(block) <= 1024
            blocks.append(block)
    finally:
        result.close()  # type: ignore[attr-defined]
    assert b"".join(blocks) == expected and len(blocks) > 2


def test_a_download_holds_one_block_not_the_file(app):
    """Memory while a body is sent: one block, whatever the file's size (a
    worker with many downloads of a large file holds one block each)."""
    file = Path(routes(app)["/archive.ics"].file)
    line = b"DESCRIPTION:a long archive, grown here to 4 MB on disk\r\n"
    file.write_bytes(line * (4 * 2**20 // len(line)))
    size = file.stat().st_size

    def download() -> int:
        environ = EnvironBuilder(path="/archive.ics").get_environ()
        result = app.wsgi_app(environ, lambda *args: None)
        try:
            return sum(len(block) for block in result)
        finally:
            result.close()

    assert download() == size  # the route looked up and its headers made, outside the count
    tracemalloc.start()
    try:
        assert download() == size
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A block being sent and the next being read: two blocks, not the 4 MB.
    assert peak < 3 * sending.CHUNK < size / 4, (peak, size)
