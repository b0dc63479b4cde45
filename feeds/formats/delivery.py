"""How a route's bytes are sent: each format declares its Delivery once
(media type, CORS, framing, compression, download), and a Resource is the
bytes of one route with its delivery and validators. The server and the
static hosts' settings both take their headers from here."""

from __future__ import annotations

import gzip
import hashlib
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formatdate

#: How long a fingerprinted file may be kept: a year, the most HTTP caches honour.
IMMUTABLE_AGE = 31536000

#: Smaller files are never precompressed: gzip's header and trailer
#: (18 bytes) and deflate's framing outweigh what it saves on a few hundred bytes.
GZIP_MIN_SIZE = 512
#: The file a precompressed route's gzip'd bytes are in, beside its own
#: (the name nginx's gzip_static looks for).
GZIP_SUFFIX = ".gz"
#: Appended to a route's ETag for its gzip'd representation (RFC 9110 8.8.3:
#: each representation has its own entity tag).
GZIP_ETAG_SUFFIX = "-gzip"

#: The formats precompressed at build time: text that gzip cuts to a tenth
#: or less. Calendars (text/calendar) are not: Outlook fails on a gzip'd
#: calendar, so they are sent as they are, with `no-transform`.
COMPRESSED_TYPES = frozenset({
    "text/html", "text/css", "text/javascript", "application/json",
    "application/schema+json", "application/xml", "application/rss+xml",
    "application/atom+xml"})

#: What the site's own pages tell a linked site: only the origin, and only
#: over https. Members' responses and 404 pages (whose address may hold a
#: token) send nothing at all.
REFERRER_POLICY = "strict-origin-when-cross-origin"
NO_REFERRER = "no-referrer"


@dataclass(frozen=True)
class Delivery:
    """What a format declares about sending its bytes."""

    #: The Content-Type, with its charset.
    media_type: str
    #: An HTML page: static hosts serve ``/x`` from ``x.html``.
    page: bool = False
    #: Readable by scripts on any origin (Access-Control-Allow-Origin: *).
    cors: bool = False
    #: May be shown in another site's iframe.
    framable: bool = False
    #: No proxy or CDN may compress it: Outlook fails on gzipped calendars.
    no_transform: bool = False
    #: Offered as a download named like the route's last segment.
    download: bool = False
    #: Precompressed at build time (a `.gz` file beside the route's own) and
    #: sent gzip'd to clients that accept it. None (the default): decided by
    #: the media type (COMPRESSED_TYPES); never with `no_transform`.
    compress: bool | None = None
    #: Named by its content's digest: cached for a year, never revalidated.
    immutable: bool = False
    #: The Referrer-Policy: what a browser tells the sites this links to.
    referrer_policy: str = REFERRER_POLICY

    def __post_init__(self) -> None:
        if self.compress is None:
            essence = self.media_type.split(";", 1)[0].strip().lower()
            object.__setattr__(self, "compress",
                               essence in COMPRESSED_TYPES and not self.no_transform)
        if self.compress and self.no_transform:
            raise ValueError(f"{self.media_type}: a response no one may transform is not compressed")

    def precompresses(self, size: int) -> bool:
        """Whether a route of this format and `size` bytes gets a `.gz` file:
        the one rule, for the build and for the route table alike."""
        return bool(self.compress) and size >= GZIP_MIN_SIZE


#: gzip's level: 9 saves 2-7 % more on these files for about twice the CPU.
GZIP_LEVEL = 6
#: From this size a body is compressed in pieces (`_pieces`), each kept by
#: its digest: an edit to one talk compresses again only the piece it is in.
PIECEWISE_FROM = 1 << 20
#: A piece ends at one of these (between two objects of a JSON list)...
_PIECE_END = b"},{"
#: ... once it is this long, where the bytes before it hash to 0 under
#: _PIECE_MASK: the cuts follow the content, so an edit moves no other cut.
_PIECE_MIN = 1 << 17
_PIECE_MASK = 31
#: Deflate's window: what each piece may refer back to.
_WINDOW = 1 << 15
#: A gzip member's header: deflate, no name, mtime 0, no extra flags, OS unknown.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def gzipped(body: bytes) -> bytes:
    """`body` gzip'd the same way every time (no file name, mtime 0), so the
    server's build and `feeds build` write identical `.gz` files. A large
    body is one gzip member whose deflate stream is the pieces' streams,
    each compressed alone and ended on a byte (a sync flush), in order."""
    if len(body) < PIECEWISE_FROM:
        return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
    stream = b"".join(_COMPRESSED.deflated(body, start, end) for start, end in _pieces(body))
    last = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS).flush()
    return (_GZIP_HEADER + stream + last
            + struct.pack("<II", zlib.crc32(body), len(body) & 0xFFFFFFFF))


