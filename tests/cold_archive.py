"""Test helpers for cold retrieval: archive parts written with plain gzip + json, as any tool could.

They do not use the app's encoder or writer, so the cold reader is tested against
the agreed layout and line format, not against itself.
"""

import gzip
import hashlib
import json
import socket
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from botocore.config import Config as BotoConfig
from bson import ObjectId
from django.conf import settings
from django.core.files.base import ContentFile

from archive.models import ArchivePart, ArchiveRun
from archive.storage import archive_storage


def log(timestamp: datetime, user_id: int = 1, level: str = "info", message: str = "Trained a model", **extra) -> dict:
    """A log document as MongoDB stores it (millisecond timestamps), with its `_id`."""
    return {
        "_id": ObjectId(),
        "timestamp": timestamp.replace(microsecond=timestamp.microsecond // 1000 * 1000),
        "user_id": user_id,
        "level": level,
        "message": message,
        **extra,
    }


def line(document: dict) -> bytes:
    data = {**document, "_id": str(document["_id"])}
    data["timestamp"] = document["timestamp"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(data).encode() + b"\n"


def minute_counts(documents: list[dict]) -> list[list[int]]:
    """[[minute of the day, logs], ...] as the archiver records them in the ledger."""
    minutes = Counter(d["timestamp"].hour * 60 + d["timestamp"].minute for d in documents)
    return [[minute, minutes[minute]] for minute in sorted(minutes)]


def write_parts(
    documents: list[dict], run: ArchiveRun | None = None, with_minutes: bool = True, purged: bool = False
) -> list[ArchivePart]:
    """Upload one part per (day, user, level) of `documents` (lines in the given order) and record it in the ledger:
    with per-minute counts unless `with_minutes` is false (a part of an older archiver), purged if `purged`."""
    run = run or ArchiveRun.objects.create(before=datetime.now(UTC).date(), status=ArchiveRun.Status.SUCCEEDED)
    groups = defaultdict(list)
    for document in documents:
        groups[(document["timestamp"].date(), document["user_id"], document["level"])].append(document)
    parts = []
    for (day, user_id, level), group in groups.items():
        raw = b"".join(line(d) for d in group)
        compressed = gzip.compress(raw)
        key = (
            f"{settings.ARCHIVE_PREFIX}/date={day:%Y-%m-%d}/user_id={user_id}/level={level}/part-{ObjectId()}.jsonl.gz"
        )
        archive_storage().save(key, ContentFile(compressed))
        parts.append(
            ArchivePart.objects.create(
                run=run,
                key=key,
                day=day,
                user_id=user_id,
                level=level,
                count=len(group),
                raw_bytes=len(raw),
                compressed_bytes=len(compressed),
                sha256=hashlib.sha256(compressed).hexdigest(),
                first_timestamp=min(d["timestamp"] for d in group),
                last_timestamp=max(d["timestamp"] for d in group),
                minute_counts=minute_counts(group) if with_minutes else None,
                purged=datetime.now(UTC) if purged else None,
            )
        )
    return parts


class GetCounter:
    """Counts GetObject requests the archive storage's boto3 client really sends."""

    EVENT = "before-send.s3.GetObject"

    def __init__(self):
        self.urls: list[str] = []

    def __enter__(self):
        self.events = archive_storage().connection.meta.client.meta.events
        self.events.register(self.EVENT, self._seen)
        return self

    def __exit__(self, *exc_info):
        self.events.unregister(self.EVENT, self._seen)

    def _seen(self, request, **kwargs):
        self.urls.append(request.url)

    def __len__(self) -> int:
        return len(self.urls)


def s3_storages(endpoint_url: str) -> dict:
    """STORAGES with the archive on another S3 endpoint, failing fast: to stand for a down or hung store."""
    archive = settings.STORAGES["archive"]
    fast_fail = BotoConfig(connect_timeout=0.5, read_timeout=0.5, retries={"max_attempts": 2, "mode": "standard"})
    options = {**archive["OPTIONS"], "endpoint_url": endpoint_url, "client_config": fast_fail}
    return {**settings.STORAGES, "archive": {**archive, "OPTIONS": options}}


@contextmanager
def silent_server() -> Iterator[str]:
    """A real TCP server that accepts connections and never answers: a hung object store."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept():
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()
    for connection in accepted:
        connection.close()
