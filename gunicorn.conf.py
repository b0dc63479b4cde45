"""gunicorn settings: `gunicorn wsgi:app`, run from the repository root,
reads this file. Command-line flags override it, e.g. `--bind 0.0.0.0:8000`
or `--workers 3`; `WEB_CONCURRENCY` sets the number of workers."""

import multiprocessing
import os

wsgi_app = "wsgi:app"
bind = ["127.0.0.1:8000"]  # behind nginx on the same machine

# Every worker keeps every page and feed in memory as bytes and serves them
# without touching the disk, so requests are CPU-bound and short: the
# synchronous worker, a few per core. Behind nginx, which buffers slow clients.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
# Each worker loads the data itself (no preload): the shared revision ledger
# makes them build the same bytes, and a worker that restarts catches up alone.
preload_app = False
timeout = 60  # long enough for a worker to rebuild a very large data file
graceful_timeout = 30
keepalive = 5  # for the gthread worker; the sync worker closes each connection
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # heartbeats off disk

# Logs: access log on stdout, errors on stderr, for systemd or a container.
accesslog = "-"
errorlog = "-"
loglevel = "info"
# The combined log format plus the request time in microseconds.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)sus'
# Members' calendar URLs carry secret tokens: this logger writes them as
# /members/<redacted>/... in the access and error logs.
logger_class = "feeds.gunicorn_logger.GunicornLogger"

# gunicorn >= 25.1 opens a control socket in $HOME by default; several
# instances on one machine would share it, and a service user may have no home.
control_socket_disable = True
