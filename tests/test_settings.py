"""Settings: defaults, then FEEDS_* variables, then overrides; read alike by
the server and every `feeds` command; a bad value is one line that names
the variable."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import subprocess
import sys

import pytest
from flask import Config

from feeds import settings
from feeds.publish.snapshot import BuildOptions
from feeds.server.app import settings_of
from feeds.settings import Settings, SettingsError

from helpers import ROOT, SITE_URL, clean_environment


def test_settings_come_from_defaults_then_environment_then_overrides():
    environ = {"FEEDS_FEED_LIMIT": "5", "FEEDS_PROXY_FIX": "2"}
    loaded = Settings.load(environ=environ)
    assert loaded.feed_limit == 5 and loaded.proxy_fix == 2
    assert loaded.cache_max_age == 3600 and loaded.talks_file == "data/talks.yaml"
    assert Settings.load({"FEED_LIMIT": 7}, environ=environ).feed_limit == 7
    assert Settings.load({"feed_limit": "8"}, environ=environ).feed_limit == 8


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
    loaded = Settings.load()
    assert loaded.check_interval == 0.5 and loaded.proxy_fix == 1  # JSON true: one proxy
    assert loaded.site_url == "https://example.org/talks"


def test_text_that_looks_like_json_stays_text():
    """A password "1e3" or "null" must stay what it is."""
    loaded = Settings.load(environ={"FEEDS_SMTP_PASSWORD": "1e3", "FEEDS_SMTP_USER": "null",
                                    "FEEDS_MAIL_FROM": '"Talks" <talks@example.org>'})
    assert (loaded.smtp_password, loaded.smtp_user) == ("1e3", "null")
    assert loaded.mail_from == '"Talks" <talks@example.org>'


def test_secrets_never_appear_in_the_settings_repr():
    loaded = Settings.load(environ={"FEEDS_SMTP_PASSWORD": "hunter2",
                                    "FEEDS_JOIN_URL": "https://meet.example.org/secret-room"})
    assert "hunter2" not in repr(loaded) and "secret-room" not in repr(loaded)
    assert loaded.smtp_password == "hunter2"


def test_build_options_follow_the_settings():
    options = BuildOptions.from_settings(Settings.load({"SITE_URL": SITE_URL + "/",
                                                        "FEED_LIMIT": 3}, environ={}))
    assert options.site.url("/x") == SITE_URL + "/x" and options.feed_limit == 3


def test_cache_lifetime_never_exceeds_the_refresh_interval(caplog):
    assert settings.MAX_AGE_LIMIT == settings.CALENDAR_REFRESH.total_seconds() == 43200
    assert settings.cache_max_age("600") == 600
    with caplog.at_level(logging.WARNING, logger="feeds.settings"):
        assert settings.cache_max_age(86400) == settings.MAX_AGE_LIMIT
        assert Settings.load(environ={"FEEDS_CACHE_MAX_AGE": "86400"}).cache_max_age == 43200
    assert "refresh interval" in caplog.text
    assert settings.cache_max_age(-5) == 0


def test_at_least_two_builds_are_kept():
    assert Settings.load(environ={"FEEDS_KEEP_BUILDS": "0"}).keep_builds == 2
    assert Settings(keep_builds=1).keep_builds == 2
    assert Settings.load(environ={"FEEDS_KEEP_BUILDS": "5"}).keep_builds == 5


def test_the_calendar_asks_clients_to_refresh_as_often_as_caches_may_keep_it(seed):
    from feeds.formats import ical
    from feeds.urls import Site

    from helpers import revisions_for

    body = ical.calendar_feed(seed, revisions_for(seed), Site(SITE_URL)).decode()
    hours = int(re.search(r"REFRESH-INTERVAL;VALUE=DURATION:PT(\d+)H", body).group(1))
    assert hours * 3600 == settings.MAX_AGE_LIMIT


def test_empty_variables_count_as_unset():
    """A CI job passes secrets that were never set as empty strings."""
    loaded = Settings.load(environ={"FEEDS_SMTP_PORT": "", "FEEDS_SMTP_SECURITY": "",
                                    "FEEDS_ANNOUNCE_DAYS": "", "FEEDS_SMTP_PASSWORD": ""})
    assert loaded.smtp_port == 0 and loaded.smtp_security == "starttls"
    assert loaded.announce_days == 7 and loaded.smtp_password == ""


BAD_VALUES = [
    ("FEEDS_FEED_LIMIT", "abc", "a whole number"),
    ("FEEDS_KEEP_BUILDS", "2.5.1", "a whole number"),
    ("FEEDS_SMTP_PORT", "null", "a whole number"),
    ("FEEDS_BUILD_TIMEOUT", "x", "a number of seconds"),
    ("FEEDS_CHECK_INTERVAL", "NaN", "a number of seconds"),
    ("FEEDS_BUILD_MODE", "nope", "one of process, inline"),
]


@pytest.mark.parametrize("name, value, expected", BAD_VALUES)
def test_a_bad_value_is_one_line_naming_the_variable(name, value, expected):
    with pytest.raises(SettingsError) as raised:
        Settings.load(environ={name: value})
    message = str(raised.value)
    assert message.startswith(name) and expected in message and value in message
    assert "\n" not in message


def test_an_unknown_override_is_refused_and_an_unknown_variable_is_named(caplog):
    with pytest.raises(SettingsError, match="FEED_LIMT is not a setting"):
        Settings.load({"FEED_LIMT": 3}, environ={})
    with caplog.at_level(logging.WARNING, logger="feeds.settings"):
        assert Settings.load(environ={"FEEDS_FEED_LIMT": "3"}).feed_limit == 100
    assert "FEEDS_FEED_LIMT is not a setting" in caplog.text


def a_value_other_than_the_default(item: dataclasses.Field) -> str:
    """What to put in the field's variable: not its default, of its type."""
    if item.metadata["choices"]:
        return next(c for c in item.metadata["choices"] if c != item.default)
    if isinstance(item.default, int):
        return str(item.default + 7)
    if isinstance(item.default, float):
        return str(item.default + 0.5)
    return f"{item.default}-changed"


