import time
from datetime import UTC, datetime

import pytest
from bson import ObjectId

from access.scope import EVERY
from intake import ingest
from intake.ingest import MAX_RECORDS, IngestError, IngestUnavailable, ingest_logs
from intake.values import MAX_CONTEXT_LIST_ITEMS
from retrieval.models import LogEntry
from tests.faults import hung_mongodb, logs_database_at

pytestmark = pytest.mark.django_db(databases=["default", "logs"])


def record(**overrides) -> dict:
    return {
        "timestamp": "2023-08-27T12:30:15.123456+02:00",
        "user_id": 4,
        "level": "ERROR",
        "message": "Validated a new model, ligula. User: 4, Recall: 0.27",
        **overrides,
    }


def test_ingest_stores_valid_records_in_utc_with_millisecond_precision(logs_db):
    result = ingest_logs([record(logger="trainer", context={"model": "resnet", "run": {"id": 7}})], scope=EVERY)

    assert result.inserted == 1 and result.duplicates == 0
    stored = logs_db.find_one({"_id": ObjectId(result.ids[0])})
    assert stored["timestamp"] == datetime(2023, 8, 27, 10, 30, 15, 123000)
    assert stored["level"] == "error"
    assert stored["context"] == {"model": "resnet", "run": {"id": 7}}
    assert stored["logger"] == "trainer"


def test_ingest_resent_batch_with_ids_stores_nothing_twice(logs_db):
    ids = [str(ObjectId()) for _ in range(3)]
    batch = [record(id=i, message=f"line {n}") for n, i in enumerate(ids)]

    ingest_logs(batch[:2], scope=EVERY)
    again = ingest_logs(batch, scope=EVERY)

    assert again.inserted == 1 and again.duplicates == 2
    assert sorted(str(d["_id"]) for d in logs_db.find({})) == sorted(ids)


@pytest.mark.parametrize(
    ("bad", "field", "fragment"),
    [
        ({"timestamp": "2023-02-30T00:00:00Z"}, "logs[1].timestamp", "ISO 8601"),
        ({"timestamp": "2023-08-27T00:00:00"}, "logs[1].timestamp", "time zone"),
        ({"timestamp": "2999-01-01T00:00:00Z"}, "logs[1].timestamp", "future"),
        ({"user_id": "4"}, "logs[1].user_id", "whole number"),
        ({"user_id": True}, "logs[1].user_id", "whole number"),
        ({"user_id": {"$ne": 1}}, "logs[1].user_id", "whole number"),
        ({"level": "fatal"}, "logs[1].level", "one of"),
        ({"message": ""}, "logs[1].message", "empty"),
        ({"message": "x" * 40_000}, "logs[1].message", "Longer"),
        ({"context": {"$where": "sleep(1000)"}}, "logs[1].context", "not allowed"),
        ({"context": {"a.b": 1}}, "logs[1].context", "not allowed"),
        ({"context": [1, 2]}, "logs[1].context", "object"),
        ({"id": "not-an-id"}, "logs[1].id", "hexadecimal"),
        ({"extra": 1}, "logs[1].extra", "Unknown"),
        # Out of datetime's range once in UTC (OverflowError, a 500, before).
        ({"timestamp": "0001-01-01T00:00:00+23:59"}, "logs[1].timestamp", "Out of range"),
        ({"timestamp": "9999-12-31T23:59:59-23:59"}, "logs[1].timestamp", "Out of range"),
        # What BSON cannot encode would fail the whole insert_many (a 500, before).
        ({"message": "ok \ud800 ok"}, "logs[1].message", "surrogate"),
        ({"logger": "\udfff"}, "logs[1].logger", "surrogate"),
        ({"context": {"k\ud800": 1}}, "logs[1].context", "surrogate"),
        ({"context": {"k": ["ok", {"v": "\ud800"}]}}, "logs[1].context", "surrogate"),
        ({"context": {"n": 2**63}}, "logs[1].context", "64 bits"),
        ({"context": {"n": [-(2**63) - 1]}}, "logs[1].context", "64 bits"),
        ({"context": {"x": float("nan")}}, "logs[1].context", "finite"),
        ({"context": {"x": float("-inf")}}, "logs[1].context", "finite"),
        # FerretDB on PostgreSQL refuses NUL in any string (SQLSTATE 22P05): a 503 on every retry, before.
        ({"context": {"a": "x\x00y"}}, "logs[1].context", "NUL"),
        ({"context": {"a": ["ok", {"b": "\x00"}]}}, "logs[1].context", "NUL"),
        ({"context": {"a": "\x00é"}}, "logs[1].context", "NUL"),
        ({"message": "m\x00"}, "logs[1].message", "NUL"),
        ({"context": {"steps": list(range(MAX_CONTEXT_LIST_ITEMS + 1))}}, "logs[1].context", "1000 items"),
    ],
)
def test_ingest_rejects_a_batch_with_one_bad_record_and_writes_nothing(logs_db, bad, field, fragment):
    with pytest.raises(IngestError) as caught:
        ingest_logs([record(), record(**bad), record()], scope=EVERY)

    assert fragment in caught.value.errors[field][0]
    assert logs_db.count_documents({}) == 0


