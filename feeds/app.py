"""The Flask application factory and its thin views over the snapshot."""

from __future__ import annotations

import logging
import weakref
from typing import Any

from flask import Flask, Response, abort, current_app, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import http_date, is_resource_modified, quote_etag
from werkzeug.middleware.proxy_fix import ProxyFix

from . import accesslog, settings, urls
from .delivery import NO_REFERRER, REFERRER_POLICY, Resource
from .members import Members
from .pages import EmbedOptions
from .publisher import Publisher
from .snapshot import BuildOptions, Snapshot

log = logging.getLogger(__name__)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the app; settings come from feeds.settings (FEEDS_* variables)."""
    app = Flask(__name__, static_folder=None)  # feeds/static is served from the snapshot
    app.config.from_mapping(settings.load(test_config))
    logging.basicConfig(level=logging.INFO)
    if app.config["PROXY_FIX"]:  # trust X-Forwarded-* from this many proxies
        hops = app.config["PROXY_FIX"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops,  # type: ignore[method-assign]
                                x_prefix=hops)

    app.extensions["feeds"] = Publisher(app.config["TALKS_FILE"], BuildOptions.from_settings(app.config),
                                        clock=app.config["CLOCK"],
                                        check_interval=app.config["CHECK_INTERVAL"])
    app.extensions["feeds.members"] = Members(app.config["SECRETS_FILE"], app.config["JOIN_URL"],
                                              app.config["CHECK_INTERVAL"])
    accesslog.install(app.logger)
    app.add_url_rule(urls.members_calendar("<token>"), view_func=members_calendar)
    app.add_url_rule(urls.HEALTH, view_func=health)
    app.add_url_rule(urls.EMBED, view_func=embed)
    app.register_error_handler(404, not_found)
    app.after_request(protect)
    app.add_url_rule("/", view_func=serve, defaults={"path": ""})
    app.add_url_rule("/<path:path>", view_func=serve)
    return app


def publisher() -> Publisher:
    return current_app.extensions["feeds"]


def current_snapshot() -> Snapshot:
    """The snapshot this request is served from; 503 before any good load."""
    snapshot = publisher().snapshot()
    if snapshot is None:
        abort(503)
    return snapshot


Prepared = tuple[tuple[str, str], ...]
# Kept as long as the resource is: an old snapshot's bytes are not held on to.
_PREPARED: weakref.WeakKeyDictionary[Resource, tuple[int, Prepared]] = weakref.WeakKeyDictionary()


def response_headers(resource: Resource, max_age: int) -> Prepared:
    """headers() plus the validators, formatted once per resource."""
    kept = _PREPARED.get(resource)
    if kept is None or kept[0] != max_age:
        kept = _PREPARED[resource] = (max_age, (
            *resource.headers(max_age).items(), ("ETag", quote_etag(resource.etag)),
            ("Last-Modified", http_date(resource.last_modified))))
    return kept[1]


def send(resource: Resource) -> Response:
    """A response for `resource`, answering conditional requests with 304.
    Nothing is compressed here; a proxy in front must not gzip calendars."""
    response = Response(resource.body,
                        headers=response_headers(resource, current_app.config["CACHE_MAX_AGE"]))
    environ = request.environ
    if "HTTP_IF_MATCH" in environ:
        response.make_conditional(request)  # rare: werkzeug's full rules (412)
        return response
    if ("HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ) and \
            not is_resource_modified(environ, resource.etag, last_modified=resource.last_modified):
        response.status_code = 304  # werkzeug drops the body and the entity headers
    return response


def serve(path: str) -> Response:
    resource = current_snapshot().routes.get("/" + path)
    if resource is None:
        abort(404)
    return send(resource)


def embed() -> Response:
    """/embed with query options: checked, then rendered once per snapshot."""
    try:
        options = EmbedOptions.from_query(request.args.items(multi=True))
    except ValueError as exc:
        return Response(f"{exc}\n", 400, content_type="text/plain; charset=utf-8")
    return send(current_snapshot().embed(options))


def not_found(error: HTTPException) -> Response | HTTPException:
    """Every 404 gets the snapshot's friendly page, never kept by caches."""
    snapshot = publisher().snapshot()
    if snapshot is None:
        return error
    page = snapshot.not_found
    response = Response(page.body, 404, headers=page.headers(0))
    response.headers["Cache-Control"] = "no-cache"
    return response


def members_calendar(token: str) -> Response:
    """A member's calendar; an unknown token gets the same 404 as any unknown page."""
    resource = current_app.extensions["feeds.members"].calendar(current_snapshot(), token)
    if resource is None:
        abort(404)
    response = send(resource)
    response.cache_control.public = False
    response.cache_control.private = True  # never kept by a shared cache or CDN
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def protect(response: Response) -> Response:
    """Every response, errors included: no MIME sniffing; and no Referer from
    a members' address or a 404 page, whose address may hold a token."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    private = request.path.startswith("/members/") or response.status_code == 404
    if private:
        response.headers["Referrer-Policy"] = NO_REFERRER
    else:
        response.headers.setdefault("Referrer-Policy", REFERRER_POLICY)
    return response


def health() -> tuple[Response, int]:
    state = current_app.extensions["feeds.members"].annotate(publisher().health())
    response = jsonify(state.as_json())
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if state.ok else 503
