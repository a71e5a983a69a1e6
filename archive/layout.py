"""The archive's layout in object storage: where a day's parts go (Hive-style `date=`, `user_id=`, `level=`
folders under ARCHIVE_PREFIX) and the day's manifest, rebuilt from the ledger after every change."""

import io
import json
import secrets
from datetime import date
from urllib.parse import quote

from django.conf import settings
from django.utils import timezone

from archive import jsonl, storage
from archive.models import ArchivePart, IdIndex


def day_prefix(day: date) -> str:
    return f"{settings.ARCHIVE_PREFIX}/date={day.isoformat()}"


def part_key(day: date, user_id: int, level: str) -> str:
    # Hive partition values are URL-escaped, so an odd level can never become a path.
    part_id = f"{timezone.now():%Y%m%dT%H%M%S}-{secrets.token_hex(6)}"
    return f"{day_prefix(day)}/user_id={quote(str(user_id), safe='')}/level={quote(str(level), safe='')}/part-{part_id}.jsonl.gz"


def manifest_key(day: date) -> str:
    return f"{day_prefix(day)}/manifest.json"


def write_manifest(day: date) -> None:
    """The day's manifest, rebuilt from the ledger: every part of the day, with counts, sizes and sha256."""
    parts = list(ArchivePart.objects.filter(day=day).order_by("user_id", "level", "key"))
    manifest = {
        "date": day.isoformat(),
        "updated": jsonl.format_timestamp(timezone.now()),
        "logs": sum(part.count for part in parts),
        "raw_bytes": sum(part.raw_bytes for part in parts),
        "compressed_bytes": sum(part.compressed_bytes for part in parts),
        "parts": [
            {
                "key": part.key,
                "user_id": part.user_id,
                "level": part.level,
                "count": part.count,
                "raw_bytes": part.raw_bytes,
                "compressed_bytes": part.compressed_bytes,
                "sha256": part.sha256,
                "first_timestamp": jsonl.format_timestamp(part.first_timestamp),
                "last_timestamp": jsonl.format_timestamp(part.last_timestamp),
            }
            for part in parts
        ],
        # The day's id index objects (archive.idindex), for tools that check the day's objects against it.
        "id_indexes": [
            {"key": index.key, "logs": index.logs, "size": index.size, "sha256": index.sha256}
            for index in IdIndex.objects.filter(day=day).order_by("key")
        ],
    }
    # The ledger is the source of truth; a missing manifest is rewritten by the next run of the day.
    storage.replace(manifest_key(day), io.BytesIO(json.dumps(manifest, indent=2).encode()))
