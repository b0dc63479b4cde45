"""Sending a published route's file: the representation (gzip'd or not) is
chosen from Accept-Encoding, a 304 is decided from the route table's
validators before the file is opened, and a body is streamed a block of
CHUNK bytes at a time, so a worker holds at most one block per download,
never the file.

Blocks rather than ``wsgi.file_wrapper``: under gevent workers gunicorn's
sendfile becomes gevent's loop of 8 KB reads and sends in Python (gevent
cannot call os.sendfile cooperatively), several times the calls of 256 KB
blocks for the same bytes."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.http import is_resource_modified, remove_entity_headers
from werkzeug.wsgi import FileWrapper

from feeds.formats.delivery import GZIP_ETAG_SUFFIX, GZIP_SUFFIX
from feeds.publish.routes import Served

StartResponse = Callable[..., Any]
#: How much of a file is read and sent at a time: what a download holds.
CHUNK = 256 * 1024
#: A qvalue (RFC 9110 12.4.2): 0 to 1 with at most three decimals.
_QVALUE = re.compile(r"(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\Z")


def _qualities(accept_encoding: str) -> dict[str, float]:
    """Each coding named in an Accept-Encoding value with its weight; a
    weight that is not a qvalue counts as 0 (not acceptable)."""
    found: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, *params = item.split(";")
        coding = name.strip().lower()
        if not coding:
            continue
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                value = value.strip()
                weight = float(value) if _QVALUE.match(value) else 0.0
        found[coding] = max(weight, found.get(coding, 0.0))
    return found


@functools.lru_cache(maxsize=256)  # browsers send a handful of distinct values
def accepts_gzip(accept_encoding: str) -> bool:
    """Whether a client sending this Accept-Encoding gets the gzip'd bytes
    (RFC 9110 12.5.3): gzip (or its alias x-gzip, or ``*``) with a weight
    above 0, and not below identity's where identity is weighted (itself or
    by ``*``). An explicit coding wins over ``*``: ``gzip;q=0, *`` refuses
    gzip. An empty value asks for identity."""
    found = _qualities(accept_encoding)
    wildcard = found.get("*")
    gzip = found.get("gzip", found.get("x-gzip", wildcard if wildcard is not None else 0.0))
    identity = found.get("identity", wildcard)
    return gzip > 0 and (identity is None or gzip >= identity)


def gzip_etag(etag: str) -> str:
    """The entity tag of a route's gzip'd representation, weak: its bytes
    depend on zlib's version as well as on the route's."""
    return f'W/"{etag}{GZIP_ETAG_SUFFIX}"'


def send_published(served: Served, environ: dict[str, Any],
                   start_response: StartResponse) -> Iterable[bytes] | None:
    """Answer GET or HEAD of `served`; None when its file is gone (the build
    was pruned under us), for the caller to look again. A 304 never opens
    the file; a HEAD only looks at its size."""
    headers = list(served.headers)
    etag = served.etag
    file = served.file
    if served.gzip:  # the representation depends on Accept-Encoding
        headers.append(("Vary", "Accept-Encoding"))
        if accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", "")):
            etag += GZIP_ETAG_SUFFIX
            file += GZIP_SUFFIX
            headers = [("ETag", gzip_etag(served.etag)) if name == "ETag" else (name, value)
                       for name, value in headers]
            headers.append(("Content-Encoding", "gzip"))
    if ("HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ) and \
            not is_resource_modified(environ, etag, last_modified=served.last_modified):
        remove_entity_headers(headers)
        start_response("304 NOT MODIFIED", headers)
        return []
    try:
        if environ["REQUEST_METHOD"] == "HEAD":
            size = os.stat(file).st_size
            handle = None
        else:
            handle = open(file, "rb")  # noqa: SIM115  (closed by the server, via the wrapper)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return None
    headers.append(("Content-Length", str(size)))
    start_response("200 OK", headers)
    if handle is None:
        return []
    return FileWrapper(handle, CHUNK)  # the server closes it, and with it the file
