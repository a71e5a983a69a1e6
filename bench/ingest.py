"""Ingest benchmark: each way of sending logs against a bare insert_many of the same logs, same server, same run.

    .venv/bin/python bench/ingest.py --logs 20000 --batch 2000 --rounds 5

Starts its own throwaway FerretDB (unless MONGODB_URI is set; then the database
`logretrieval_bench` there, dropped at the end) and serves the app on a local threaded
WSGI server. Logs are realistic traffic (`devservices.traffic`: 300 Zipf-skewed users,
weighted levels, contexts) of the last hour. Each round, for each way in turn, the log
collection is dropped and re-created with its indexes, then every batch is sent once:

  - bare:   pymongo `insert_many(batch, ordered=False)` of the documents (the floor)
  - hotstore: `retrieval.hotstore.insert` of the same documents: the insert plus the histogram
            counters, no HTTP (what the counters cost)
  - json:   POST /api/v1/logs, `{"logs": [...]}` with ids
  - ndjson+gzip: POST /api/v1/logs, one record a line, gzip (compressed beforehand)
  - otlp:   POST /v1/logs, an OTLP ExportLogsServiceRequest in protobuf (encoded beforehand;
            no ids: the server derives them from the content)

Prints logs/s per way (median over rounds) and the ratio to bare; the target is >= 0.8x.
"""

import argparse
import gzip
import json
import statistics
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import run_with_services, start_http_server  # noqa: E402

from retrieval.buckets import stamped


def otlp_body(documents: list[dict]) -> bytes:
    """The documents as one OTLP request: a resource per logger (service.name), user.id and context as attributes."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

    severity = {"debug": 5, "info": 9, "warning": 13, "error": 17, "critical": 21}
    request = ExportLogsServiceRequest()
    resources: dict = {}  # logger -> its ScopeLogs

    def value(plain: object) -> AnyValue:
        if isinstance(plain, bool):
            return AnyValue(bool_value=plain)
        if isinstance(plain, int):
            return AnyValue(int_value=plain)
        if isinstance(plain, float):
            return AnyValue(double_value=plain)
        return AnyValue(string_value=str(plain))

    def attributes(context: dict, prefix: str = "") -> list[KeyValue]:
        pairs = []
        for key, item in context.items():
            if isinstance(item, dict):
                pairs.extend(attributes(item, f"{prefix}{key}."))
            else:
                pairs.append(KeyValue(key=prefix + key, value=value(item)))
        return pairs

    for document in documents:
        if document["logger"] not in resources:
            resource_logs = request.resource_logs.add()
            resource_logs.resource.attributes.append(
                KeyValue(key="service.name", value=AnyValue(string_value=document["logger"]))
            )
            resources[document["logger"]] = resource_logs.scope_logs.add()
        stamp = document["timestamp"]
        nanos = int((stamp - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) * 1000
        record = LogRecord(
            time_unix_nano=nanos,
            severity_number=severity[document["level"]],
            body=AnyValue(string_value=document["message"]),
            attributes=[KeyValue(key="user.id", value=AnyValue(int_value=document["user_id"]))]
            + attributes(document.get("context") or {}),
        )
        resources[document["logger"]].log_records.append(record)
    return request.SerializeToString()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--users", type=int, default=300)
    args = parser.parse_args()
    return run_with_services(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connections

    from access.tokens import create_token
    from devservices import traffic
    from retrieval import hotstore
    from retrieval.models import LogEntry

    logs = LogEntry.collection()
    logs.database.client.drop_database(logs.database.name)
    call_command("migrate", verbosity=0)
    token = create_token(User.objects.create_superuser("bench"), "bench")[1]  # granted every user_id
    server = start_http_server()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    end = datetime.now(UTC).replace(microsecond=0)
    documents = list(traffic.documents(args.logs, end - timedelta(hours=1), end, users=args.users, seed=1))
    batches = list(traffic.batches(documents, args.batch))
    record_batches = [list(traffic.records(batch)) for batch in batches]

    def post(path: str, body: bytes, content_type: str, **headers: str) -> None:
        request = urllib.request.Request(
            base + path,
            data=body,
            headers={"Authorization": f"Token {token}", "Content-Type": content_type, **headers},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            assert response.status in (200, 201), response.status

    bodies = {
        "json": [json.dumps({"logs": records}).encode() for records in record_batches],
        "ndjson+gzip": [
            gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records)) for records in record_batches
        ],
        "otlp": [otlp_body(batch) for batch in batches],
    }
    ways = {
        "bare": lambda i: logs.insert_many(stamped([dict(d) for d in batches[i]]), ordered=False),
        "hotstore": lambda i: hotstore.insert([dict(d) for d in batches[i]]),
        "json": lambda i: post("/api/v1/logs", bodies["json"][i], "application/json"),
        "ndjson+gzip": lambda i: post(
            "/api/v1/logs", bodies["ndjson+gzip"][i], "application/x-ndjson", **{"Content-Encoding": "gzip"}
        ),
        "otlp": lambda i: post("/v1/logs", bodies["otlp"][i], "application/x-protobuf"),
    }
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for round_ in range(args.rounds):
        for name, send in ways.items():
            logs.drop()
            hotstore.counts_collection().drop()
            hotstore.user_counts_collection().drop()
            with connections["logs"].schema_editor() as editor:
                editor.create_model(LogEntry)
            started = time.perf_counter()
            for index in range(len(batches)):
                send(index)
            seconds = time.perf_counter() - started
            stored = logs.count_documents({})
            assert stored == args.logs, f"{name}: stored {stored} of {args.logs}"
            rates[name].append(args.logs / seconds)
            print(f"  round {round_ + 1} {name}: {args.logs / seconds:,.0f} logs/s", file=sys.stderr)
    server.shutdown()

    info = logs.database.client.server_info()
    server_name = f"FerretDB {info['ferretdbVersion']}" if "ferretdbVersion" in info else f"MongoDB {info['version']}"
    bare = statistics.median(rates["bare"])
    sizes = {name: sum(map(len, parts)) / len(parts) / 1024 for name, parts in bodies.items()}
    lines = [
        f"server: {server_name}; {args.logs:,} logs ({args.users} Zipf users) in batches of {args.batch:,}, "
        f"{args.rounds} rounds, ways taken in turn; median logs/s",
        "",
        "| way | logs/s (median) | min | max | ÷ bare | body per batch |",
        "|---|---|---|---|---|---|",
    ]
    for name, samples in rates.items():
        size = f"{sizes[name]:,.0f} KB" if name in sizes else "n/a"
        lines.append(
            f"| {name} | {statistics.median(samples):,.0f} | {min(samples):,.0f} | {max(samples):,.0f} | "
            f"{statistics.median(samples) / bare:.2f}x | {size} |"
        )
    print("\n".join(lines))
    logs.database.client.drop_database(logs.database.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
