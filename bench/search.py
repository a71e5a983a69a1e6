"""Search benchmark: the API against the bare driver and the seed app's plan, same server, same run.

    .venv/bin/python bench/search.py --logs 1000000        # the issue's size (loads ~2 x 70 s on FerretDB)
    .venv/bin/python bench/search.py --logs 100000 --repeat 5   # a quick run
    .venv/bin/python bench/search.py --logs 100000 --repeat 5 --shapes user+day+level \
        --handlers sqlite,postgresql        # FerretDB's two handlers side by side

Starts its own throwaway MongoDB-protocol server (FerretDB, on the handler FERRETDB_HANDLER
names, default postgresql) unless MONGODB_URI is set; with MONGODB_URI it uses the database
`logretrieval_bench` there and drops it at the end. With `--handlers a,b` it runs the
whole benchmark once per FerretDB handler, each in a child process with its own fresh
server and the same data, and ends with a table comparing them.
Loads demo logs (30 days, users 1-5) twice: into `logs` (our indexes) and into
`logs_seed_plan` (no secondary index: the Flask seed app's plan). Then, for each query
shape, times repeated requests
  - API:  GET /api/v1/logs over HTTP (a local threaded WSGI server, token auth, 100-row page)
  - raw:  pymongo find() with the very filter/sort/limit the hot source sends, on `logs`
  - seed: the same find() on `logs_seed_plan`
  - page: GET / (the search page, logged in), rendered with its histogram
then API and raw again with --clients threads at once (default 8), and prints p50/p95
(ms), the ratios, and each plan's explain() summary.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import date
from itertools import islice
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import percentile, run_with_services, start_http_server  # noqa: E402

from retrieval.buckets import stamped

SHAPES = {
    "user+day+level": {"user_id": "4", "date": "2023-08-27", "level": "error"},
    "user+day+level+keyword": {"user_id": "4", "date": "2023-08-27", "level": "error", "keyword": "Recall"},
    "user+day, all levels": {"user_id": "4", "date": "2023-08-27"},
    "day, all users, keyword": {"date": "2023-08-27", "keyword": "Recall"},
}
LAST_DAY = date(2023, 8, 31)  # 30 days: 2023-08-02 .. 2023-08-31
DAYS = 30


def timed(calls: dict, repeat: int) -> dict[str, list[float]]:
    """Milliseconds per call, the calls taken in turn so that a busy machine slows each alike."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm-up: connections, caches
    for _ in range(repeat):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            samples[name].append((time.perf_counter() - started) * 1000)
    return samples


def under_load(call, clients: int, repeat: int) -> list[float]:
    """Milliseconds per call while `clients` threads each make `repeat` calls at once."""
    samples: list[float] = []

    def client() -> None:
        for _ in range(repeat):
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000)  # list.append is atomic

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