def _pieces(body: bytes) -> Iterator[tuple[int, int]]:
    """Where each piece of `body` starts and ends."""
    start = position = 0
    while (end := body.find(_PIECE_END, position)) >= 0:
        position = end + 2  # the piece ends after "}," and the next starts at "{"
        if position - start >= _PIECE_MIN and zlib.crc32(body[end - 32:end]) & _PIECE_MASK == 0:
            yield start, position
            start = position
    yield start, len(body)


class _Compressed:
    """The deflate streams of the pieces compressed lately, by digest: those
    of the last few large files (about their compressed size), shared by
    the threads that write them."""

    LIMIT = 1 << 25

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recent: dict[bytes, bytes] = {}
        self._older: dict[bytes, bytes] = {}
        self._size = 0

    def deflated(self, body: bytes, start: int, end: int) -> bytes:
        """The piece ``body[start:end]``, compressed with the 32 KB before it
        as its dictionary (as deflate's window would have them)."""
        window = body[max(0, start - _WINDOW):start]
        piece = body[start:end]
        hashed = hashlib.blake2b(window, digest_size=16)
        hashed.update(piece)
        key = hashed.digest()
        with self._lock:
            found = self._recent.get(key) or self._older.get(key)
        if found is None:
            compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS, zdict=window)
            found = compressor.compress(piece) + compressor.flush(zlib.Z_SYNC_FLUSH)
        with self._lock:
            if key not in self._recent:
                if self._size >= self.LIMIT:
                    self._older, self._recent, self._size = self._recent, {}, 0
                self._recent[key] = found
                self._size += len(found)
        return found


_COMPRESSED = _Compressed()


@dataclass(frozen=True)
class Resource:
    """The bytes of one route and how to send them."""

    body: bytes
    delivery: Delivery
    #: The data's last change that this route shows.
    last_modified: datetime
    #: The file name offered for a download (Content-Disposition), if any.
    download_name: str = ""
    etag: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "etag", hashlib.sha256(self.body).hexdigest()[:32])

    @property
    def media_type(self) -> str:
        return self.delivery.media_type

    def headers(self, max_age: int) -> dict[str, str]:
        """Headers besides the validators (ETag, Last-Modified): what the
        server sends and what static hosts are told to send."""
        cache = f"public, max-age={IMMUTABLE_AGE}, immutable" if self.delivery.immutable \
            else f"public, max-age={max_age}"
        if self.delivery.no_transform:
            cache += ", no-transform"
        result = {"Content-Type": self.delivery.media_type, "Cache-Control": cache,
                  "X-Content-Type-Options": "nosniff",
                  "Referrer-Policy": self.delivery.referrer_policy}
        if self.download_name:
            result["Content-Disposition"] = content_disposition(self.download_name)
        if self.delivery.cors:
            result["Access-Control-Allow-Origin"] = "*"
        if not self.delivery.framable:
            result["Content-Security-Policy"] = "frame-ancestors 'none'"
        return result


def http_date(moment: datetime | float) -> str:
    """An HTTP date (RFC 9110 IMF-fixdate): 'Tue, 01 Dec 2026 19:45:19 GMT'."""
    stamp = moment.timestamp() if isinstance(moment, datetime) else moment
    return formatdate(stamp, usegmt=True)


def quoted_etag(etag: str) -> str:
    """A strong ETag header value; an etag here is a hex digest."""
    return f'"{etag}"'


def content_disposition(download_name: str) -> str:
    """The Content-Disposition of a download named `download_name`."""
    return f'attachment; filename="{download_name}"'
