"""The baseline of bench/published.py and bench/serving.py: a minimal Flask
app that answers /calendar.ics (and / when BENCH_PAGE names a file) with
the same bytes from memory, and a bare 304 when If-None-Match is its ETag.
It exists only here, never in the app that is deployed."""

import hashlib
import os
from pathlib import Path

from flask import Flask, Response, request

app = Flask(__name__)
BODY = Path(os.environ["BENCH_BODY"]).read_bytes()
PAGE = Path(os.environ["BENCH_PAGE"]).read_bytes() if os.environ.get("BENCH_PAGE") else b""


def etag_of(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


ETAGS = {id(BODY): etag_of(BODY), id(PAGE): etag_of(PAGE)}  # once, not per request


def answer(body: bytes, content_type: str) -> Response:
    etag = ETAGS[id(body)]
    if request.headers.get("If-None-Match") == etag:
        return Response(status=304, headers={"ETag": etag})
    return Response(body, content_type=content_type, headers={"ETag": etag})


@app.get("/calendar.ics")
def calendar() -> Response:
    return answer(BODY, "text/calendar; charset=utf-8")


@app.get("/")
def page() -> Response:
    return answer(PAGE, "text/html; charset=utf-8")
