"""The archival protocol: move every complete UTC day older than the retention to cold storage.

Per day, under a per-day lock (archive.locks):

1. recover what a dead run left: objects uploaded but never recorded are
   deleted (their logs are still in MongoDB); recorded parts whose logs were
   not all deleted from MongoDB are purged now, by exact `_id`s;
2. export the day's logs into part files (archive.exporter), one pass;
3. for each part: note the key as a PendingUpload -> upload -> verify (read back:
   sha256 of the object and count of lines); then the same for the parts' id index
   object (archive.idindex, sha256 read back);
4. ledger: record all the day's ArchiveParts and their id index (and drop their
   PendingUploads) in one transaction, so a day's logs are either all deletable or none are;
5. write the day's manifest (from the ledger, so it lists every part of the day);
6. purge: delete exactly the recorded logs from MongoDB (archive.purge).

A crash anywhere leaves each log in MongoDB, or in a recorded part, or both
(until step 1 of the next run): never lost, never in two recorded parts. Logs
that arrive for a day after it was exported stay in MongoDB and go into a new
part on a later run.
"""

import hashlib
import logging
import os
import socket
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from archive import boundary, cache, idindex, jsonl, layout, locks, purge, storage
from archive.exporter import PartFile, export_day
from archive.metrics import count_archive_run
from archive.models import ArchivedDay, ArchivePart, ArchiveRun, IdIndex, PendingUpload
from archive.storage import StorageError
from retrieval import buckets, hotstore
from retrieval.buckets import day_bounds
from retrieval.compression import TruncatedGzip
from retrieval.models import LogEntry

logger = logging.getLogger(__name__)

READ_CHUNK = 1 << 20
# Object storage is down, refused a write, or returned something other than what was written: the run
# fails, nothing is deleted, and it is retried. The storage's one error (archive.storage).
ArchiveStorageError = StorageError


Progress = Callable[[int], None]
_T = TypeVar("_T")


def due_before(now: datetime | None = None) -> date:
    """The first day that stays hot: days strictly before it are archived (`archive.boundary`'s rule)."""
    return boundary.archive_before(now)


class _Heartbeat:
    """Renews the day lock and the run's heartbeat, at most every few seconds."""

    def __init__(self, run: ArchiveRun, day: date, holder: str):
        self.run, self.day, self.holder = run, day, holder
        self.interval = settings.ARCHIVE_LOCK_SECONDS / 5
        self.last = time.monotonic()

    def __call__(self, force: bool = False) -> None:
        if force or time.monotonic() - self.last >= self.interval:
            locks.renew(self.day, self.holder)
            ArchiveRun.objects.filter(pk=self.run.pk).update(heartbeat=timezone.now())
            self.last = time.monotonic()


def upload(key: str, part: PartFile) -> None:
    with part.open() as file:
        storage.put(key, file)


