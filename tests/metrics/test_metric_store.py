"""The metrics store (metrics.store) at real shape: 300 Zipf users with three models each, batches sent through
ingest newest first (older ones arrive late), re-sent batches, late logs for an archived day, archived and
rehydrated days. Every aggregate equals what the raw logs give, computed here in Python, and so does every
answer of GET /api/v1/metrics."""

import gzip
import json
import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import DatabaseError
from django.test import override_settings

from access.scope import EVERY
from archive import rehydrate
from archive.archiver import archive_logs
from archive.models import ArchivePart
from archive.storage import archive_storage
from devservices import traffic
from intake.ingest import store as ingest_store
from intake.ingest import with_ids
from metrics import extract, store
from metrics.models import DAY, HOUR, MetricBucket, MetricDay
from retrieval import hotstore
from tests.access_support import user_granted

pytestmark = [
    # The archiver takes its day locks on connections of its own: the test's data must be committed.
    pytest.mark.django_db(databases=["default", "logs"], transaction=True),
    pytest.mark.usefixtures("empty_archive", "empty_cold_cache", "metric_names"),
]

FIRST = datetime(2023, 8, 25, tzinfo=UTC)
ARCHIVED = [date(2023, 8, 25), date(2023, 8, 26)]
HOT_DAY = date(2023, 8, 27)
RANGE = {"from": "2023-08-25T00:00:00Z", "to": "2023-08-28T00:00:00Z"}


def send(documents: list[dict]) -> int:
    """Through ingest's store, as a sender's batches of 500 (copies: the caller's documents stay as generated)."""
    return sum(
        ingest_store(with_ids([dict(d) for d in batch]), scope=EVERY).inserted
        for batch in traffic.batches(documents, 500)
    )


def real_shape(count: int = 6_000, seed: int = 21) -> list[dict]:
    documents = list(traffic.documents(count, FIRST, FIRST + timedelta(days=3), users=300, seed=seed, sender_ids=True))
    assert len({(d["user_id"], extract.model_of(d)) for d in documents}) > 300  # several models per user
    return documents


def send_late_and_twice(documents: list[dict]) -> None:
    batches = list(traffic.batches(documents, 500))
    assert sum(send(batch) for batch in reversed(batches)) == len(documents)
    assert send(batches[0]) == 0 and send(batches[5]) == 0  # a sender's retries


def from_logs(documents: list[dict], width: int = HOUR) -> dict:
    """(name, user_id, start, model) -> [count, sum, min, max, (time, value) of the last]: the raw logs' values."""
    known = extract.names.get()
    found: dict = {}
    for document in documents:
        at = document["timestamp"]
        start = at.replace(minute=0, second=0, microsecond=0)
        if width == DAY:
            start = start.replace(hour=0)
        for name, value in extract.extract(document, known).items():
            key = (name, document["user_id"], start, extract.model_of(document))
            count, total, low, high, last = found.get(key, (0, 0.0, math.inf, -math.inf, (at, -math.inf)))
            found[key] = (count + 1, total + value, min(low, value), max(high, value), max(last, (at, value)))
    return found


def stored(width: int = HOUR) -> dict:
    return {
        (row.name, row.user_id, row.start, row.model): (
            row.count,
            row.total,
            row.minimum,
            row.maximum,
            (row.last_at, row.last),
        )
        for row in MetricBucket.objects.filter(width=width)
    }


