"""Ingest: validate log records sent by programs and write them to hot storage.

A batch is all or nothing as far as the sender can tell: every record is
validated before any is written, and each record carries an `_id` (the sender's
`id`, or one derived from its content by `content_id`), so a batch re-sent after a
timeout stores nothing twice: ids already stored are reported as duplicates, not errors.
"""

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

import pymongo
from bson import ObjectId
from bson.errors import InvalidId
from django.db import DatabaseError
from pymongo.errors import BulkWriteError, PyMongoError

from access.scope import Scope
from intake.holders import foreign_ids, hot_id_holders
from intake.values import check_context, check_unicode, printable
from retrieval import hooks, hotstore, planner
from retrieval.buckets import EPOCH
from retrieval.metrics import INGESTED_LOGS
from retrieval.query import ALL_LEVELS
from retrieval.sources import SourceUnavailable

MAX_RECORDS = 10_000
# A set, once: Level.values builds a new list on every call (10 µs, a third of a record's check).
LEVELS = frozenset(ALL_LEVELS)
MAX_MESSAGE_LENGTH = 32_768
MAX_LOGGER_LENGTH = 200
# Clocks drift; a log from further in the future than this is a sender's bug.
MAX_CLOCK_SKEW = timedelta(days=1)
OLDEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
logger = logging.getLogger(__name__)

FIELDS = {"id", "timestamp", "user_id", "level", "message", "logger", "context"}
# The logs client's socket timeout (logsite/settings.py) is a 300 s backstop, since the
# archiver's deletes may rightly take long: far too long for a sender to wait on a hung
# server. Each chunk of a batch gets its own deadline (pymongo.timeout: server selection,
# write, counters and retries included): past it the answer is 503, and a retry is safe
# because every record has an id. A chunk of 1 MB takes well under a second on FerretDB
# (docs/benchmarks.md), so the deadline is only met by a server in trouble.
INSERT_TIMEOUT_SECONDS = 5
INSERT_CHUNK_RECORDS = 2_000
INSERT_CHUNK_BYTES = 1_000_000
RECORD_OVERHEAD = 200  # bytes of a record besides its message and context: the other fields, BSON's framing


class IngestError(ValueError):
    """The batch is invalid; `errors` maps a field path like `logs[3].level` to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


class TooManyRecords(IngestError):
    """More than MAX_RECORDS records in one request (a 413 naming the limit); nothing is stored."""


class IngestForbidden(PermissionError):
    """Records whose user_id the sender may not write; `errors` maps `logs[i].user_id` to a message. Nothing is stored."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


class IngestUnavailable(RuntimeError):
    """Hot storage refused the write; the sender should retry the same batch."""


RETRY_ADVICE = (
    "send the same batch again: every record has an id (yours or one derived from its content), "
    "so records already stored are answered as duplicates."
)


@dataclass(frozen=True)
class IngestResult:
    ids: list[str]
    inserted: int
    duplicates: int


def parse_timestamp(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("Expected an ISO 8601 string with a time zone, e.g. 2023-08-27T12:30:00Z.")
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("Not an ISO 8601 date and time, e.g. 2023-08-27T12:30:00Z.") from exc
    if stamp.tzinfo is None:
        raise ValueError("Give a time zone (Z or +HH:MM); without one the time is ambiguous.")
    try:
        stamp = stamp.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+23:59 is in year 0 in UTC
        stamp = datetime.min.replace(tzinfo=UTC)
    if not OLDEST_TIMESTAMP <= stamp <= datetime.now(UTC) + MAX_CLOCK_SKEW:
        raise ValueError("Out of range: before 2000 or more than a day in the future.")
    # BSON dates hold milliseconds; truncate now so what is stored is what is returned.
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)


def validate_record(record: object) -> tuple[dict, dict[str, str]]:
    """The MongoDB document for one record, and the errors by field (empty when valid)."""
    if not isinstance(record, dict):
        return {}, {"": "Expected an object."}
    errors: dict[str, str] = {}
    document: dict = {}
    if not record.keys() <= FIELDS:
        for unknown in sorted(set(record) - FIELDS):
            errors[printable(str(unknown))] = "Unknown field."
    for field, parse, required in RECORD_FIELDS:
        if field not in record:
            if required:
                errors[field] = "This field is required."
            continue
        try:
            document[field] = parse(record[field])
        except ValueError as exc:
            errors[field] = str(exc)
    if "id" in document:
        document["_id"] = document.pop("id")
    return document, errors


