"""Bounded HTTP GETs for the paper lookups: one deadline for a whole lookup
(redirects included), a cap on the answer's size, redirects only within the
API's host, and a `PaperError` with a message for every failure."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

#: The most bytes an answer may have: a record with a long abstract and
#: thousands of authors stays well below it.
MAX_ANSWER = 8 * 1024 * 1024
USER_AGENT = "feeds/0.1 (talk-series publisher{contact})"


class PaperError(Exception):
    """A paper could not be identified or looked up; the message says why."""


def user_agent(contact: str = "") -> str:
    """Who asks: Crossref's etiquette wants a mailto, arXiv a descriptive agent."""
    return USER_AGENT.format(contact=f"; mailto:{contact}" if contact else "")


class Deadline:
    """One time limit for a whole lookup, redirects included: when it passes,
    every socket opened under it is shut down, so that a server that sends
    a byte now and then cannot hold the command (each read alone is quick)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._end = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        """Seconds left, at least a little: a connection still fails at the end."""
        return max(0.01, self._end - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                self._shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked in another call

    def cancel(self) -> None:
        self._timer.cancel()


def _watched(base: type[http.client.HTTPConnection],
             deadline: Deadline) -> type[http.client.HTTPConnection]:
    """`base` whose socket the deadline shuts down, and whose every read
    waits no longer than the time left."""

    class Watched(base):  # type: ignore[valid-type,misc]
        def connect(self) -> None:
            self.timeout = deadline.left()
            super().connect()
            assert self.sock is not None
            deadline.watch(self.sock)

    return Watched


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline):
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(http.client.HTTPConnection, self.deadline), req)


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline):
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(http.client.HTTPSConnection, self.deadline), req,
                            context=self._context)  # type: ignore[attr-defined]


class _WithinTheAPI(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to https on the API's own host (or, for a
    local API given as http, to the same scheme and port); anything else
    (another host, ftp://, file://, a downgrade to http) is a PaperError."""

    def __init__(self, origin: str, what: str):
        super().__init__()
        self.origin = urllib.parse.urlsplit(origin)
        self.what = what

    def http_error_302(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                       headers: Any) -> Any:
        location = headers.get("location") or headers.get("uri")
        if location:  # checked before urllib's own scheme check, for one clear message
            self._check(urllib.parse.urljoin(req.full_url, location))
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        self._check(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)

    def _check(self, newurl: str) -> None:
        target = urllib.parse.urlsplit(newurl)
        try:
            port = target.port
        except ValueError:
            port = -1
        same_host = (target.hostname or "").lower() == (self.origin.hostname or "").lower()
        allowed = same_host and (target.scheme == "https" or (
            target.scheme == self.origin.scheme and port == self.origin.port))
        if not allowed:
            raise PaperError(f"{self.what} redirected to {newurl[:200]!r}, away from "
                             f"{self.origin.scheme}://{self.origin.netloc}; it was not followed")


def _read(response: Any, what: str, url: str) -> bytes:
    """At most MAX_ANSWER bytes of a response; PaperError if there is more."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > MAX_ANSWER:
        raise PaperError(f"{what}'s answer is larger than {MAX_ANSWER // 2**20} MB for {url}; "
                         "that is no paper record")
    body = bytes(response.read(MAX_ANSWER + 1))
    if len(body) > MAX_ANSWER:
        raise PaperError(f"{what}'s answer is larger than {MAX_ANSWER // 2**20} MB for {url}; "
                         "that is no paper record")
    return body


def get(url: str, what: str, contact: str, deadline: Deadline) -> tuple[int, bytes]:
    """The status and body of one GET (and the redirects it is allowed);
    4xx bodies are returned for the caller to explain, everything else that
    is not 200 is a PaperError."""
    request = urllib.request.Request(url, headers={"User-Agent": user_agent(contact)})
    opener = urllib.request.build_opener(_HTTP(deadline), _HTTPS(deadline),
                                         _WithinTheAPI(url, what))
    late = f"cannot reach {what} at {url}: no complete answer within {deadline.seconds:g} s"
    try:
        with opener.open(request, timeout=deadline.left()) as response:
            status, body = int(response.status), _read(response, what, url)
    except urllib.error.HTTPError as exc:
        body = _read(exc, what, url) if exc.fp else b""
        if deadline.expired:
            raise PaperError(late) from None
        if 400 <= exc.code < 500:
            return exc.code, body
        raise PaperError(f"{what} answered HTTP {exc.code} ({exc.reason}) for {url}; "
                         "try again later") from None
    except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        if deadline.expired:
            raise PaperError(late) from None
        reason = getattr(exc, "reason", exc)
        raise PaperError(f"cannot reach {what} at {url}: {reason}") from None
    if deadline.expired:  # what was read may have been cut short
        raise PaperError(late)
    return status, body
