"""gunicorn settings: `gunicorn wsgi:app`, run from the repository root,
reads this file. Command-line flags override it, e.g. `--bind 0.0.0.0:8000`
or `--workers 3`; `WEB_CONCURRENCY` sets the number of workers."""

import multiprocessing
import os
import sys

from feeds.server.gunicorn_logger import ACCESS_LOG_FORMAT
from feeds.settings import Settings, SettingsError

# A bad FEEDS_* variable stops gunicorn here, before any worker starts,
# with one line that names it (a worker would fail with a traceback).
try:
    settings = Settings.load()
except SettingsError as exc:
    sys.exit(f"error: {exc}")

wsgi_app = "wsgi:app"
bind = ["127.0.0.1:8000"]

# Every worker serves the current published build from disk (feeds.publish.builds):
# nothing is built in a request, so a worker starts in well under a second
# and needs little memory. gevent workers keep answering while hundreds of
# clients send their headers or read their responses slowly (a sync worker
# is held by one such client; see bench/README.md, "Slow clients"), so the
# app is safe without a buffering proxy in front. One worker per core.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gevent"
worker_connections = 2000  # open connections per worker, slow ones included
# Each worker opens the published build itself (no preload): a worker that
# restarts serves the current build at once, without reading the data file.
preload_app = False
timeout = 30  # a request never builds; this only catches a stuck worker
graceful_timeout = 30
keepalive = 5
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # heartbeats off disk

# Logs: access log on stdout, errors on stderr, for systemd or a container.
# FEEDS_ACCESS_LOG=buffered writes the access log in batches, =off not at all
# (a third of a small file's cost per request: bench/README.md, "Access log").
accesslog = None if settings.access_log == "off" else "-"
errorlog = "-"
loglevel = "info"
# The combined log format plus the request time in microseconds.
access_log_format = ACCESS_LOG_FORMAT
# Members' calendar URLs carry secret tokens: this logger writes them as
# /members/<redacted>/... in the access and error logs.
logger_class = "feeds.server.gunicorn_logger.GunicornLogger"

# gunicorn >= 25.1 opens a control socket in $HOME by default; several
# instances on one machine would share it, and a service user may have no home.
control_socket_disable = True
