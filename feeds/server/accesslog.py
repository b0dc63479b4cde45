"""Keep members' tokens out of every log: `/members/<token>/...` is written
as `/members/<redacted>` by gunicorn's access and error logs (through
feeds.server.gunicorn_logger), by the Werkzeug development server and by the
application's own logger."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

# "/members" followed by any separator ("/", "\\", ";", "%" of an encoded
# one, "." …: anything but a letter, digit, "-", "_", white space or a closing
# quote), then everything up to the end of the request target: its path and
# query alike, whatever they hold ("//", "./", quotes, "?", "#"). The target
# ends at white space, or at a double quote that closes a quoted log field
# (one followed by white space or the end).
_MEMBERS = re.compile(r"/members(?=[^\w\s\"-]|\"\S)(?:[^\s\"]|\"(?=\S))+", re.IGNORECASE)
REDACTED = "<redacted>"
#: How many layers of percent-encoding are looked through (%2525… is three).
DECODINGS = 8


def _redacted(text: str) -> str:
    return _MEMBERS.sub(f"/members/{REDACTED}", text)


def redact(text: str) -> str:
    """`text` with everything after each "/members" and a separator replaced
    by <redacted>; a line that only shows a token once decoded (even several
    times over, as in /%2525%36Dembers/…) is logged decoded that far."""
    safe = _redacted(text)
    decoded = safe
    for _ in range(DECODINGS):
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
        redacted = _redacted(decoded)
        if redacted != decoded:
            safe = decoded = redacted
    return safe


class RedactingFilter(logging.Filter):
    """A logging filter that redacts tokens from each record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        safe = redact(message)
        if safe != message:
            record.msg, record.args = safe, ()
        return True


FILTER = RedactingFilter()


def install(*loggers: logging.Logger) -> None:
    """Redact tokens in `loggers` and in Werkzeug's development server log."""
    for logger in (logging.getLogger("werkzeug"), *loggers):
        logger.addFilter(FILTER)  # adding the same filter twice is a no-op