def test_ingest_stores_context_integers_at_the_64_bit_limits(logs_db):
    context = {"max": 2**63 - 1, "min": -(2**63), "big_float": 1e308}
    result = ingest_logs([record(context=context)], scope=EVERY)
    assert logs_db.find_one({"_id": ObjectId(result.ids[0])})["context"] == context


def test_ingest_names_a_missing_field(logs_db):
    incomplete = record()
    del incomplete["message"]
    with pytest.raises(IngestError) as caught:
        ingest_logs([incomplete], scope=EVERY)
    assert caught.value.errors == {"logs[0].message": ["This field is required."]}


@pytest.mark.parametrize("batch", [[], {"timestamp": "x"}, "logs", [record()] * (MAX_RECORDS + 1)])
def test_ingest_rejects_what_is_not_a_list_of_records_of_allowed_size(logs_db, batch):
    with pytest.raises(IngestError) as caught:
        ingest_logs(batch, scope=EVERY)
    assert "logs" in caught.value.errors
    assert logs_db.count_documents({}) == 0


def test_ingest_rejects_the_same_id_twice_in_one_batch(logs_db):
    same = str(ObjectId())
    with pytest.raises(IngestError) as caught:
        ingest_logs([record(id=same), record(id=same)], scope=EVERY)
    assert "logs[1].id" in caught.value.errors


@pytest.fixture
def token_client(client):
    from tests.access_support import token_of, user_granted

    client.defaults["HTTP_AUTHORIZATION"] = f"Token {token_of(user_granted('sender'))}"
    return client


def test_api_post_stores_logs_that_the_search_api_then_returns(token_client, logs_db):
    ids = [str(ObjectId()) for _ in range(2)]
    batch = [record(id=ids[0], message="Recall dropped"), record(id=ids[1], level="info", message="ok")]

    response = token_client.post("/api/v1/logs", {"logs": batch}, content_type="application/json")

    assert response.status_code == 201, response.content
    assert response.json() == {"inserted": 2, "duplicates": 0, "ids": ids}
    found = token_client.get("/api/v1/logs", {"date": "2023-08-27", "user_id": 4, "keyword": "recall"}).json()
    assert [row["id"] for row in found["results"]] == [ids[0]]
    assert found["results"][0]["level"] == "error"

    again = token_client.post("/api/v1/logs", batch, content_type="application/json")
    assert again.status_code == 201 and again.json()["duplicates"] == 2
    assert logs_db.count_documents({}) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            '{"logs": [{"timestamp": "2023-08-27T00:00:00Z", "user_id": 1, "level": "fatal", "message": "m"}]}',
            "logs[0].level",
        ),
        ('{"logs": "everything"}', "logs"),
        ("[]", "logs"),
        ('{"logs": [', "body"),
        # A lone surrogate as the JSON escape \ud800; the error answer must still be valid UTF-8.
        (
            '{"logs": [{"timestamp": "2023-08-27T00:00:00Z", "user_id": 1, "level": "info", "message": "\\ud800"}]}',
            "logs[0].message",
        ),
        (
            '{"logs": [{"timestamp": "2023-08-27T00:00:00Z", "user_id": 1, "level": "info", "message": "m", "logger": "\\ud800x"}]}',
            "logs[0].logger",
        ),
        (
            '{"logs": [{"timestamp": "2023-08-27T00:00:00Z", "user_id": 1, "level": "info", "message": "m", "context": {"\\ud800": "v"}}]}',
            "logs[0].context",
        ),
        (
            '{"logs": [{"timestamp": "2023-08-27T00:00:00Z", "user_id": 1, "level": "info", "message": "m", "\\ud800": 1}]}',
            "logs[0].\\ud800",
        ),
        (
            '{"logs": [{"timestamp": "2023-08-27T00:00:00Z", "user_id": 1, "level": "info", "message": "m", "context": {"n": 9223372036854775808}}]}',
            "logs[0].context",
        ),
        (
            '{"logs": [{"timestamp": "2023-08-27T00:00:00Z", "user_id": 1, "level": "info", "message": "m", "context": {"n": 1e999}}]}',
            "logs[0].context",
        ),
        (
            '{"logs": [{"timestamp": "0001-01-01T00:00:00+23:59", "user_id": 1, "level": "info", "message": "m"}]}',
            "logs[0].timestamp",
        ),
        (
            '{"logs": [{"timestamp": "2023-08-27T00:00:00Z", "user_id": 1, "level": "info", "message": "m", "context": {"x": NaN}}]}',
            "body",
        ),
        # Deeper than Python's JSON parser recurses (RecursionError, a 500, before).
        ('{"logs": ' + "[" * 100_000 + "]" * 100_000 + "}", "body"),
    ],
)
def test_api_post_answers_400_naming_the_field_and_writes_nothing(token_client, logs_db, body, field):
    response = token_client.post("/api/v1/logs", body, content_type="application/json")

    assert response.status_code == 400
    assert field in response.json()
    assert logs_db.count_documents({}) == 0


