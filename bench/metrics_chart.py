"""Model metrics benchmark: a 31-day chart through the API, and what extraction adds to a JSON ingest batch.

    PYTHONPATH=. .venv/bin/python bench/metrics_chart.py --per-day 1000 --rounds 5

Starts its own throwaway FerretDB and PostgreSQL (unless MONGODB_URI is set) and serves the app on a local
threaded WSGI server.

1. Extraction: --batches JSON batches of --batch logs of realistic traffic (`devservices.traffic`: 300 Zipf
   users, three models each, messages and `context.metrics` with metrics) POSTed to /api/v1/logs, each round
   twice, with extraction on and off (METRICS_EXTRACTION), the collection and the store emptied before each:
   median logs/s of each and the overhead of extraction (the store's writes included).
2. Chart: 31 days of --per-day logs each through `hotstore.insert` (extraction on), the oldest 24 archived
   (the archiver deletes them from MongoDB; the aggregates stay), hours older than METRICS_HOURLY_DAYS rolled
   up; then --rounds x 10 GETs of /api/v1/metrics for one metric, the 10 heaviest users, the 31 days (step 1d):
   median and p95 ms, and how many rows the store holds.
"""

import argparse
import json
import statistics
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import percentile, run_with_services, start_http_server  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-day", type=int, default=1000, help="logs per day of the 31-day chart")
    parser.add_argument("--batch", type=int, default=2000, help="logs per JSON batch")
    parser.add_argument("--batches", type=int, default=5, help="JSON batches per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    return run_with_services(lambda: run(args), services=("mongodb", "postgresql"))


def run(args: argparse.Namespace) -> int:
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connections

    from access.tokens import create_token
    from archive.archiver import archive_logs
    from devservices import traffic
    from metrics import store
    from metrics.models import MetricBucket, MetricDay
    from retrieval import hotstore
    from retrieval.models import LogEntry

    logs = LogEntry.collection()
    logs.database.client.drop_database(logs.database.name)
    call_command("migrate", verbosity=0)
    token = create_token(User.objects.create_superuser("bench"), "bench")[1]
    server = start_http_server()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def empty() -> None:
        logs.drop()
        hotstore.counts_collection().drop()
        hotstore.user_counts_collection().drop()
        with connections["logs"].schema_editor() as editor:
            editor.create_model(LogEntry)
        MetricBucket.objects.all().delete()
        MetricDay.objects.all().delete()

    # 1. Extraction's share of a JSON ingest batch.
    end = datetime.now(UTC).replace(microsecond=0)
    documents = traffic.documents(args.batch * args.batches, end - timedelta(hours=1), end, users=300, seed=1)
    bodies = [
        json.dumps({"logs": list(traffic.records(batch))}).encode() for batch in traffic.batches(documents, args.batch)
    ]
    rates: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(args.rounds):
        for extraction in (True, False):
            empty()
            settings.METRICS_EXTRACTION = extraction  # read on every insert, by the server's threads too
            started = time.perf_counter()
            for body in bodies:
                request = urllib.request.Request(
                    f"{base}/api/v1/logs",
                    data=body,
                    headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=120) as response:
                    assert response.status == 201, response.status
            rate = args.batch * args.batches / (time.perf_counter() - started)
            rates[extraction].append(rate)
            print(
                f"  round {round_ + 1} extraction {'on' if extraction else 'off'}: {rate:,.0f} logs/s", file=sys.stderr
            )
    settings.METRICS_EXTRACTION = True
    on, off = statistics.median(rates[True]), statistics.median(rates[False])

    # 2. A 31-day chart: 7 hot days, 24 archived.
    empty()
    today = end.replace(hour=0, minute=0, second=0)
    first = today - timedelta(days=30)
    loaded = 0
    for day in range(31):
        start = first + timedelta(days=day)
        stop = min(start + timedelta(days=1), end)
        for batch in traffic.batches(traffic.documents(args.per_day, start, stop, users=300, seed=day), 10_000):
            loaded += hotstore.insert(batch)
    run = archive_logs(before=(today - timedelta(days=6)).date())
    rolled = store.roll_up()
    print(
        f"  loaded {loaded:,} logs, archived {run.logs:,} over {run.days} days, rolled up {len(rolled)}",
        file=sys.stderr,
    )
    heavy = [str(user) for user in traffic.zipf_user_ids(300).ids[:10]]
    query = urllib.parse.urlencode(
        [("name", "Recall"), *[("user_id", u) for u in heavy], ("from", "now-31d"), ("to", "now"), ("step", "1d")]
    )
    samples = []
    points = 0
    for _ in range(args.rounds * 10):
        request = urllib.request.Request(f"{base}/api/v1/metrics?{query}", headers={"Authorization": f"Token {token}"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as response:
            body = json.loads(response.read())
        samples.append((time.perf_counter() - started) * 1000)
        points = sum(len(series["points"]) for series in body["series"])
    server.shutdown()

    info = logs.database.client.server_info()
    server_name = f"FerretDB {info['ferretdbVersion']}" if "ferretdbVersion" in info else f"MongoDB {info['version']}"
    hourly, daily = (MetricBucket.objects.filter(width=w).count() for w in (3600, 86400))
    print(
        "\n".join(
            [
                f"server: {server_name}, PostgreSQL for the store",
                f"extraction: {args.batches} JSON batches of {args.batch:,} logs (300 Zipf users), {args.rounds} rounds: "
                f"on {on:,.0f} logs/s, off {off:,.0f} logs/s (medians): extraction adds {(off / on - 1) * 100:.1f}% "
                "to ingest time",
                f"chart: {loaded:,} logs over 31 days ({run.logs:,} archived, {run.days} days; hourly rows kept "
                f"{settings.METRICS_HOURLY_DAYS} days), store {hourly:,} hourly + {daily:,} daily rows; "
                f"GET /api/v1/metrics Recall, 10 users, 31 days, step 1d ({points} points): "
                f"median {statistics.median(samples):.1f} ms, p95 {percentile(samples, 0.95):.1f} ms over {len(samples)}",
            ]
        )
    )
    logs.database.client.drop_database(logs.database.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
