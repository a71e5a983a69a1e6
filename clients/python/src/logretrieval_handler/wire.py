"""What goes over the wire: records as the server's JSON, and one POST with its answer."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any, NamedTuple, Optional

# The server's limits (intake/ingest.py): one record past them would fail its whole batch.
MAX_MESSAGE_LENGTH = 32_768
MAX_LOGGER_LENGTH = 200
# The server refuses bodies over 16 MB; batches stay well below.
MAX_BATCH_BYTES = 8 * 1024 * 1024
LEVELS = ((50, "critical"), (40, "error"), (30, "warning"), (20, "info"))

# What emit() queues: (created, levelno, message, logger or None, user_id, context or None, id).
# A plain tuple because building it is on the caller's thread; the rest is done by the sender.
Item = tuple[float, int, str, Optional[str], Any, Optional[dict], str]


def level_name(levelno: int) -> str:
    """The server's level for a stdlib level; a custom level between two rounds down."""
    for floor, name in LEVELS:
        if levelno >= floor:
            return name
    return "debug"


def iso_utc(created: float) -> str:
    """`record.created` as ISO 8601 UTC with milliseconds, e.g. 2023-08-27T12:30:00.123Z."""
    seconds, millis = divmod(int(created * 1000), 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


def clean_text(text: str, limit: int) -> str:
    """Text the server accepts: at most `limit` characters, no NUL, no lone surrogate."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text[:limit].encode("utf-8", "replace").decode("utf-8")


def encode(item: Item) -> tuple[str, bool]:
    """One record's JSON text, and whether its context had to be left out (not JSON: NaN, infinity)."""
    created, levelno, message, logger, user_id, context, record_id = item
    record: dict = {
        "id": record_id,
        "timestamp": iso_utc(created),
        "user_id": user_id,
        "level": level_name(levelno),
        "message": clean_text(message, MAX_MESSAGE_LENGTH),
    }
    if logger is not None:
        record["logger"] = clean_text(logger, MAX_LOGGER_LENGTH)
    if context is not None:
        record["context"] = context
        try:
            # default=str: a datetime or a numpy scalar in the context is sent as its text.
            return json.dumps(record, default=str, allow_nan=False, separators=(",", ":")), False
        except (ValueError, TypeError, RecursionError):
            del record["context"]
            return json.dumps(record, default=str, separators=(",", ":")), True
    return json.dumps(record, default=str, separators=(",", ":")), False


class Answer(NamedTuple):
    status: int | None  # None: no HTTP answer (refused, reset, timed out)
    body: bytes
    retry_after: float | None
    error: str


def post(url: str, token: str, body: bytes, timeout: float) -> Answer:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(response.status, response.read(), None, "")
    except urllib.error.HTTPError as error:
        try:
            text = error.read()
        except (OSError, http.client.HTTPException):
            text = b""
        return Answer(error.code, text, retry_after(error.headers.get("Retry-After")), "")
    except (OSError, http.client.HTTPException) as error:
        # URLError, refused, reset, timeouts (all OSError) and broken answers (HTTPException).
        return Answer(None, b"", None, f"{type(error).__name__}: {error}")


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header in seconds; an HTTP date is ignored (backoff applies)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def rejected_indexes(body: bytes, count: int) -> set | None:
    """The records a 400 names (`logs[3].level`), or None when it names the batch as a whole."""
    try:
        errors = json.loads(body)
    except ValueError:
        return None
    if not isinstance(errors, dict) or not errors:
        return None
    indexes = set()
    for key in errors:
        if not (isinstance(key, str) and key.startswith("logs[") and "]" in key):
            return None
        number = key[len("logs[") : key.index("]")]
        if not number.isdigit() or int(number) >= count:
            return None
        indexes.add(int(number))
    return indexes