def load(collections, logs: int) -> None:
    from retrieval.demo import demo_days, generate_demo_logs

    per_day = -(-logs // DAYS)
    documents = generate_demo_logs(demo_days(DAYS, LAST_DAY), per_day, seed=1)
    started, done = time.perf_counter(), 0
    while batch := list(islice(documents, 10_000)):
        for collection in collections:
            # insert_many adds _id to the dicts: both collections get the same ids.
            collection.insert_many(stamped(batch), ordered=False)
        done += len(batch)
        print(f"\r  loaded {done:,} logs x{len(collections)}", end="", file=sys.stderr)
    print(
        f"\r  loaded {done:,} logs into each of {len(collections)} collections in {time.perf_counter() - started:.0f}s",
        file=sys.stderr,
    )


def plan_summary(explain: dict) -> str:
    """One line from explain(): MongoDB's winning plan stages, or FerretDB's SQL plan and pushdowns."""
    planner = explain.get("queryPlanner", {})
    if "winningPlan" in planner:
        stages, node = [], planner["winningPlan"]
        while node:
            stages.append(node.get("stage", "?") + (f"({node['indexName']})" if "indexName" in node else ""))
            node = node.get("inputStage")
        return " <- ".join(stages)
    pushdowns = {k: explain[k] for k in ("filterPushdown", "sortPushdown", "limitPushdown") if k in explain}
    plan = planner.get("Plan")
    if isinstance(plan, dict):  # FerretDB's PostgreSQL handler: PostgreSQL's EXPLAIN (FORMAT JSON)
        nodes, node = [], plan
        while node:  # e.g. Gather <- Parallel Seq Scan (Filter: ...)
            nodes.append(node.get("Node Type", "?") + (f" (Filter: {node['Filter']})" if "Filter" in node else ""))
            node = (node.get("Plans") or [None])[0]
        plan = " <- ".join(nodes)
    return f"{plan} {pushdowns}"


def compare_handlers(args: argparse.Namespace, handlers: list[str]) -> int:
    """The benchmark once per FerretDB handler (child processes, one server each), then their ratios."""
    results: dict[str, dict] = {}
    for handler in handlers:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [sys.executable, __file__, "--logs", str(args.logs), "--repeat", str(args.repeat)]
            command += ["--clients", str(args.clients)]
            command += ["--handlers", handler, "--json", out.name]
            if args.shapes:
                command += ["--shapes", args.shapes]
            print(f"--- FerretDB on {handler}: {' '.join(command[1:])}", file=sys.stderr)
            subprocess.run(command, check=True)
            results[handler] = json.loads(Path(out.name).read_text())
    first, *others = handlers
    lines = [
        f"{args.logs:,} logs over {DAYS} days, 5 users; medians of {args.repeat} timed requests per cell "
        "after one warm-up; 100-row pages; times in ms; each handler on its own fresh FerretDB, one after the other",
        "",
        "| query shape | rows | "
        + " | ".join(
            f"{h} API p50 | {h} raw p50 | {h} page p50 | {h} API p50, {args.clients} clients" for h in handlers
        )
        + " | "
        + " | ".join(f"API {first} / {h} | raw {first} / {h}" for h in others)
        + " |",
        "|---|---|" + "---|" * (4 * len(handlers) + 2 * len(others)),
    ]
    for shape in results[first]["shapes"]:
        cells = {h: results[h]["shapes"][shape] for h in handlers}
        rows = {cells[h]["rows"] for h in handlers}
        assert len(rows) == 1, f"{shape}: the handlers returned different row counts {rows}"
        line = f"| {shape} | {rows.pop()} | "
        line += " | ".join(
            f"{cells[h]['p50']['api']:.1f} | {cells[h]['p50']['raw']:.1f} | {cells[h]['p50']['page']:.1f} | "
            f"{cells[h]['p50']['api_clients']:.1f}"
            for h in handlers
        )
        for h in others:
            line += f" | {cells[first]['p50']['api'] / cells[h]['p50']['api']:.1f}x"
            line += f" | {cells[first]['p50']['raw'] / cells[h]['p50']['raw']:.1f}x"
        lines.append(line + " |")
    plans = [
        f"- {shape} on {h}: {results[h]['shapes'][shape]['plan']}" for h in handlers for shape in results[h]["shapes"]
    ]
    print("\n".join([*lines, "", "Plans (explain, `logs`):", *plans]))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15, help="timed requests per shape and method")
    parser.add_argument("--shapes", default="", help=f"comma-separated, of: {', '.join(SHAPES)} (default all)")
    parser.add_argument(
        "--handlers",
        default="",
        help="FerretDB handlers to run on, comma-separated (sqlite,postgresql); default FERRETDB_HANDLER or postgresql",
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for the under-load columns")
    parser.add_argument("--json", default="", help="also write the numbers to this file")
    args = parser.parse_args()
    unknown = set(filter(None, args.shapes.split(","))) - set(SHAPES)
    if unknown:
        parser.error(f"unknown shapes: {', '.join(sorted(unknown))}")
    handlers = [h for h in args.handlers.split(",") if h]
    if handlers and os.environ.get("MONGODB_URI"):
        parser.error("--handlers picks the FerretDB this benchmark starts; unset MONGODB_URI")
    if len(handlers) > 1:
        return compare_handlers(args, handlers)

    if handlers:
        os.environ["FERRETDB_HANDLER"] = handlers[0]
    return run_with_services(lambda: run(args))


def run(args) -> int:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.http import QueryDict
    from django.test import Client

    from access.scope import EVERY
    from access.tokens import create_token
    from retrieval.filters import LogFilterSet
    from retrieval.models import LogEntry
    from retrieval.sources import ROW_FIELDS

    logs = LogEntry.collection()
    database = logs.database
    seed_plan = database["logs_seed_plan"]
    database.client.drop_database(database.name)  # ours alone: MONGODB_NAME=logretrieval_bench
    call_command("migrate", verbosity=0)
    call_command("migrate", database="logs", verbosity=0)  # our indexes on `logs`
    server_info = database.client.server_info()
    server = (
        f"FerretDB {server_info['ferretdbVersion']} ({os.environ.get('FERRETDB_HANDLER') or 'postgresql'} handler)"
        if "ferretdbVersion" in server_info
        else f"MongoDB {server_info['version']}"
    )
    print(f"Server: {server}; loading {args.logs:,} demo logs over {DAYS} days ...", file=sys.stderr)
    load([logs, seed_plan], args.logs)

    user = User.objects.create_superuser("bench")  # granted every user_id
    token = create_token(user, "bench")[1]
    browser = Client()
    browser.force_login(user)
    session = browser.cookies["sessionid"].value
    http = start_http_server()
    site = f"http://127.0.0.1:{http.server_address[1]}"
    base = f"{site}/api/v1/logs"

    lines = [
        f"server: {server}; {args.logs:,} logs over {DAYS} days, 5 users; {args.repeat} timed requests per cell "
        "after one warm-up, API/raw/seed/page taken in turn; 100-row pages; the page is the search page rendered "
        f"(histogram included); {args.clients} clients: each request's time while {args.clients} threads send "
        f"{args.repeat} each; times in ms",
        "",
        "| query shape | rows | API p50 | API p95 | raw p50 | raw p95 | seed plan p50 | seed plan p95 | API / raw "
        f"| seed / raw | page p50 | API p50, {args.clients} clients | raw p50, {args.clients} clients |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    plans = []
    numbers: dict = {"server": server, "logs": args.logs, "repeat": args.repeat, "shapes": {}}
    shapes = [shape for shape in SHAPES if not args.shapes or shape in args.shapes.split(",")]
    for shape in shapes:
        params = SHAPES[shape]
        data = QueryDict(mutable=True)
        data.update(params)
        filterset = LogFilterSet(data, scope=EVERY)
        assert filterset.is_valid(), filterset.form.errors
        query = filterset.log_query()
        mongo_filter, sort = query.mongo_filter(), query.mongo_sort()

        def api(params=params):
            request = urllib.request.Request(
                f"{base}?{urllib.parse.urlencode(params)}", headers={"Authorization": f"Token {token}"}
            )
            with urllib.request.urlopen(request) as response:
                return json.load(response)

        def raw(collection=logs, mongo_filter=mongo_filter, sort=sort, limit=query.limit):
            return list(collection.find(mongo_filter, ROW_FIELDS).sort(sort).limit(limit))

        def page(params=params):
            request = urllib.request.Request(
                f"{site}/?{urllib.parse.urlencode(params)}", headers={"Cookie": f"sessionid={session}"}
            )
            with urllib.request.urlopen(request) as response:
                return b'<svg class="histogram"' in response.read()  # the page with its histogram

        body = api()
        assert [r["id"] for r in body["results"]] == [str(d["_id"]) for d in raw()], "API and driver disagree"
        assert page(), "the search page did not render its histogram"
        seed = lambda f=mongo_filter, s=sort, n=query.limit: raw(seed_plan, f, s, n)  # noqa: E731
        timings = timed({"api": api, "raw": raw, "seed": seed, "page": page}, args.repeat)
        timings["api_clients"] = under_load(api, args.clients, args.repeat)
        timings["raw_clients"] = under_load(raw, args.clients, args.repeat)
        p50 = {name: statistics.median(samples) for name, samples in timings.items()}
        p95 = {name: percentile(samples, 0.95) for name, samples in timings.items()}
        lines.append(
            f"| {shape} | {len(body['results'])} | {p50['api']:.1f} | {p95['api']:.1f} | {p50['raw']:.1f} | "
            f"{p95['raw']:.1f} | {p50['seed']:.1f} | {p95['seed']:.1f} | {p50['api'] / p50['raw']:.2f}x | "
            f"{p50['seed'] / p50['raw']:.2f}x | {p50['page']:.1f} | {p50['api_clients']:.1f} | {p50['raw_clients']:.1f} |"
        )
        summaries = {}
        for name, collection in (("logs", logs), ("logs_seed_plan", seed_plan)):
            explain = collection.find(mongo_filter, ROW_FIELDS).sort(sort).limit(query.limit).explain()
            summaries[name] = plan_summary(explain)
            plans.append(f"- {shape} on `{name}`: {summaries[name]}")
        numbers["shapes"][shape] = {"rows": len(body["results"]), "p50": p50, "p95": p95, "plan": summaries["logs"]}
        print(lines[-1], file=sys.stderr)
    http.shutdown()
    print("\n".join([*lines, "", "Plans (explain):", *plans]))
    if args.json:
        Path(args.json).write_text(json.dumps(numbers))
    database.client.drop_database(database.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
