"""gunicorn's logger with members' tokens redacted (feeds.server.accesslog),
and the access log written in batches when FEEDS_ACCESS_LOG=buffered.
gunicorn.conf.py sets ``logger_class = "feeds.server.gunicorn_logger.GunicornLogger"``;
only gunicorn imports this module."""

from __future__ import annotations

import logging
import logging.handlers
import time
from collections.abc import Callable
from typing import Any

from gunicorn.glogging import Logger

from feeds.server.accesslog import install
from feeds.settings import Settings


class BufferedHandler(logging.handlers.MemoryHandler):
    """Holds the lines of a stream handler and writes them in one write: when
    `capacity` are waiting, when a line comes `interval` s or more after the
    last write, on an error, and when closed (a worker that exits)."""

    def __init__(self, target: logging.StreamHandler[Any], capacity: int = 256,
                 interval: float = 1.0, clock: Callable[[], float] = time.monotonic):
        super().__init__(capacity, flushLevel=logging.ERROR, target=target, flushOnClose=True)
        self.stream_handler = target
        self.interval, self.clock = interval, clock
        self.written = clock()

    def shouldFlush(self, record: logging.LogRecord) -> bool:  # noqa: N802 (logging's name)
        return super().shouldFlush(record) or self.clock() - self.written >= self.interval

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            target = self.stream_handler
            if self.buffer:
                text = "".join(target.format(record) + target.terminator
                               for record in self.buffer if target.filter(record))
                target.acquire()
                try:
                    target.stream.write(text)
                    target.flush()
                finally:
                    target.release()
                self.buffer.clear()
            self.written = self.clock()


class GunicornLogger(Logger):
    """gunicorn's logger, with tokens redacted from the access and error logs."""

    def setup(self, cfg: object) -> None:
        super().setup(cfg)
        install(self.error_log, self.access_log)
        if Settings.load().access_log == "buffered":
            for handler in list(self.access_log.handlers):
                if isinstance(handler, logging.StreamHandler):
                    buffered = BufferedHandler(handler)
                    buffered._gunicorn = True  # type: ignore[attr-defined]  # replaced on a reload
                    self.access_log.removeHandler(handler)
                    self.access_log.addHandler(buffered)

    def reopen_files(self) -> None:
        """USR1 (log rotation): write what is held, then reopen the files."""
        super().reopen_files()
        for handler in self.access_log.handlers:
            if isinstance(handler, BufferedHandler):
                handler.flush()
                target = handler.stream_handler
                if isinstance(target, logging.FileHandler):
                    target.acquire()
                    try:
                        if target.stream is not None:
                            target.stream.close()
                        target.stream = target._open()
                    finally:
                        target.release()
