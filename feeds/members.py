"""The members' calendar: the public calendar plus each talk's join link,
served at a secret address per member.

The secrets (feeds.secrets_file) never reach ``snapshot.routes``, so neither
the static export nor any public page can contain them. The calendar is
rendered once per snapshot and secrets version."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from . import calendar_links, ical, urls
from .delivery import Resource
from .files import FileWatch
from .memo import KEPT
from .publisher import Health
from .reader import InvalidData, valid_url
from .secrets_file import Secrets, load_secrets
from .snapshot import Snapshot

log = logging.getLogger(__name__)


def subscribe_links(site: urls.Site, token: str) -> dict[str, str]:
    """A member's subscribe links: https, webcal and Google Calendar."""
    path = urls.members_calendar(token)
    webcal = site.webcal(path)
    return {
        "https": site.url(path),
        "webcal": webcal,
        "google": calendar_links.google_subscribe(webcal),
    }


def render_calendar(snapshot: Snapshot, secrets: Secrets) -> Resource:
    """The members' calendar for `snapshot`: the public calendar plus join links."""
    schedule = snapshot.schedule
    body = ical.calendar_feed(schedule, snapshot.revisions, snapshot.site,
                              join_urls=secrets.join_urls(schedule), memo=KEPT)
    return Resource(body, ical.MEMBERS_FEED, max(snapshot.last_modified, secrets.changed))


class Members:
    """The current secrets, reloaded when the secrets file changes, and the
    members' calendar of each snapshot, rendered once."""

    def __init__(self, secrets_file: str | Path | None, join_url: str,
                 check_interval: float = 1.0, monotonic: Callable[[], float] = time.monotonic):
        self.secrets_file = Path(secrets_file) if secrets_file else None
        self._env_join_url = join_url if join_url and valid_url(join_url) else ""
        self._env_problem = ("FEEDS_JOIN_URL is not a web address; it is ignored"
                             if join_url and not self._env_join_url else "")
        self._watch = (FileWatch(self.secrets_file, check_interval, monotonic)
                       if self.secrets_file else None)
        self._secrets = Secrets(self._env_join_url)
        self._problems: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._cache: tuple[Snapshot, Secrets, Resource] | None = None
        self.refresh(force=True)

    def current(self) -> Secrets:
        """The secrets; looks at the file at most once per interval."""
        self.refresh()
        return self._secrets

    def refresh(self, force: bool = False) -> None:
        """Reload the secrets file if its stat changed."""
        if self._watch is not None:
            self._watch.check(lambda: self._reload(force), force)

    def _reload(self, force: bool) -> None:
        assert self._watch is not None
        signature = self._watch.signature()
        if force or signature != self._watch.seen:
            self._watch.seen = signature
            self._load()

    def _load(self) -> None:
        assert self.secrets_file is not None
        try:
            loaded = load_secrets(self.secrets_file)
        except FileNotFoundError:  # removing the file revokes every token
            self._secrets, self._problems = Secrets(self._env_join_url), (
                f"the secrets file {self.secrets_file} is missing; no members' calendar is served",)
            log.warning("%s", self._problems[0])
            return
        except InvalidData as exc:
            self._problems = tuple(
                f"{p.source}:{p.line}: a mistake in the secrets file; the members' calendar "
                "keeps its last good version (details in the server log)" for p in exc.problems)
            log.error("keeping the last good secrets; %s has errors:\n%s", self.secrets_file, exc)
            return
        if self._env_join_url:
            loaded = replace(loaded, join_url=self._env_join_url)
        self._secrets, self._problems = loaded, loaded.warnings
        for warning in loaded.warnings:
            log.warning("%s", warning)
        log.info("members' calendar: %d token(s) from %s", len(loaded.tokens), self.secrets_file)

    def calendar(self, snapshot: Snapshot, token: str) -> Resource | None:
        """The members' calendar for `token`, or None for an unknown token."""
        secrets = self.current()
        if secrets.find(token) is None:
            return None
        with self._lock:
            cached = self._cache
            if cached is None or cached[0] is not snapshot or cached[1] is not secrets:
                cached = (snapshot, secrets, render_calendar(snapshot, secrets))
                self._cache = cached
        return cached[2]

    def annotate(self, health: Health) -> Health:
        """`health` with the secrets' problems as warnings (no secret in them)."""
        self.refresh()
        problems = tuple(p for p in (self._env_problem, *self._problems) if p)
        return replace(health, warnings=health.warnings + problems) if problems else health