def test_a_nul_in_a_context_value_is_a_400_naming_the_record_and_its_good_neighbour_is_not_stored(
    token_client, logs_db
):
    # The outside test's body: FerretDB refused the NUL, the answer was a 503, and the good record was stored.
    good = '{"timestamp":"2023-08-27T01:00:00Z","user_id":1,"level":"info","message":"kept?"}'
    bad = '{"timestamp":"2023-08-27T01:00:00Z","user_id":1,"level":"info","message":"m","context":{"a":"x\\u0000y"}}'

    response = token_client.post("/api/v1/logs", f'{{"logs":[{good},{bad}]}}', content_type="application/json")

    assert response.status_code == 400, response.content
    assert "NUL" in response.json()["logs[1].context"][0]
    assert logs_db.count_documents({}) == 0


def test_a_context_list_at_the_limit_is_stored(logs_db):
    result = ingest_logs([record(context={"steps": list(range(MAX_CONTEXT_LIST_ITEMS))})], scope=EVERY)
    assert len(logs_db.find_one({"_id": ObjectId(result.ids[0])})["context"]["steps"]) == MAX_CONTEXT_LIST_ITEMS


def test_api_post_refuses_an_oversized_body_with_413(token_client, logs_db):
    response = token_client.post(
        "/api/v1/logs", "[]", content_type="application/json", CONTENT_LENGTH=str(17 * 1024 * 1024)
    )
    assert response.status_code == 413 and "body" in response.json()


def test_api_post_needs_a_token_or_session(client, logs_db):
    response = client.post("/api/v1/logs", [record()], content_type="application/json")
    assert response.status_code == 401
    assert logs_db.count_documents({}) == 0


def test_a_batch_without_ids_sent_twice_is_stored_once_and_answered_as_duplicates(logs_db):
    batch = [record(message=f"line {n}", context={"step": n}) for n in range(3)]

    first = ingest_logs(batch, scope=EVERY)
    again = ingest_logs(batch, scope=EVERY)

    assert (first.inserted, first.duplicates) == (3, 0)
    assert (again.inserted, again.duplicates) == (0, 3)
    assert again.ids == first.ids
    assert logs_db.count_documents({}) == 3


def test_two_identical_records_in_one_batch_are_two_logs_and_a_resend_finds_both(logs_db):
    batch = [record(), record(), record(message="other")]

    first = ingest_logs(batch, scope=EVERY)
    again = ingest_logs(batch[:2], scope=EVERY)  # any batch holding the same records derives the same ids

    assert first.inserted == 3 and len(set(first.ids)) == 3
    assert (again.inserted, again.duplicates, again.ids) == (0, 2, first.ids[:2])
    assert logs_db.count_documents({}) == 3


