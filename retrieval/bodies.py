"""Request bodies of the ingest endpoints: with a length or chunked, gzip or not, never past a limit.

Django reads a body only as far as its Content-Length says, so a chunked body (no
length) would read as empty. Gunicorn de-chunks the body and says so with
`wsgi.input_terminated`; then the WSGI input is read to its end. Either way, and
whether the body is gzip or not, reading stops once the limit is passed: neither the
compressed nor the inflated body is ever held beyond it.
"""

import zlib
from collections.abc import Iterator

from django.http import HttpRequest

from retrieval.compression import InflatedTooLarge, TruncatedGzip, gunzip

READ_BYTES = 1 << 16


class BodyError(ValueError):
    """A body that cannot be taken: `status` is the HTTP answer, the message says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The request's body, inflated when `Content-Encoding: gzip`; BodyError past `limit` bytes (413)."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in {"identity", "gzip"}:
        raise BodyError(f"Content-Encoding {encoding[:40]!r} is not supported; send gzip or no encoding.", 415)
    chunks = _raw_chunks(request, limit)
    too_large = BodyError(f"Larger than {limit:,} bytes; split the batch.", 413)
    if encoding == "identity":
        return b"".join(chunks)
    try:
        return b"".join(gunzip(chunks, limit=limit))
    except InflatedTooLarge:
        raise too_large from None
    except (TruncatedGzip, zlib.error):
        raise BodyError("Content-Encoding is gzip but the body is not whole gzip data.") from None


def _raw_chunks(request: HttpRequest, limit: int) -> Iterator[bytes]:
    too_large = BodyError(f"Larger than {limit:,} bytes; split the batch.", 413)
    length = request.META.get("CONTENT_LENGTH") or ""
    if length:
        if not length.isdigit():
            raise BodyError("Content-Length is not a number.")
        if int(length) > limit:
            raise too_large
        stream = request  # Django's own reader, bounded by the length
    elif request.META.get("wsgi.input_terminated"):
        stream = request.META["wsgi.input"]  # chunked, de-chunked by the server: read to its end
    else:
        return
    received = 0
    while chunk := stream.read(READ_BYTES):
        received += len(chunk)
        if received > limit:
            raise too_large
        yield chunk
