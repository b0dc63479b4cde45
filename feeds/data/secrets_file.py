"""The members' secrets file: the private join links and the tokens that
unlock them. Parsing and minting; serving is feeds.server.members.

The file (or FEEDS_JOIN_URL for the join link) lives outside the data file.
Error messages about it never repeat a secret value."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import yaml

from feeds.data.yaml_reader import (
    InvalidData,
    Node,
    Problem,
    Reader,
    is_null,
    key_value,
    node_tree,
    read_text,
    valid_url,
)
from feeds.files import locked, write_atomically
from feeds.model import ID_PATTERN, Schedule
from feeds.timezones import EPOCH

SECRETS_KEYS = {"join_url", "talks", "tokens"}
TOKEN_KEYS = {"token", "label"}
# secrets.token_urlsafe's alphabet; at least 128 bits, and never a "/".
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{22,256}")
TOKEN_BYTES = 32
#: At most this many bytes of secrets file (some 10 000 tokens); a larger
#: one, a pipe or a device is refused before reading.
MAX_BYTES = 1024 * 1024
HEADER = (
    "# Secrets of the members' calendar. PRIVATE: never commit or publish this file.\n"
    "# See SECURITY.md. Mint a token with `feeds token new LABEL`; revoke one by\n"
    "# deleting its two lines.\n"
)


@dataclass(frozen=True)
class Token:
    """One member's (or mailing list's) secret calendar address."""

    token: str = field(repr=False)
    #: Who it is for, e.g. a member's name or a mailing list.
    label: str
    #: Where it is listed in the secrets file.
    line: int = 0


@dataclass(frozen=True)
class Secrets:
    """One version of the secrets: join links and tokens."""

    #: The join link of every talk without one of its own.
    join_url: str = field(default="", repr=False)
    #: Talk id -> its own join link.
    talks: Mapping[str, str] = field(default_factory=dict, repr=False)
    tokens: tuple[Token, ...] = ()
    #: When the secrets file last changed.
    changed: datetime = EPOCH
    #: What is wrong with how the file is kept, e.g. readable by everyone.
    warnings: tuple[str, ...] = ()

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


# --- reading ------------------------------------------------------------------

def parse_secrets(text: str, source: str = "<secrets>") -> Secrets:
    """Validate the secrets file's text."""
    reader = Reader(source, echo=False)  # a key may be a secret written by mistake
    root = node_tree(text, source, echo=False)
    if root is None:
        return Secrets()
    top = reader.mapping(root, "the secrets file", SECRETS_KEYS)
    if top is None:
        raise InvalidData(reader.problems)
    join_url = _join_url(reader, top.get("join_url"), "join_url")
    talks = _talk_links(reader, top.get("talks"))
    tokens = _tokens(reader, top.get("tokens"))
    if reader.problems:
        raise InvalidData(reader.problems)
    return Secrets(join_url, talks, tokens)


def _join_url(reader: Reader, node: Node | None, what: str) -> str:
    value = reader.text(node, what)
    if value and not valid_url(value):
        reader.error(node, f"{what} is not a web address; write a full https:// URL "
                           "without spaces")
        return ""
    return value


def _talk_links(reader: Reader, node: Node | None) -> dict[str, str]:
    """The `talks:` mapping of talk ids to their own join links."""
    talks: dict[str, str] = {}
    if node is None or is_null(node):
        return talks
    if not isinstance(node, yaml.MappingNode):
        reader.error(node, "talks must map talk ids to join links, e.g. "
                           "2026-04-13-fischer: https://...")
        return talks
    for key, value in node.value:
        talk_id = key.value if isinstance(key, yaml.ScalarNode) else ""
        if not ID_PATTERN.fullmatch(talk_id):
            reader.error(key, "a key under talks must be a talk id from the data file")
        elif talk_id in talks:
            reader.error(key, "this talk id appears twice under talks; keep one")
        else:
            talks[talk_id] = _join_url(reader, value, f"the join link of {talk_id}")
    return talks


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
    text = read_text(path, missing_ok=True, limit=MAX_BYTES)
    if text is None:
        raise FileNotFoundError(path)
    st = path.stat()
    changed = datetime.fromtimestamp(st.st_mtime_ns // 10**9, timezone.utc)
    return replace(parse_secrets(text, str(path)), changed=changed, warnings=mode_warnings(path))


def mode_warnings(path: Path) -> tuple[str, ...]:
    """A warning if every account on the machine may read the secrets file."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & stat.S_IROTH:
        return ()
    return (f"the secrets file {path} is readable by every account on this machine "
            f"(mode {mode:04o}); make it private: chmod o-rwx {path}",)


# --- minting ------------------------------------------------------------------

def mint_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def add_token(path: str | Path, label: str, token: str | None = None) -> str:
    """Append a new token for `label` to the secrets file (created if need be),
    atomically and under a lock, and return the token."""
    path = Path(path)
    token = token or mint_token()
    with locked(path):
        text = read_text(path, missing_ok=True, limit=MAX_BYTES)
        new_text = _with_token(HEADER if text is None else text, token, label, str(path))
        if parse_secrets(new_text, str(path)).find(token) is None:
            raise InvalidData([Problem(str(path), 0, 0, "could not add the token; "
                                       "write `tokens:` as a block list of token/label pairs")])
        write_atomically(path, new_text, new_mode=0o600)
    return token


def _with_token(text: str, token: str, label: str, source: str) -> str:
    """`text` with a token entry added to the end of its `tokens:` list."""
    entry = yaml.safe_dump([{"token": token, "label": label}], allow_unicode=True,
                           sort_keys=False, width=1 << 16).splitlines()
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    node = key_value(node_tree(text, source), "tokens")
    if node is None:  # no tokens yet: a new block at the end
        return "".join(lines) + "tokens:\n" + "".join(f"  {e}\n" for e in entry)
    if isinstance(node, yaml.SequenceNode) and node.value:
        after, indent = _last_line(node), node.start_mark.column
    else:  # "tokens:" with nothing after it
        after, indent = node.start_mark.line, 2
    added = [" " * indent + e + "\n" for e in entry]
    return "".join(lines[:after + 1] + added + lines[after + 1:])


def _last_line(node: Node) -> int:
    """The 0-based line on which the deepest last item of `node` ends."""
    last = node
    while isinstance(last, (yaml.MappingNode, yaml.SequenceNode)) and last.value:
        last = last.value[-1][1] if isinstance(last, yaml.MappingNode) else last.value[-1]
    return int(last.end_mark.line if last.end_mark.column else last.end_mark.line - 1)
