"""What a build is made from, stored by value in its context.json (data,
never code: the data file's text, the ledger's rows, the settings and the
moment), and the digests its index keeps to check that file."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from feeds import urls
from feeds.data.loader import parse_schedule
from feeds.data.revisions import LedgerError, Revision, parse_ledger, render_ledger
from feeds.model import Schedule
from feeds.publish.routes import UnreadableBuild
from feeds.publish.snapshot import BuildOptions, RenderContext


@dataclass(frozen=True)
class MadeFrom:
    """What a build is made from, stored by value (data, never code): the
    data file's text, read again with the normal loader, the ledger's rows
    and the few settings and the moment the build depends on."""

    #: The data file's text, as it was parsed.
    text: str
    #: Where it was read from (for the loader's messages).
    data_file: str
    revisions: Mapping[str, Revision]
    options: BuildOptions
    now: datetime

    def context(self, schedule: Schedule | None = None) -> RenderContext:
        """The render context (`schedule`: the text's, if already parsed);
        InvalidData if the text does not parse."""
        if schedule is None:
            schedule = parse_schedule(self.text, self.data_file)
        return RenderContext.of(schedule, self.revisions, self.options, self.now)

    def to_json(self) -> bytes:
        return json.dumps({"data_file": self.data_file, "data": self.text,
                           "ledger": render_ledger(self.revisions), "now": self.now.isoformat(),
                           "site": self.options.site.base, "feed_limit": self.options.feed_limit},
                          separators=(",", ":")).encode()  # ASCII: escaped twice as fast

    @classmethod
    def from_json(cls, blob: bytes, name: str) -> MadeFrom:
        """`blob` as written by `to_json`; UnreadableBuild naming `name` if it is not."""
        try:
            fields = json.loads(blob)
            return cls(str(fields["data"]), str(fields["data_file"]),
                       parse_ledger(str(fields["ledger"]), name),
                       BuildOptions(urls.Site(str(fields["site"])), int(fields["feed_limit"])),
                       datetime.fromisoformat(str(fields["now"])))
        except (ValueError, TypeError, KeyError, LedgerError) as exc:
            raise UnreadableBuild(f"{name}: {exc}") from exc


def _digest(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


#: Bytes at each end of context.json checked when a build is opened (the
#: whole file is checked when it is read).
ENDS = 4096


def _ends(head: bytes, tail: bytes) -> str:
    return _digest(head + b"\0" + tail)


def fingerprint(stored: bytes) -> dict[str, Any]:
    """What a build's index keeps of its context.json `stored` to check it:
    its size, its digest and the digest of its ends."""
    return {"bytes": len(stored), "sha256": _digest(stored),
            "ends": _ends(stored[:ENDS], stored[-ENDS:])}


def check_ends(path: Path, stored: Mapping[str, Any]) -> None:
    """The size and both ends of the context.json at `path` against its
    fingerprint `stored` (the same cost at any size); UnreadableBuild if they differ."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(ENDS)
            handle.seek(max(0, size - ENDS))
            tail = handle.read(ENDS)
    except OSError as exc:
        raise UnreadableBuild(f"{path}: {exc.strerror or exc}") from exc
    if size != stored["bytes"] or _ends(head, tail) != stored["ends"]:
        raise UnreadableBuild(f"{path} is not the file its build wrote "
                              f"({size} bytes of {stored['bytes']})")


def read_checked(path: Path, stored: Mapping[str, Any]) -> bytes:
    """The context.json at `path`, checked whole against its fingerprint
    `stored`; UnreadableBuild if it is not."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise UnreadableBuild(f"{path}: {exc.strerror or exc}") from exc
    if len(blob) != stored["bytes"] or _digest(blob) != stored["sha256"]:
        raise UnreadableBuild(f"{path} is not the file its build wrote "
                              f"({len(blob)} bytes of {stored['bytes']})")
    return blob