@pytest.mark.parametrize("item", dataclasses.fields(Settings), ids=lambda item: item.name)
def test_every_setting_is_documented_and_read_from_its_variable(item):
    """The generated settings page needs both: a sentence and a variable."""
    doc = item.metadata["doc"]
    assert len(doc) > 20 and doc.endswith(".") and doc[0] == doc[0].upper()
    value = a_value_other_than_the_default(item)
    loaded = getattr(Settings.load(environ={"FEEDS_" + item.name.upper(): value}), item.name)
    assert loaded != item.default and str(loaded) == value


def test_the_app_reads_its_settings_and_keeps_flask_config(make_app, clock):
    app = make_app(FEED_LIMIT="3", TESTING=True)
    typed = settings_of(app)
    assert isinstance(typed, Settings) and typed.feed_limit == 3 and typed.build_mode == "inline"
    assert app.config["FEED_LIMIT"] == 3 and app.config["TESTING"] is True
    assert app.config["CLOCK"] is clock
    assert app.test_client().get("/rss.xml").data.count(b"<item>") == 3


def test_create_app_fails_with_the_one_line(make_app):
    with pytest.raises(SettingsError, match=r"^FEEDS_BUILD_TIMEOUT='x' is not a number"):
        make_app(BUILD_TIMEOUT="x")
    with pytest.raises(SettingsError, match="FEED_LIMT is not a setting"):
        make_app(FEED_LIMT=3)  # a typo is not taken for Flask configuration


@pytest.mark.parametrize("command, name, value, expected", [
    (["build", "site"], *BAD_VALUES[0]),
    (["validate"], *BAD_VALUES[3]),
    (["validate", "--format", "github"], *BAD_VALUES[4]),
    (["announce", "--due"], *BAD_VALUES[5]),
    (["cancel", "2026-05-11-mehlig"], *BAD_VALUES[1]),
])
def test_every_command_stops_at_a_bad_setting_with_one_line(command, name, value, expected,
                                                            data_file, tmp_path):
    done = subprocess.run([sys.executable, "-m", "feeds", *command], cwd=tmp_path,
                          env=clean_environment(FEEDS_TALKS_FILE=str(data_file), **{name: value}),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [done.stderr.strip()]  # one line, no traceback
    assert done.stderr.startswith(f"error: {name}") and expected in done.stderr
    assert not (tmp_path / "site").exists() and done.stdout == ""


def test_gunicorn_stops_at_a_bad_setting_with_one_line(data_file):
    done = subprocess.run([sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0",
                           "wsgi:app"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=clean_environment(FEEDS_TALKS_FILE=str(data_file),
                                          FEEDS_BUILD_MODE="nope"))
    assert done.returncode != 0
    assert done.stderr.strip() == ("error: FEEDS_BUILD_MODE must be one of process, inline, "
                                   "not 'nope'")


def test_the_wsgi_module_fails_with_the_exception_that_names_the_variable(data_file):
    """`flask --app wsgi run` and other WSGI servers import wsgi.py."""
    done = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60,
                          env=clean_environment(FEEDS_TALKS_FILE=str(data_file),
                                          FEEDS_FEED_LIMIT="abc"))
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "feeds.settings.SettingsError: FEEDS_FEED_LIMIT=abc is not a whole number "
        "(the default is 100)")
    frames = [line for line in done.stderr.splitlines() if line.startswith("  File ")]
    assert len(frames) <= 4, done.stderr  # the -c line, wsgi.py, create_app, Settings.load
