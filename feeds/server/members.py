"""The members' calendar: the public calendar plus each talk's join link,
served at a secret address per member.

The secrets (feeds.data.secrets_file) never reach a build's routes, so neither
the published builds, the static export nor any public page can contain
them. The calendar is rendered once per build and secrets version.

The last good secrets file is copied into a private directory (0700, the
file 0600) under the state directory, so that a worker that starts while
the secrets file is broken serves the members' calendar from that copy.
Removing the secrets file removes the copy too: revoking stays revoking."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from feeds.data.secrets_file import MAX_BYTES as MAX_SECRETS_BYTES
from feeds.data.secrets_file import Secrets, load_secrets
from feeds.data.yaml_reader import InvalidData, valid_url
from feeds.files import FileWatch, read_bounded, write_atomically
from feeds.formats import ical
from feeds.formats.delivery import Resource
from feeds.formats.memo import KEPT
from feeds.publish.snapshot import RenderContext
from feeds.server.publisher import Health
from feeds.timezones import EPOCH

#: The unkeyed copy an earlier feeds kept; removed, never read.
UNKEYED_COPY = "secrets.yaml"


def kept_copy_name(secrets_file: Path) -> str:
    """The name of the last good copy of `secrets_file` in the private directory."""
    digest = hashlib.sha256(str(secrets_file.resolve()).encode()).hexdigest()[:16]
    return f"secrets-{digest}.yaml"

log = logging.getLogger(__name__)


class Published(Protocol):
    """What the members' calendar is rendered from: a snapshot or a published build."""

    @property
    def context(self) -> RenderContext: ...
    @property
    def last_modified(self) -> datetime | None: ...


def render_calendar(snapshot: Published, secrets: Secrets) -> Resource:
    """The members' calendar for `snapshot`: the public calendar, rendered
    from the build's own context, plus join links."""
    context = snapshot.context
    body = ical.subscription_feed(context.schedule, context.revisions, context.site, context.now,
                                  join_urls=secrets.join_urls(context.schedule), memo=KEPT)
    return Resource(body, ical.MEMBERS_FEED_DELIVERY,
                    max(snapshot.last_modified or EPOCH, secrets.changed))


class Members:
    """The current secrets, reloaded when the secrets file changes, and the
    members' calendar of each snapshot, rendered once."""

    def __init__(self, secrets_file: str | Path | None, join_url: str,
                 check_interval: float = 1.0, monotonic: Callable[[], float] = time.monotonic,
                 private: Path | None = None):
        self.secrets_file = Path(secrets_file) if secrets_file else None
        #: Where the last good secrets are kept; None: only in memory.
        self.kept = (private / kept_copy_name(self.secrets_file)
                     if private is not None and self.secrets_file else None)
        if private is not None:
            with contextlib.suppress(OSError):
                (private / UNKEYED_COPY).unlink()
        self._env_join_url = join_url if join_url and valid_url(join_url) else ""
        self._env_problem = ("FEEDS_JOIN_URL is not a web address; it is ignored"
                             if join_url and not self._env_join_url else "")
        self._watch = (FileWatch(self.secrets_file, check_interval, monotonic)
                       if self.secrets_file else None)
        self._secrets = Secrets(self._env_join_url)
        self._problems: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._cache: tuple[Published, Secrets, Resource] | None = None
        self._good = False  # whether self._secrets came from a good secrets file
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
            self._good = False
            if self.kept is not None:
                with contextlib.suppress(FileNotFoundError):
                    self.kept.unlink()
            log.warning("%s", self._problems[0])
            return
        except InvalidData as exc:
            self._problems = tuple(
                f"{p.source}:{p.line}: a mistake in the secrets file; the members' calendar "
                "keeps its last good version (details in the server log)" for p in exc.problems)
            log.error("keeping the last good secrets; %s has errors:\n%s", self.secrets_file, exc)
            if not self._good:
                self._use_kept()
            return
        self._keep(loaded)
        self._use(loaded)
        self._problems = loaded.warnings
        for warning in loaded.warnings:
            log.warning("%s", warning)
        log.info("members' calendar: %d token(s) from %s", len(loaded.tokens), self.secrets_file)

    def _use(self, loaded: Secrets) -> None:
        if self._env_join_url:
            loaded = replace(loaded, join_url=self._env_join_url)
        self._secrets, self._good = loaded, True

    def _keep(self, loaded: Secrets) -> None:
        """Copy the good secrets file into the private directory (0600)."""
        if self.kept is None or self.secrets_file is None:
            return
        try:
            text = read_bounded(self.secrets_file, MAX_SECRETS_BYTES).decode("utf-8")
            mtime = self.secrets_file.stat().st_mtime_ns
            if self.kept.exists() and \
                    read_bounded(self.kept, MAX_SECRETS_BYTES).decode("utf-8") == text:
                return
            write_atomically(self.kept, text, new_mode=0o600)
            os.chmod(self.kept, 0o600)
            os.utime(self.kept, ns=(mtime, mtime))
            copy = replace(load_secrets(self.kept), warnings=loaded.warnings)  # its mode differs
            if copy != loaded:  # the file changed while we copied it
                self.kept.unlink()
        except (OSError, InvalidData, UnicodeDecodeError) as exc:
            log.warning("cannot keep a copy of the last good secrets: %s", exc)

    def _use_kept(self) -> None:
        """At start, with a broken secrets file: the last good copy, if any."""
        if self.kept is None:
            return
        try:
            self._use(load_secrets(self.kept))
        except (OSError, InvalidData) as exc:
            log.warning("no last good secrets to fall back on: %s", exc)
            return
        log.info("members' calendar: %d token(s) from the last good copy of %s",
                 len(self._secrets.tokens), self.secrets_file)

    def calendar(self, snapshot: Published, token: str) -> Resource | None:
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
