"""Every door that stores logs extracts their metrics into the log and the store: JSON and NDJSON ingest,
OTLP (attributes `metric.*`), the demo seed; a re-sent batch adds nothing."""

import json
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command

from metrics.models import MetricBucket
from retrieval.models import LogEntry

pytestmark = [pytest.mark.django_db(databases=["default", "logs"]), pytest.mark.usefixtures("metric_names")]

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def stored_metrics(logs_db) -> dict[str, dict]:
    return {d["message"]: d.get("metrics") for d in logs_db.find({}, {"message": 1, "metrics": 1})}


def totals() -> dict[tuple[str, int, str], tuple[int, float]]:
    return {(r.name, r.user_id, r.model): (r.count, r.total) for r in MetricBucket.objects.all()}


def record(message: str, **fields) -> dict:
    return {"timestamp": NOW.isoformat(), "user_id": 4, "level": "info", "message": message, **fields}


def test_json_and_ndjson_ingest_store_the_metrics_once_whatever_the_retries(api, logs_db):
    batch = [
        record("Validated a new model, ligula. User: 4, Recall: 0.25", logger="trainer.bert"),
        record("epoch done", context={"model": "resnet", "metrics": {"loss": 0.5, "val": {"loss": 0.75}}}),
        record("User: 4 logged in"),
    ]
    for _ in range(2):  # the second is a sender's retry: duplicates only
        response = api.post("/api/v1/logs", {"logs": batch}, format="json")
        assert response.status_code == 201, response.content
    ndjson = "\n".join(json.dumps(r) for r in [record("F1=0.5 on holdout", logger="trainer.bert")])
    assert api.post("/api/v1/logs", ndjson, content_type="application/x-ndjson").status_code == 201

    assert stored_metrics(logs_db) == {
        "Validated a new model, ligula. User: 4, Recall: 0.25": {"Recall": 0.25},
        "epoch done": {"Loss": 0.5, "val/loss": 0.75},
        "User: 4 logged in": None,
        "F1=0.5 on holdout": {"F1": 0.5},
    }
    assert totals() == {
        ("Recall", 4, "trainer.bert"): (1, 0.25),
        ("Loss", 4, "resnet"): (1, 0.5),
        ("val/loss", 4, "resnet"): (1, 0.75),
        ("F1", 4, "trainer.bert"): (1, 0.5),
    }


def test_otlp_metric_attributes_are_metrics_of_the_service(api, logs_db):
    nanos = (int(time.time()) - 60) * 10**9
    body = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "evaluator"}}]},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": str(nanos),
                                "severityNumber": 9,
                                "body": {"stringValue": "evaluated, Precision: 0.125"},
                                "attributes": [
                                    {"key": "user.id", "value": {"intValue": 7}},
                                    {"key": "metric.recall", "value": {"doubleValue": 0.5}},
                                    {"key": "metric.latency_ms", "value": {"intValue": "12"}},
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    response = api.post("/v1/logs", json.dumps(body), content_type="application/json")
    assert response.status_code == 200 and response.json() == {}
    assert list(stored_metrics(logs_db).values()) == [{"Precision": 0.125, "Recall": 0.5, "latency_ms": 12.0}]
    assert totals() == {
        ("Precision", 7, "evaluator"): (1, 0.125),
        ("Recall", 7, "evaluator"): (1, 0.5),
        ("latency_ms", 7, "evaluator"): (1, 12.0),
    }


def test_the_demo_seed_writes_two_or_three_models_per_user_with_drifting_metrics(logs_db):
    call_command("seed_demo_logs", days=7, per_day=700, seed=1, until=date(2023, 8, 27), verbosity=0)
    assert LogEntry.collection().count_documents({"metrics": {"$exists": True}}) == 7 * 700
    models: dict[int, set[str]] = {}
    for row in MetricBucket.objects.all():
        models.setdefault(row.user_id, set()).add(row.model)
    assert {len(found) for found in models.values()} == {2, 3}
    # A trend: some series' daily means move by more than their noise over the week.
    means: dict[tuple, dict[date, list[float]]] = {}
    for row in MetricBucket.objects.all():
        day = means.setdefault((row.user_id, row.model, row.name), {}).setdefault(row.start.date(), [0, 0.0])
        day[0] += row.count
        day[1] += row.total
    moved = 0
    for days in means.values():
        daily = [total / count for count, total in (days[d] for d in sorted(days))]
        moved += abs(daily[-1] - daily[0]) > 0.1
    assert moved >= 5
