"""`feeds serve` and `flask --app wsgi run` on ports other than the default:
the links a visitor clicks lead to the server they are looking at, edits
appear by themselves, and a misconfigured address is said out loud."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import icalendar
import lxml.html

from feeds import settings

from helpers import ROOT, clean_environment, fetch, free_port, running


def absolute_links(page: bytes) -> list[str]:
    """Every absolute href and src of a page, and its canonical and sharing URLs."""
    tree = lxml.html.fromstring(page)
    found = tree.xpath("//@href | //@src | //meta[starts-with(@property, 'og:')]/@content")
    return [str(url) for url in found if re.match(r"(https?|webcal)://", str(url))]


def addresses_in(links: list[str]) -> list[str]:
    """`links`, and the addresses inside their queries (Google Calendar's cid=,
    Outlook's url=)."""
    found = list(links)
    for link in links:
        found += [value for _, value in parse_qsl(urlsplit(link).query)
                  if re.match(r"(https?|webcal)://", value)]
    return found


def serve(data_file: Path, *args: str, **env: str):
    return running([sys.executable, "-m", "feeds", "serve", "--data", str(data_file), *args],
                   data_file.parent, clean_environment(**env), r"Serving .* at (http://\S+?)/ ")


def test_serve_links_point_at_the_address_it_listens_on(data_file):
    with serve(data_file, "--port", "0") as (match, _proc, output):
        address = match.group(1)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", address)
        page = fetch(address + "/")
        ours = [url for url in addresses_in(absolute_links(page))
                if urlsplit(url).hostname in ("127.0.0.1", "localhost")]
        # the subscribe buttons are absolute (the page's own links are relative)
        assert "/calendar.ics" in {urlsplit(url).path for url in ours}
        assert any(url.startswith("webcal://") for url in ours)  # the subscribe buttons
        for url in ours:
            assert re.sub("^webcal://", "http://", url).startswith(address + "/"), url
        calendar = icalendar.Calendar.from_ical(fetch(address + "/calendar.ics"))
        event = next(iter(calendar.walk("VEVENT")))
        assert str(event["URL"]).startswith(address + "/talks/")
        assert fetch(address + "/rss.xml").count(address.encode()) > 10
    assert any(f"Links point at {address}" in line for line in output)


def test_serve_picks_up_an_edit(data_file):
    with serve(data_file, "--port", "0") as (match, _proc, _output):
        address = match.group(1)
        assert b"Renamed by the test" not in fetch(address + "/")
        text = data_file.read_text(encoding="utf-8")
        data_file.write_text(text.replace("title: Revisiting Glorot", "title: Renamed by the test",
                                          1), encoding="utf-8")
        deadline = time.monotonic() + 10
        while b"Renamed by the test" not in fetch(address + "/"):
            assert time.monotonic() < deadline, "the edit did not appear within 10 s"
            time.sleep(0.2)


def test_serve_keeps_a_configured_site_url(data_file):
    with serve(data_file, "--port", "0", FEEDS_SITE_URL="https://talks.example.org") as (
            match, _proc, output):
        page = fetch(match.group(1) + "/")
        assert any(url.startswith("https://talks.example.org/") for url in absolute_links(page))
    assert any("FEEDS_SITE_URL=https://talks.example.org" in line for line in output)


def test_serve_takes_an_empty_site_url_for_unset(data_file):
    """As every setting does: a CI variable that was never given is empty."""
    with serve(data_file, "--port", "0", FEEDS_SITE_URL="") as (match, _proc, output):
        address = match.group(1)
        assert fetch(address + "/rss.xml").count(address.encode()) > 10
    assert any(f"Links point at {address}" in line for line in output)


def test_serve_says_when_the_port_is_taken(data_file):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "feeds", "serve", "--data", str(data_file),
                                 "--port", str(port)], capture_output=True, text=True, timeout=30,
                                env=clean_environment())
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is in use" in result.stderr and "--port" in result.stderr


def test_serve_without_a_data_file_says_what_to_do(tmp_path):
    result = subprocess.run([sys.executable, "-m", "feeds", "serve", "--port", "0"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=30, env=clean_environment())
    assert result.returncode == 1
    assert "data/talks.yaml" in result.stderr and "feeds init" in result.stderr


def test_an_unconfigured_app_on_another_port_warns_once(make_app, caplog):
    app = make_app(SITE_URL=settings.SITE_URL)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="feeds.server.app"):
        assert client.get("/", base_url="http://localhost:5000").status_code == 200
        assert client.get("/", base_url="http://127.0.0.1:5000").status_code == 200
        assert not caplog.records  # the default address, by either loopback name
        client.get("/", base_url="http://127.0.0.1:5004")
        client.get("/rss.xml", base_url="http://127.0.0.1:5004")
    (record,) = caplog.records
    assert "FEEDS_SITE_URL=http://127.0.0.1:5004" in record.getMessage()
    assert "feeds serve --port 5004" in record.getMessage()


def test_a_configured_app_does_not_warn(make_app, caplog):
    client = make_app().test_client()  # SITE_URL set: the production case, behind a proxy
    with caplog.at_level(logging.WARNING, logger="feeds.server.app"):
        client.get("/", base_url="http://127.0.0.1:8000")
    assert not caplog.records


def test_flask_run_on_another_port_prints_the_fix(data_file):
    """`flask --app wsgi run --port N`, as a newcomer types it."""
    port = free_port()
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--port", str(port)]
    env = clean_environment(FEEDS_TALKS_FILE=str(data_file))
    with running(command, ROOT, env, r"Running on http://127\.0\.0\.1:\d+") as (_m, _proc, output):
        deadline = time.monotonic() + 20
        while True:
            try:
                page = fetch(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert b"Efficient ML" in page
        deadline = time.monotonic() + 10
        while not any("FEEDS_SITE_URL" in line for line in output):
            assert time.monotonic() < deadline, output
            time.sleep(0.1)
    warning = next(line for line in output if "FEEDS_SITE_URL" in line)
    assert f"FEEDS_SITE_URL=http://127.0.0.1:{port}" in warning
