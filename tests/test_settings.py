"""Settings: defaults, then FEEDS_* variables, then overrides; read alike by
the server and every `feeds` command."""

from __future__ import annotations

import logging
import os
import re

from flask import Config

from feeds import settings
from feeds.publish.snapshot import BuildOptions

from helpers import SITE_URL


def test_settings_come_from_defaults_then_environment_then_overrides():
    environ = {"FEEDS_FEED_LIMIT": "5", "FEEDS_PROXY_FIX": "2"}
    loaded = settings.load(environ=environ)
    assert loaded["FEED_LIMIT"] == 5 and loaded["PROXY_FIX"] == 2
    assert loaded["CACHE_MAX_AGE"] == 3600 and loaded["TALKS_FILE"] == "data/talks.yaml"
    assert settings.load({"FEED_LIMIT": 7}, environ=environ)["FEED_LIMIT"] == 7


def test_the_environment_is_read_as_flask_reads_it(monkeypatch):
    environ = {"FEEDS_FEED_LIMIT": "5", "FEEDS_CHECK_INTERVAL": "0.5", "FEEDS_SITE_URL":
               "https://example.org/talks", "FEEDS_JOIN_URL": "https://x.example/j?a=1&b=2",
               "FEEDS_PROXY_FIX": "true", "FEEDS_SECRETS_FILE": "/etc/feeds/secrets.yaml"}
    for name in [n for n in os.environ if n.startswith("FEEDS_")]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    flask_config = Config(".")
    flask_config.from_prefixed_env("FEEDS")
    assert settings.from_environment(environ) == dict(flask_config)
    assert settings.load()["CHECK_INTERVAL"] == 0.5


def test_build_options_follow_the_settings():
    options = BuildOptions.from_settings(settings.load({"SITE_URL": SITE_URL + "/",
                                                        "FEED_LIMIT": 3}, environ={}))
    assert options.site.url("/x") == SITE_URL + "/x" and options.feed_limit == 3


def test_cache_lifetime_never_exceeds_the_refresh_interval(caplog):
    assert settings.MAX_AGE_LIMIT == settings.CALENDAR_REFRESH.total_seconds() == 43200
    assert settings.cache_max_age("600") == 600
    with caplog.at_level(logging.WARNING, logger="feeds.settings"):
        assert settings.cache_max_age(86400) == settings.MAX_AGE_LIMIT
    assert "refresh interval" in caplog.text
    assert settings.cache_max_age(-5) == 0


def test_the_calendar_asks_clients_to_refresh_as_often_as_caches_may_keep_it(seed):
    from feeds.formats import ical
    from feeds.urls import Site

    from helpers import revisions_for

    body = ical.calendar_feed(seed, revisions_for(seed), Site(SITE_URL)).decode()
    hours = int(re.search(r"REFRESH-INTERVAL;VALUE=DURATION:PT(\d+)H", body).group(1))
    assert hours * 3600 == settings.MAX_AGE_LIMIT


def test_empty_variables_count_as_unset():
    """A CI job passes secrets that were never set as empty strings."""
    loaded = settings.load(environ={"FEEDS_SMTP_PORT": "", "FEEDS_SMTP_SECURITY": "",
                                    "FEEDS_ANNOUNCE_DAYS": "", "FEEDS_SMTP_PASSWORD": ""})
    assert loaded["SMTP_PORT"] == 0 and loaded["SMTP_SECURITY"] == "starttls"
    assert loaded["ANNOUNCE_DAYS"] == 7 and loaded["SMTP_PASSWORD"] == ""
