"""Ingest: validate log records sent by programs and write them to hot storage.

A batch is all or nothing as far as the sender can tell: every record is
validated before any is written, and each record carries an `_id` (the sender's
`id`, or one assigned here and returned), so a batch re-sent after a timeout
stores nothing twice: ids already stored are reported as duplicates, not errors.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from pymongo.errors import BulkWriteError, PyMongoError

from logsite import metrics
from retrieval.models import Level, LogEntry

MAX_RECORDS = 10_000
MAX_MESSAGE_LENGTH = 32_768
MAX_LOGGER_LENGTH = 200
MAX_CONTEXT_DEPTH = 5
MAX_CONTEXT_KEYS = 200
# Clocks drift; a log from further in the future than this is a sender's bug.
MAX_CLOCK_SKEW = timedelta(days=1)
OLDEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
FIELDS = {"id", "timestamp", "user_id", "level", "message", "logger", "context"}
DUPLICATE_KEY = 11000


class IngestError(ValueError):
    """The batch is invalid; `errors` maps a field path like `logs[3].level` to messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


class IngestUnavailable(RuntimeError):
    """Hot storage refused the write; the sender should retry the same batch."""


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
    stamp = stamp.astimezone(UTC)
    if not OLDEST_TIMESTAMP <= stamp <= datetime.now(UTC) + MAX_CLOCK_SKEW:
        raise ValueError("Out of range: before 2000 or more than a day in the future.")
    # BSON dates hold milliseconds; truncate now so what is stored is what is returned.
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)


def check_context(value: object, depth: int = 0) -> None:
    """A context is a JSON object whose keys are plain names: no `$operator`, no dotted path."""
    if depth > MAX_CONTEXT_DEPTH:
        raise ValueError(f"Nested deeper than {MAX_CONTEXT_DEPTH} levels.")
    if isinstance(value, dict):
        if len(value) > MAX_CONTEXT_KEYS:
            raise ValueError(f"More than {MAX_CONTEXT_KEYS} keys.")
        for key, item in value.items():
            if not key or key.startswith("$") or "." in key or "\x00" in key:
                raise ValueError(
                    f"Key {key[:50]!r} is not allowed: keys may not be empty, start with $ or contain dots."
                )
            check_context(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_context(item, depth + 1)
    elif not (value is None or isinstance(value, str | int | float | bool)):
        raise ValueError("Only JSON values are allowed.")


def validate_record(record: object) -> tuple[dict, dict[str, str]]:
    """The MongoDB document for one record, and the errors by field (empty when valid)."""
    if not isinstance(record, dict):
        return {}, {"": "Expected an object."}
    errors: dict[str, str] = {}
    document: dict = {}
    for unknown in sorted(set(record) - FIELDS):
        errors[str(unknown)[:50]] = "Unknown field."

    def check(field: str, parse, required: bool = True) -> None:
        if field not in record:
            if required:
                errors[field] = "This field is required."
            return
        try:
            document[field] = parse(record[field])
        except ValueError as exc:
            errors[field] = str(exc)

    check("id", parse_object_id, required=False)
    check("timestamp", parse_timestamp)
    check("user_id", parse_user_id)
    check("level", parse_level)
    check("message", lambda v: parse_text(v, MAX_MESSAGE_LENGTH, allow_empty=False))
    check("logger", lambda v: parse_text(v, MAX_LOGGER_LENGTH, allow_empty=True), required=False)
    check("context", parse_context, required=False)
    document["_id"] = document.pop("id", None) or ObjectId()
    return document, errors


def parse_object_id(value: object) -> ObjectId:
    if not isinstance(value, str) or not ObjectId.is_valid(value) or len(value) != 24:
        raise ValueError("Expected 24 hexadecimal characters.")
    return ObjectId(value)


def parse_user_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise ValueError("Expected a whole number from 0 to 2147483647.")
    return value


def parse_level(value: object) -> str:
    level = value.lower() if isinstance(value, str) else None
    if level not in Level.values:
        raise ValueError(f"Expected one of {', '.join(Level.values)}.")
    return level


def parse_text(value: object, max_length: int, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise ValueError("Expected a string.")
    if not value and not allow_empty:
        raise ValueError("May not be empty.")
    if len(value) > max_length:
        raise ValueError(f"Longer than {max_length} characters.")
    if "\x00" in value:
        raise ValueError("May not contain NUL characters.")
    return value


def parse_context(value: object) -> dict | None:
    if value is not None and not isinstance(value, dict):
        raise ValueError("Expected an object.")
    check_context(value)
    return value


def validate_batch(records: object) -> list[dict]:
    """The documents to insert, or IngestError naming every wrong field as `logs[i].field`."""
    if not isinstance(records, list):
        raise IngestError({"logs": ["Expected a list of log records."]})
    if not records:
        raise IngestError({"logs": ["Send at least one log record."]})
    if len(records) > MAX_RECORDS:
        raise IngestError({"logs": [f"At most {MAX_RECORDS} records per request; split the batch."]})
    documents, errors = [], {}
    for index, record in enumerate(records):
        document, record_errors = validate_record(record)
        documents.append(document)
        for field, message in record_errors.items():
            errors[f"logs[{index}]{'.' + field if field else ''}"] = [message]
    if errors:
        raise IngestError(errors)
    seen: set[ObjectId] = set()
    for index, document in enumerate(documents):
        if document["_id"] in seen:
            raise IngestError({f"logs[{index}].id": ["The same id appears twice in this batch."]})
        seen.add(document["_id"])
    return documents


def ingest_logs(records: object) -> IngestResult:
    """Validate every record, then write them all to hot storage."""
    documents = validate_batch(records)
    duplicates = 0
    try:
        LogEntry.collection().insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        failures = exc.details.get("writeErrors", [])
        if any(failure.get("code") != DUPLICATE_KEY for failure in failures):
            raise IngestUnavailable("Hot storage refused part of the batch; send it again.") from exc
        duplicates = len(failures)
    except PyMongoError as exc:
        raise IngestUnavailable("Hot storage is unavailable; send the batch again.") from exc
    inserted = len(documents) - duplicates
    metrics.count_ingest(inserted)
    return IngestResult(ids=[str(document["_id"]) for document in documents], inserted=inserted, duplicates=duplicates)
