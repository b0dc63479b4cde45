"""The application factory and the gunicorn configuration file in the
repository."""

from __future__ import annotations

import runpy

from gunicorn.config import Config as GunicornConfig

from feeds.server.gunicorn_logger import GunicornLogger

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


def identities(client) -> dict[str, object]:
    """Every UID and feed id a subscriber's app matches on, read back by real parsers."""
    import feedparser
    import icalendar

    cal = icalendar.Calendar.from_ical(client.get("/calendar.ics").data)
    uids = sorted(str(e["UID"]) for e in cal.walk("VEVENT"))
    singles = sorted(str(e["UID"]) for path in sorted(client.application.extensions["feeds"]
                                                      .current().routes)
                     if path.startswith("/talks/") and path.endswith(".ics")
                     for e in icalendar.Calendar.from_ical(client.get(path).data).walk("VEVENT"))
    atom = feedparser.parse(client.get("/atom.xml").data)
    rss = feedparser.parse(client.get("/rss.xml").data)
    return {"calendar": uids, "talk files": singles, "atom feed": atom.feed.id,
            "atom": sorted(e.id for e in atom.entries), "rss": sorted(e.id for e in rss.entries)}


def test_uids_and_feed_ids_do_not_depend_on_where_the_site_is_served(make_app):
    served = [identities(make_app(SITE_URL=url).test_client())
              for url in ("http://localhost:5000", "https://talks.example.org",
                          "https://example.net/reading-group")]
    assert served[0] == served[1] == served[2]
    assert len(served[0]["calendar"]) == 12 and served[0]["talk files"] == served[0]["calendar"]
    assert all("localhost" not in uid and "example" not in uid for uid in served[0]["calendar"])
    assert all(i.startswith("tag:efficientml@gmail.com,2026:") for i in served[0]["atom"])
