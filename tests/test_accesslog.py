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
