"""OpenTelemetry logs (OTLP/HTTP) as ingest records: decode a request in either encoding, map each log record
to the record the JSON API takes, and encode the answers. No I/O: the receiver (`retrieval/otlp_api.py`) reads
the body and hands the records to `intake.ingest`.

The mapping is a pure function of the OTLP record (no time of arrival, no counter), so an exporter's retry maps
to the same records and ingest derives the same content ids: nothing is stored twice.
"""

import base64
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from intake.ingest import validate_record
from retrieval.buckets import EPOCH
from retrieval.models import Level

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
ENCODINGS = (PROTOBUF, JSON)
# How many problems the partial success's error_message names; the count covers them all.
MAX_PROBLEMS_NAMED = 5
# OTLP severity numbers come in bands of four (TRACE 1-4 ... FATAL 21-24); TRACE has no level of its own here.
SEVERITY_BANDS = [Level.DEBUG, Level.DEBUG, Level.INFO, Level.WARNING, Level.ERROR, Level.CRITICAL]
SEVERITY_TEXTS = {
    "trace": Level.DEBUG,
    "debug": Level.DEBUG,
    "info": Level.INFO,
    "warn": Level.WARNING,
    "warning": Level.WARNING,
    "error": Level.ERROR,
    "fatal": Level.CRITICAL,
    "critical": Level.CRITICAL,
}
# The OTLP name of each ingest field, for the problems the sender reads.
OTLP_NAMES = {
    "timestamp": "timeUnixNano",
    "message": "body",
    "logger": "resource attribute service.name",
    "context": "attributes",
    "level": "severity",
}
# semconv's user.id is a string; a decimal one is the user id it spells.
DECIMAL = re.compile(r"[0-9]{1,10}")
# OTLP/JSON spells these bytes fields in hex; proto3's JSON mapping (json_format) reads bytes as base64.
HEX_ID_FIELDS = ("traceId", "trace_id", "spanId", "span_id")
# gRPC status codes of google.rpc.Status, by the HTTP status they go with.
# INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, UNAVAILABLE
RPC_CODES = {400: 3, 401: 16, 403: 7, 413: 3, 415: 3, 429: 8, 503: 14}


class UndecodableBody(ValueError):
    """The body is not an ExportLogsServiceRequest in the encoding its Content-Type names."""


class UnmappableRecord(ValueError):
    """A log record that no ingest record can stand for (colliding attribute keys)."""


@dataclass
class Mapped:
    """The documents of one request's valid records (from ingest's validate_record), and a problem for each log
    record that cannot be stored."""

    documents: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def encoding_of(content_type: str) -> str | None:
    return content_type if content_type in ENCODINGS else None


