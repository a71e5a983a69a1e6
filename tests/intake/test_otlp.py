"""POST /v1/logs, the OTLP/HTTP receiver: fed by the real OpenTelemetry SDK over a live server, and by
hand-made bodies (OTLP/JSON as the spec writes it, partial success, retries, bad bodies)."""

import gzip
import json
import logging
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceProto
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from rest_framework.test import APIClient

from intake import otlp
from tests.access_support import token_of, user_granted
from tests.faults import closed_port_uri, logs_database_at

pytestmark = pytest.mark.django_db(databases=["default", "logs"], transaction=True)

PROTOBUF = "application/x-protobuf"


@pytest.fixture
def token() -> str:
    return token_of(user_granted("otlp-sender"))


@contextmanager
def sdk_logger(url: str, token: str, compression: Compression = Compression.NoCompression) -> Iterator[logging.Logger]:
    """A stdlib logger whose records the SDK's LoggingHandler exports to `url`/v1/logs; flushed on exit."""
    provider = LoggerProvider(resource=Resource.create({"service.name": "trainer"}))
    exporter = OTLPLogExporter(
        endpoint=f"{url}/v1/logs", headers={"Authorization": f"Token {token}"}, compression=compression, timeout=10
    )
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the SDK points to a handler in another package
        handler = LoggingHandler(logger_provider=provider)
    logger = logging.getLogger(f"otlp-test-{uuid.uuid4().hex}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield logger
    finally:
        assert provider.force_flush(timeout_millis=20_000)
        logger.removeHandler(handler)
        provider.shutdown()


def search(api: APIClient, **params: str) -> list[dict]:
    response = api.get("/api/v1/logs", {"user_id": "4", "order": "oldest", **params})
    assert response.status_code == 200
    return response.json()["results"]


def log_every_level(logger: logging.Logger, run: str) -> None:
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL):
        logger.log(
            level,
            "Validated a new model at %s. Recall: 0.27",
            logging.getLevelName(level),
            extra={"user.id": 4, "run": run, "model.name": "resnet"},
        )


def test_the_sdk_sends_logs_that_the_api_finds(live_server, token, api, logs_db):
    with sdk_logger(live_server.url, token) as logger:
        log_every_level(logger, "r1")

    results = search(api)
    by_level = {row["level"]: row for row in results}  # logged within a millisecond or so: any order
    assert len(results) == 5 and set(by_level) == {"debug", "info", "warning", "error", "critical"}
    assert by_level["warning"]["message"] == "Validated a new model at WARNING. Recall: 0.27"
    assert {row["logger"] for row in results} == {"trainer"}
    context = by_level["debug"]["context"]
    assert context["run"] == "r1" and context["model"] == {"name": "resnet"}
    assert context["code"]["function"]["name"] == "log_every_level"  # the SDK's code.function.name, nested
    assert "user" not in context  # the user id is the log's user_id, not repeated


def test_the_sdk_sends_gzip(live_server, token, api, logs_db):
    with sdk_logger(live_server.url, token, Compression.Gzip) as logger:
        log_every_level(logger, "gzip")

    assert [row["context"]["run"] for row in search(api)] == ["gzip"] * 5


def now_nanos(offset_seconds: int = 0) -> int:
    return (int(time.time()) - 60 + offset_seconds) * 10**9


def test_otlp_json_as_the_spec_writes_it(api, logs_db):
    """Hex ids, 64-bit integers as strings, enums as integers or names, unknown fields ignored."""
    body = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "evaluator"}}]},
                "scopeLogs": [
                    {
                        "scope": {"name": "my.library", "version": "1.0.0"},
                        "logRecords": [
                            {
                                "timeUnixNano": str(now_nanos()),
                                "observedTimeUnixNano": str(now_nanos()),
                                "severityNumber": 17,
                                "severityText": "Error",
                                "traceId": "5B8EFFF798038103D269B633813FC60C",
                                "spanId": "EEE19B7EC3C1B174",
                                "body": {"stringValue": "Example log record"},
                                "attributes": [
                                    {"key": "user.id", "value": {"stringValue": "4"}},
                                    {"key": "my.scope.attribute", "value": {"intValue": "12"}},
                                    {"key": "ratio", "value": {"doubleValue": 0.5}},
                                    {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
                                ],
                                "futureField": True,
                            },
                            {
                                "observedTimeUnixNano": now_nanos(1),
                                "severityNumber": "SEVERITY_NUMBER_WARN",
                                "body": {"kvlistValue": {"values": [{"key": "b", "value": {"boolValue": True}}]}},
                                "attributes": [{"key": "user.id", "value": {"intValue": 4}}],
                            },
                        ],
                    }
                ],
            }
        ]
    }
    response = api.post("/v1/logs", json.dumps(body), content_type="application/json")

    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json() == {}  # everything accepted: no partial_success
    first, second = search(api)
    assert (first["level"], first["message"], first["logger"]) == ("error", "Example log record", "evaluator")
    assert first["context"] == {
        "my": {"scope": {"attribute": 12}},
        "ratio": 0.5,
        "tags": ["a"],
        "trace_id": "5b8efff798038103d269b633813fc60c",
        "span_id": "eee19b7ec3c1b174",
    }
    assert (second["level"], second["message"], second["context"]) == ("warning", '{"b": true}', None)


