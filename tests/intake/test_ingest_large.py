"""Any batch within the limits is stored: 16 MB bodies in chunks, each with its own deadline; a retry after a
chunk failed stores the rest, each id once, counted once by the histogram counters."""

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import AutoReconnect

from devservices import traffic
from intake.bodies import MAX_BODY_BYTES
from intake.ingest import MAX_RECORDS
from retrieval import hotstore, planner
from retrieval.query import ALL_LEVELS, LogQuery

END = datetime.now(UTC).replace(second=0, microsecond=0)
START = END - timedelta(hours=2)


def records_of_size(count: int, body_bytes: int) -> list[dict]:
    """`count` records of 300 users whose JSON body is just under `body_bytes`; identical messages but for a number."""
    documents = list(traffic.documents(count, START, END, users=300, seed=3))
    records = [{k: v for k, v in r.items() if k != "id"} for r in traffic.records(documents)]
    base = len(json.dumps({"logs": records}).encode())
    pad = (body_bytes - base) // count - 10
    for n, record in enumerate(records):
        record["message"] = f"{n:08d} " + "x" * pad
    assert len(json.dumps({"logs": records}).encode()) <= body_bytes
    return records


def counted(records: list[dict]) -> int:
    query = LogQuery(user_ids=(), start=START, end=END, levels=ALL_LEVELS)
    result = planner.histogram(query)
    assert not result.partial
    return result.total


@pytest.mark.slow
@pytest.mark.parametrize(("count", "gzipped"), [(MAX_RECORDS, False), (600, True)])
def test_a_16_mb_batch_is_stored_whole_plain_or_gzip(api, logs_db, count, gzipped):
    records = records_of_size(count, MAX_BODY_BYTES)
    body = json.dumps({"logs": records}).encode()
    headers = {"Content-Encoding": "gzip"} if gzipped else {}
    response = api.post(
        "/api/v1/logs", gzip.compress(body) if gzipped else body, content_type="application/json", headers=headers
    )
    assert response.status_code == 201, response.content[:300]
    assert response.json()["inserted"] == count
    assert logs_db.count_documents({}) == count
    assert counted(records) == count


def test_more_records_than_the_limit_is_a_413_naming_it(api, logs_db):
    record = {"timestamp": START.isoformat(), "user_id": 1, "level": "info", "message": "m"}
    response = api.post("/api/v1/logs", {"logs": [record] * (MAX_RECORDS + 1)}, format="json")
    assert response.status_code == 413
    assert f"{MAX_RECORDS:,}" in response.json()["logs"][0]
    assert logs_db.count_documents({}) == 0


def test_a_failure_between_chunks_is_a_503_and_a_retry_stores_and_counts_each_id_once(api, logs_db, monkeypatch):
    records = records_of_size(6_000, 4_000_000)  # 4 chunks of about 1 MB
    real_insert = hotstore.insert
    chunks = []

    def third_chunk_fails(documents):
        chunks.append(len(documents))
        if len(chunks) == 3:
            raise AutoReconnect("connection lost before the third chunk")
        return real_insert(documents)

    with monkeypatch.context() as patched:
        patched.setattr(hotstore, "insert", third_chunk_fails)
        first = api.post("/api/v1/logs", {"logs": records}, format="json")
    assert first.status_code == 503
    stored = logs_db.count_documents({})
    assert len(chunks) == 3 and stored == sum(chunks[:2])

    retry = api.post("/api/v1/logs", {"logs": records}, format="json")
    assert retry.status_code == 201
    assert retry.json()["duplicates"] == stored and retry.json()["inserted"] == len(records) - stored
    assert logs_db.count_documents({}) == len(records)
    assert counted(records) == len(records)
