"""Every setting, its type, its default and what it does: the fields of
`Settings`, each read from the environment variable FEEDS_<NAME> (as Flask's
``from_prefixed_env`` reads them), then from overrides. The server and every
``feeds`` command read their settings here alike; a bad value is a
`SettingsError` whose message is one line naming the variable."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar, get_type_hints

PREFIX = "FEEDS_"
DATA_FILE = "data/talks.yaml"
SITE_URL = "http://localhost:5000"
#: Where `feeds serve` listens unless told otherwise.
SERVE_HOST = "127.0.0.1"
SERVE_PORT = 5000
#: How often calendar apps are asked to refresh (REFRESH-INTERVAL); caches
#: may keep a response no longer than that.
CALENDAR_REFRESH = timedelta(hours=12)
MAX_AGE_LIMIT = int(CALENDAR_REFRESH.total_seconds())
BUILD_MODES = ("process", "inline")
#: gunicorn's access log: a line per request written at once, in batches, or none.
ACCESS_LOGS = ("full", "buffered", "off")
#: Fewer published builds are never kept: the current one and the one before.
KEEP_BUILDS_FLOOR = 2

log = logging.getLogger(__name__)
T = TypeVar("T")


def utc_now() -> datetime:
    """The real clock; tests inject their own."""
    return datetime.now(timezone.utc)


class SettingsError(ValueError):
    """A setting has a value it cannot take; the message is one line that
    names the variable and what it expects."""


def setting(default: T, doc: str, *, verbatim: bool = False, choices: tuple[str, ...] = (),
            secret: bool = False) -> T:
    """A field of `Settings`: its default and its documentation. `verbatim`
    text is read exactly as written, never as JSON (a password "1e3" or
    "null" stays what it is); a `secret` never appears in a repr."""
    return field(default=default, repr=not secret,
                 metadata={"doc": doc, "verbatim": verbatim, "choices": choices})


@dataclass(frozen=True)
class Settings:
    """The settings of the server and of every `feeds` command. Construct it
    with `Settings.load()`; each field is the variable FEEDS_<FIELD NAME IN
    UPPER CASE>."""

    talks_file: str = setting(
        DATA_FILE, "The data file: the series and its talks, in YAML.")
    site_url: str = setting(
        SITE_URL, "The public base URL, with any path prefix: every link, feed and "
        "calendar points there.")
    feed_limit: int = setting(
        100, "How many talks the RSS and Atom feeds list at most.")
    check_interval: float = setting(
        1.0, "Seconds between two looks at the data file and the secrets file for changes.")
    cache_max_age: int = setting(
        3600, "Seconds a cache may keep a public response (Cache-Control max-age); "
        f"at most the calendar's refresh interval, {MAX_AGE_LIMIT} s.")
    proxy_fix: int = setting(
        0, "How many proxies in front of the server to trust for X-Forwarded-For, "
        "-Proto, -Host and -Prefix; 0: none.")
    secrets_file: str = setting(
        "", "The secrets file: the members' calendar tokens and the talks' join links; "
        "empty: no members' calendar.", verbatim=True)
    join_url: str = setting(
        "", "The join link of every talk, for the members' calendar and `feeds announce "
        "--members`; it wins over the secrets file's join_url.", verbatim=True, secret=True)
    state_dir: str = setting(
        "", "Where the published builds, the build status and the last good secrets live; "
        "empty: a folder of the Flask app's instance folder for this data file alone.")
    build_timeout: float = setting(
        60.0, "Seconds a build may take; a longer one is stopped and the current build "
        "stays served.")
    build_mode: str = setting(
        "process", "Where builds run: process, in a background process (the server); "
        "inline, in the thread that looks at the data file (`feeds serve`, the tests).",
        choices=BUILD_MODES)
    access_log: str = setting(
        "full", "The access log gunicorn writes to stdout: full, each request's line made by "
        "gunicorn and written as it is answered; buffered, the same lines made directly and "
        "written in batches, a fifth of full's cost per request (at most about a second "
        "late, or when 256 are waiting; the lines a killed worker held are lost); off, none: "
        "the cheapest, when nginx in front logs the requests. See bench/README.md, "
        "\"Serving\".", choices=ACCESS_LOGS)
    keep_builds: int = setting(
        3, f"How many published builds are kept on disk (at least {KEEP_BUILDS_FLOOR}).")
    smtp_host: str = setting(
        "", "`feeds announce --send`: the mail server.", verbatim=True)
    smtp_port: int = setting(
        0, "The mail server's port; 0: the usual port of FEEDS_SMTP_SECURITY "
        "(587, 465 or 25).")
    smtp_security: str = setting(
        "starttls", "How to reach the mail server: starttls (the submission port), ssl (TLS "
        "from the first byte) or none (a relay on the same machine).")
    smtp_user: str = setting(
        "", "The mail server's user name; empty: no login.", verbatim=True)
    smtp_password: str = setting(
        "", "The mail server's password.", verbatim=True, secret=True)
    mail_from: str = setting(
        "", "The announcements' sender; empty: the series' contact address, with the "
        "series' title.", verbatim=True)
    announce_to: str = setting(
        "", "The announcements' recipients, e.g. the mailing list's address "
        "(`feeds announce --to` wins).", verbatim=True)
    announce_days: int = setting(
        7, "How many days before a talk `feeds announce --due` sends its announcement.")
    arxiv_api: str = setting(
        "https://export.arxiv.org/api/query",
        "`feeds add --paper`: the arXiv API's address.", verbatim=True)
    openreview_api: str = setting(
        "https://api2.openreview.net", "`feeds add --paper`: the OpenReview API's address.",
        verbatim=True)
    crossref_api: str = setting(
        "https://api.crossref.org", "`feeds add --paper`: the Crossref API's address.",
        verbatim=True)

    def __post_init__(self) -> None:
        """Check the values and bring them into range, however the settings were made."""
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            cast = _CASTS[item.name]
            if type(value) is not cast:  # exactly: True is an int, but becomes 1
                object.__setattr__(self, item.name, _cast(item, value, repr(value)))
            choices = item.metadata["choices"]
            if choices and getattr(self, item.name) not in choices:
                raise SettingsError(f"{variable(item.name)} must be one of {', '.join(choices)}, "
                                    f"not {getattr(self, item.name)!r}")
        object.__setattr__(self, "cache_max_age", cache_max_age(self.cache_max_age))
        object.__setattr__(self, "keep_builds", max(self.keep_builds, KEEP_BUILDS_FLOOR))

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None,
             environ: Mapping[str, str] | None = None) -> Settings:
        """The defaults, then the FEEDS_* variables of `environ` (default:
        os.environ), then `overrides`, keyed by field name (``site_url``) or
        by the variable's name without its prefix (``SITE_URL``). An empty
        variable counts as unset (a CI secret that was never given is an
        empty string)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        try:
            for name, value in from_environment(environ).items():
                item = FIELDS.get(name.lower())
                raw = environ[PREFIX + name]
                if item is None:
                    log.warning("%s%s is not a setting of feeds; it is ignored", PREFIX, name)
                    continue
                if item.metadata["verbatim"]:
                    value = raw
                if value != "":
                    values[item.name] = _cast(item, value, raw)
            for key, value in (overrides or {}).items():
                item = FIELDS.get(key.lower())
                if item is None:
                    raise SettingsError(f"{key} is not a setting of feeds")
                values[item.name] = _cast(item, value, repr(value))
            return cls(**values)
        except SettingsError as exc:  # raised again here: the traceback ends at the caller's line
            raise SettingsError(str(exc)) from None

    def as_flask_config(self) -> dict[str, Any]:
        """Every setting under its upper-case name, for Flask's app.config."""
        return {item.name.upper(): getattr(self, item.name) for item in dataclasses.fields(self)}


