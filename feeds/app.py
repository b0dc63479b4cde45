"""The Flask application factory and its thin views over the snapshot."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, abort, current_app, jsonify, request

from . import urls
from .publisher import Publisher, utc_now
from .snapshot import BuildOptions, Resource

DEFAULTS: dict[str, Any] = {
    "TALKS_FILE": "data/talks.yaml",
    "SITE_URL": "http://localhost:5000",
    "FEED_LIMIT": 100,
    "CHECK_INTERVAL": 1.0,
    "CLOCK": utc_now,
}


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the app; configuration comes from FEEDS_* environment variables."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("FEEDS")
    if test_config:
        app.config.from_mapping(test_config)
    logging.basicConfig(level=logging.INFO)

    options = BuildOptions(site=urls.Site(app.config["SITE_URL"]),
                           feed_limit=int(app.config["FEED_LIMIT"]))
    app.extensions["feeds"] = Publisher(app.config["TALKS_FILE"], options,
                                        clock=app.config["CLOCK"],
                                        check_interval=float(app.config["CHECK_INTERVAL"]))
    app.add_url_rule(urls.HEALTH, view_func=health)
    app.add_url_rule("/", view_func=serve, defaults={"path": ""})
    app.add_url_rule("/<path:path>", view_func=serve)
    return app


def publisher() -> Publisher:
    return current_app.extensions["feeds"]


def send(resource: Resource) -> Response:
    """A response for `resource`, answering conditional requests with 304."""
    response = Response(resource.body, mimetype=None, content_type=resource.media_type)
    response.set_etag(resource.etag)
    response.last_modified = resource.last_modified
    if resource.download_name:
        response.headers["Content-Disposition"] = f'attachment; filename="{resource.download_name}"'
    if resource.cors:
        response.headers["Access-Control-Allow-Origin"] = "*"
    if not resource.framable:
        response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    return response.make_conditional(request)


def serve(path: str) -> Response:
    snapshot = publisher().snapshot()
    if snapshot is None:
        abort(503)
    resource = snapshot.routes.get("/" + path)
    if resource is None:
        abort(404)
    return send(resource)


def health() -> tuple[Response, int]:
    state = publisher().health()
    return jsonify(state.as_json()), 200 if state.ok else 503
