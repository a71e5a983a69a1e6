"""Operational metrics, shared by every process, and the Prometheus `/metrics` endpoint.

Record with the four functions below from anywhere (views, planner, Celery tasks):

    metrics.observe_query("hot", 0.012)       # one source answered one query in 12 ms
    metrics.count_cache(hit=True)             # cold reader found a parsed part in the cache
    metrics.count_ingest(500)                 # 500 logs written to hot storage
    metrics.count_archive_run("ok", 12000)    # an archive run ended

Why the numbers live in Redis: the web runs as several gunicorn workers (and
replicas) and the archiver as Celery workers in other containers or pods.
prometheus_client's multiprocess mode shares files in one directory, so it only
adds up the processes of one container; Redis is already shared by all of them
(broker and cache), and HINCRBY/HINCRBYFLOAT are atomic there. So any web replica
reports the deployment's totals, and a restart loses nothing. Without REDIS_URL
(a bare developer run) the numbers are kept per process.

Recording never raises: a metrics outage must not fail a search or an archive run.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

logger = logging.getLogger(__name__)

# Upper bounds (seconds) of the query latency buckets: a hot query is milliseconds,
# a cold one that downloads parts can take seconds.
QUERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
INF = float("inf")
PREFIX = "logretrieval"


def observe_query(source: str, seconds: float) -> None:
    """One query answered by `source` ("hot", "cold", ...) in `seconds`."""
    bucket = next((bound for bound in QUERY_BUCKETS if seconds <= bound), INF)
    _store().add({("query_bucket", source, bucket): 1, ("query_sum", source): float(seconds)})


def count_cache(hit: bool) -> None:
    """One lookup of a parsed cold part in the cache."""
    _store().add({("cache", "hit" if hit else "miss"): 1})


def count_ingest(n: int) -> None:
    """`n` logs written to hot storage."""
    _store().add({("ingest",): int(n)})


def count_archive_run(status: str, logs: int) -> None:
    """One archive run ended with `status`, having archived `logs` logs."""
    _store().add({("archive_runs", status): 1, ("archive_logs", status): int(logs)})


# --- storage -------------------------------------------------------------------------


class RedisStore:
    """All samples in one Redis hash; a field is a JSON-encoded sample key."""

    def __init__(self, url: str, key: str):
        # Short timeouts: a slow Redis may cost a search milliseconds, never seconds.
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.key = key

    def add(self, increments: dict[tuple, float]) -> None:
        try:
            pipe = self.client.pipeline(transaction=False)
            for sample, amount in increments.items():
                field = _encode(sample)
                if isinstance(amount, int):
                    pipe.hincrby(self.key, field, amount)
                else:
                    pipe.hincrbyfloat(self.key, field, amount)
            pipe.execute()
        except redis.RedisError as exc:
            logger.warning("metrics not recorded (%s): %s", type(exc).__name__, exc)

    def read(self) -> dict[tuple, float]:
        return {_decode(field): float(value) for field, value in self.client.hgetall(self.key).items()}


class LocalStore:
    """Per-process samples, for a run without Redis."""

    def __init__(self):
        self.samples: Counter[tuple] = Counter()
        self.lock = threading.Lock()

    def add(self, increments: dict[tuple, float]) -> None:
        with self.lock:
            self.samples.update(increments)

    def read(self) -> dict[tuple, float]:
        with self.lock:
            return dict(self.samples)


def _encode(sample: tuple) -> str:
    return json.dumps([("+Inf" if part == INF else part) for part in sample])


def _decode(field: bytes) -> tuple:
    return tuple(INF if part == "+Inf" else part for part in json.loads(field))


_stores: dict[tuple[str, str], RedisStore | LocalStore] = {}


def _store() -> RedisStore | LocalStore:
    """The store for the current settings (one per process; tests may change REDIS_URL)."""
    key = (settings.REDIS_URL, settings.METRICS_KEY)
    if key not in _stores:
        _stores[key] = RedisStore(*key) if settings.REDIS_URL else LocalStore()
    return _stores[key]


# --- exposition ----------------------------------------------------------------------


def collect() -> Iterator[Metric]:
    """The metric families, built from the shared samples."""
    samples = _store().read()
    queries = HistogramMetricFamily(
        f"{PREFIX}_query_duration_seconds", "Time one source took to answer one query.", labels=["source"]
    )
    for source in sorted({key[1] for key in samples if key[0] == "query_sum"}):
        per_bucket = {key[2]: value for key, value in samples.items() if key[:2] == ("query_bucket", source)}
        cumulative, buckets = 0.0, []
        for bound in (*QUERY_BUCKETS, INF):
            cumulative += per_bucket.get(bound, 0.0)
            buckets.append(("+Inf" if bound == INF else str(bound), cumulative))
        queries.add_metric([source], buckets, samples[("query_sum", source)])
    yield queries
    yield _counter(samples, "cache", "cold_cache_lookups", "Lookups of parsed cold parts in the cache.", "result")
    yield _counter(samples, "ingest", "ingested_logs", "Logs written to hot storage.")
    yield _counter(samples, "archive_runs", "archive_runs", "Archive runs ended, by status.", "status")
    yield _counter(
        samples, "archive_logs", "archived_logs", "Logs archived to object storage, by run status.", "status"
    )


def _counter(samples: dict[tuple, float], kind: str, name: str, documentation: str, *labels: str) -> Metric:
    family = CounterMetricFamily(f"{PREFIX}_{name}", documentation, labels=list(labels))
    values = {key[1:]: value for key, value in samples.items() if key[0] == kind}
    if not labels:
        values.setdefault((), 0.0)  # an unlabelled counter is 0 before its first event
    for label_values, value in sorted(values.items()):
        family.add_metric(list(label_values), value)
    return family


class _Collector:
    def collect(self) -> Iterator[Metric]:
        return collect()


def render() -> bytes:
    """The Prometheus text exposition of every metric."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    return generate_latest(registry)


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics. With METRICS_TOKEN set, the scraper must send `Authorization: Bearer <token>`."""
    token = settings.METRICS_TOKEN
    if token and not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
        return HttpResponse("metrics need the bearer token\n", status=401, content_type="text/plain")
    try:
        body = render()
    except redis.RedisError as exc:
        return HttpResponse(f"metrics store unavailable: {exc}\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
