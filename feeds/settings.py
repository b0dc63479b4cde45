"""Every setting, its default and how it is read: FEEDS_* environment
variables (as Flask's ``from_prefixed_env`` reads them), then overrides.
The server and every ``feeds`` command read their settings here alike."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

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

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The real clock; tests inject their own as CLOCK."""
    return datetime.now(timezone.utc)


DEFAULTS: dict[str, Any] = {
    "TALKS_FILE": DATA_FILE,
    "SITE_URL": SITE_URL,
    "FEED_LIMIT": 100,
    "CHECK_INTERVAL": 1.0,
    "SECRETS_FILE": "",  # tokens and join links of the members' calendar
    "JOIN_URL": "",
    "CACHE_MAX_AGE": 3600,
    "PROXY_FIX": 0,
    # `feeds announce`: the mail server, the sender, the list, the lead time.
    "SMTP_HOST": "",
    "SMTP_PORT": 0,  # 0: the usual port of SMTP_SECURITY (587, 465 or 25)
    "SMTP_SECURITY": "starttls",  # starttls, ssl or none
    "SMTP_USER": "",
    "SMTP_PASSWORD": "",
    "MAIL_FROM": "",  # default: the series' contact address
    "ANNOUNCE_TO": "",
    "ANNOUNCE_DAYS": 7,
    #: Where the published builds, the build status and the last good secrets
    #: live; empty: the Flask app's instance folder.
    "STATE_DIR": "",
    #: Seconds a build may take; a longer one is stopped and the current build stays.
    "BUILD_TIMEOUT": 60.0,
    #: "process": builds run in a background process (the server); "inline":
    #: in the checking thread itself, with the injected CLOCK (the tests).
    "BUILD_MODE": "process",
    #: How many published builds are kept on disk.
    "KEEP_BUILDS": 3,
    "CLOCK": utc_now,
}
#: How each setting is cast after it is read.
CASTS: dict[str, Callable[[Any], Any]] = {
    "TALKS_FILE": str,
    "SITE_URL": str,
    "FEED_LIMIT": int,
    "CHECK_INTERVAL": float,
    "SECRETS_FILE": str,
    "JOIN_URL": str,
    "PROXY_FIX": int,
    "SMTP_HOST": str,
    "SMTP_PORT": int,
    "SMTP_SECURITY": str,
    "SMTP_USER": str,
    "SMTP_PASSWORD": str,
    "MAIL_FROM": str,
    "ANNOUNCE_TO": str,
    "ANNOUNCE_DAYS": int,
    "STATE_DIR": str,
    "BUILD_TIMEOUT": float,
    "BUILD_MODE": str,
    "KEEP_BUILDS": int,
}
#: Text read exactly as written in the environment, never as JSON (a
#: password "1e3" or "null" must stay what it is).
VERBATIM = ("SECRETS_FILE", "JOIN_URL", "SMTP_HOST", "SMTP_USER", "SMTP_PASSWORD", "MAIL_FROM",
            "ANNOUNCE_TO")


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


def load(overrides: Mapping[str, Any] | None = None,
         environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """DEFAULTS, then the environment, then `overrides`, cast and checked. An
    empty variable counts as unset (a CI secret that was never given is an
    empty string)."""
    environ = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    settings.update({key: value for key, value in from_environment(environ).items()
                     if value != ""})
    settings.update({key: environ[PREFIX + key] for key in VERBATIM
                     if environ.get(PREFIX + key, "") != ""})
    settings.update(overrides or {})
    for key, cast in CASTS.items():
        settings[key] = cast(settings[key])
    settings["CACHE_MAX_AGE"] = cache_max_age(settings["CACHE_MAX_AGE"])
    if settings["BUILD_MODE"] not in BUILD_MODES:
        raise ValueError(f"FEEDS_BUILD_MODE must be one of {', '.join(BUILD_MODES)}")
    settings["KEEP_BUILDS"] = max(settings["KEEP_BUILDS"], 2)
    return settings


def cache_max_age(value: object) -> int:
    """`value` in seconds, at most the calendar's REFRESH-INTERVAL."""
    seconds = max(int(value), 0)  # type: ignore[call-overload]
    if seconds > MAX_AGE_LIMIT:
        log.warning("FEEDS_CACHE_MAX_AGE=%d is longer than the calendar's refresh "
                    "interval; using %d", seconds, MAX_AGE_LIMIT)
    return min(seconds, MAX_AGE_LIMIT)
