"""Settings: FEEDS_* variables, the cache lifetime's cap, and the gunicorn
configuration file in the repository."""

from __future__ import annotations

import logging
import runpy

from flask import Config
from gunicorn.config import Config as GunicornConfig

from conftest import ROOT, SITE_URL
from feeds import accesslog
from feeds.app import DEFAULTS, MAX_AGE_LIMIT, build_options, cache_max_age, configure
from feeds.ical import REFRESH


def test_settings_come_from_defaults_then_environment_then_overrides(monkeypatch):
    monkeypatch.setenv("FEEDS_FEED_LIMIT", "5")
    monkeypatch.setenv("FEEDS_PROXY_FIX", "2")
    config = configure(Config("."))
    assert config["FEED_LIMIT"] == 5 and config["PROXY_FIX"] == 2
    assert config["CACHE_MAX_AGE"] == DEFAULTS["CACHE_MAX_AGE"] == 3600
    assert configure(Config("."), {"FEED_LIMIT": 7})["FEED_LIMIT"] == 7


def test_build_options_follow_the_settings():
    options = build_options(configure(Config("."), {"SITE_URL": SITE_URL + "/", "FEED_LIMIT": 3}))
    assert options.site.url("/x") == SITE_URL + "/x" and options.feed_limit == 3


def test_cache_lifetime_never_exceeds_the_refresh_interval(caplog):
    assert MAX_AGE_LIMIT == REFRESH.total_seconds() == 43200
    assert cache_max_age("600") == 600
    with caplog.at_level(logging.WARNING, logger="feeds.app"):
        assert cache_max_age(86400) == MAX_AGE_LIMIT
    assert "refresh interval" in caplog.text
    assert cache_max_age(-5) == 0


def test_the_gunicorn_config_is_valid():
    settings = GunicornConfig()
    for name, value in runpy.run_path(str(ROOT / "gunicorn.conf.py")).items():
        if name in settings.settings:
            settings.set(name, value)  # validates like gunicorn does
    assert settings.wsgi_app == "wsgi:app"
    assert settings.bind == ["127.0.0.1:8000"]
    assert settings.workers >= 2 and settings.worker_class_str == "sync"
    assert settings.accesslog == "-" and settings.errorlog == "-"
    assert settings.logger_class is accesslog.GunicornLogger
    assert "%(r)s" in settings.access_log_format
