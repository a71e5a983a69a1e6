"""Operational metrics, shared by every process, and the Prometheus `/metrics` endpoint.

Each app declares the metrics it records, at module level, and records from anywhere
(views, planner, Celery tasks):

    INGESTED = metrics.Counter("ingested_logs", "Logs written to hot storage.")
    INGESTED.inc(amount=500)
    QUERY_SECONDS = metrics.Histogram("query_duration_seconds", "...", label="source", buckets=(0.005, ...))
    QUERY_SECONDS.observe("hot", 0.012)

Declaring a metric registers it; `/metrics` shows every registered one, so an app
imports its metrics module from `AppConfig.ready` and the project shell imports no app.

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
from collections import Counter as SampleCounter
from collections.abc import Iterator, Sequence

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

logger = logging.getLogger(__name__)

INF = float("inf")
PREFIX = "logretrieval"
# A sample's key in the store: (metric name, label values..., [bucket bound]).
Sample = tuple[str | float, ...]


class Counter:
    """A counter with fixed label names, e.g. Counter("archive_runs", "...", labels=("status",))."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = ()) -> None:
        self.name, self.documentation, self.labels = name, documentation, tuple(labels)
        register(self)

    def inc(self, *label_values: str, amount: int = 1) -> None:
        _store().add({(self.name, *label_values): int(amount)})

    def collect(self, samples: dict[Sample, float]) -> Metric:
        family = CounterMetricFamily(f"{PREFIX}_{self.name}", self.documentation, labels=list(self.labels))
        values = {key[1:]: value for key, value in samples.items() if key[0] == self.name}
        if not self.labels:
            values.setdefault((), 0.0)  # an unlabelled counter is 0 before its first event
        for label_values, value in sorted(values.items()):
            family.add_metric([str(v) for v in label_values], value)
        return family


class Histogram:
    """A latency histogram with one label, e.g. Histogram("query_duration_seconds", "...", "source", (0.01, 1.0))."""

    def __init__(self, name: str, documentation: str, label: str, buckets: Sequence[float]) -> None:
        self.name, self.documentation, self.label, self.buckets = name, documentation, label, tuple(buckets)
        register(self)

    def observe(self, label_value: str, seconds: float) -> None:
        bound = next((bound for bound in self.buckets if seconds <= bound), INF)
        _store().add({(self.name, "bucket", label_value, bound): 1, (self.name, "sum", label_value): float(seconds)})

    def collect(self, samples: dict[Sample, float]) -> Metric:
        family = HistogramMetricFamily(f"{PREFIX}_{self.name}", self.documentation, labels=[self.label])
        sums = {key[2]: value for key, value in samples.items() if key[:2] == (self.name, "sum")}
        for label_value in sorted(sums, key=str):
            per_bucket = {
                key[3]: value for key, value in samples.items() if key[:3] == (self.name, "bucket", label_value)
            }
            cumulative, buckets = 0.0, []
            for bound in (*self.buckets, INF):
                cumulative += per_bucket.get(bound, 0.0)
                buckets.append(("+Inf" if bound == INF else str(bound), cumulative))
            family.add_metric([str(label_value)], buckets, sums[label_value])
        return family


_registered: dict[str, Counter | Histogram] = {}


def register(metric: Counter | Histogram) -> None:
    """Show `metric` on /metrics (declaring one does this). A name is one metric: a second declaration replaces it."""
    _registered[metric.name] = metric


# --- storage -------------------------------------------------------------------------


class RedisStore:
    """All samples in one Redis hash; a field is a JSON-encoded sample key."""

    def __init__(self, url: str, key: str) -> None:
        # Short timeouts: a slow Redis may cost a search milliseconds, never seconds.
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.key = key

    def add(self, increments: dict[Sample, float]) -> None:
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

    def read(self) -> dict[Sample, float]:
        return {_decode(field): float(value) for field, value in self.client.hgetall(self.key).items()}


class LocalStore:
    """Per-process samples, for a run without Redis."""

    def __init__(self) -> None:
        self.samples: SampleCounter[Sample] = SampleCounter()
        self.lock = threading.Lock()

    def add(self, increments: dict[Sample, float]) -> None:
        with self.lock:
            self.samples.update(increments)

    def read(self) -> dict[Sample, float]:
        with self.lock:
            return dict(self.samples)


def _encode(sample: Sample) -> str:
    return json.dumps([("+Inf" if part == INF else part) for part in sample])


def _decode(field: bytes | str) -> Sample:
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
    """The registered metric families, built from the shared samples."""
    samples = _store().read()
    for metric in _registered.values():
        yield metric.collect(samples)


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