def verify(key: str, part: PartFile) -> None:
    """Read the stored object back: same sha256 and the same number of lines, or raise."""
    digest = hashlib.sha256()

    def hashed(chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            digest.update(chunk)
            yield chunk

    try:
        lines = sum(block.count(b"\n") for block in jsonl.gzip_line_blocks(hashed(storage.read_chunks(key))))
    except (TruncatedGzip, zlib.error) as exc:
        raise ArchiveStorageError(f"verification of {key} failed: the stored object is not whole gzip ({exc})") from exc
    if digest.hexdigest() != part.sha256 or lines != part.count:
        raise ArchiveStorageError(
            f"verification of {key} failed: stored {lines} lines, sha256 {digest.hexdigest()}; "
            f"wrote {part.count} lines, sha256 {part.sha256}"
        )


def upload_parts(
    run: ArchiveRun, day: date, parts: list[PartFile], heartbeat: _Heartbeat
) -> list[tuple[str, PartFile]]:
    """Upload and verify a day's parts, ARCHIVE_UPLOAD_THREADS at a time: each part is a few
    round trips to object storage that mostly wait on the network."""
    uploaded = [(layout.part_key(day, part.user_id, part.level), part) for part in parts]
    # Every key is noted before any upload starts: a crash leaves nothing unnoted behind (recover_day).
    PendingUpload.objects.bulk_create([PendingUpload(key=key, day=day, run=run) for key, _ in uploaded], batch_size=500)

    def upload_and_verify(key: str, part: PartFile) -> None:
        upload(key, part)
        verify(key, part)

    pool = ThreadPoolExecutor(max_workers=settings.ARCHIVE_UPLOAD_THREADS, thread_name_prefix="archive-upload")
    try:
        for _ in pool.map(upload_and_verify, *zip(*uploaded, strict=True)) if uploaded else ():
            heartbeat()  # SQL stays on this thread
    finally:
        pool.shutdown(cancel_futures=True)
    return uploaded


def upload_id_index(run: ArchiveRun, day: date, part_paths: list[str]) -> tuple[str, idindex.IndexFile]:
    """Write, upload and verify (sha256 read back) the id index of parts whose files are `part_paths`
    (the parts sorted by key); its key is noted as a PendingUpload first, as a part's is."""
    key = idindex.index_key(day)
    PendingUpload.objects.create(key=key, day=day, run=run)
    directory = Path(tempfile.mkdtemp(prefix="idindex-"))
    index = idindex.write_index(part_paths, directory / "ids.idx")
    try:
        with open(index.path, "rb") as file:
            storage.put(key, file)
        digest = hashlib.sha256()
        for chunk in storage.read_chunks(key):
            digest.update(chunk)
        if digest.hexdigest() != index.sha256:
            raise ArchiveStorageError(
                f"verification of {key} failed: sha256 {digest.hexdigest()}, wrote {index.sha256}"
            )
    finally:
        index.path.unlink()
        directory.rmdir()
    return key, index


def save_id_index(day: date, key: str, index: idindex.IndexFile) -> IdIndex:
    """The ledger's rows of an uploaded id index (inside the caller's transaction)."""
    row = IdIndex.objects.create(key=key, day=day, logs=index.logs, size=index.size, sha256=index.sha256)
    for segment in index.segments:
        segment.index = row
    row.segments.bulk_create(index.segments, batch_size=500)
    PendingUpload.objects.filter(key=key).delete()
    return row


def record(
    run: ArchiveRun,
    day: date,
    uploaded: list[tuple[str, PartFile]],
    heartbeat: _Heartbeat,
    id_index: tuple[str, idindex.IndexFile],
) -> list[ArchivePart]:
    """The ledger step, for the whole day at once: its parts (and their id index) become readable
    and their logs deletable."""
    with transaction.atomic():
        heartbeat(force=True)  # still our day: nobody else may have cleaned up our uploads
        index_row = save_id_index(day, *id_index)
        archived = ArchivePart.objects.bulk_create(
            [ArchivePart(run=run, key=key, id_index=index_row, **part.ledger_fields()) for key, part in uploaded],
            batch_size=500,
        )
        PendingUpload.objects.filter(key__in=[key for key, _ in uploaded]).delete()
        ArchiveRun.objects.filter(pk=run.pk).update(
            days=F("days") + 1,
            logs=F("logs") + sum(part.count for _, part in uploaded),
            raw_bytes=F("raw_bytes") + sum(part.raw_bytes for _, part in uploaded),
            compressed_bytes=F("compressed_bytes") + sum(part.compressed_bytes for _, part in uploaded),
        )
    return archived


def _file_chunks(part: PartFile) -> Iterator[bytes]:
    with part.open() as file:
        while chunk := file.read(READ_CHUNK):
            yield chunk


def recover_day(day: date, heartbeat: _Heartbeat) -> bool:
    """Finish or undo what an earlier run left for `day`; True if there was anything."""
    pending = list(PendingUpload.objects.filter(day=day))
    for upload_ in pending:
        # Never recorded, so never used for deletion: its logs are all still hot.
        storage.delete(upload_.key)
        upload_.delete()
    unpurged = list(ArchivePart.objects.filter(day=day, purged__isnull=True))
    if unpurged:
        # Some of their logs may be gone already (a purge that died halfway): deletes are by exact id.
        purge.purge_parts(day, [(part, storage.read_chunks(part.key)) for part in unpurged], heartbeat)
    if pending or unpurged:
        logger.info("Recovered %s: %d unrecorded uploads removed, %d parts purged", day, len(pending), len(unpurged))
    return bool(pending or unpurged)


def archive_day(run: ArchiveRun, day: date, heartbeat: _Heartbeat, progress: Progress) -> int:
    """Archive what MongoDB holds for `day` (the lock is held); returns the number of logs read."""
    recovered = recover_day(day, heartbeat)

    def on_batch(count: int) -> None:
        progress(count)
        heartbeat()

    # Before the export reads MongoDB: every log stored for the day before this moment is exported now
    # (or was in a recorded part already), so once the purge is done searches may skip the day there.
    exported_from = sql_now(run)
    export = export_day(LogEntry.collection(), day, on_batch)
    try:
        uploaded = upload_parts(run, day, export.parts, heartbeat)
        archived = []
        if uploaded:
            # Ordinals in the index are the parts' places in key order.
            id_index = upload_id_index(run, day, [str(part.path) for _, part in sorted(uploaded, key=lambda u: u[0])])
            heartbeat()
            archived = record(run, day, uploaded, heartbeat, id_index)
        if archived or recovered:
            layout.write_manifest(day)
        if archived or export.already_archived:
            # The local files are byte for byte the verified objects: read the ids back from them.
            parts = [(record_, _file_chunks(part)) for record_, part in zip(archived, export.parts, strict=True)]
            purge.purge_parts(day, parts, heartbeat, also=export.already_archived)
    finally:
        export.close()
    if archived or recovered or export.already_archived:
        ArchivedDay.objects.update_or_create(day=day, defaults={"exported_from": exported_from})
        # Searches count this day from its logs now (archive.hot): its counters only cost storage.
        hotstore.drop_day(buckets.day_of(day_bounds(day)[0]))
    return export.count


def index_day(run: ArchiveRun, day: date, heartbeat: _Heartbeat) -> int:
    """Write the id index of `day`'s parts that have none (recorded before it existed); the number of parts.

    The day lock is held. All of them at once or none: a run killed midway leaves a pending upload,
    which the next run of the day (this or the archiver) deletes, and the parts without an index.
    """
    recover_day(day, heartbeat)
    parts = list(ArchivePart.objects.filter(day=day, id_index__isnull=True).defer("minute_counts").order_by("key"))
    if not parts:
        return 0
    with cache.held(parts, storage.chunk_reader) as paths:
        key, index = upload_id_index(run, day, paths)
    with transaction.atomic():
        heartbeat(force=True)
        row = save_id_index(day, key, index)
        ArchivePart.objects.filter(pk__in=[part.pk for part in parts]).update(id_index=row)
    layout.write_manifest(day)
    return len(parts)


def index_archived_ids(
    trigger: str = "command", progress: Callable[[date, int], None] = lambda d, n: None
) -> ArchiveRun:
    """Index the ids of every day whose parts were recorded before the id index existed, oldest day first.

    Resumable: each day is indexed in one transaction, and a day done is not done again. A day
    another archiver holds is skipped (run again later). Visible in the admin as a run with `trigger`.
    """
    fail_abandoned_runs()
    run = ArchiveRun.objects.create(before=timezone.now().date(), trigger=trigger)
    holder = f"run {run.pk} on {socket.gethostname()}:{os.getpid()}"[:64]
    try:
        days = ArchivePart.objects.filter(id_index__isnull=True).values_list("day", flat=True).distinct()
        for day in sorted(set(days)):
            if locks.acquire(day, holder):
                with locks.released_after(day, holder):
                    progress(day, index_day(run, day, _Heartbeat(run, day, holder)))
            else:
                logger.info("Not indexing %s now: another archiver holds it", day)
    except Exception as exc:
        record_failure(run, exc)
        raise
    ArchiveRun.objects.filter(pk=run.pk).update(status=ArchiveRun.Status.SUCCEEDED, finished=timezone.now())
    run.refresh_from_db()
    return run


def sql_now(run: ArchiveRun) -> datetime:
    """The SQL server's clock (read along the run's row): ingest stamps late writes with it too
    (archive.boundary.note_late_writes), so the two times compare without clock skew."""
    return ArchiveRun.objects.filter(pk=run.pk).annotate(now=Now()).values_list("now", flat=True).get()


def next_day(after: date | None, before: date) -> date | None:
    """The oldest day in (after, before) with hot logs or unfinished ledger work.

    One sorted query, a full scan on FerretDB: asked at the start of a run and
    after an empty day only; otherwise the run steps to the next day, whose
    export is a scan anyway.
    """
    ledger = set(PendingUpload.objects.filter(day__lt=before).values_list("day", flat=True))
    ledger |= set(ArchivePart.objects.filter(day__lt=before, purged__isnull=True).values_list("day", flat=True))
    candidates = {day for day in ledger if after is None or day > after}
    timestamp = {"$lt": day_bounds(before)[0]}
    if after is not None:
        timestamp["$gte"] = day_bounds(after)[1]
    oldest = LogEntry.collection().find_one({"timestamp": timestamp}, {"timestamp": 1}, sort=[("timestamp", 1)])
    if oldest is not None:
        candidates.add(oldest["timestamp"].date())
    return min(candidates, default=None)


def fail_abandoned_runs() -> None:
    """Runs still "running" with no heartbeat for longer than a lock lives belong to dead workers."""
    stale = timezone.now() - timedelta(seconds=settings.ARCHIVE_LOCK_SECONDS)
    ArchiveRun.objects.filter(status=ArchiveRun.Status.RUNNING, heartbeat__lt=stale).update(
        status=ArchiveRun.Status.FAILED,
        finished=timezone.now(),
        error="The worker stopped without finishing (no heartbeat); the next run recovered its days.",
    )


def record_failure(run: ArchiveRun, error: Exception) -> None:
    """Mark `run` failed with `error`. Never raises: the caller re-raises `error`, the first
    failure, which a second one (the SQL database down as well, say) must not replace."""
    try:
        ArchiveRun.objects.filter(pk=run.pk).update(
            status=ArchiveRun.Status.FAILED, finished=timezone.now(), error=f"{type(error).__name__}: {error}"
        )
        logs = ArchiveRun.objects.values_list("logs", flat=True).get(pk=run.pk)
    except Exception as exc:  # secondary to `error`
        # The run stays "running" until fail_abandoned_runs sees its heartbeat stop.
        logger.error("Could not record that archive run %s failed (%s: %s)", run.pk, type(exc).__name__, exc)
        logs = 0
    count_archive_run(ArchiveRun.Status.FAILED, logs)


def archive_logs(before: date | None = None, trigger: str = "task", progress: Progress = lambda n: None) -> ArchiveRun:
    """Archive every day before `before` (default: the retention) that no other archiver holds."""
    fail_abandoned_runs()
    run = ArchiveRun.objects.create(before=before or due_before(), trigger=trigger)
    holder = f"run {run.pk} on {socket.gethostname()}:{os.getpid()}"[:64]
    try:
        day = next_day(None, run.before)
        while day is not None and day < run.before:
            archived = 0
            if locks.acquire(day, holder):
                with locks.released_after(day, holder):
                    archived = archive_day(run, day, _Heartbeat(run, day, holder), progress)
            else:
                logger.info("Skipping %s: another archiver holds it", day)
            day = day + timedelta(days=1) if archived else next_day(day, run.before)
    except Exception as exc:
        record_failure(run, exc)
        raise
    ArchiveRun.objects.filter(pk=run.pk).update(status=ArchiveRun.Status.SUCCEEDED, finished=timezone.now())
    run.refresh_from_db()
    count_archive_run(run.status, run.logs)
    return run