def attribute(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def log_record(message: str, user_id: AnyValue | None = None) -> LogRecord:
    attributes = [attribute("user.id", user_id)] if user_id is not None else []
    return LogRecord(
        time_unix_nano=now_nanos(), severity_number=9, body=AnyValue(string_value=message), attributes=attributes
    )


def export(*records: LogRecord) -> ExportLogsServiceRequest:
    resource = ResourceProto(attributes=[attribute("service.name", AnyValue(string_value="trainer"))])
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=resource, scope_logs=[ScopeLogs(log_records=list(records))])]
    )


def post_protobuf(client: APIClient, request: ExportLogsServiceRequest, **headers: str) -> ExportLogsServiceResponse:
    response = client.post("/v1/logs", request.SerializeToString(), content_type=PROTOBUF, **headers)
    assert response.status_code == 200 and response["Content-Type"] == PROTOBUF
    return ExportLogsServiceResponse.FromString(response.content)


def test_a_batch_sent_twice_is_stored_once(api, logs_db):
    four = AnyValue(int_value=4)
    batch = export(log_record("epoch 1", four), log_record("epoch 1", four), log_record("epoch 2", four))

    assert not post_protobuf(api, batch).HasField("partial_success")
    assert not post_protobuf(api, batch).HasField("partial_success")  # an exporter's retry
    # Two identical records in one batch stay two logs, as in the JSON API.
    assert sorted(row["message"] for row in logs_db.find()) == ["epoch 1", "epoch 1", "epoch 2"]


def test_records_without_or_with_a_bad_user_id_are_rejected_the_others_stored(api, logs_db):
    four = AnyValue(int_value=4)
    batch = export(
        log_record("kept 1", four),
        log_record("no user id"),
        log_record("bad user id", AnyValue(string_value="alice")),
        log_record("kept 2", four),
    )

    partial = post_protobuf(api, batch).partial_success

    assert partial.rejected_log_records == 2
    assert "resourceLogs[0].scopeLogs[0].logRecords[1]: no user.id attribute" in partial.error_message
    assert "logRecords[2]: user.id attribute: Expected a whole number" in partial.error_message
    assert sorted(row["message"] for row in logs_db.find()) == ["kept 1", "kept 2"]


def test_a_record_with_nul_in_an_attribute_is_rejected_in_the_partial_success_the_others_stored(api, logs_db):
    four = AnyValue(int_value=4)
    nul = log_record("nul attribute", four)
    nul.attributes.append(attribute("run", AnyValue(string_value="r\x001")))

    partial = post_protobuf(api, export(log_record("kept", four), nul)).partial_success

    assert partial.rejected_log_records == 1
    assert "logRecords[1]" in partial.error_message and "NUL" in partial.error_message
    assert [row["message"] for row in logs_db.find()] == ["kept"]


def test_partial_success_in_json(api, logs_db):
    body = json_format.MessageToJson(export(log_record("kept", AnyValue(int_value=4)), log_record("no user id")))
    response = api.post("/v1/logs", body, content_type="application/json")

    assert response.status_code == 200
    answer = json_format.Parse(response.content, ExportLogsServiceResponse())
    assert answer.partial_success.rejected_log_records == 1


def test_the_user_id_comes_from_the_resource_when_the_record_has_none(api, logs_db, settings):
    settings.OTLP_USER_ID_ATTRIBUTE = "enduser.id"
    request = export(log_record("from the resource"))
    request.resource_logs[0].resource.attributes.append(attribute("enduser.id", AnyValue(int_value=7)))

    assert not post_protobuf(api, request).HasField("partial_success")
    assert logs_db.find_one()["user_id"] == 7


