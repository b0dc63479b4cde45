"""A local stand-in for the arXiv, OpenReview and Crossref APIs (127.0.0.1,
port 0), serving the made-up fixtures of tests/fixtures/papers/."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from helpers import serving

FIXTURES = Path(__file__).parent / "fixtures" / "papers"


@dataclass
class Seen:
    """What the server received: the path with query, and the headers."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


def _fixture(name: str) -> bytes | None:
    path = FIXTURES / name
    return path.read_bytes() if path.exists() else None


class _Handler(BaseHTTPRequestHandler):
    seen: Seen
    mode: dict[str, str]

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.seen.requests.append((self.path, dict(self.headers.items())))
        parts = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parts.query)
        if self.mode.get("status"):
            return self._send(int(self.mode["status"]), b"server trouble", "text/plain")
        if self.mode.get("delay"):
            time.sleep(float(self.mode["delay"]))
        if self.mode.get("garbage"):
            return self._send(200, b"<html>not an API</html>", "text/html")
        if parts.path == "/arxiv/query":
            key = query.get("id_list", [""])[0]
            if key == "1234.12345":  # malformed: the documented error entry
                status = int(self.mode.get("error_status", "200"))
                error = _fixture("arxiv-error.xml") or b""
                return self._send(status, error, "application/atom+xml")
            body = _fixture(f"arxiv-{key.replace('/', '_')}.xml") or _fixture("arxiv-empty.xml")
            return self._send(200, body or b"", "application/atom+xml")
        if parts.path == "/openreview/notes":
            body = _fixture(f"openreview-{query.get('id', [''])[0]}.json")
            if body is None:
                return self._send(404, _fixture("openreview-not-found.json") or b"",
                                  "application/json")
            return self._send(200, body, "application/json")
        if parts.path.startswith("/crossref/works/"):
            doi = urllib.parse.unquote(parts.path[len("/crossref/works/"):])
            body = _fixture(f"crossref-{doi.replace('/', '-')}.json")
            if body is None:  # what Crossref answers for an unknown DOI
                return self._send(404, b"Resource not found.", "text/plain")
            return self._send(200, body, "application/json")
        self._send(404, b"no such route", "text/plain")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up (the timeout test) is no test failure


@contextlib.contextmanager
def paper_api(**mode: str) -> Iterator[tuple[dict[str, str], Seen]]:
    """Serve the fixtures; yields the FEEDS_*_API settings and what was seen.
    `mode`: status="500" (every answer), delay="2", garbage="1", error_status."""
    seen = Seen()
    handler = type("Handler", (_Handler,), {"seen": seen, "mode": mode})
    server = _Server(("127.0.0.1", 0), handler)
    with serving(server) as base:
        env = {"FEEDS_ARXIV_API": f"{base}/arxiv/query",
               "FEEDS_OPENREVIEW_API": f"{base}/openreview",
               "FEEDS_CROSSREF_API": f"{base}/crossref"}
        yield env, seen


def closed_port_env() -> dict[str, str]:
    """API settings pointing at a port where nothing listens."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    base = f"http://127.0.0.1:{port}"
    return {"FEEDS_ARXIV_API": f"{base}/arxiv/query", "FEEDS_OPENREVIEW_API": f"{base}/o",
            "FEEDS_CROSSREF_API": f"{base}/c"}


# --- a misbehaving server (attack run D24, D27) -----------------------------------

Answer = Callable[[BaseHTTPRequestHandler], None]


class _Hostile(BaseHTTPRequestHandler):
    answer: Answer
    seen: Seen

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.seen.requests.append((self.path, dict(self.headers.items())))
        with contextlib.suppress(OSError):  # the client gave up, as it should
            self.answer()


@contextlib.contextmanager
def hostile_api(answer: Answer) -> Iterator[tuple[dict[str, str], Seen]]:
    """A server at 127.0.0.1 that answers every GET with `answer(handler)`;
    yields the FEEDS_*_API settings (every API at this server) and what it saw."""
    seen = Seen()
    handler = type("Hostile", (_Hostile,), {"answer": answer, "seen": seen})
    server = _Server(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    with serving(server) as base:
        yield {"FEEDS_ARXIV_API": f"{base}/arxiv/query",
               "FEEDS_OPENREVIEW_API": f"{base}/openreview",
               "FEEDS_CROSSREF_API": f"{base}/crossref"}, seen


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes,
         kind: str = "application/json", **headers: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(body)


def crossref_work(**fields: object) -> bytes:
    """A made-up Crossref works answer with `fields` in its message."""
    return json.dumps({"status": "ok", "message-type": "work",
                       "message": {"title": ["A made-up title"], **fields}}).encode()


def openreview_note(**content: object) -> bytes:
    """A made-up OpenReview v2 notes answer with `content` as its fields."""
    values = {key: {"value": value} for key, value in content.items()}
    return json.dumps({"notes": [{"content": values}]}).encode()
