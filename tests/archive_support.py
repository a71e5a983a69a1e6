"""Helpers for the archive tests: make logs, and read the archive back as a stranger would."""

import gzip
import json
import os
from collections import Counter
from datetime import UTC, date, datetime

import boto3
from django.conf import settings

from retrieval import buckets, hotstore
from retrieval.demo import generate_demo_logs

DAYS = [date(2023, 8, 25), date(2023, 8, 26), date(2023, 8, 27)]
BEFORE = date(2023, 8, 28)


def insert_demo_logs(days=DAYS, per_day=300, seed=1) -> list[dict]:
    """Insert demo logs (all users and levels) and return them as stored, with their _id."""
    documents = list(generate_demo_logs(list(days), per_day, seed))
    if documents:
        hotstore.insert(documents)
    return documents


def s3_client():
    return boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"], region_name="us-east-1")


def archive_objects() -> dict[str, bytes]:
    """Every object under the archive prefix, listed and fetched with plain boto3 (or read from disk)."""
    prefix = settings.ARCHIVE_PREFIX + "/"
    if settings.ARCHIVE_STORAGE == "file":
        root = settings.STORAGES["archive"]["OPTIONS"]["location"]
        found = {}
        for directory, _, files in os.walk(os.path.join(root, settings.ARCHIVE_PREFIX)):
            for name in files:
                path = os.path.join(directory, name)
                with open(path, "rb") as file:
                    found[os.path.relpath(path, root)] = file.read()
        return found
    client = s3_client()
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=settings.ARCHIVE_BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=settings.ARCHIVE_BUCKET, Key=item["Key"])["Body"].read()
            found[item["Key"]] = body
    return found


def archived_lines() -> list[dict]:
    """Every archived log line, parsed with gzip + json only."""
    lines = []
    for key, body in archive_objects().items():
        if key.endswith(".jsonl.gz"):
            lines.extend(json.loads(line) for line in gzip.decompress(body).decode().splitlines())
    return lines


def clear_archive() -> None:
    """Delete every object under the archive prefix: listed (not fetched), deleted a thousand per request."""
    if settings.ARCHIVE_STORAGE == "file":
        return
    client = s3_client()
    while True:  # the first 1,000 keys left, as many as one delete_objects takes, until none is left
        listed = client.list_objects_v2(Bucket=settings.ARCHIVE_BUCKET, Prefix=settings.ARCHIVE_PREFIX + "/")
        if not (keys := [{"Key": item["Key"]} for item in listed.get("Contents", [])]):
            return
        answer = client.delete_objects(Bucket=settings.ARCHIVE_BUCKET, Delete={"Objects": keys, "Quiet": True})
        assert not answer.get("Errors"), answer["Errors"]


def as_line(document: dict) -> dict:
    """What the archive must hold for a stored document: the same fields (not hot storage's time buckets),
    `_id` hex, ISO UTC timestamp."""
    line = {key: value for key, value in document.items() if key not in ("_id", "timestamp", *buckets.FIELDS)}
    line["_id"] = str(document["_id"])
    stamp = document["timestamp"]
    stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    line["timestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return line


def assert_each_log_once(collection, originals: list[dict]) -> tuple[int, int]:
    """Every original log is in MongoDB or in the archive, exactly once overall, with the same fields.

    Returns (hot, cold) counts.
    """
    hot = list(collection.find({}))
    cold = archived_lines()
    seen = Counter([str(document["_id"]) for document in hot] + [line["_id"] for line in cold])
    duplicates = {log_id: n for log_id, n in seen.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} logs stored twice"
    expected = {str(document["_id"]): as_line(document) for document in originals}
    assert set(seen) == set(expected), (
        f"missing {len(set(expected) - set(seen))}, extra {len(set(seen) - set(expected))}"
    )
    for line in cold:
        assert sent(line) == sent(expected[line["_id"]])
    for document in hot:
        assert sent(as_line(document)) == sent(expected[str(document["_id"])])
    return len(hot), len(cold)


def sent(line: dict) -> dict:
    """A log's line as its sender wrote it: without the `metrics` intake extracts (tests/metrics/test_metric_store.py)."""
    return {key: value for key, value in line.items() if key != "metrics"}


def day_start(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def days_in_hot(collection) -> set[date]:
    return {document["timestamp"].date() for document in collection.find({}, {"timestamp": 1})}


def start_worker(**extra_env: str):
    """A real `celery -A logsite worker` sharing this test run's SQL database, MongoDB database and broker."""
    import subprocess
    import sys
    from pathlib import Path

    from django.db import connections

    from tests.sql_support import sql_test_database_url

    env = {
        **os.environ,
        "DATABASE_URL": sql_test_database_url(),
        "MONGODB_NAME": connections["logs"].settings_dict["NAME"],
        **extra_env,
    }
    celery = Path(sys.executable).with_name("celery")
    return subprocess.Popen(
        [str(celery), "-A", "logsite", "worker", "--pool", "solo", "--loglevel", "INFO", "--without-heartbeat"],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for(check, timeout: float = 90.0, what: str = "condition"):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