#: Every field of Settings by name.
FIELDS: dict[str, dataclasses.Field[Any]] = {item.name: item for item in dataclasses.fields(Settings)}
_CASTS: dict[str, type] = {name: kind for name, kind in get_type_hints(Settings).items()
                           if name in FIELDS}
_EXPECTED = {int: "a whole number", float: "a number of seconds", str: "text"}


def variable(name: str) -> str:
    """The environment variable of the field `name`: FEEDS_SITE_URL for site_url."""
    return PREFIX + name.upper()


def _cast(item: dataclasses.Field[Any], value: Any, shown: str) -> Any:
    """`value` as the field's type; SettingsError names the variable and what it expects."""
    kind = _CASTS[item.name]
    try:
        if kind is str:
            return str(value)
        cast = kind(value)
        if kind is float and not math.isfinite(cast):
            raise ValueError(value)
        return cast
    except (ValueError, TypeError, OverflowError):
        raise SettingsError(f"{variable(item.name)}={shown} is not {_EXPECTED[kind]} "
                            f"(the default is {item.default!r})") from None


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """FEEDS_* variables without the prefix, each value read as JSON where
    it parses (``3600`` is a number) and as a string otherwise."""
    found: dict[str, Any] = {}
    for name in sorted(environ):
        if not name.startswith(PREFIX):
            continue
        value: Any = environ[name]
        try:
            value = json.loads(value)
        except ValueError:
            pass
        found[name[len(PREFIX):]] = value
    return found


def cache_max_age(value: int | float | str) -> int:
    """`value` in seconds, at most the calendar's REFRESH-INTERVAL."""
    seconds = max(int(value), 0)
    if seconds > MAX_AGE_LIMIT:
        log.warning("FEEDS_CACHE_MAX_AGE=%d is longer than the calendar's refresh "
                    "interval; using %d", seconds, MAX_AGE_LIMIT)
    return min(seconds, MAX_AGE_LIMIT)
