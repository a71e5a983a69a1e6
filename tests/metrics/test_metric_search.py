"""Searching by metric value (`q=Recall<0.5`) at real shape: 300 Zipf users training several models each, logs
sent through POST /api/v1/logs as programs send them (no `metrics`: intake extracts them), two days archived and
one hot. The API, the histogram and the export answer exactly the logs the Python meaning picks from what was
sent, hot and cold alike."""

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from django.http import QueryDict
from django.utils.http import urlencode

from access.scope import EVERY
from archive.archiver import archive_logs
from devservices import traffic
from metrics import extract
from retrieval import planner
from retrieval.filters import LogFilterSet
from retrieval.query import LogQuery
from tests.access_support import user_granted

pytestmark = [
    # The archiver takes its day locks on connections of its own: the test's data must be committed.
    pytest.mark.django_db(databases=["default", "logs"], transaction=True),
    pytest.mark.usefixtures("empty_archive", "empty_cold_cache", "metric_names"),
]

FIRST = datetime(2023, 8, 25, tzinfo=UTC)
HOT_DAY = date(2023, 8, 27)
RANGE = {"from": "2023-08-25T00:00:00Z", "to": "2023-08-28T00:00:00Z"}
QUERIES = (
    "Recall<0.5",
    "-recall<0.5 level:info",  # the negation keeps the logs without Recall
    "accuracy>=0.9 LOSS<2.45",  # from context.metrics, sent lower-case
    "F1!=0.5 -level:debug",
)


@pytest.fixture
def sent(api) -> list[dict]:
    """The logs as sent (ids and all), with the metrics intake extracts from them beside, for the Python meaning."""
    documents = list(traffic.documents(6_000, FIRST, FIRST + timedelta(days=3), users=300, seed=22, sender_ids=True))
    assert len({(d["user_id"], extract.model_of(d)) for d in documents}) > 300  # several models per user
    for batch in traffic.batches(traffic.records(documents), 2000):
        response = api.post("/api/v1/logs", {"logs": batch}, format="json")
        assert response.status_code == 201 and response.json()["inserted"] == len(batch), response.content[:500]
    assert archive_logs(before=HOT_DAY, trigger="test").status == "succeeded"
    known = extract.names.get()
    return [{**d, "metrics": extract.extract(d, known)} for d in documents]


def log_query(q: str) -> LogQuery:
    filterset = LogFilterSet(QueryDict(urlencode({**RANGE, "q": q})), scope=EVERY)
    assert filterset.is_valid(), filterset.form.errors
    return filterset.log_query()


def api_search(api, q: str) -> dict[str, str]:
    """Every row of the search, page after page: id -> source."""
    params: dict = {**RANGE, "q": q, "page_size": 1000}
    found: dict[str, str] = {}
    rows = 0
    while True:
        response = api.get("/api/v1/logs", params)
        assert response.status_code == 200, response.content[:500]
        body = response.json()
        assert not body["partial"], body["sources"]
        rows += len(body["results"])
        found.update((row["id"], row["source"]) for row in body["results"])
        if body["next_cursor"] is None:
            assert rows == len(found)  # each log once
            return found
        params["cursor"] = body["next_cursor"]


def test_the_api_finds_by_metric_value_exactly_the_logs_python_picks_hot_and_cold(api, sent):
    for q in QUERIES:
        search = log_query(q)
        expected = {str(d["_id"]): d for d in sent if search.matches(d)}
        # The Python meaning is no tautology: each query keeps some logs and leaves some out.
        assert 0 < len(expected) < len(sent), q
        found = api_search(api, q)
        assert found.keys() == expected.keys(), q
        sources = Counter(found.values())
        hot = sum(1 for d in expected.values() if d["timestamp"].date() == HOT_DAY)
        assert sources == {"hot": hot, "cold": len(expected) - hot} and hot and len(expected) - hot, q
    assert api_search(api, "recall<0.5") == api_search(api, "Recall<0.5")  # the admin list's spelling


def test_the_histogram_and_the_export_count_the_same_logs(client, sent):
    q = "Recall<0.5"
    search = log_query(q)
    expected = {str(d["_id"]) for d in sent if search.matches(d)}

    histogram = planner.histogram(search)
    assert not histogram.partial and histogram.total == len(expected)

    client.force_login(user_granted("engineer"))
    response = client.get("/export.jsonl", {**RANGE, "q": q})
    assert response.status_code == 200
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [line["id"] for line in lines] and {line["id"] for line in lines} == expected
    assert len(lines) == len(expected)
