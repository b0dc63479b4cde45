"""gunicorn's logger with members' tokens redacted (feeds.server.accesslog).
gunicorn.conf.py sets ``logger_class = "feeds.server.gunicorn_logger.GunicornLogger"``;
only gunicorn imports this module."""

from __future__ import annotations

from gunicorn.glogging import Logger

from feeds.server.accesslog import install


class GunicornLogger(Logger):
    """gunicorn's logger, with tokens redacted from the access and error logs."""

    def setup(self, cfg: object) -> None:
        super().setup(cfg)
        install(self.error_log, self.access_log)
