"""`feeds serve`: the site on a local address while editing the data file.

The same application as in production (feeds.server.app), served by Werkzeug's
development server: it picks up every valid edit of the data file within a
second, and keeps the last good version while an edit is invalid. Unless
FEEDS_SITE_URL is set, every absolute link (feeds, calendar, subscribe
buttons, JSON) points at the address the server actually listens on."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, get_sockaddr, make_server, select_address_family

from feeds import settings
from feeds.data.hub import is_hub, read_hub
from feeds.data.recorded import read
from feeds.server.app import create_app, settings_of
from feeds.settings import Settings, variable

HOST = settings.SERVE_HOST
PORT = settings.SERVE_PORT
#: Addresses that mean "every interface": links then name this host by the
#: name every browser on this machine resolves.
WILDCARDS = {"", "0.0.0.0", "::"}


def listening_url(host: str, port: int) -> str:
    """The base URL of a server bound to `host` and `port`."""
    if host in WILDCARDS:
        host = "localhost"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a host name
    return f"http://{host}:{port}"


def _placeholder(environ: Any, start_response: Any) -> list[bytes]:  # pragma: no cover
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting\n"]


def bind(host: str, port: int) -> BaseWSGIServer:
    """A threaded development server bound to `host`:`port` (0: any free port).
    The socket is bound here, so that a port in use is an OSError to report
    (Werkzeug's own binding prints its message and exits)."""
    family = select_address_family(host, port)
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(get_sockaddr(host, port, family))
        listener.listen(128)
        # Werkzeug duplicates the descriptor; this copy closes when the block ends.
        return make_server(host, port, _placeholder, threaded=True, fd=listener.fileno())


def serve(data: Path | None, host: str = HOST, port: int = PORT,
          environ: Mapping[str, str] | None = None) -> int:
    """Serve the data file until interrupted; returns the exit status."""
    environ = os.environ if environ is None else environ
    overrides: dict[str, Any] = {"TALKS_FILE": str(data)} if data else {}
    data_file = Path(Settings.load(overrides, environ).talks_file)
    if not (data_file.is_file() or is_hub(data_file)):
        print(f"error: there is no data file at {data_file}; give --data FILE, or start a "
              "new series with `feeds init DIR`", file=sys.stderr)
        return 1
    try:
        server = bind(host, port)
    except OSError as exc:
        reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
        print(f"error: {host}:{port} {reason}; choose another with --port (0 picks a free one)",
              file=sys.stderr)
        return 1
    address = listening_url(host, server.socket.getsockname()[1])
    configured = bool(environ.get(variable("site_url")))  # empty counts as unset
    if not configured:
        overrides["SITE_URL"] = address
    if not environ.get(variable("build_mode")):
        overrides["BUILD_MODE"] = "inline"  # one process: each save is built at once
    problems = read_hub(data_file).all_problems if is_hub(data_file) else read(data_file).problems
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{data_file} is not valid yet: the site answers 503 until it is; every valid "
              "save appears within a second.", file=sys.stderr)
    server.app = create_app(overrides)
    site_url = settings_of(server.app).site_url
    print(f"Serving {data_file} at {address}/  (a development server: for the public "
          "site see docs/operators/)", flush=True)
    if configured:
        print(f"Links point at FEEDS_SITE_URL={site_url}", flush=True)
    else:
        print(f"Links point at {address} (set FEEDS_SITE_URL for another address)", flush=True)
    print("Edits of the data file appear within a second. Press Ctrl+C to stop.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
