"""Members' tokens never reach a log line."""

from __future__ import annotations

import pytest

from feeds.server import accesslog

TOKEN = "8xJ2n0d1Q3AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


@pytest.mark.parametrize("line", [
    f'GET /members/{TOKEN}/calendar.ics HTTP/1.1',
    f'GET /MEMBERS/{TOKEN}/calendar.ics HTTP/1.1',
    f'GET /members%2F{TOKEN}%2Fcalendar.ics HTTP/1.1',
    f'GET /%6Dembers/{TOKEN}/calendar.ics HTTP/1.1',
    f'GET /members/{TOKEN}?x=1 HTTP/1.1',
    f'"https://talks.example.org/members/{TOKEN}/calendar.ics"',
    f'"GET /members//{TOKEN}/calendar.ics HTTP/1.1" 404',
    f'"GET /members/./{TOKEN}/calendar.ics HTTP/1.1" 404',
    f'"GET /members/"{TOKEN} HTTP/1.1" 404',
    f'"GET /members/\'{TOKEN} HTTP/1.1" 404',
    f'"GET /members/?{TOKEN} HTTP/1.1" 404',
    f'"GET /members/#{TOKEN} HTTP/1.1" 404',
    f'"GET /members/x?t={TOKEN}&u=1 HTTP/1.1" 404',
])
def test_redact_removes_tokens(line):
    safe = accesslog.redact(line)
    assert TOKEN not in safe and TOKEN.lower() not in safe.lower()
    assert accesslog.REDACTED in safe


def test_redact_leaves_other_lines_alone():
    for line in ("GET /calendar.ics HTTP/1.1", "GET /talks/a%20b HTTP/1.1", "members only"):
        assert accesslog.redact(line) == line


def test_the_filter_rewrites_a_records_message():
    import logging

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "GET /members/%s/calendar.ics",
                               (TOKEN,), None)
    assert accesslog.FILTER.filter(record)
    assert TOKEN not in record.getMessage() and accesslog.REDACTED in record.getMessage()


# --- through gunicorn's own access log formatter (attack run D29) ----------------

NEAR_MISSES = [
    f"/members\\{TOKEN}/calendar.ics",
    f"/members;/{TOKEN}/calendar.ics",
    f"/%2525%36Dembers/{TOKEN}",  # encoded three times over
    f"/%256Dembers/{TOKEN}/calendar.ics",
    f"/members%5C{TOKEN}/calendar.ics",
    f"/members%3B/{TOKEN}",
    f"/members%252F{TOKEN}%252Fcalendar.ics",
    f"/members/{TOKEN}/calendar.ics",
]


def gunicorn_access_line(tmp_path, raw_uri: str, referer: str = "-") -> str:
    """The line the shipped gunicorn.conf.py's logger writes for one request."""
    import logging
    import runpy
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config as GunicornConfig

    from feeds.server.gunicorn_logger import GunicornLogger

    from helpers import ROOT

    config = GunicornConfig()
    for name, value in runpy.run_path(str(ROOT / "gunicorn.conf.py")).items():
        if name in config.settings:
            config.set(name, value)
    log_file = tmp_path / "access.log"
    config.set("accesslog", str(log_file))
    logger = GunicornLogger(config)
    path, _, query = raw_uri.partition("?")
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": raw_uri, "SERVER_PROTOCOL": "HTTP/1.1",
               "PATH_INFO": path, "QUERY_STRING": query, "REMOTE_ADDR": "203.0.113.9",
               "HTTP_REFERER": referer, "HTTP_USER_AGENT": "curl/8"}
    response = SimpleNamespace(status="404 NOT FOUND", sent=1234, headers=[])
    try:
        logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(microseconds=900))
    finally:
        for handler in logger.access_log.handlers + logger.error_log.handlers:
            handler.close()
        logging.getLogger("gunicorn.access").handlers.clear()
    return log_file.read_text(encoding="utf-8")


@pytest.mark.parametrize("raw_uri", NEAR_MISSES)
def test_gunicorns_access_log_never_holds_a_token(tmp_path, raw_uri):
    line = gunicorn_access_line(tmp_path, raw_uri)
    assert line.startswith("203.0.113.9 - - [") and '" 404 1234 "-" "curl/8" 900us' in line
    assert TOKEN not in line and TOKEN.lower() not in line.lower()
    assert accesslog.REDACTED in line


def test_gunicorns_access_log_redacts_a_referer_too(tmp_path):
    line = gunicorn_access_line(tmp_path, "/static/site.css",
                                referer=f"https://talks.example.org/members;/{TOKEN}/x")
    assert TOKEN not in line and "GET /static/site.css HTTP/1.1" in line


def test_other_addresses_are_logged_as_they_came(tmp_path):
    for raw_uri in ("/membership/", "/talks/a%20b", "/members"):
        assert f"GET {raw_uri} HTTP/1.1" in gunicorn_access_line(tmp_path, raw_uri)


