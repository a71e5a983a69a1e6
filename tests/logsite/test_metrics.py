import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from archive.archiver import archive_logs
from archive.metrics import COLD_CACHE_LOOKUPS, count_archive_run
from devservices.localservices import start_redis
from retrieval import planner
from retrieval.metrics import INGESTED_LOGS, QUERY_SECONDS
from retrieval.models import Level
from retrieval.query import LogQuery
from tests.archive_support import BEFORE, DAYS, clear_archive, insert_demo_logs

QUERY = "logretrieval_query_duration_seconds"


def scrape(client, **headers) -> dict[tuple[str, frozenset], float]:
    """GET /metrics (with the test settings' token unless `headers` give one), parsed by prometheus_client's
    own parser: {(sample name, labels): value}."""
    headers.setdefault("Authorization", f"Bearer {settings.METRICS_TOKEN}")
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def bucket(le: str, source: str = "hot") -> tuple[str, frozenset]:
    return (f"{QUERY}_bucket", frozenset({"le": le, "source": source}.items()))


def delta(before: dict, after: dict, key: tuple[str, frozenset]) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_query_latencies_land_in_cumulative_buckets_by_source(client):
    before = scrape(client)

    QUERY_SECONDS.observe("hot", 0.003)
    QUERY_SECONDS.observe("hot", 0.2)
    QUERY_SECONDS.observe("cold", 45.0)
    after = scrape(client)

    assert delta(before, after, bucket("0.005")) == 1
    assert delta(before, after, bucket("0.1")) == 1
    assert delta(before, after, bucket("0.25")) == 2
    assert delta(before, after, bucket("+Inf")) == 2
    assert delta(before, after, (f"{QUERY}_count", frozenset({"source": "hot"}.items()))) == 2
    assert delta(before, after, (f"{QUERY}_sum", frozenset({"source": "hot"}.items()))) == pytest.approx(0.203)
    # Slower than the last bound: counted only in +Inf.
    assert delta(before, after, bucket("30.0", "cold")) == 0
    assert delta(before, after, bucket("+Inf", "cold")) == 1


@pytest.mark.django_db(databases=["default", "logs"])
def test_a_search_is_timed_once_per_source(client, logs_db, make_log):
    make_log(message="needle")
    end = datetime.now(UTC)
    query = LogQuery(user_ids=(1,), start=end - timedelta(hours=1), end=end, levels=tuple(Level.values))
    before = scrape(client)

    page = planner.search(query)
    after = scrape(client)

    assert [row.message for row in page.rows] == ["needle"]
    for source in planner.log_sources():
        count = (f"{QUERY}_count", frozenset({"source": source.name}.items()))
        assert delta(before, after, count) == 1, source.name


@pytest.mark.django_db(databases=["default", "logs"])
def test_an_archive_run_is_counted_with_its_logs(client, logs_db):
    clear_archive()
    insert_demo_logs(days=DAYS[:1], per_day=50)
    before = scrape(client)

    try:
        run = archive_logs(before=BEFORE)
    finally:
        clear_archive()
    after = scrape(client)

    succeeded = frozenset({"status": "succeeded"}.items())
    assert delta(before, after, ("logretrieval_archive_runs_total", succeeded)) == 1
    assert delta(before, after, ("logretrieval_archived_logs_total", succeeded)) == run.logs == 50


def test_cache_ingest_and_archive_counters(client):
    before = scrape(client)

    COLD_CACHE_LOOKUPS.inc("hit")
    COLD_CACHE_LOOKUPS.inc("hit")
    COLD_CACHE_LOOKUPS.inc("miss")
    INGESTED_LOGS.inc(amount=500)
    count_archive_run("ok", 1200)
    count_archive_run("failed", 0)
    after = scrape(client)

    def counter(name: str, **labels: str) -> float:
        return delta(before, after, (f"logretrieval_{name}_total", frozenset(labels.items())))

    assert counter("cold_cache_lookups", result="hit") == 2
    assert counter("cold_cache_lookups", result="miss") == 1
    assert counter("ingested_logs") == 500
    assert counter("archive_runs", status="ok") == 1
    assert counter("archive_runs", status="failed") == 1
    assert counter("archived_logs", status="ok") == 1200


def test_counts_from_another_process_are_in_this_process_scrape(client):
    """A Celery worker is another process (often another container): its counts must add up here."""
    before = scrape(client)

    subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from retrieval.metrics import INGESTED_LOGS; INGESTED_LOGS.inc(amount=7)",
        ],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "logsite.settings"},
        check=True,
        timeout=60,
    )
    INGESTED_LOGS.inc(amount=3)
    after = scrape(client)

    assert delta(before, after, ("logretrieval_ingested_logs_total", frozenset())) == 10


def test_metrics_token_is_required_when_configured(client):
    with override_settings(METRICS_TOKEN="scrape-secret"):
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert ("logretrieval_ingested_logs_total", frozenset()) in scrape(client, Authorization="Bearer scrape-secret")


def test_a_redis_outage_never_fails_the_caller_and_the_scrape_says_503(client, tmp_path):
    redis = start_redis(tmp_path)
    try:
        with override_settings(REDIS_URL=redis.env["REDIS_URL"]):
            INGESTED_LOGS.inc(amount=1)
            assert scrape(client)[("logretrieval_ingested_logs_total", frozenset())] == 1
            redis.stop()

            QUERY_SECONDS.observe("hot", 0.01)  # must not raise
            INGESTED_LOGS.inc(amount=1)
            response = client.get("/metrics", headers={"Authorization": f"Bearer {settings.METRICS_TOKEN}"})
    finally:
        redis.stop()

    assert response.status_code == 503
    assert b"metrics store unavailable" in response.content


def test_without_redis_counts_are_kept_in_the_process(client):
    with override_settings(REDIS_URL="", METRICS_KEY="local-test"):
        count_archive_run("ok", 5)
        samples = scrape(client)

    assert samples[("logretrieval_archived_logs_total", frozenset({"status": "ok"}.items()))] == 5
