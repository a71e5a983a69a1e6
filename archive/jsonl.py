"""The one encoding of a log document as a JSON Lines line, and back; and a part's lines in blocks.

Used by the archiver (writer) and the cold reader, so both agree byte for byte:

    {"_id": "<24 hex>", "timestamp": "2023-08-27T12:30:15.123000Z", "user_id": 4,
     "level": "error", "message": "...", "logger": "...", "context": {...}}

`logger` and `context` appear only when the document has them; any other field a
document carries is kept too, after these, except hot storage's time buckets
(`retrieval.buckets`), which are not part of the log. Plain `gzip` + `json` read it back.
"""

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from retrieval import buckets
from retrieval.compression import gunzip

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
TIMESTAMP_WIDTH = len("2023-08-27T12:30:15.123000Z")  # fixed: string order is time order
ID_WIDTH = 24
# What every encoded line starts with: '{"_id":"<id>","timestamp":"<timestamp>"'.
_ID_KEY, _TIMESTAMP_KEY = b'{"_id":"', b'","timestamp":"'
_ID_AT = len(_ID_KEY)
_TIMESTAMP_AT = _ID_AT + ID_WIDTH + len(_TIMESTAMP_KEY)
LEADING_KEYS = ("_id", "timestamp", "user_id", "level", "message", "logger", "context")


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with microseconds; a naive datetime (pymongo's default) is UTC already."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)


def _plain(value: Any) -> Any:
    """JSON for BSON values that json does not know (inside `context` or extra fields)."""
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_plain)


def encode(document: dict) -> bytes:
    """One log document (as pymongo returns it) -> one UTF-8 line ending in a newline."""
    line = {"_id": str(document["_id"]), "timestamp": format_timestamp(document["timestamp"])}
    for key in LEADING_KEYS[2:]:
        if key in document:
            line[key] = document[key]
    for key, value in document.items():
        if key not in line and key not in buckets.FIELDS:
            line[key] = value
    return (_encoder.encode(line) + "\n").encode()


def decode(line: bytes | str) -> dict:
    """One line -> a log document as stored in MongoDB (ObjectId `_id`, aware UTC `timestamp`)."""
    document = json.loads(line)
    document["_id"] = ObjectId(document["_id"])
    document["timestamp"] = parse_timestamp(document["timestamp"])
    return document


def line_position(line: bytes) -> tuple[str, str]:
    """(timestamp, id) of an encoded line, as written, without parsing the rest (they always lead)."""
    if line.startswith(_ID_KEY) and line[_ID_AT + ID_WIDTH : _TIMESTAMP_AT] == _TIMESTAMP_KEY:
        head = line[: _TIMESTAMP_AT + TIMESTAMP_WIDTH].decode()
        return head[_TIMESTAMP_AT:], head[_ID_AT : _ID_AT + ID_WIDTH]
    document = json.loads(line)
    return document["timestamp"], document["_id"]


def gzip_line_blocks(chunks: Iterable[bytes], block_bytes: int = 1) -> Iterator[bytes]:
    """The decompressed lines of gzip data, from its compressed `chunks`, in blocks of whole lines.

    A block is cut at the last newline once `block_bytes` are decompressed (so it is about
    that size, less at most one line); the last block is what is left. Raises what
    `retrieval.compression.gunzip` raises (TruncatedGzip, zlib.error).
    """
    pending = bytearray()
    for piece in gunzip(chunks):
        pending += piece
        if len(pending) >= block_bytes and (cut := pending.rfind(b"\n") + 1):
            yield bytes(pending[:cut])
            del pending[:cut]
    if pending:
        yield bytes(pending)