# --- FEEDS_ACCESS_LOG: full, buffered, off ------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingStream:
    """A stream that records each write (one write is one system call)."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        pass


def test_a_buffered_access_log_writes_its_lines_in_batches_at_most_a_second_late():
    import logging

    from feeds.server.gunicorn_logger import BufferedHandler

    stream, clock = CountingStream(), Clock()
    target = logging.StreamHandler(stream)
    handler = BufferedHandler(target, capacity=3, interval=1.0, clock=clock)
    logger = logging.getLogger("test.buffered.access")
    logger.propagate, logger.level = False, logging.INFO
    logger.addHandler(handler)
    accesslog.install(logger)
    try:
        logger.info("GET /a")
        logger.info("GET /members/%s/calendar.ics", TOKEN)
        assert stream.writes == []  # held
        logger.info("GET /c")  # the third: the batch is full
        assert len(stream.writes) == 1
        assert stream.writes[0].splitlines() == ["GET /a", f"GET /members/{accesslog.REDACTED}",
                                                 "GET /c"]
        logger.info("GET /d")
        clock.now = 1.5
        logger.info("GET /e")  # a second after the last write
        assert stream.writes[1:] == ["GET /d\nGET /e\n"]
        logger.info("GET /f")
        handler.close()  # a worker that exits writes what it holds
        assert stream.writes[2:] == ["GET /f\n"]
    finally:
        logger.removeHandler(handler)


def test_the_access_log_setting_reaches_gunicorn(tmp_path, monkeypatch):
    import runpy

    from helpers import ROOT

    monkeypatch.setenv("FEEDS_ACCESS_LOG", "off")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["accesslog"] is None
    monkeypatch.setenv("FEEDS_ACCESS_LOG", "buffered")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["accesslog"] == "-"
    # Buffered lines are the same lines, redacted, once written (here: on close).
    line = gunicorn_access_line(tmp_path, f"/members/{TOKEN}/calendar.ics")
    assert line.startswith("203.0.113.9 - - [") and TOKEN not in line
    assert accesslog.REDACTED in line


def logged(tmp_path, mode: str, monkeypatch, requests: list[dict[str, str]]) -> list[str]:
    """The access log lines the shipped config writes with FEEDS_ACCESS_LOG=`mode`."""
    import logging
    import runpy
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config as GunicornConfig
    from gunicorn.glogging import Logger

    from feeds.server.gunicorn_logger import GunicornLogger

    from helpers import ROOT

    monkeypatch.setenv("FEEDS_ACCESS_LOG", mode)
    monkeypatch.setattr(Logger, "now", lambda self: "[07/Dec/2026:12:00:00 +0000]")
    config = GunicornConfig()
    for name, value in runpy.run_path(str(ROOT / "gunicorn.conf.py")).items():
        if name in config.settings:
            config.set(name, value)
    log_file = tmp_path / f"{mode}.log"
    config.set("accesslog", str(log_file))
    logger = GunicornLogger(config)
    try:
        for environ in requests:
            response = SimpleNamespace(status=environ.pop("status"), sent=len(environ["RAW_URI"]),
                                       headers=[])
            logger.access(response, SimpleNamespace(headers=[]), environ,
                          timedelta(seconds=1, microseconds=2345))
    finally:
        for handler in logger.access_log.handlers + logger.error_log.handlers:
            handler.close()
        logging.getLogger("gunicorn.access").handlers.clear()
    return log_file.read_text(encoding="utf-8").splitlines()


def test_the_buffered_log_writes_the_lines_gunicorn_writes(tmp_path, monkeypatch):
    """Buffered lines are made without gunicorn's formatter: compared with it."""
    def requests() -> list[dict[str, str]]:
        base = {"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "203.0.113.9"}
        return [
            {**base, "RAW_URI": "/calendar.ics", "PATH_INFO": "/calendar.ics", "status": "200 OK",
             "HTTP_USER_AGENT": "Mozilla/5.0 (X11)"},
            {**base, "RAW_URI": "/embed/?show=past", "PATH_INFO": "/embed/", "status": "304 NOT MODIFIED",
             "HTTP_REFERER": 'https://x.example/"quoted"', "HTTP_USER_AGENT": 'a "quoted" agent'},
            {**base, "REQUEST_METHOD": "HEAD", "RAW_URI": f"/members/{TOKEN}/calendar.ics",
             "PATH_INFO": f"/members/{TOKEN}/calendar.ics", "status": "404 NOT FOUND",
             "HTTP_REFERER": f"https://talks.example.org/members/{TOKEN}/"},
            {**base, "RAW_URI": "/talks/a%20b/", "PATH_INFO": "/talks/a b/", "status": "200 OK",
             "HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},  # user:pass
        ]

    full = logged(tmp_path, "full", monkeypatch, requests())
    buffered = logged(tmp_path, "buffered", monkeypatch, requests())
    assert len(full) == 4 and buffered == full
    assert all(TOKEN not in line for line in buffered)
    assert '"a \\"quoted\\" agent" 1002345us' in buffered[1]