# What content ids hash (one encoder, built once: json.dumps would build it for every record).
CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def content_id(document: dict, occurrence: int) -> ObjectId:
    """The id of a record sent without one, derived from its content so that a re-sent batch
    derives the same ids and stores nothing twice.

    Bytes 0-3: the record's timestamp in whole seconds since the epoch, big-endian (as in any
    ObjectId, so the id's generation_time is the log's time). Bytes 4-11: the first 8 bytes of
    sha256 over the canonical JSON of [timestamp in ms, user_id, level, message, logger,
    context (keys sorted), occurrence], where `occurrence` counts the records of identical
    content without an id before this one in the batch (0 for the first): two identical
    lines in one batch stay two logs, and sending them again finds both.
    """
    since_epoch = document["timestamp"] - EPOCH
    content = [
        since_epoch // timedelta(milliseconds=1),
        document["user_id"],
        document["level"],
        document["message"],
        document.get("logger"),
        document.get("context"),
        occurrence,
    ]
    canonical = CANONICAL_JSON.encode(content)
    digest = hashlib.sha256(canonical.encode()).digest()
    return ObjectId((since_epoch // timedelta(seconds=1)).to_bytes(4, "big") + digest[:8])


def parse_object_id(value: object) -> ObjectId:
    if not isinstance(value, str) or len(value) != 24:
        raise ValueError("Expected 24 hexadecimal characters.")
    try:
        return ObjectId(value)
    except InvalidId:
        raise ValueError("Expected 24 hexadecimal characters.") from None


def parse_user_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise ValueError("Expected a whole number from 0 to 2147483647.")
    return value


def parse_level(value: object) -> str:
    level = value.lower() if isinstance(value, str) else None
    if level not in LEVELS:
        raise ValueError(f"Expected one of {', '.join(ALL_LEVELS)}.")
    return level


def parse_text(value: object, max_length: int, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise ValueError("Expected a string.")
    if not value and not allow_empty:
        raise ValueError("May not be empty.")
    if len(value) > max_length:
        raise ValueError(f"Longer than {max_length} characters.")
    check_unicode(value)
    return value


def parse_context(value: object) -> dict | None:
    if value is not None and not isinstance(value, dict):
        raise ValueError("Expected an object.")
    check_context(value)
    return value


# Each field of a record: its parser (ValueError names what is wrong) and whether it is required.
RECORD_FIELDS: tuple[tuple[str, Callable[[object], object], bool], ...] = (
    ("id", parse_object_id, False),
    ("timestamp", parse_timestamp, True),
    ("user_id", parse_user_id, True),
    ("level", parse_level, True),
    ("message", partial(parse_text, max_length=MAX_MESSAGE_LENGTH, allow_empty=False), True),
    ("logger", partial(parse_text, max_length=MAX_LOGGER_LENGTH, allow_empty=True), False),
    ("context", parse_context, False),
)


def validate_batch(records: object) -> list[dict]:
    """The documents to insert, or IngestError naming every wrong field as `logs[i].field`."""
    if not isinstance(records, list):
        raise IngestError({"logs": ["Expected a list of log records."]})
    if not records:
        raise IngestError({"logs": ["Send at least one log record."]})
    check_size(len(records))  # before checking 10,001 records one by one
    documents, errors = [], {}
    for index, record in enumerate(records):
        document, record_errors = validate_record(record)
        documents.append(document)
        for field, message in record_errors.items():
            errors[f"logs[{index}]{'.' + field if field else ''}"] = [message]
    if errors:
        raise IngestError(errors)
    return with_ids(documents)


def check_size(records: int) -> None:
    if records > MAX_RECORDS:
        raise TooManyRecords({"logs": [f"At most {MAX_RECORDS:,} records per request; split the batch."]})


def with_ids(documents: list[dict]) -> list[dict]:
    """Documents of valid records (validate_record), each with its `_id`: the sender's, or derived from its content.

    IngestError if there are more than MAX_RECORDS, or an id repeats.
    """
    check_size(len(documents))
    # Keyed by the ids' bytes: an ObjectId hashes in Python, its bytes in C.
    occurrences: Counter[bytes] = Counter()
    for document in documents:
        if "_id" not in document:
            # Identical content derives the same first id; the occurrence keeps the copies apart.
            first = content_id(document, 0)
            copies = occurrences[first.binary]
            document["_id"] = content_id(document, copies) if copies else first
            occurrences[first.binary] = copies + 1
    seen: set[bytes] = set()
    for index, document in enumerate(documents):
        if document["_id"].binary in seen:
            raise IngestError({f"logs[{index}].id": ["The same id appears twice in this batch."]})
        seen.add(document["_id"].binary)
    return documents


def ingest_logs(records: object, *, scope: Scope) -> IngestResult:
    """Validate every record, then write them all to hot storage (only user_ids in the write `scope`)."""
    return store(validate_batch(records), scope=scope)


def check_write_scope(documents: list[dict], scope: Scope) -> None:
    """IngestForbidden naming each document (by its index) whose user_id `scope` does not cover."""
    if scope.everything:
        return
    errors = {
        f"logs[{index}].user_id": [f"Not granted to you for writing: user_id {document['user_id']}."]
        for index, document in enumerate(documents)
        if not scope.allows(document["user_id"])
    }
    if errors:
        raise IngestForbidden(errors)


def chunks(documents: list[dict]) -> Iterator[list[dict]]:
    """`documents` in order, in runs of at most INSERT_CHUNK_RECORDS records and about INSERT_CHUNK_BYTES."""
    chunk: list[dict] = []
    size = 0
    for document in documents:
        # The message is most of a record; the context is estimated from its repr, a cheap stand-in for BSON.
        record = (
            RECORD_OVERHEAD
            + len(document["message"])
            + (len(repr(context)) if (context := document.get("context")) else 0)
        )
        if chunk and (len(chunk) == INSERT_CHUNK_RECORDS or size + record > INSERT_CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(document)
        size += record
    if chunk:
        yield chunk


def store(documents: list[dict], *, scope: Scope) -> IngestResult:
    """Write `documents` (from validate_batch, or validate_record then with_ids) to hot storage, each id once:
    IngestForbidden, and nothing stored, if a user_id is outside the sender's write `scope`.

    The documents are inserted in chunks (`chunks`), each within its own INSERT_TIMEOUT_SECONDS,
    so a batch within the size limits is never refused for its size. A chunk that fails is
    IngestUnavailable (a 503): the chunks before it are stored, and a retry of the same batch
    stores the rest. Ids are the sender's or derived from the content, so the retry finds the
    stored ones as duplicates: each id is stored, and counted in the histogram counters
    (`retrieval.hotstore`), once. An id stored already is never replaced.

    A duplicate is reported only to a sender who may write the user_id of the log holding the id
    (`foreign_ids`); anyone else's id is answered as if it were new, and not stored.
    """
    check_write_scope(documents, scope)
    try:
        # An id already archived is a duplicate too, though MongoDB no longer holds it.
        holders = planner.id_holders(documents)
    except SourceUnavailable as exc:
        raise IngestUnavailable(f"Archived logs could not be checked for these ids ({exc}); {RETRY_ADVICE}") from exc
    foreign = len(foreign_ids(holders, scope))
    documents_to_store = (
        [document for document in documents if document["_id"] not in holders] if holders else documents
    )
    inserted = 0
    for chunk in chunks(documents_to_store):
        try:
            with pymongo.timeout(INSERT_TIMEOUT_SECONDS):
                stored = hotstore.insert(chunk)
                if stored < len(chunk) and not scope.everything:
                    foreign += len(foreign_ids(hot_id_holders(chunk), scope))
        except BulkWriteError as exc:
            raise IngestUnavailable(f"Hot storage refused part of the batch; {RETRY_ADVICE}") from exc
        except PyMongoError as exc:
            raise IngestUnavailable(f"Hot storage did not confirm the write; {RETRY_ADVICE}") from exc
        inserted += stored
        INGESTED_LOGS.inc(amount=stored)
        try:
            # After each chunk: what is stored must be searchable even if a later chunk fails (the archive
            # notes late logs of days it may have emptied: archive.boundary).
            hooks.stored(chunk)
        except DatabaseError as exc:
            # Stored, but searches could skip the day in MongoDB: not acknowledged, so the sender re-sends.
            raise IngestUnavailable(f"The SQL database did not confirm the write; {RETRY_ADVICE}") from exc
    if foreign:
        logger.warning("%d ids sent already belong to logs of user_ids the sender may not write; not stored", foreign)
    inserted += foreign
    return IngestResult(
        ids=[str(document["_id"]) for document in documents], inserted=inserted, duplicates=len(documents) - inserted
    )