def test_a_derived_id_carries_the_log_time_in_seconds(logs_db):
    result = ingest_logs([record(timestamp="2023-08-27T12:30:15.999+02:00")], scope=EVERY)

    assert ObjectId(result.ids[0]).generation_time == datetime(2023, 8, 27, 10, 30, 15, tzinfo=UTC)


def test_a_derived_id_depends_on_the_content_not_on_how_it_is_written(logs_db):
    base = ingest_logs([record(level="error", context={"a": 1, "b": [1, 2]})], scope=EVERY).ids
    same = ingest_logs(
        [record(timestamp="2023-08-27T10:30:15.123Z", level="Error", context={"b": [1, 2], "a": 1})], scope=EVERY
    ).ids
    changes = [{"user_id": 5}, {"message": "other"}, {"logger": "x"}, {"context": {"a": 2, "b": [1, 2]}}]
    others = {
        ingest_logs([record(**{"level": "error", "context": {"a": 1, "b": [1, 2]}, **c})], scope=EVERY).ids[0]
        for c in changes
    }

    assert same == base
    assert len(others) == len(changes) and base[0] not in others


def test_a_sender_id_and_a_derived_id_in_one_batch_are_both_kept(logs_db):
    given = str(ObjectId())
    result = ingest_logs([record(id=given), record()], scope=EVERY)
    assert result.ids[0] == given and result.inserted == 2


def test_a_write_hot_storage_does_not_confirm_fails_fast_and_the_resend_stores_nothing_twice(logs_db, monkeypatch):
    monkeypatch.setattr(ingest, "INSERT_TIMEOUT_SECONDS", 1)
    batch = [record(message=f"line {n}") for n in range(3)]
    with hung_mongodb():
        started = time.monotonic()
        with pytest.raises(IngestUnavailable, match="send the same batch again") as caught:
            ingest_logs(batch, scope=EVERY)
        elapsed = time.monotonic() - started

    # As generous as it can be while telling the 1 s deadline from the default (INSERT_TIMEOUT_SECONDS, 5 s).
    assert elapsed < 4.5, f"the sender waited {elapsed:.1f} s for a 1 s deadline against a hung MongoDB"
    assert "records already stored are answered as duplicates" in str(caught.value)
    logs = LogEntry.collection()  # the test server again (logs_db's client was closed with the swap)
    # Whatever of the unconfirmed write landed (its counter marks, maybe its logs), the resend stores the rest.
    again = ingest_logs(batch, scope=EVERY)
    assert again.inserted + again.duplicates == 3
    assert logs.count_documents({}) == 3


def test_a_full_batch_is_stored_whole(logs_db):
    batch = [record(message=f"line {n}") for n in range(MAX_RECORDS)]
    assert ingest_logs(batch, scope=EVERY).inserted == MAX_RECORDS
    assert logs_db.count_documents({}) == MAX_RECORDS


def test_api_post_answers_503_with_the_retry_advice_when_hot_storage_is_down(token_client, logs_db):
    from tests.faults import closed_port_uri

    with logs_database_at(closed_port_uri(), serverSelectionTimeoutMS=300):
        response = token_client.post("/api/v1/logs", {"logs": [record()]}, content_type="application/json")

    assert response.status_code == 503
    assert "send the same batch again" in response.json()["detail"]
    assert LogEntry.collection().count_documents({}) == 0


def nested(depth: int, leaf: object) -> object:
    """A context `depth` objects deep around `leaf`: nested(1, 5) == {"k": 5}."""
    value = leaf
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize("leaf", ["ascii", "naïve", 7, 1.5, True, None])
def test_context_nesting_is_allowed_up_to_the_limit_whatever_the_leaf(leaf):
    from intake.ingest import validate_record
    from intake.values import MAX_CONTEXT_DEPTH

    _, errors = validate_record(record(context=nested(MAX_CONTEXT_DEPTH, leaf)))
    assert errors == {}

    _, errors = validate_record(record(context=nested(MAX_CONTEXT_DEPTH + 1, leaf)))
    assert "Nested deeper" in errors["context"]


@pytest.mark.parametrize(
    ("leaf", "says"),
    [("\ud800", "lone surrogate"), (2**63, "64 bits"), (float("inf"), "finite"), (object(), "JSON values")],
)
def test_a_bad_leaf_in_a_context_is_named_however_deep(leaf, says):
    from intake.ingest import validate_record

    for depth in (1, 3):
        _, errors = validate_record(record(context=nested(depth, leaf)))
        assert says in errors["context"]
