"""The production app (wsgi:app) plus one trivial route: the ceiling that
bench/throughput.py compares every route with. The route exists only in
this module, never in the app that is deployed."""

from throughput import TRIVIAL

from wsgi import app

app.add_url_rule(TRIVIAL, "bench_trivial", lambda: "ok")