def assert_same(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key, (count, total, low, high, last) in expected.items():
        assert got[key][0] == count, key
        assert got[key][1] == pytest.approx(total, rel=1e-12), key  # sums in another order
        assert got[key][2:] == (low, high, last), key


def test_aggregates_equal_the_raw_logs_hot_archived_late_resent_and_rehydrated():
    documents = real_shape()
    send_late_and_twice(documents)
    assert {"Recall", "Loss", "Accuracy"} <= {name for name, *_ in stored()}
    assert_same(stored(), from_logs(documents))

    assert archive_logs(before=HOT_DAY, trigger="test").status == "succeeded"
    assert_same(stored(), from_logs(documents))  # the archiver deletes logs, not aggregates

    late = traffic.late_documents(300, ARCHIVED[0], users=300, seed=3)
    assert send(late) == len(late) and send(late) == 0
    documents += late
    assert_same(stored(), from_logs(documents))

    part = ArchivePart.objects.filter(day=ARCHIVED[1]).order_by("-count").first()
    assert rehydrate.rehydrate([part], hours=1) == part.count  # counted when first stored: not again
    assert archive_logs(before=HOT_DAY, trigger="test").status == "succeeded"  # the late logs' own part
    assert_same(stored(), from_logs(documents))


def test_archived_lines_keep_the_logs_metrics():
    documents = real_shape(1_500)
    send(documents)
    assert archive_logs(before=HOT_DAY, trigger="test").status == "succeeded"
    known = extract.names.get()
    expected = {str(d["_id"]): extract.extract(d, known) for d in documents}
    lines = []
    for part in ArchivePart.objects.all():
        with archive_storage().open(part.key, "rb") as stream:
            lines += [json.loads(line) for line in gzip.decompress(stream.read()).splitlines()]
    assert lines and all(line.get("metrics", {}) == expected[line["_id"]] for line in lines)
    assert any(line.get("metrics") for line in lines)


def chart(client, **params) -> dict:
    response = client.get("/api/v1/metrics", {**RANGE, **params})
    assert response.status_code == 200, response.content
    return response.json()


def expected_chart(documents: list[dict], name: str, users: set[int], agg: str, width: int) -> dict:
    """(user_id, model) -> [(t, value, count)] from the raw logs."""
    found: dict = defaultdict(list)
    for (metric, user_id, start, model), (count, total, low, high, last) in sorted(
        from_logs(documents, width).items(), key=lambda item: (item[0][1], item[0][3], item[0][2])
    ):
        if metric == name and user_id in users:
            value = {"avg": total / count, "min": low, "max": high, "last": last[1], "count": float(count)}[agg]
            found[(user_id, model)].append((start.strftime("%Y-%m-%dT%H:%M:%SZ"), value, count))
    return found


def answered(body: dict) -> dict:
    return {(s["user_id"], s["model"]): [(p["t"], p["value"], p["count"]) for p in s["points"]] for s in body["series"]}


def assert_chart(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key, points in expected.items():
        assert [(t, count) for t, _, count in got[key]] == [(t, count) for t, _, count in points]
        assert [value for _, value, _ in got[key]] == pytest.approx([value for _, value, _ in points], rel=1e-12)


def test_the_api_answers_what_the_raw_logs_give_hot_and_archived(api):
    documents = real_shape(4_000, seed=22)
    send(documents)
    assert archive_logs(before=HOT_DAY, trigger="test").status == "succeeded"
    heavy = sorted({d["user_id"] for d in documents})[:10]
    for agg in ("avg", "min", "max", "last", "count"):
        body = chart(api, name="Recall", user_id=heavy, step="1h", agg=agg)
        assert (body["name"], body["step"], body["agg"], body["partial"]) == ("Recall", "1h", agg, False)
        assert len(body["series"]) > 10  # several models of each user
        assert_chart(answered(body), expected_chart(documents, "Recall", set(heavy), agg, HOUR))
    # A 3-day range without a step gets 6-hour steps: each the sum of its hours.
    assert chart(api, name="Recall", user_id=heavy)["step"] == "6h"
    names = api.get("/api/v1/metrics/names", RANGE).json()["names"]
    counts: dict = defaultdict(int)
    for (name, *_), (count, *_) in from_logs(documents).items():
        counts[name] += count
    assert names == [{"name": name, "count": count} for name, count in sorted(counts.items())]


def test_rolled_up_days_answer_as_their_hours_did():
    documents = real_shape(3_000, seed=23)
    send(documents)
    with override_settings(METRICS_HOURLY_DAYS=1):
        assert store.roll_up(now=FIRST + timedelta(days=5)) == [FIRST.date() + timedelta(days=n) for n in range(3)]
    assert stored(HOUR) == {}
    assert_same(stored(DAY), from_logs(documents, DAY))


def test_a_write_lost_between_insert_and_aggregates_is_partial_until_the_rebuild_heals_it(api, monkeypatch):
    documents = real_shape(2_000, seed=24)
    first, second = documents[:1_500], documents[1_500:]  # the second: one batch
    send(first)

    def died(*args):
        raise DatabaseError("the SQL server went away after the insert")

    with monkeypatch.context() as patched:
        patched.setattr(store, "finish_writing", died)
        with pytest.raises(DatabaseError):
            send(second)
    assert send(second) == 0  # the retry finds only duplicates: it counts nothing
    assert_same(stored(), from_logs(first))
    assert not chart(api, name="Recall")["partial"]  # a writer may still be at work for a minute
    MetricDay.objects.update(last_start=datetime.now(UTC) - store.HEAL_AFTER - timedelta(seconds=1))
    assert chart(api, name="Recall")["partial"]

    call_command("rebuild_metrics")
    assert_same(stored(), from_logs(documents))
    assert not chart(api, name="Recall")["partial"]


def test_the_rebuild_command_counts_archived_days_stored_before_the_store_and_resumes(capsys):
    documents = real_shape(3_000, seed=25)
    with override_settings(METRICS_EXTRACTION=False):  # as a release without the store stored them
        hotstore.insert([dict(d) for d in documents])
    assert archive_logs(before=HOT_DAY, trigger="test").status == "succeeded"
    assert stored() == {} and store.archived_days_to_rebuild() == ARCHIVED

    # A run killed after its first day: that day is done and not redone.
    call_command("rebuild_metrics", "--day", "2023-08-25")
    capsys.readouterr()
    call_command("rebuild_metrics")
    assert capsys.readouterr().out.splitlines() == ["2023-08-26: rebuilt", "Rebuilt 1 day(s); 0 left."]
    call_command("rebuild_metrics")
    assert capsys.readouterr().out.splitlines() == ["Rebuilt 0 day(s); 0 left."]

    archived = [d for d in documents if d["timestamp"].date() in ARCHIVED]
    assert_same(stored(), from_logs(archived))
    call_command("rebuild_metrics", "--day", str(HOT_DAY))  # a hot day, read from MongoDB
    assert_same(stored(), from_logs(documents))


def test_a_restricted_reader_gets_only_granted_series_and_bad_input_names_the_field(client):
    documents = real_shape(1_500, seed=26)
    send(documents)
    users = sorted({d["user_id"] for d in documents})[:2]
    client.force_login(user_granted("reader", read=users[:1], write=[]))
    body = chart(client, name="Recall")
    assert body["series"] and {s["user_id"] for s in body["series"]} == {users[0]}
    refused = client.get("/api/v1/metrics", {"name": "Recall", "user_id": users[1]})
    assert refused.status_code == 403 and refused.json() == {"user_id": [f"Not granted to you: user_id {users[1]}."]}
    names = client.get("/api/v1/metrics/names", RANGE).json()["names"]
    assert names and sum(n["count"] for n in names) == sum(
        len(extract.extract(d, extract.names.get())) for d in documents if d["user_id"] == users[0]
    )

    for params, field in [
        ({}, "name"),
        ({"name": "Recall", "agg": "median"}, "agg"),
        ({"name": "Recall", "step": "5m"}, "step"),
        ({"name": "Recall", "from": "2023-01-01", "to": "2023-12-31", "step": "1h"}, "step"),
        ({"name": "Recall", "from": "now", "to": "now-1d"}, "to"),
        ({"name": "Recall", "from": "yesterday-ish"}, "from"),
        ({"name": "Recall", "from": "2000-01-01", "to": "2023-01-01"}, "from"),
        ({"name": "Recall", "user_id": "x"}, "user_id"),
        ({"name": "Recall", "colour": "red"}, "parameters"),
    ]:
        response = client.get("/api/v1/metrics", {**RANGE, **params})
        assert response.status_code == 400 and field in response.json(), (params, response.content)
