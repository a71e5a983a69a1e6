"""Request bodies of the ingest endpoints: with a length or chunked, gzip or not, never past a limit;
and the records of a JSON or NDJSON body.

Django reads a body only as far as its Content-Length says, so a chunked body (no
length) would read as empty. Gunicorn de-chunks the body and says so with
`wsgi.input_terminated`; then the WSGI input is read to its end. A server that does not
(Django's runserver, `make run`) gets a 411 saying so, never an empty body. Either way, and
whether the body is gzip or not, reading stops once the limit is passed: neither the
compressed nor the inflated body is ever held beyond it.
"""

import json
import zlib
from collections.abc import Iterator

from django.http import HttpRequest

from retrieval.compression import InflatedTooLarge, TruncatedGzip, gunzip

READ_BYTES = 1 << 16
# The largest ingest body, after gzip inflation: 10,000 records of about 1.6 KB.
MAX_BODY_BYTES = 16 * 1024 * 1024


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
    if encoding == "identity":
        return b"".join(chunks)
    try:
        return b"".join(gunzip(chunks, limit=limit))
    except InflatedTooLarge:
        raise too_large(limit) from None
    except (TruncatedGzip, zlib.error):
        raise BodyError("Content-Encoding is gzip but the body is not whole gzip data.") from None


def too_large(limit: int) -> BodyError:
    return BodyError(f"Larger than {limit:,} bytes; split the batch.", 413)


def _raw_chunks(request: HttpRequest, limit: int) -> Iterator[bytes]:
    length = request.META.get("CONTENT_LENGTH") or ""
    if length:
        if not length.isdigit():
            raise BodyError("Content-Length is not a number.")
        if int(length) > limit:
            raise too_large(limit)
        stream = request  # Django's own reader, bounded by the length
    elif request.META.get("wsgi.input_terminated"):
        stream = request.META["wsgi.input"]  # chunked, de-chunked by the server: read to its end
    elif "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        # A server that does not de-chunk (Django's runserver) hands over the raw chunks, or nothing.
        raise BodyError(
            "This server cannot read a chunked body (Transfer-Encoding: chunked); send Content-Length, "
            "or send to a server that de-chunks (gunicorn, the image's).",
            411,
        )
    else:
        return
    received = 0
    while chunk := stream.read(READ_BYTES):
        received += len(chunk)
        if received > limit:
            raise too_large(limit)
        yield chunk


JSON = "application/json"
# NDJSON under its common names: one JSON record a line.
NDJSON = {"application/x-ndjson", "application/jsonl"}


def read_records(request: HttpRequest, limit: int) -> object:
    """The log records of an ingest body, for `intake.ingest` to check.

    `application/json`: `{"logs": [...]}` (or a bare list); NDJSON: one record a line,
    blank lines skipped. BodyError for another media type (415), a body past `limit`
    (413), or text that is not UTF-8 JSON (400).
    """
    media_type = request.content_type or ""
    if media_type != JSON and media_type not in NDJSON:
        raise BodyError(f"Send {JSON} or application/x-ndjson, not {media_type[:60] or 'no Content-Type'}.", 415)
    try:
        text = read_body(request, limit).decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("The body is not UTF-8 text.") from None
    if media_type == JSON:
        data = _load_json(text, "The body")
        return data.get("logs") if isinstance(data, dict) else data
    # Split on "\n" only: str.splitlines would also split inside a JSON string holding U+2028.
    lines = (line for line in text.split("\n") if line.strip())
    return [_load_json(line, f"Line {number}") for number, line in enumerate(lines, 1)]


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _load_json(text: str, what: str) -> object:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # e.g. [[[[...]]]] 100,000 deep
        raise BodyError(f"{what} is JSON nested too deeply.") from None
    except ValueError as exc:
        raise BodyError(f"{what} is not valid JSON: {exc}"[:300]) from None