def decode(body: bytes, encoding: str) -> ExportLogsServiceRequest:
    if encoding == PROTOBUF:
        try:
            return ExportLogsServiceRequest.FromString(body)
        except DecodeError as exc:
            raise UndecodableBody(f"Not an ExportLogsServiceRequest in protobuf: {exc}") from None
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise UndecodableBody(f"Not JSON: {str(exc)[:200]}") from None
    _hex_ids_to_base64(document)
    try:
        # OTLP/JSON receivers must ignore unknown fields; json_format takes enums as names or integers and
        # 64-bit integers as numbers or strings, as OTLP/JSON allows.
        return json_format.ParseDict(document, ExportLogsServiceRequest(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise UndecodableBody(f"Not an ExportLogsServiceRequest in OTLP/JSON: {str(exc)[:300]}") from None


def _hex_ids_to_base64(document: object) -> None:
    for resource_logs in _children(document, "resourceLogs", "resource_logs"):
        for scope_logs in _children(resource_logs, "scopeLogs", "scope_logs"):
            for log in _children(scope_logs, "logRecords", "log_records"):
                for name in HEX_ID_FIELDS:
                    value = log.get(name)
                    if isinstance(value, str):
                        try:
                            log[name] = base64.b64encode(bytes.fromhex(value)).decode()
                        except ValueError:
                            raise UndecodableBody(f"{name} {value[:40]!r} is not hexadecimal.") from None


def _children(parent: object, *names: str) -> Iterator[dict]:
    """The objects in `parent`'s list named by one of `names` (camelCase or the proto name); other shapes are
    left for json_format to refuse."""
    if isinstance(parent, dict):
        for name in names:
            items = parent.get(name)
            if isinstance(items, list):
                yield from (item for item in items if isinstance(item, dict))


def map_request(request: ExportLogsServiceRequest, user_id_attribute: str) -> Mapped:
    """Each log record as an ingest record, checked by ingest's own `validate_record`; a record that would not
    pass is named in `problems` (`resourceLogs[0].scopeLogs[0].logRecords[3]: no user.id attribute`)."""
    mapped = Mapped()
    names = {**OTLP_NAMES, "user_id": f"{user_id_attribute} attribute"}
    for r, resource_logs in enumerate(request.resource_logs):
        resource = {pair.key: pair.value for pair in resource_logs.resource.attributes}
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            for i, log in enumerate(scope_logs.log_records):
                path = f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]"
                try:
                    record = to_record(log, resource, user_id_attribute)
                except UnmappableRecord as exc:
                    mapped.problems.append(f"{path}: {exc}")
                    continue
                document, errors = validate_record(record)
                if errors:
                    mapped.problems.append(f"{path}: " + "; ".join(_describe(record, names, errors)))
                else:
                    mapped.documents.append(document)
    return mapped


def _describe(record: dict, names: dict[str, str], errors: dict[str, str]) -> Iterator[str]:
    for name, message in errors.items():
        yield f"no {names[name]}" if name not in record else f"{names[name]}: {message}"


def to_record(log: LogRecord, resource: dict[str, AnyValue], user_id_attribute: str) -> dict:
    """The ingest record for one OTLP log record (README "OpenTelemetry (OTLP/HTTP)" has the table).

    Fields are left out when OTLP has nothing for them, so that ingest's validation names what is missing.
    """
    record: dict = {"level": level_of(log.severity_number, log.severity_text)}
    nanos = log.time_unix_nano or log.observed_time_unix_nano
    if nanos:
        record["timestamp"] = (EPOCH + timedelta(microseconds=nanos // 1000)).isoformat()
    body = plain(log.body)
    if body is not None:
        record["message"] = body if isinstance(body, str) else json.dumps(body, sort_keys=True, ensure_ascii=False)
    if "service.name" in resource:
        record["logger"] = plain(resource["service.name"])
    attributes = [pair for pair in log.attributes if pair.key != user_id_attribute]
    user_ids = [pair.value for pair in log.attributes if pair.key == user_id_attribute]
    user_id = user_ids[0] if user_ids else resource.get(user_id_attribute)
    if user_id is not None:
        value = plain(user_id)
        record["user_id"] = int(value) if isinstance(value, str) and DECIMAL.fullmatch(value) else value
    context = nest(attributes)
    for name, raw in (("trace_id", log.trace_id), ("span_id", log.span_id)):
        if raw:
            if name in context:
                raise UnmappableRecord(f"attribute {name!r} collides with the record's {name}.")
            context[name] = raw.hex()
    if context:
        record["context"] = context
    return record


def level_of(severity_number: int, severity_text: str) -> str:
    if 1 <= severity_number <= 24:
        return SEVERITY_BANDS[(severity_number - 1) // 4]
    return SEVERITY_TEXTS.get(severity_text.strip().lower(), Level.INFO)


def plain(value: AnyValue) -> object:
    """An AnyValue as a JSON value: bytes as base64 text (as OTLP/JSON spells them), kvlists as `nest` does."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [plain(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return nest(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None if kind is None else getattr(value, kind)


def nest(pairs: Iterable[KeyValue]) -> dict:
    """Attributes as a context object: a dotted key is a path, `code.file.path` -> {"code": {"file": {"path": ..}}}
    (MongoDB reads `context.code.file.path` back by the attribute's own name). OTel's naming rules keep a name from
    also being a namespace; a record that breaks them (`a` and `a.b`, or one key twice) is UnmappableRecord,
    whatever the order of its attributes."""
    by_key: dict[str, object] = {}
    for pair in pairs:
        if pair.key in by_key:
            raise UnmappableRecord(f"attribute {pair.key[:50]!r} appears twice.")
        by_key[pair.key] = plain(pair.value)
    if not any("." in key for key in by_key):
        return by_key  # no paths: the context is the attributes as they are
    flat = {tuple(key.split(".")): value for key, value in by_key.items()}  # one path per key: split is reversible
    tree: dict = {}
    for path, value in flat.items():
        for depth in range(1, len(path)):
            if path[:depth] in flat:
                raise UnmappableRecord(f"attribute {'.'.join(path)[:50]!r} is inside {'.'.join(path[:depth])[:50]!r}.")
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return tree


def export_response(problems: list[str], encoding: str) -> bytes:
    """ExportLogsServiceResponse: `partial_success` only when some records were rejected (one problem each),
    as the spec asks."""
    response = ExportLogsServiceResponse()
    if problems:
        named = "; ".join(problems[:MAX_PROBLEMS_NAMED])
        more = len(problems) - MAX_PROBLEMS_NAMED
        response.partial_success.rejected_log_records = len(problems)
        response.partial_success.error_message = named + (f" (and {more} more)" if more > 0 else "")
    return encode(response, encoding)


def status_body(http_status: int, message: str, encoding: str) -> bytes:
    """The google.rpc.Status that OTLP/HTTP puts in a failure's body."""
    return encode(STATUS(code=RPC_CODES.get(http_status, 2), message=message), encoding)  # 2: UNKNOWN


def encode(message: Message, encoding: str) -> bytes:
    if encoding == PROTOBUF:
        return message.SerializeToString()
    return json_format.MessageToJson(message, indent=None).encode()


def _status_class() -> type[Message]:
    """google.rpc.Status (code, message; `details` left out, it is never sent) in a pool of its own, so that
    its definition neither needs googleapis-common-protos at run time nor clashes with it when both are loaded."""
    file = descriptor_pb2.FileDescriptorProto(name="google/rpc/status.proto", package="google.rpc", syntax="proto3")
    status = file.message_type.add(name="Status")
    field_type = descriptor_pb2.FieldDescriptorProto
    status.field.add(name="code", number=1, type=field_type.TYPE_INT32, label=field_type.LABEL_OPTIONAL)
    status.field.add(name="message", number=2, type=field_type.TYPE_STRING, label=field_type.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))


STATUS = _status_class()