@pytest.mark.parametrize(
    ("content_type", "body", "headers", "status"),
    [
        (PROTOBUF, b"\xff\xff\xff\xff", {}, 400),
        ("application/json", b"{not json", {}, 400),
        ("application/json", b'{"resourceLogs": 5}', {}, 400),
        ("application/json", b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "xyz"}]}]}]}', {}, 400),
        ("application/json", b"[" * 100_000, {}, 400),
        (PROTOBUF, b"not gzip", {"HTTP_CONTENT_ENCODING": "gzip"}, 400),
        (PROTOBUF, gzip.compress(b""), {"HTTP_CONTENT_ENCODING": "br"}, 415),
        ("text/plain", b"hello", {}, 415),
        ("application/octet-stream", b"", {}, 415),
    ],
)
def test_bad_bodies_are_answered_with_a_status_never_a_500(api, logs_db, content_type, body, headers, status):
    response = api.post("/v1/logs", body, content_type=content_type, **headers)

    assert response.status_code == status
    if response["Content-Type"] == PROTOBUF:
        assert otlp.STATUS.FromString(response.content).message
    else:
        assert response.json()["message"] and response.json()["code"] == 3
    assert logs_db.count_documents({}) == 0


def test_too_large_a_body_is_a_413(api, logs_db):
    # A protobuf request that inflates past the 16 MB limit: a message of 17 MB, gzip-compressed.
    body = gzip.compress(export(log_record("x" * (17 * 2**20))).SerializeToString())
    response = api.post("/v1/logs", body, content_type=PROTOBUF, headers={"Content-Encoding": "gzip"})

    assert response.status_code == 413 and otlp.STATUS.FromString(response.content).code == 3
    assert logs_db.count_documents({}) == 0


def test_unavailable_hot_storage_is_a_503_with_retry_after(api, logs_db):
    with logs_database_at(closed_port_uri(), serverSelectionTimeoutMS=300):
        response = api.post(
            "/v1/logs", export(log_record("x", AnyValue(int_value=4))).SerializeToString(), content_type=PROTOBUF
        )

    assert response.status_code == 503 and response["Retry-After"].isdigit()
    assert otlp.STATUS.FromString(response.content).code == 14


def test_without_a_token_it_is_a_401_and_an_accept_header_changes_nothing(api, logs_db):
    body = export(log_record("x", AnyValue(int_value=4))).SerializeToString()
    assert APIClient().post("/v1/logs", body, content_type=PROTOBUF).status_code == 401
    post_protobuf(api, export(log_record("x", AnyValue(int_value=4))), HTTP_ACCEPT=PROTOBUF)


def test_the_receiver_is_not_in_the_openapi_schema(api):
    assert "/v1/logs" not in api.get("/api/schema/", {"format": "json"}).json()["paths"]


@pytest.mark.parametrize(
    ("number", "text", "level"),
    [
        (1, "", "debug"),
        (4, "", "debug"),
        (5, "", "debug"),
        (9, "ERROR", "info"),  # the number wins
        (12, "", "info"),
        (13, "", "warning"),
        (17, "", "error"),
        (21, "", "critical"),
        (24, "", "critical"),
        (0, "WARN", "warning"),
        (0, "Warning", "warning"),
        (0, "fatal", "critical"),
        (0, "trace", "debug"),
        (0, "notice", "info"),
        (0, "", "info"),
        (30, "error", "error"),
    ],
)
def test_severity(number, text, level):
    assert otlp.level_of(number, text) == level


def test_attribute_keys_nest_and_collisions_reject_the_record():
    values = [attribute("a.b", AnyValue(int_value=1)), attribute("a.c", AnyValue(bool_value=True))]
    assert otlp.nest(values) == {"a": {"b": 1, "c": True}}
    kvlist = AnyValue(kvlist_value=KeyValueList(values=values))
    assert otlp.nest([attribute("x", kvlist), attribute("y", AnyValue(bytes_value=b"\x00"))]) == {
        "x": {"a": {"b": 1, "c": True}},
        "y": "AA==",
    }
    for colliding in ([attribute("a", kvlist), attribute("a.b", kvlist)], [attribute("a.b", kvlist)] * 2):
        for order in (colliding, colliding[::-1]):
            with pytest.raises(otlp.UnmappableRecord):
                otlp.nest(order)
