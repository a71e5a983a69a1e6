"""Alert evaluation benchmark: one tick (`alerts.states.tick`) over 1,000 rules of 300 users.

    PYTHONPATH=. .venv/bin/python bench/alerts.py --logs 60000 --rounds 5

Starts its own throwaway FerretDB and PostgreSQL (unless MONGODB_URI is set). Loads --logs logs of realistic
traffic (`devservices.traffic`: 300 Zipf users, three models each, metrics in messages and context) over the
last 3 hours through `hotstore.insert` (so the metrics store and the hot counters are written as in
production), then --rules rules of 21 owners (one superuser, 20 granted 50 user_ids each): a third threshold
rules (avg/min/max/last over 1 to 3 hours of one of 6 metrics), a third drops, a third error counts (5 to 60
minutes); half name 1 to 20 user_ids, half none (the owner's whole grant); no channels (no broker here).

Prints the first tick (every breaching series fires: rows written) and the median and max of --rounds ticks
after it (steady state: readings only, no transition), in seconds. Target: under 5 s per tick.
"""

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import run_with_services  # noqa: E402

METRIC_NAMES = ("Recall", "Precision", "F1", "Accuracy", "ROC-AUC", "Loss")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", type=int, default=60_000, help="logs over the last 3 hours")
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    return run_with_services(lambda: run(args), services=("mongodb", "postgresql"))


def run(args: argparse.Namespace) -> int:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connections

    from access.models import Grant, format_user_ids
    from alerts import states
    from alerts.models import Alert, Rule, Transition
    from devservices import traffic
    from retrieval import hotstore
    from retrieval.models import LogEntry

    logs = LogEntry.collection()
    logs.database.client.drop_database(logs.database.name)
    call_command("migrate", verbosity=0)
    with connections["logs"].schema_editor() as editor:
        editor.create_model(LogEntry)
    end = datetime.now(UTC).replace(microsecond=0)
    started = time.perf_counter()
    for batch in traffic.batches(traffic.documents(args.logs, end - timedelta(hours=3), end, users=300, seed=1), 2000):
        hotstore.insert(batch)
    print(f"Loaded {args.logs:,} logs of 300 users in {time.perf_counter() - started:.1f} s")

    r = random.Random(7)
    owners = [User.objects.create_superuser("bench-admin")]
    for n in range(20):
        owner = User.objects.create_user(f"bench-{n}")
        Grant.objects.create(user=owner, read_user_ids=format_user_ids(set(r.sample(range(1, 301), 50))))
        owners.append(owner)
    rules = []
    for n in range(args.rules):
        kind = (Rule.Kind.THRESHOLD, Rule.Kind.DROP, Rule.Kind.ERRORS)[n % 3]
        user_ids = sorted(r.sample(range(1, 301), r.randint(1, 20))) if n % 2 else []
        fields: dict = {"owner": owners[n % len(owners)], "name": f"rule {n}", "kind": kind, "user_ids": user_ids}
        if kind == Rule.Kind.ERRORS:
            fields |= {"threshold": r.choice((5, 20, 50)), "window_minutes": r.choice((5, 15, 60)), "aggregate": ""}
        elif kind == Rule.Kind.DROP:
            fields |= {"metric": r.choice(METRIC_NAMES), "threshold": r.choice((10, 25, 50)), "window_minutes": 60}
        else:
            fields |= {
                "metric": r.choice(METRIC_NAMES),
                "aggregate": r.choice(("avg", "min", "max", "last")),
                "comparison": r.choice(("above", "below")),
                "threshold": r.choice((0.2, 0.5, 0.8)),
                "window_minutes": r.choice((60, 120, 180)),
            }
        rules.append(Rule(**fields))
    Rule.objects.bulk_create(rules)

    started = time.perf_counter()
    first = states.tick()
    first_seconds = time.perf_counter() - started
    print(f"First tick: {first_seconds:.2f} s, {len(first.fired):,} series fired ({Transition.objects.count():,} rows)")
    seconds = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        result = states.tick()
        seconds.append(time.perf_counter() - started)
        assert not result.fired, "a steady tick fired again"
    print(
        f"Steady ticks ({args.rules:,} rules, 300 users, {Alert.objects.filter(resolved_at=None).count():,} firing): "
        f"median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s over {args.rounds}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
