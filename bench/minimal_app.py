"""The baseline of bench/published.py: a minimal Flask app that answers
/calendar.ics with the same bytes and headers from memory. It exists only
here, never in the app that is deployed."""

import os
from pathlib import Path

from flask import Flask, Response

app = Flask(__name__)
BODY = Path(os.environ["BENCH_BODY"]).read_bytes()


@app.get("/calendar.ics")
def calendar() -> Response:
    return Response(BODY, content_type="text/calendar; charset=utf-8")
