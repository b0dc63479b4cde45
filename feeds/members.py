"""The members' calendar: the private join link, the tokens that unlock it,
and the calendar that carries it.

The join link and the tokens live in a secrets file (or the join link in
FEEDS_JOIN_URL), never in the data file. The members' calendar is rendered
once per snapshot and secrets version, and never enters ``snapshot.routes``,
so neither the static export nor any public page can contain it."""

from __future__ import annotations

import argparse
import hashlib
import hmac
import logging
import re
import secrets as secrets_module
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

import yaml

from . import ical, links, urls
from .loader import ID_PATTERN, InvalidData, Node, Problem, Reader, compose, valid_url
from .model import Schedule
from .publisher import Health
from .files import Signature, locked, stat_signature, write_atomically
from .snapshot import ICS, Resource, Snapshot

log = logging.getLogger(__name__)

SECRETS_KEYS = {"join_url", "talks", "tokens"}
TOKEN_KEYS = {"token", "label"}
# secrets.token_urlsafe's alphabet; at least 128 bits, and never a "/".
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{22,256}")
TOKEN_BYTES = 32
HEADER = (
    "# Secrets of the members' calendar. PRIVATE: never commit or publish this file.\n"
    "# See SECURITY.md. Mint a token with `feeds token new LABEL`; revoke one by\n"
    "# deleting its two lines.\n"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Token:
    """One member's (or mailing list's) secret calendar address."""

    token: str = field(repr=False)
    label: str
    line: int = 0


@dataclass(frozen=True)
class Secrets:
    """One version of the secrets: join links and tokens."""

    join_url: str = field(default="", repr=False)
    talks: Mapping[str, str] = field(default_factory=dict, repr=False)  # talk id -> join link
    tokens: tuple[Token, ...] = ()
    changed: datetime = _EPOCH  # when the secrets file last changed

    def join_urls(self, schedule: Schedule) -> dict[str, str]:
        """Each talk's join link; a cancelled talk gets none."""
        return {t.id: self.talks.get(t.id, self.join_url) for t in schedule.talks
                if not t.cancelled and self.talks.get(t.id, self.join_url)}

    def find(self, candidate: str) -> Token | None:
        """The token equal to `candidate`, compared in constant time against
        every token (digests, so that lengths do not leak either)."""
        wanted = _digest(candidate)
        found = None
        for token in self.tokens:
            if hmac.compare_digest(_digest(token.token), wanted):
                found = token
        return found


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


# --- the secrets file -------------------------------------------------------

def parse_secrets(text: str, source: str = "<secrets>") -> Secrets:
    """Validate the secrets file's text. Messages never repeat a secret value."""
    reader = Reader(source)
    root = compose(text, source)
    if root is None:
        return Secrets()
    top = reader.mapping(root, "the secrets file", SECRETS_KEYS)
    if top is None:
        raise InvalidData(reader.problems)
    join_url = _join_url(reader, top.get("join_url"), "join_url")
    talks: dict[str, str] = {}
    node = top.get("talks")
    if node is not None and not _is_empty(node):
        if not isinstance(node, yaml.MappingNode):
            reader.error(node, "talks must map talk ids to join links, e.g. "
                               "2026-04-13-fischer: https://...")
        else:
            for key, value in node.value:
                talk_id = key.value if isinstance(key, yaml.ScalarNode) else ""
                if not ID_PATTERN.fullmatch(talk_id):
                    reader.error(key, "a key under talks must be a talk id from the data file")
                elif talk_id in talks:
                    reader.error(key, f"talk {talk_id} appears twice under talks; keep one")
                else:
                    talks[talk_id] = _join_url(reader, value, f"the join link of {talk_id}")
    tokens = _tokens(reader, top.get("tokens"))
    if reader.problems:
        raise InvalidData(reader.problems)
    return Secrets(join_url, talks, tokens)


def _is_empty(node: Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _join_url(reader: Reader, node: Node | None, what: str) -> str:
    value = reader.text(node, what)
    if value and not valid_url(value):
        reader.error(node, f"{what} is not a web address; write a full https:// URL "
                           "without spaces")
        return ""
    return value


def _tokens(reader: Reader, node: Node | None) -> tuple[Token, ...]:
    tokens: list[Token] = []
    seen: dict[str, int] = {}
    for item in reader.sequence(node, "tokens") if node is not None else []:
        fields = reader.mapping(item, "a token", TOKEN_KEYS, ("token", "label"))
        if fields is None or "token" not in fields:
            continue
        line = item.start_mark.line + 1
        value = fields["token"].value if isinstance(fields["token"], yaml.ScalarNode) else ""
        label = reader.text(fields.get("label"), "a token's label", required="label" in fields)
        if not TOKEN_PATTERN.fullmatch(value):
            reader.error(fields["token"], "a token must be at least 22 characters from "
                                          "A-Z a-z 0-9 - _; mint one with `feeds token new`")
        elif value in seen:
            reader.error(fields["token"], f"this token is already listed on line {seen[value]}; "
                                          "every member needs their own")
        else:
            seen[value] = line
            tokens.append(Token(value, label, line))
    return tuple(tokens)


def load_secrets(path: str | Path) -> Secrets:
    """Read and validate the secrets file; FileNotFoundError if there is none."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        changed = datetime.fromtimestamp(path.stat().st_mtime_ns // 10**9, timezone.utc)
    except FileNotFoundError:
        raise
    except UnicodeDecodeError:
        raise InvalidData([Problem(str(path), 0, 0, "the file is not UTF-8 text")]) from None
    except OSError as exc:
        raise InvalidData([Problem(str(path), 0, 0,
                                   f"cannot read the file: {exc.strerror or exc}")]) from None
    return replace(parse_secrets(text, str(path)), changed=changed)


# --- minting ------------------------------------------------------------------

def mint_token() -> str:
    return secrets_module.token_urlsafe(TOKEN_BYTES)


def add_token(path: str | Path, label: str, token: str | None = None) -> str:
    """Append a new token for `label` to the secrets file (created if need be),
    atomically and under a lock, and return the token."""
    path = Path(path)
    token = token or mint_token()
    with locked(path):
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = HEADER
        new_text = _with_token(text, token, label, str(path))
        if parse_secrets(new_text, str(path)).find(token) is None:
            raise InvalidData([Problem(str(path), 0, 0, "could not add the token; "
                                       "write `tokens:` as a block list of token/label pairs")])
        write_atomically(path, new_text)
    return token


def _with_token(text: str, token: str, label: str, source: str) -> str:
    """`text` with a token entry added to the end of its `tokens:` list."""
    entry = yaml.safe_dump([{"token": token, "label": label}], allow_unicode=True,
                           sort_keys=False, width=1 << 16).splitlines()
    root = compose(text, source)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    node = _key_value(root, "tokens")
    if node is None:  # no tokens yet: a new block at the end
        return "".join(lines) + "tokens:\n" + "".join(f"  {e}\n" for e in entry)
    if isinstance(node, yaml.SequenceNode) and node.value:
        last = node.value[-1]
        while isinstance(last, (yaml.MappingNode, yaml.SequenceNode)) and last.value:
            last = last.value[-1][1] if isinstance(last, yaml.MappingNode) else last.value[-1]
        after = last.end_mark.line if last.end_mark.column else last.end_mark.line - 1
        indent = node.start_mark.column
    else:  # "tokens:" with nothing after it
        after, indent = node.start_mark.line, 2
    added = [" " * indent + e + "\n" for e in entry]
    return "".join(lines[:after + 1] + added + lines[after + 1:])


def _key_value(root: Node | None, key: str) -> Node | None:
    if isinstance(root, yaml.MappingNode):
        for k, v in root.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def subscribe_links(site: urls.Site, token: str) -> dict[str, str]:
    """A member's subscribe links: https, webcal and Google Calendar."""
    path = urls.members_calendar(token)
    webcal = site.webcal(path)
    return {
        "https": site.url(path),
        "webcal": webcal,
        "google": links.google_subscribe(webcal),
    }


# --- serving ------------------------------------------------------------------

def render_calendar(snapshot: Snapshot, secrets: Secrets, site: urls.Site) -> Resource:
    """The members' calendar for `snapshot`: the public calendar plus join links."""
    schedule = snapshot.schedule
    site = site.for_series(schedule.series.uid_domain)
    body = ical.calendar_feed(schedule, snapshot.revisions, site,
                              join_urls=secrets.join_urls(schedule))
    return Resource(body, ICS, max(snapshot.last_modified, secrets.changed))


class Members:
    """The current secrets, reloaded when the secrets file changes, and the
    members' calendar of each snapshot, rendered once."""

    def __init__(self, secrets_file: str | Path | None, join_url: str, site: urls.Site,
                 check_interval: float = 1.0):
        self.secrets_file = Path(secrets_file) if secrets_file else None
        self.site = site
        self.check_interval = check_interval
        self._env_join_url = join_url if join_url and valid_url(join_url) else ""
        self._env_problem = ("FEEDS_JOIN_URL is not a web address; it is ignored"
                             if join_url and not self._env_join_url else "")
        self._lock = threading.Lock()
        self._secrets = Secrets(self._env_join_url)
        self._signature: Signature | None = None
        self._next_check = 0.0
        self._problems: tuple[str, ...] = ()
        self._cache: tuple[Snapshot, Secrets, Resource] | None = None
        self.refresh(force=True)

    @property
    def secrets(self) -> Secrets:
        if time.monotonic() >= self._next_check:
            self.refresh()
        return self._secrets

    def refresh(self, force: bool = False) -> None:
        """Reload the secrets file if its stat changed."""
        if self.secrets_file is None or not self._lock.acquire(blocking=force):
            return
        try:
            self._next_check = time.monotonic() + self.check_interval
            signature = stat_signature(self.secrets_file)
            if force or signature != self._signature:
                self._signature = signature
                self._load()
        finally:
            self._lock.release()

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
        self._secrets, self._problems = loaded, ()
        log.info("members' calendar: %d token(s) from %s", len(loaded.tokens), self.secrets_file)

    def calendar(self, snapshot: Snapshot, token: str) -> Resource | None:
        """The members' calendar for `token`, or None for an unknown token."""
        secrets = self.secrets
        if secrets.find(token) is None:
            return None
        with self._lock:
            cached = self._cache
            if cached is None or cached[0] is not snapshot or cached[1] is not secrets:
                cached = (snapshot, secrets, render_calendar(snapshot, secrets, self.site))
                self._cache = cached
        return cached[2]

    def annotate(self, health: Health) -> Health:
        """`health` with the secrets' problems as warnings (no secret in them)."""
        self.secrets  # noqa: B018 - look at the file like every request does
        problems = tuple(p for p in (self._env_problem, *self._problems) if p)
        return replace(health, warnings=health.warnings + problems) if problems else health


def token_new(args: argparse.Namespace) -> int:
    """`feeds token new LABEL`: mint a token, record it, print the member's links."""
    site = urls.Site(args.site)
    try:
        token = add_token(args.secrets, args.label)
    except InvalidData as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"no token was added to {args.secrets}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot write {args.secrets}: {exc.strerror or exc}; no token was added",
              file=sys.stderr)
        return 1
    print(f"Added a token for {args.label!r} to {args.secrets} (keep that file private).")
    print("Send the member these links to subscribe; whoever has them can read the join link:")
    for name, link in subscribe_links(site, token).items():
        print(f"  {name:7} {link}")
    return 0
