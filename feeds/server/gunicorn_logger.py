"""gunicorn's logger with members' tokens redacted (feeds.server.accesslog),
and with FEEDS_ACCESS_LOG=buffered a leaner access log: the same lines,
made without gunicorn's per-request atoms and log records, written in
batches. gunicorn.conf.py sets
``logger_class = "feeds.server.gunicorn_logger.GunicornLogger"``; only
gunicorn imports this module."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from feeds.server.accesslog import install, redact
from feeds.settings import Settings

#: gunicorn.conf.py's access_log_format: the combined log format plus the
#: request time in microseconds. The buffered log writes exactly this.
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)sus'


class BufferedHandler(logging.Handler):
    """Holds the lines of a stream handler and writes them in one write: when
    `capacity` are waiting, when a line comes `interval` s or more after the
    last write, on an error, and when closed (a worker that exits)."""

    def __init__(self, target: logging.StreamHandler[Any], capacity: int = 256,
                 interval: float = 1.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.target, self.capacity, self.interval, self.clock = target, capacity, interval, clock
        self.lines: list[str] = []
        self.written = clock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.target.format(record) + self.target.terminator
        except Exception:  # as logging does: a bad record is reported, not raised
            self.handleError(record)
            return
        self.add(line, urgent=record.levelno >= logging.ERROR)

    def add(self, line: str, urgent: bool = False) -> None:
        """Hold `line` (ending in a newline); write what is held if it is time."""
        with self.lock:  # type: ignore[union-attr]
            self.lines.append(line)
            if urgent or len(self.lines) >= self.capacity or \
                    self.clock() - self.written >= self.interval:
                self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self.lines:
                text = "".join(self.lines)
                self.lines.clear()
                self.target.stream.write(text)
                self.target.flush()
            self.written = self.clock()

    def close(self) -> None:
        self.flush()
        super().close()


def _quoted(value: str) -> str:
    return value.replace('"', '\\"')  # as gunicorn's SafeAtoms


class GunicornLogger(Logger):
    """gunicorn's logger, with tokens redacted from the access and error logs."""

    buffered: BufferedHandler | None = None

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        install(self.error_log, self.access_log)
        self.buffered = None
        if Settings.load().access_log == "buffered":
            for handler in list(self.access_log.handlers):  # the one gunicorn made for accesslog
                if getattr(handler, "_gunicorn", False) and isinstance(handler, logging.StreamHandler):
                    self.buffered = BufferedHandler(handler)
                    self.buffered._gunicorn = True  # type: ignore[attr-defined]  # replaced on a reload
                    self.access_log.removeHandler(handler)
                    self.access_log.addHandler(self.buffered)
                    break

    def access(self, resp: Any, req: Any, environ: dict[str, Any],
               request_time: timedelta) -> None:
        """Buffered: the line of ACCESS_LOG_FORMAT, made directly (gunicorn
        builds some 30 atoms and a log record for it: most of a small
        request's logging cost); any other format goes through gunicorn."""
        buffered = self.buffered
        if buffered is None or self.cfg.access_log_format != ACCESS_LOG_FORMAT:
            super().access(resp, req, environ, request_time)
            return
        try:
            status = resp.status
            if isinstance(status, str):
                status = status.split(None, 1)[0]
            sent = getattr(resp, "sent", None)
            request = f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}"
            line = (f"{_quoted(environ.get('REMOTE_ADDR', '-'))} - "
                    f"{_quoted(self._get_user(environ) or '-')} {self.now()} "
                    f'"{_quoted(request)}" {status} {"-" if sent is None else sent} '
                    f'"{_quoted(environ.get("HTTP_REFERER", "-"))}" '
                    f'"{_quoted(environ.get("HTTP_USER_AGENT", "-"))}" '
                    f"{request_time.seconds * 1000000 + request_time.microseconds}us")
            buffered.add(redact(line) + "\n")
        except Exception:
            self.error(traceback.format_exc())

    def reopen_files(self) -> None:
        """USR1 (log rotation): write what is held, then reopen the files."""
        super().reopen_files()
        if self.buffered is not None:
            self.buffered.flush()
            target = self.buffered.target
            if isinstance(target, logging.FileHandler):
                target.acquire()
                try:
                    if target.stream is not None:
                        target.stream.close()
                    target.stream = target._open()
                finally:
                    target.release()
