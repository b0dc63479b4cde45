"""Keep members' tokens out of every log: `/members/<token>/...` is written
as `/members/<redacted>` by gunicorn's access and error logs (through
feeds.server.gunicorn_logger), by the Werkzeug development server and by the
application's own logger."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

# "/members/" or an encoded "/members%2F", then everything up to the end of
# the request target: its path and query alike, whatever they hold ("//",
# "./", quotes, "?", "#"). The target ends at white space, or at a double
# quote that closes a quoted log field (one followed by white space or the end).
_MEMBERS = re.compile(r"(/members(?:/|%2f))(?:[^\s\"]|\"(?=\S))+", re.IGNORECASE)
REDACTED = "<redacted>"


def redact(text: str) -> str:
    """`text` with everything after each "/members/" replaced by <redacted>;
    a request line that only shows its token once decoded is logged decoded."""
    text = _MEMBERS.sub(rf"\g<1>{REDACTED}", text)
    decoded = unquote(text)
    if decoded != text and _MEMBERS.search(decoded.replace(REDACTED, "")):
        return _MEMBERS.sub(rf"\g<1>{REDACTED}", decoded)
    return text


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
