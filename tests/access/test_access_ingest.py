"""Ingest writes only user_ids the sender may write (JSON API, NDJSON and OTLP alike), all or nothing,
and never replaces a stored record."""

import json
from datetime import UTC, datetime

import pytest
from bson import ObjectId
from google.rpc.status_pb2 import Status
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from rest_framework.test import APIClient

from access.models import WRITE
from tests.access_support import token_of, user_granted
from tests.intake.test_otlp import PROTOBUF, export, log_record

pytestmark = pytest.mark.django_db(databases=["default", "logs"])


def record(user_id: int, message: str = "Trained a model", **extra) -> dict:
    return {"timestamp": "2023-08-27T12:30:00Z", "user_id": user_id, "level": "info", "message": message, **extra}


@pytest.fixture
def writer_of_1():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_of(user_granted('sender', read=[], write=[1]), [WRITE])}")
    return client


def test_a_batch_with_a_user_id_outside_the_write_grant_is_refused_whole_naming_it(writer_of_1, logs_db):
    response = writer_of_1.post("/api/v1/logs", {"logs": [record(1), record(2), record(1), record(3)]}, format="json")
    assert response.status_code == 403
    assert response.json() == {
        "logs[1].user_id": ["Not granted to you for writing: user_id 2."],
        "logs[3].user_id": ["Not granted to you for writing: user_id 3."],
    }
    assert logs_db.count_documents({}) == 0

    ndjson = "\n".join(json.dumps(r) for r in [record(1), record(2)]).encode()
    refused = writer_of_1.generic("POST", "/api/v1/logs", ndjson, content_type="application/x-ndjson")
    assert refused.status_code == 403 and list(refused.json()) == ["logs[1].user_id"]
    assert logs_db.count_documents({}) == 0

    stored = writer_of_1.post("/api/v1/logs", {"logs": [record(1), record(1, "again")]}, format="json")
    assert stored.status_code == 201 and logs_db.count_documents({"user_id": 1}) == 2


def test_a_token_narrower_than_its_owner_writes_only_its_own_user_ids(logs_db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_of(user_granted('owner'), user_ids=[5])}")
    assert client.post("/api/v1/logs", {"logs": [record(5)]}, format="json").status_code == 201
    assert client.post("/api/v1/logs", {"logs": [record(6)]}, format="json").status_code == 403
    assert logs_db.distinct("user_id") == [5]


def test_otlp_refuses_the_request_with_permission_denied_and_stores_nothing(writer_of_1, logs_db):
    batch = export(log_record("mine", AnyValue(int_value=1)), log_record("not mine", AnyValue(int_value=2)))
    response = writer_of_1.post("/v1/logs", batch.SerializeToString(), content_type=PROTOBUF)
    assert response.status_code == 403 and response["Content-Type"] == PROTOBUF
    status = Status.FromString(response.content)
    assert status.code == 7 and "user_id 2" in status.message  # PERMISSION_DENIED
    assert logs_db.count_documents({}) == 0


def test_a_second_post_with_the_same_id_and_other_content_leaves_the_first(api, logs_db):
    same = "64eb3a000000000000000001"
    first = api.post("/api/v1/logs", {"logs": [record(1, "the original", id=same)]}, format="json")
    again = api.post("/api/v1/logs", {"logs": [record(2, "a replacement", id=same, level="error")]}, format="json")
    assert first.json()["inserted"] == 1 and again.json() == {"inserted": 0, "duplicates": 1, "ids": [same]}
    stored = list(logs_db.find())
    assert len(stored) == 1 and (stored[0]["user_id"], stored[0]["message"]) == (1, "the original")


def test_an_id_held_by_another_users_log_is_answered_as_new_to_a_sender_who_may_not_write_that_user(
    writer_of_1, logs_db
):
    """Answering "duplicate" would tell the sender that user_id 2 has a log with that id."""
    held = "64eb3a000000000000000002"
    logs_db.insert_one(
        {"_id": ObjectId(held), **record(2, "user 2's log"), "timestamp": datetime(2023, 8, 27, tzinfo=UTC)}
    )
    probe = writer_of_1.post("/api/v1/logs", {"logs": [record(1, "a probe", id=held), record(1)]}, format="json")
    assert probe.status_code == 201 and probe.json()["inserted"] == 2 and probe.json()["duplicates"] == 0
    assert logs_db.find_one({"_id": ObjectId(held)})["message"] == "user 2's log"
    assert logs_db.count_documents({"user_id": 1}) == 1

    writer_of_both = APIClient()
    writer_of_both.credentials(
        HTTP_AUTHORIZATION=f"Token {token_of(user_granted('both', read=[], write=[1, 2]), [WRITE])}"
    )
    told = writer_of_both.post("/api/v1/logs", {"logs": [record(1, "a probe", id=held)]}, format="json")
    assert told.json()["duplicates"] == 1 and told.json()["inserted"] == 0
