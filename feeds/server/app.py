"""The Flask application factory and its thin views over the published build.

GET and HEAD of a published route skip Flask: `PublishedRoutes` answers them
from the build's file with the headers its index holds, byte for byte what
the views below would send. Everything else (conditional requests with
If-Match, /embed with options, the members' calendar, /healthz, 404s and
other methods) goes through Flask."""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, abort, current_app, jsonify, redirect, request
from werkzeug.exceptions import HTTPException
from werkzeug.http import is_resource_modified
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as WerkzeugResponse
from werkzeug.wsgi import get_host

from feeds import urls
from feeds.data.hub import is_hub
from feeds.formats.delivery import NO_REFERRER, REFERRER_POLICY, Resource, http_date, quoted_etag
from feeds.formats.pages import EmbedOptions
from feeds.publish.build_status import private_dir
from feeds.publish.builds import PublishedBuild
from feeds.publish.routes import BrokenBuild, Served, UnreadableBuild
from feeds.publish.snapshot import BuildOptions, EmbedBusy
from feeds.server import accesslog
from feeds.server.hub_members import HubMembers
from feeds.server.members import Members
from feeds.server.publisher import Publisher, state_dir
from feeds.server.sending import send_published
from feeds.settings import FIELDS, Settings, utc_now
from feeds.settings import SITE_URL as DEFAULT_SITE_URL

log = logging.getLogger(__name__)


StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the app; settings come from feeds.settings (FEEDS_* variables).
    `test_config` overrides settings by name (``{"SITE_URL": …}``), sets
    Flask's own configuration (``TESTING``) and may inject a ``CLOCK``.
    A bad setting raises SettingsError, whose message is one line."""
    app = Flask(__name__, static_folder=None)  # feeds/static is served from the build
    # Werkzeug's own redirects (a missing slash, doubled slashes) build an
    # absolute URL from Host: the app sends every redirect itself (`moved`).
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False
    overrides = dict(test_config or {})
    clock = overrides.pop("CLOCK", utc_now)
    flask_config = {key: overrides.pop(key) for key in list(overrides)
                    if key in app.config and key.lower() not in FIELDS}
    settings = Settings.load(overrides)
    app.config.from_mapping(settings.as_flask_config(), CLOCK=clock, **flask_config)
    app.extensions["feeds.settings"] = settings
    logging.basicConfig(level=logging.INFO)
    state = state_dir(settings.state_dir, app.instance_path, settings.talks_file,
                      BuildOptions.from_settings(settings), settings.cache_max_age)
    published = Publisher(settings, state, clock=clock)
    app.extensions["feeds"] = published
    hub = is_hub(settings.talks_file)  # its secrets: a folder (feeds.server.hub_members)
    app.extensions["feeds.members"] = Members(None if hub else settings.secrets_file,
                                              settings.join_url, settings.check_interval,
                                              private=private_dir(state))
    app.extensions["feeds.hub_members"] = HubMembers(
        settings.secrets_file if hub else None, settings.check_interval, private_dir(state))
    app.wsgi_app = PublishedRoutes(app.wsgi_app, published)  # type: ignore[method-assign]
    if settings.proxy_fix:  # trust X-Forwarded-* from this many proxies
        hops = settings.proxy_fix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops,  # type: ignore[method-assign]
                                x_prefix=hops)
    accesslog.install(app.logger)
    if settings.site_url == DEFAULT_SITE_URL:  # not configured: a local run
        app.wsgi_app = WarnIfServedElsewhere(app.wsgi_app)  # type: ignore[method-assign]
    app.add_url_rule(urls.members_calendar("<token>"), view_func=members_calendar)
    app.add_url_rule("/<slug>" + urls.members_calendar("<token>"),
                     view_func=series_members_calendar)
    app.add_url_rule(urls.HEALTH, view_func=health)
    app.add_url_rule(urls.EMBED_PAGE, view_func=embed)  # /embed too: it redirects here
    app.add_url_rule(f"/<slug>{urls.EMBED_PAGE}", view_func=series_embed)  # a hub's series
    app.register_error_handler(404, not_found)
    app.after_request(protect)
    app.add_url_rule("/", view_func=serve, defaults={"path": ""})
    app.add_url_rule("/<path:path>", view_func=serve)
    return app


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of `url`; every loopback name counts as one host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host in ("localhost", "127.0.0.1", "::1"):
        host = "localhost"
    return parts.scheme, host, parts.port or {"http": 80, "https": 443}.get(parts.scheme)


class WarnIfServedElsewhere:
    """WSGI middleware for a local run while FEEDS_SITE_URL is not set (links
    point at the default http://localhost:5000): warn once when the server
    answers at another address, e.g. `flask --app wsgi run --port 5004`. The
    pages work, but their feeds, calendar and subscribe links lead to the
    default address."""

    def __init__(self, app: WSGIApp):
        self.app = app
        self.warned = False

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not self.warned:
            here = f"{environ.get('wsgi.url_scheme', 'http')}://{get_host(environ)}"
            if _origin(here) != _origin(DEFAULT_SITE_URL):
                self.warned = True
                log.warning("this server answers at %s, but FEEDS_SITE_URL is not set, so the "
                            "feeds, the calendar and the subscribe buttons point at %s; set "
                            "FEEDS_SITE_URL=%s, or run `feeds serve --port %s`, which sets it "
                            "for you", here, DEFAULT_SITE_URL, here, _origin(here)[2])
        return self.app(environ, start_response)


def publisher() -> Publisher:
    return current_app.extensions["feeds"]


def settings_of(app: Flask) -> Settings:
    """The settings `app` was created with."""
    return app.extensions["feeds.settings"]


def current_build() -> PublishedBuild:
    """The build this request is served from. Before the first build of
    the data file is published the request waits for it; if there is none
    (a broken file), 503 with the reasons."""
    published = publisher()
    build = published.ready()
    if build is None:
        reasons = "\n".join(published.health().errors)
        abort(Response(f"Service unavailable: nothing is published yet.\n{reasons}\n", 503,
                       headers={"Retry-After": "5", "Cache-Control": "no-store"},
                       content_type="text/plain; charset=utf-8"))
    return build


class PublishedRoutes:
    """WSGI middleware: GET and HEAD of a published route, straight from its
    file (feeds.server.sending), with the same status line, headers and
    bytes as `send`, gzip'd when the route has a `.gz` file and the client
    accepts it."""

    def __init__(self, app: WSGIApp, publisher: Publisher):
        self.app = app
        self.publisher = publisher

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        if (method == "GET" or method == "HEAD") and "HTTP_IF_MATCH" not in environ:
            path = environ.get("PATH_INFO") or "/"
            build = self.publisher.current()
            try:
                served = build.routes.get(path) if build is not None else None
            except BrokenBuild as exc:
                assert build is not None
                self.publisher.discard(build, exc)
                served = None  # Flask looks again, in the intact build
            if served is not None and not (path.endswith(urls.EMBED_PAGE)
                                           and environ.get("QUERY_STRING")):
                sent = send_published(served, environ, start_response)
                if sent is not None:
                    return sent
                # pruned under us: Flask looks again
        return self.app(environ, start_response)


Prepared = tuple[tuple[str, str], ...]
# Kept as long as the resource is: an old snapshot's bytes are not held on to.
_PREPARED: weakref.WeakKeyDictionary[Resource, tuple[int, Prepared]] = weakref.WeakKeyDictionary()


def response_headers(resource: Resource, max_age: int) -> Prepared:
    """headers() plus the validators, formatted once per resource."""
    kept = _PREPARED.get(resource)
    if kept is None or kept[0] != max_age:
        kept = _PREPARED[resource] = (max_age, (
            *resource.headers(max_age).items(), ("ETag", quoted_etag(resource.etag)),
            ("Last-Modified", http_date(resource.last_modified))))
    return kept[1]


def send(resource: Resource | Served) -> Response:
    """A response for `resource`, answering conditional requests with 304.
    Nothing is compressed here (the rare requests Flask answers); a proxy in
    front must not gzip calendars."""
    headers = (resource.headers if isinstance(resource, Served)
               else response_headers(resource, settings_of(current_app).cache_max_age))
    response = Response(resource.body, headers=headers)
    if isinstance(resource, Served) and resource.gzip:  # its other requests may get gzip
        response.vary.add("Accept-Encoding")
    environ = request.environ
    if "HTTP_IF_MATCH" in environ:
        response.make_conditional(request)  # rare: werkzeug's full rules (412)
        return response
    if ("HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ) and \
            not is_resource_modified(environ, resource.etag, last_modified=resource.last_modified):
        response.status_code = 304  # werkzeug drops the body and the entity headers
    return response


def serve(path: str) -> WerkzeugResponse:
    build = current_build()
    try:
        resource = build.routes.get("/" + path)
    except BrokenBuild as exc:  # damaged under us: the newest intact build
        publisher().discard(build, exc)
        build = current_build()
        resource = build.routes.get("/" + path)
    if resource is None:
        return moved(build, "/" + path)
    return send(resource)


def moved(build: PublishedBuild, route: str) -> WerkzeugResponse:
    """An older address of a page (`/talks/x`, `/talks/x.html`) redirects to
    the folder the page is in; anything else is 404. The target is relative
    to the address asked for, so it holds under any path prefix without
    trusting Host, X-Forwarded-Host or X-Forwarded-Prefix, and a shared cache
    may keep it."""
    target = urls.folder_route(route)
    if target is None or target not in build.routes:
        abort(404)
    query = request.query_string.decode("latin-1")
    response = redirect(urls.relative_redirect(route, target) + (f"?{query}" if query else ""), 301)
    response.autocorrect_location_header = False
    response.headers["Cache-Control"] = f"public, max-age={settings_of(current_app).cache_max_age}"
    return response


def embed() -> WerkzeugResponse:
    """/embed with query options: checked, then rendered once per build
    (feeds.publish.snapshot.EmbedPages bounds what that may cost)."""
    if request.path != urls.EMBED_PAGE:  # /embed, the address in other sites' snippets
        return moved(current_build(), request.path)
    build = current_build()
    try:
        if build.is_hub:  # series=a,b and tag=x choose what it shows
            return send(build.hub_embeds().hub(request.args.items(multi=True)))
        options = EmbedOptions.from_query(request.args.items(multi=True))
    except ValueError as exc:
        return Response(f"{exc}\n", 400, content_type="text/plain; charset=utf-8")
    except UnreadableBuild:
        log.exception("cannot render /embed from the build %s", build.name)
        abort(503)
    except EmbedBusy as busy:
        return busy_response(busy)
    try:
        return send(build.embed(options))
    except EmbedBusy as busy:  # too many new option sets lately: the site comes first
        return busy_response(busy)
    except UnreadableBuild:
        log.exception("cannot render /embed from the build %s", build.name)
        abort(503)


def busy_response(busy: EmbedBusy) -> Response:
    return Response("this list is busy; try again in a moment\n", 503,
                    content_type="text/plain; charset=utf-8",
                    headers={"Retry-After": str(math.ceil(busy.retry_after)),
                             "Cache-Control": "no-store"})


def series_embed(slug: str) -> WerkzeugResponse:
    """A hub's /<slug>/embed/ with query options, as the series' /embed/ alone."""
    build = current_build()
    if not build.is_hub or f"/{slug}{urls.EMBED_PAGE}" not in build.routes:
        return serve(request.path.lstrip("/"))
    if request.path != f"/{slug}{urls.EMBED_PAGE}":
        return moved(build, request.path)
    try:
        options = EmbedOptions.from_query(request.args.items(multi=True))
    except ValueError as exc:
        return Response(f"{exc}\n", 400, content_type="text/plain; charset=utf-8")
    try:
        return send(build.hub_embeds().series(slug, options))
    except EmbedBusy as busy:
        return busy_response(busy)
    except UnreadableBuild:
        log.exception("cannot render /%s/embed from the build %s", slug, build.name)
        abort(503)


def not_found(error: HTTPException) -> Response | HTTPException:
    """Every 404 gets the build's friendly page, never kept by caches."""
    build = publisher().current()
    if build is None:
        return error
    page = build.not_found
    return Response(page.body, 404, headers=page.headers)


def members_calendar(token: str) -> Response:
    """A member's calendar; an unknown token gets the same 404 as any unknown page."""
    build = current_build()
    if build.is_hub:  # a hub's members' calendars are its series'
        abort(404)
    try:
        resource = current_app.extensions["feeds.members"].calendar(build, token)
    except UnreadableBuild:
        log.exception("cannot render the members' calendar from the build %s", build.name)
        abort(503)
    return private(resource)


def series_members_calendar(slug: str, token: str) -> Response:
    """A member's calendar of one series of a hub (a token of the series or of the hub)."""
    build = current_build()
    if not build.is_hub:
        abort(404)
    try:
        resource = current_app.extensions["feeds.hub_members"].calendar(build, slug, token)
    except UnreadableBuild:
        log.exception("cannot render the members' calendar from the build %s", build.name)
        abort(503)
    return private(resource)


def private(resource: Resource | None) -> Response:
    """A members' calendar: never kept by a shared cache, never indexed; 404 if None."""
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
    secret = "/members/" in request.path or response.status_code == 404
    if secret:
        response.headers["Referrer-Policy"] = NO_REFERRER
    else:
        response.headers.setdefault("Referrer-Policy", REFERRER_POLICY)
    return response


def health() -> tuple[Response, int]:
    state = current_app.extensions["feeds.members"].annotate(publisher().health())
    state = current_app.extensions["feeds.hub_members"].annotate(state)
    response = jsonify(state.as_json())
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if state.ok else 503
