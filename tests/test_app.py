"""The application factory and the gunicorn configuration file in the
repository."""

from __future__ import annotations

import runpy

from gunicorn.config import Config as GunicornConfig

from feeds.gunicorn_logger import GunicornLogger

from helpers import ROOT


def test_the_gunicorn_config_is_valid():
    settings = GunicornConfig()
    for name, value in runpy.run_path(str(ROOT / "gunicorn.conf.py")).items():
        if name in settings.settings:
            settings.set(name, value)  # validates like gunicorn does
    assert settings.wsgi_app == "wsgi:app"
    assert settings.bind == ["127.0.0.1:8000"]
    assert settings.workers >= 1 and settings.worker_class_str == "gevent"
    assert settings.accesslog == "-" and settings.errorlog == "-"
    assert settings.logger_class is GunicornLogger
    assert "%(r)s" in settings.access_log_format


def test_the_app_serves_its_settings(make_app):
    app = make_app(FEED_LIMIT="3", CACHE_MAX_AGE=86400)
    assert app.config["FEED_LIMIT"] == 3 and app.config["CACHE_MAX_AGE"] == 43200
    response = app.test_client().get("/rss.xml")
    assert response.headers["Cache-Control"] == "public, max-age=43200"
    assert response.data.count(b"<item>") == 3
