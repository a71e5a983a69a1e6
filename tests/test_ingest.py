from datetime import datetime

import pytest
from bson import ObjectId

from retrieval.ingest import MAX_RECORDS, IngestError, ingest_logs

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
    result = ingest_logs([record(logger="trainer", context={"model": "resnet", "run": {"id": 7}})])

    assert result.inserted == 1 and result.duplicates == 0
    stored = logs_db.find_one({"_id": ObjectId(result.ids[0])})
    assert stored["timestamp"] == datetime(2023, 8, 27, 10, 30, 15, 123000)
    assert stored["level"] == "error"
    assert stored["context"] == {"model": "resnet", "run": {"id": 7}}
    assert stored["logger"] == "trainer"


def test_ingest_resent_batch_with_ids_stores_nothing_twice(logs_db):
    ids = [str(ObjectId()) for _ in range(3)]
    batch = [record(id=i, message=f"line {n}") for n, i in enumerate(ids)]

    ingest_logs(batch[:2])
    again = ingest_logs(batch)

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
    ],
)
def test_ingest_rejects_a_batch_with_one_bad_record_and_writes_nothing(logs_db, bad, field, fragment):
    with pytest.raises(IngestError) as caught:
        ingest_logs([record(), record(**bad), record()])

    assert fragment in caught.value.errors[field][0]
    assert logs_db.count_documents({}) == 0


def test_ingest_names_a_missing_field(logs_db):
    incomplete = record()
    del incomplete["message"]
    with pytest.raises(IngestError) as caught:
        ingest_logs([incomplete])
    assert caught.value.errors == {"logs[0].message": ["This field is required."]}


@pytest.mark.parametrize("batch", [[], {"timestamp": "x"}, "logs", [record()] * (MAX_RECORDS + 1)])
def test_ingest_rejects_what_is_not_a_list_of_records_of_allowed_size(logs_db, batch):
    with pytest.raises(IngestError) as caught:
        ingest_logs(batch)
    assert "logs" in caught.value.errors
    assert logs_db.count_documents({}) == 0


def test_ingest_rejects_the_same_id_twice_in_one_batch(logs_db):
    same = str(ObjectId())
    with pytest.raises(IngestError) as caught:
        ingest_logs([record(id=same), record(id=same)])
    assert "logs[1].id" in caught.value.errors


@pytest.fixture
def token_client(client):
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    user = User.objects.create_user("sender", password="pw-for-tests")
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {Token.objects.create(user=user).key}"
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
        ('{"logs": [', "detail"),
    ],
)
def test_api_post_answers_400_naming_the_field_and_writes_nothing(token_client, logs_db, body, field):
    response = token_client.post("/api/v1/logs", body, content_type="application/json")

    assert response.status_code == 400
    assert field in response.json()
    assert logs_db.count_documents({}) == 0


def test_api_post_refuses_an_oversized_body_with_413(token_client, logs_db):
    response = token_client.post(
        "/api/v1/logs", "[]", content_type="application/json", CONTENT_LENGTH=str(17 * 1024 * 1024)
    )
    assert response.status_code == 413 and "body" in response.json()


def test_api_post_needs_a_token_or_session(client, logs_db):
    response = client.post("/api/v1/logs", [record()], content_type="application/json")
    assert response.status_code == 401
    assert logs_db.count_documents({}) == 0
