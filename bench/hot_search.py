"""Hot search on FerretDB: the bucket walk and its GIN index against today's single query, same data, same run.

    .venv/bin/python bench/hot_search.py --logs 1000000     # the issue's size (load ~2-5 min on FerretDB)
    .venv/bin/python bench/hot_search.py --logs 100000      # a quick run

Starts its own throwaway FerretDB on PostgreSQL (unless MONGODB_URI is set) and loads
`--logs` logs of real-shape traffic (devservices.traffic: 300 Zipf users) over the 7 days
before now. Then it times each search shape twice:
  - old: one `find` (HOT_BUCKET_WALK=off) with no GIN index on FerretDB's table (as before);
  - new: the bucket walk (HOT_BUCKET_WALK=on) with the GIN index (built in between, timed).
The landing page is a GET of /api/v1/logs over HTTP (token auth); the other shapes call the
hot source the planner calls. Medians of `--repeat` (5) after one warm-up; a shape whose
warm-up takes longer than `--slow` seconds is that one run (the table says so). Times in ms.
"""

import argparse
import json
import statistics
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import run_with_services, start_http_server  # noqa: E402

from retrieval.buckets import stamped


def median_ms(call: Callable[[], object], repeat: int, slow: float) -> tuple[float, int]:
    """(median ms, runs): one warm-up, then `repeat` runs; a warm-up over `slow` seconds is the one sample."""
    started = time.perf_counter()
    call()
    first = time.perf_counter() - started
    if first > slow:
        return first * 1000, 1
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), repeat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--slow", type=float, default=10.0)
    args = parser.parse_args()
    # The old shape reads a whole collection: give it time instead of a partial page.
    return run_with_services(lambda: run(args), SEARCH_TIMEOUT_SECONDS="600")


def run(args: argparse.Namespace) -> int:
    import psycopg
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.http import QueryDict
    from psycopg import sql

    from access.scope import EVERY
    from access.tokens import create_token
    from devservices import traffic
    from logsite.mongodb.ferretdb import ensure_gin_index
    from retrieval.filters import LogFilterSet
    from retrieval.models import LogEntry
    from retrieval.sources import HotSource

    logs = LogEntry.collection()
    database = logs.database
    database.client.drop_database(database.name)
    call_command("migrate", verbosity=0)
    call_command("migrate", database="logs", verbosity=0)
    pg_url = settings.FERRETDB_POSTGRESQL_URL
    if not pg_url:
        print("FERRETDB_POSTGRESQL_URL is empty: this bench measures FerretDB on PostgreSQL", file=sys.stderr)
        return 1
    gin = ensure_gin_index(database.name, "logs", LogEntry.ferretdb_gin_fields)
    assert gin is not None
    with psycopg.connect(pg_url, autocommit=True) as connection:
        # The old shape: FerretDB's own indexes only (loading is quicker without the GIN index, too).
        connection.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(database.name, gin)))

    now = datetime.now(UTC).replace(microsecond=0)
    started, users = time.perf_counter(), Counter[int]()
    for batch in traffic.batches(traffic.documents(args.logs, now - timedelta(days=7), now, users=300, seed=1), 10_000):
        logs.insert_many(stamped(batch), ordered=False)
        users.update(document["user_id"] for document in batch)
    load_seconds = time.perf_counter() - started
    heaviest = users.most_common(1)[0][0]
    print(f"loaded {args.logs:,} logs in {load_seconds:.0f} s", file=sys.stderr)

    user = User.objects.create_superuser("bench")
    token = create_token(user, "bench")[1]
    http = start_http_server()
    api_base = f"http://127.0.0.1:{http.server_address[1]}/api/v1/logs"
    source = HotSource()

    def api(params: dict[str, str]) -> Callable[[], object]:
        def call() -> object:
            request = urllib.request.Request(
                f"{api_base}?{urllib.parse.urlencode(params)}", headers={"Authorization": f"Token {token}"}
            )
            with urllib.request.urlopen(request) as response:
                page = json.load(response)
            assert page["results"], params
            return page

        return call

    def hot(params: dict[str, str], after_now: timedelta | None = None) -> Callable[[], object]:
        data = QueryDict(mutable=True)
        data.update(params)
        filterset = LogFilterSet(data, scope=EVERY)
        assert filterset.is_valid(), filterset.form.errors
        query = filterset.log_query()

        def call() -> object:
            after = None if after_now is None else (datetime.now(UTC) + after_now, "0" * 24)
            return source.fetch(query, after, query.limit)

        return call

    yesterday = (now - timedelta(days=1)).date().isoformat()
    shapes = {
        "landing: API first page, 24 h, every user (< 300)": api({"from": "now-24h", "to": "now"}),
        "user + day + level (< 100)": hot({"user_id": "4", "date": yesterday, "level": "error"}),
        f"heaviest user's day, user {heaviest} (< 300)": hot({"user_id": str(heaviest), "date": yesterday}),
        "keyword NaN, 24 h, every user, first page (< 1500)": hot({"from": "now-24h", "to": "now", "keyword": "NaN"}),
        # The live tail's poll: oldest first from now - 30 s up to now + 1 day (retrieval.livetail.tail).
        "tail: rows after now - 30 s (< 100)": hot(
            {"from": "now-30s", "to": "now+1d", "order": "oldest"}, after_now=-timedelta(seconds=30)
        ),
    }
    results: dict[str, dict[str, tuple[float, int]]] = {name: {} for name in shapes}
    settings.HOT_BUCKET_WALK = "off"
    for name, call in shapes.items():
        results[name]["old"] = median_ms(call, args.repeat, args.slow)
        print(f"  old {name}: {results[name]['old'][0]:.0f} ms", file=sys.stderr)
    started = time.perf_counter()
    ensure_gin_index(database.name, "logs", LogEntry.ferretdb_gin_fields)
    index_seconds = time.perf_counter() - started
    settings.HOT_BUCKET_WALK = "on"
    for name, call in shapes.items():
        results[name]["new"] = median_ms(call, args.repeat, args.slow)
        print(f"  new {name}: {results[name]['new'][0]:.0f} ms", file=sys.stderr)

    info = database.client.server_info()
    print(
        f"FerretDB {info.get('ferretdbVersion', info['version'])}, PostgreSQL handler; {args.logs:,} logs over 7 days, "
        f"300 Zipf users (loaded in {load_seconds:.0f} s); GIN index built in "
        f"{index_seconds:.1f} s; medians of {args.repeat} after a warm-up (runs in brackets when fewer); ms"
    )
    print()
    print("| search (target, ms) | old: one query, no GIN | new: bucket walk + GIN | old / new |")
    print("|---|---|---|---|")
    for name, measured in results.items():
        (old, old_runs), (new, new_runs) = measured["old"], measured["new"]
        old_text = f"{old:,.0f}" + ("" if old_runs == args.repeat else f" ({old_runs})")
        new_text = f"{new:,.0f}" + ("" if new_runs == args.repeat else f" ({new_runs})")
        print(f"| {name} | {old_text} | {new_text} | {old / new:,.1f}x |")
    http.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
