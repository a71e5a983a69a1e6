"""What recording a metric costs the caller, against a bare Redis round trip in the same run.

    .venv/bin/python -m devservices.localservices exec --services redis -- .venv/bin/python bench/metrics.py

Prints medians (microseconds per call) over --rounds rounds of --calls calls each,
and the ratio of each metric call to one Redis PING on the same connection settings.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "logsite.settings")
os.environ.setdefault("DEBUG", "true")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from archive.metrics import COLD_CACHE_LOOKUPS, count_archive_run  # noqa: E402
from logsite import metrics  # noqa: E402
from retrieval.metrics import QUERY_SECONDS  # noqa: E402


def median_us(call, calls: int, rounds: int) -> float:
    per_round = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        per_round.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(per_round)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not settings.REDIS_URL:
        sys.exit("REDIS_URL is not set: run it under `python -m devservices.localservices exec --services redis --`")

    store = metrics._store()
    baseline = median_us(store.client.ping, args.calls, args.rounds)
    request = RequestFactory().get("/metrics")
    cases = {
        "query seconds": lambda: QUERY_SECONDS.observe("bench", 0.012),
        "cold cache lookup": lambda: COLD_CACHE_LOOKUPS.inc("bench"),
        "count_archive_run": lambda: count_archive_run("bench", 10),
        "scrape /metrics": lambda: metrics.metrics_view(request),
    }
    print(f"Redis PING (baseline): {baseline:8.1f} us")
    for name, call in cases.items():
        cost = median_us(call, args.calls, args.rounds)
        print(f"{name:22s} {cost:8.1f} us  = {cost / baseline:4.2f} x PING")
    store.client.hdel(settings.METRICS_KEY, *[f for f in store.client.hkeys(settings.METRICS_KEY) if b"bench" in f])


if __name__ == "__main__":
    main()
