"""The archiver end to end on real services: FerretDB, the moto S3 server (and the filesystem storage)."""

import gzip
import hashlib
import json
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from archive import archiver, exporter, jsonl, locks, purge
from archive.archiver import ArchiveStorageError, archive_logs, due_before
from archive.models import ArchivePart, ArchiveRun, DayLock, PendingUpload
from retrieval import hotstore
from tests.archive_support import (
    BEFORE,
    DAYS,
    archive_objects,
    archived_lines,
    assert_each_log_once,
    days_in_hot,
    insert_demo_logs,
)

pytestmark = [pytest.mark.django_db(databases=["default", "logs"]), pytest.mark.usefixtures("empty_archive")]


def test_days_before_the_cutoff_move_to_the_archive_exactly_once_with_the_same_fields(logs_db):
    originals = insert_demo_logs(days=[*DAYS, BEFORE], per_day=400)

    run = archive_logs(before=BEFORE)

    assert days_in_hot(logs_db) == {BEFORE}
    hot, cold = assert_each_log_once(logs_db, originals)
    assert (hot, cold) == (400, 1200)
    assert run.status == ArchiveRun.Status.SUCCEEDED and run.finished is not None
    assert (run.days, run.logs) == (3, 1200)
    parts = ArchivePart.objects.filter(run=run)
    assert sum(part.count for part in parts) == 1200
    assert run.compressed_bytes == sum(part.compressed_bytes for part in parts)
    assert run.raw_bytes > 3 * run.compressed_bytes
    assert all(part.purged for part in parts) and not PendingUpload.objects.exists() and not DayLock.objects.exists()


def test_keys_are_hive_partitions_and_each_day_has_a_manifest_matching_its_objects(logs_db):
    insert_demo_logs(days=DAYS[:1], per_day=500)
    archive_logs(before=BEFORE)

    objects = archive_objects()
    manifest = json.loads(objects.pop("logs/date=2023-08-25/manifest.json"))
    assert manifest["date"] == "2023-08-25" and manifest["logs"] == 500
    (index,) = manifest["id_indexes"]  # the parts' id index (archive.idindex), 16 bytes per log
    assert index["key"].startswith("logs/date=2023-08-25/ids-") and index["key"].endswith(".idx")
    body = objects.pop(index["key"])
    assert index["logs"] == 500 and index["size"] == len(body) == 16 * 500
    assert index["sha256"] == hashlib.sha256(body).hexdigest()
    assert {part["key"] for part in manifest["parts"]} == set(objects)
    for entry in manifest["parts"]:
        body = objects[entry["key"]]
        prefix = f"logs/date=2023-08-25/user_id={entry['user_id']}/level={entry['level']}/part-"
        assert entry["key"].startswith(prefix) and entry["key"].endswith(".jsonl.gz")
        assert entry["compressed_bytes"] == len(body)
        assert entry["sha256"] == hashlib.sha256(body).hexdigest()
        rows = [json.loads(line) for line in gzip.decompress(body).splitlines()]
        assert len(rows) == entry["count"] and len(gzip.decompress(body)) == entry["raw_bytes"]
        assert {(row["user_id"], row["level"]) for row in rows} == {(entry["user_id"], entry["level"])}
        stamps = sorted(row["timestamp"] for row in rows)
        assert (stamps[0], stamps[-1]) == (entry["first_timestamp"], entry["last_timestamp"])
    assert len(manifest["parts"]) == 25  # 5 users x 5 levels


def test_a_line_keeps_logger_context_and_extra_fields_and_decodes_back(logs_db, make_log):
    stamp = datetime(2023, 8, 27, 12, 30, 15, 123000, tzinfo=UTC)
    original = make_log(
        timestamp=stamp,
        user_id=4,
        level="error",
        message='Evaluated "ünïcode" model\nline two',
        logger="trainer",
        context={"model": "leo", "f1": 0.5, "when": stamp},
    )
    archive_logs(before=BEFORE)

    (line,) = archived_lines()
    assert line == {
        "_id": str(original["_id"]),
        "timestamp": "2023-08-27T12:30:15.123000Z",
        "user_id": 4,
        "level": "error",
        "message": 'Evaluated "ünïcode" model\nline two',
        "logger": "trainer",
        "context": {"model": "leo", "f1": 0.5, "when": "2023-08-27T12:30:15.123000Z"},
    }
    decoded = jsonl.decode(jsonl.encode(original))
    assert decoded["_id"] == original["_id"] and decoded["timestamp"] == stamp


def test_late_arrivals_for_an_archived_day_go_into_a_new_part_on_a_later_run(logs_db, make_log):
    originals = insert_demo_logs(days=DAYS[:1], per_day=200)
    archive_logs(before=BEFORE)
    first_keys = set(ArchivePart.objects.values_list("key", flat=True))

    late = [make_log(timestamp=datetime(2023, 8, 25, 23, 59, tzinfo=UTC), user_id=2, level="info") for _ in range(3)]
    second = archive_logs(before=BEFORE)

    assert second.logs == 3 and second.days == 1
    new_parts = ArchivePart.objects.exclude(key__in=first_keys)
    assert [(part.user_id, part.level, part.count) for part in new_parts] == [(2, "info", 3)]
    assert_each_log_once(logs_db, originals + late)
    assert logs_db.count_documents({}) == 0
    manifest = json.loads(archive_objects()["logs/date=2023-08-25/manifest.json"])
    assert manifest["logs"] == 203 and len(manifest["parts"]) == 26


def test_a_day_with_zero_logs_is_skipped_and_a_run_with_nothing_to_do_succeeds(logs_db):
    originals = insert_demo_logs(days=[DAYS[0], DAYS[2]], per_day=100)

    run = archive_logs(before=BEFORE)

    assert run.status == ArchiveRun.Status.SUCCEEDED and run.days == 2
    assert not ArchivePart.objects.filter(day=DAYS[1]).exists()
    assert not any("date=2023-08-26" in key for key in archive_objects())
    assert_each_log_once(logs_db, originals)

    empty = archive_logs(before=BEFORE)
    assert (empty.status, empty.days, empty.logs) == (ArchiveRun.Status.SUCCEEDED, 0, 0)


def test_logs_younger_than_the_retention_stay_hot(logs_db, make_log, settings):
    settings.HOT_RETENTION_DAYS = 1
    now = datetime.now(UTC)
    yesterday = make_log(timestamp=now - timedelta(days=1))
    today = make_log(timestamp=now - timedelta(minutes=1))
    old = make_log(timestamp=now - timedelta(days=3))

    run = archive_logs()

    assert run.before == now.date() - timedelta(days=1) == due_before()
    assert {document["_id"] for document in logs_db.find({})} == {yesterday["_id"], today["_id"]}
    assert [line["_id"] for line in archived_lines()] == [str(old["_id"])]


def test_storage_outage_fails_the_run_with_a_clear_error_and_deletes_nothing(logs_db, settings):
    originals = insert_demo_logs(days=DAYS[:1], per_day=100)
    working = settings.STORAGES
    archive = working["archive"]
    settings.STORAGES = {
        **working,
        "archive": {**archive, "OPTIONS": {**archive["OPTIONS"], "endpoint_url": "http://127.0.0.1:9"}},
    }

    with pytest.raises(ArchiveStorageError, match="object storage failed to store logs/date=2023-08-25/"):
        archive_logs(before=BEFORE)

    run = ArchiveRun.objects.latest()
    assert run.status == ArchiveRun.Status.FAILED and "object storage failed" in run.error
    assert logs_db.count_documents({}) == 100 and not ArchivePart.objects.exists()

    settings.STORAGES = working
    again = archive_logs(before=BEFORE)
    assert again.status == ArchiveRun.Status.SUCCEEDED and again.logs == 100
    assert_each_log_once(logs_db, originals)
    assert not PendingUpload.objects.exists()


def test_a_refused_write_fails_the_run_and_deletes_nothing(logs_db, settings):
    insert_demo_logs(days=DAYS[:1], per_day=50)
    archive = settings.STORAGES["archive"]
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {**archive, "OPTIONS": {**archive["OPTIONS"], "bucket_name": "no-such-bucket"}},
    }

    with pytest.raises(ArchiveStorageError, match="NoSuchBucket"):
        archive_logs(before=BEFORE)

    assert "NoSuchBucket" in ArchiveRun.objects.latest().error
    assert logs_db.count_documents({}) == 50 and not ArchivePart.objects.exists()


def test_the_filesystem_storage_holds_the_same_layout(logs_db, settings, tmp_path):
    settings.ARCHIVE_STORAGE = "file"
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    originals = insert_demo_logs(days=DAYS[:2], per_day=100)

    archive_logs(before=BEFORE)

    assert (tmp_path / "logs/date=2023-08-25/manifest.json").exists()
    assert assert_each_log_once(logs_db, originals) == (0, 200)


@pytest.mark.parametrize("sort", ["server", "local"])
def test_both_export_sorts_write_one_part_per_user_and_level_and_purge_exactly_the_archived_logs(
    logs_db, settings, monkeypatch, sort
):
    settings.ARCHIVE_EXPORT_SORT = sort
    settings.ARCHIVE_DELETE_BATCH = 7
    monkeypatch.setattr(exporter, "SORT_RUN_BYTES", 4096)  # many spilled runs on the local path
    monkeypatch.setattr(exporter, "MAX_MERGE_FILES", 3)  # and merges of merges
    originals = insert_demo_logs(days=DAYS, per_day=60)

    archive_logs(before=date(2023, 8, 27))

    assert days_in_hot(logs_db) == {date(2023, 8, 27)}
    assert assert_each_log_once(logs_db, originals) == (60, 120)
    groups = {(d["timestamp"].date(), d["user_id"], d["level"]) for d in originals if d["timestamp"].day < 27}
    parts = list(ArchivePart.objects.all())
    assert sorted((p.day, p.user_id, p.level) for p in parts) == sorted(groups)
    stored = archive_objects()  # once: it lists and fetches every object
    for part in parts:  # each part in (timestamp, _id) order, bounds recorded
        rows = [json.loads(line) for line in gzip.decompress(stored[part.key]).splitlines()]
        keys = [(row["timestamp"], row["_id"]) for row in rows]
        assert keys == sorted(keys) and len(rows) == part.count
        assert jsonl.format_timestamp(part.first_timestamp) == keys[0][0]
        assert jsonl.format_timestamp(part.last_timestamp) == keys[-1][0]


def test_a_log_inserted_during_the_purge_with_an_id_below_the_archived_ones_stays_hot(logs_db, settings, monkeypatch):
    settings.ARCHIVE_DELETE_BATCH = 20
    originals = insert_demo_logs(days=DAYS[:1], per_day=100)
    real_delete = purge.delete_window_of_ids
    intruder = {
        # Acknowledged for the day being archived, in the first window's minutes, with the lowest possible _id.
        "_id": jsonl.ObjectId("000000000000000000000001"),
        "timestamp": min(d["timestamp"] for d in originals),
        "user_id": originals[0]["user_id"],
        "level": originals[0]["level"],
        "message": "arrived during the purge",
    }

    def delete_while_a_log_arrives(collection, match):
        if logs_db.count_documents({"_id": intruder["_id"]}) == 0 and not run_once:
            hotstore.insert([dict(intruder)])
            run_once.append(True)
        return real_delete(collection, match)

    run_once: list = []
    monkeypatch.setattr(purge, "delete_window_of_ids", delete_while_a_log_arrives)
    run = archive_logs(before=BEFORE)

    assert run.status == ArchiveRun.Status.SUCCEEDED
    assert [document["message"] for document in logs_db.find({})] == ["arrived during the purge"]
    assert len(archived_lines()) == 100
    monkeypatch.undo()
    archive_logs(before=BEFORE)  # the next run archives it in a part of its own
    assert assert_each_log_once(logs_db, [*originals, intruder]) == (0, 101)


@pytest.mark.django_db(databases=["default", "logs"], transaction=True)
def test_two_runs_at_once_never_share_a_day(logs_db, monkeypatch):
    originals = insert_demo_logs(days=DAYS, per_day=100)
    real_export = archiver.export_day
    first_is_exporting, let_first_go = threading.Event(), threading.Event()
    runs = {}

    def slow_export(collection, day, on_batch):
        if threading.current_thread().name == "first":
            first_is_exporting.set()
            assert let_first_go.wait(60)
        return real_export(collection, day, on_batch)

    def run(name):
        try:
            runs[name] = archive_logs(before=BEFORE)
        finally:
            from django.db import connections

            connections.close_all()

    monkeypatch.setattr(archiver, "export_day", slow_export)
    first = threading.Thread(target=run, args=("first",), name="first")
    first.start()
    assert first_is_exporting.wait(60)
    run("second")  # runs while the first holds 2023-08-25
    let_first_go.set()
    first.join(60)

    by_day = {}
    for part in ArchivePart.objects.all():
        by_day.setdefault(part.day, set()).add(part.run_id)
    assert by_day[DAYS[0]] == {runs["first"].pk}
    assert all(len(run_ids) == 1 for run_ids in by_day.values())
    assert runs["first"].days + runs["second"].days == 3
    assert assert_each_log_once(logs_db, originals) == (0, 300)


def test_the_command_dry_run_counts_and_changes_nothing(logs_db, capsys):
    insert_demo_logs(days=DAYS, per_day=40)

    call_command("archive_logs", "--before", "2023-08-27", "--dry-run")

    assert "Would archive 80 logs from the days before 2023-08-27" in capsys.readouterr().out
    assert logs_db.count_documents({}) == 120 and not ArchiveRun.objects.exists()


def test_the_command_archives_and_reports_the_run(logs_db, capsys):
    originals = insert_demo_logs(days=DAYS, per_day=40)

    call_command("archive_logs", "--before", "2023-08-27", verbosity=1)

    out = capsys.readouterr()
    assert "80 logs from 2 days before 2023-08-27" in out.out
    assert "80/80" in out.err  # the progress bar
    assert ArchiveRun.objects.get().trigger == "command"
    assert assert_each_log_once(logs_db, originals) == (40, 80)


def test_the_command_refuses_incomplete_days(logs_db):
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    with pytest.raises(CommandError, match="only complete UTC days"):
        call_command("archive_logs", "--before", tomorrow)


def test_the_purge_deletes_in_commands_of_at_most_the_batch_size_naming_each_id(logs_db, settings, monkeypatch):
    settings.ARCHIVE_DELETE_BATCH = 25
    commands = []
    real_delete = purge.delete_window_of_ids

    def recording(collection, match):
        commands.append(match)
        return real_delete(collection, match)

    monkeypatch.setattr(purge, "delete_window_of_ids", recording)
    originals = insert_demo_logs(days=DAYS[:1], per_day=200)

    archive_logs(before=BEFORE)

    named = [oid for match in commands for oid in purge_ids(match)]
    assert len(commands) == 8 and all(len(purge_ids(match)) <= 25 for match in commands)
    assert sorted(named) == sorted(document["_id"] for document in originals)
    assert assert_each_log_once(logs_db, originals) == (0, 200)


def purge_ids(match: dict) -> list:
    branches = match.get("$or", [match])
    return [oid for branch in branches for oid in branch["_id"]["$in"]]


def test_a_purge_window_chunks_its_ids_under_time_ranges_that_hold_them():
    day = date(2023, 8, 25)
    ids = purge.DayIds(day)
    logs = [(f"2023-08-25T{minute // 60:02d}:{minute % 60:02d}:30.000000Z", f"{minute:024x}") for minute in range(1440)]
    for timestamp, log_id in logs:
        ids.add(timestamp, log_id)

    windows = list(ids.windows())

    assert sum(len(chunk[2]) for window in windows for chunk in window) == 1440
    for window in windows:
        match = purge.window_filter(day, window)
        branches = match.get("$or", [match])
        for branch in branches:
            for oid in branch["_id"]["$in"]:
                stamp = datetime(2023, 8, 25, tzinfo=UTC) + timedelta(minutes=int(str(oid), 16), seconds=30)
                assert branch["timestamp"]["$gte"] <= stamp < branch["timestamp"]["$lt"]
                assert match["timestamp"]["$gte"] <= stamp < match["timestamp"]["$lt"]
    with pytest.raises(ValueError, match="not of 2023-08-25"):
        ids.add("2023-08-26T00:00:00.000000Z", "0" * 24)


def test_a_purge_that_loses_its_day_lock_stops_before_its_next_delete(logs_db, settings, monkeypatch):
    settings.ARCHIVE_DELETE_BATCH = 20
    settings.ARCHIVE_LOCK_SECONDS = 5  # renewed at least every second
    originals = insert_demo_logs(days=DAYS[:1], per_day=100)
    real_delete = purge.delete_window_of_ids
    deletes = []

    def slow_delete_then_the_lock_is_taken(collection, match):
        deletes.append(real_delete(collection, match))
        if len(deletes) == 1:
            time.sleep(1.2)  # a stall past the renewal interval, during which another archiver takes the day
            DayLock.objects.update(holder="another archiver")
        return deletes[-1]

    monkeypatch.setattr(purge, "delete_window_of_ids", slow_delete_then_the_lock_is_taken)
    with pytest.raises(locks.LockLost):
        archive_logs(before=BEFORE)

    assert deletes == [20] and logs_db.count_documents({}) == 80  # nothing deleted once the lock was gone
    assert "LockLost" in ArchiveRun.objects.get().error
    monkeypatch.undo()
    DayLock.objects.all().delete()  # the other archiver finished or died
    assert archive_logs(before=BEFORE).status == ArchiveRun.Status.SUCCEEDED
    assert assert_each_log_once(logs_db, originals) == (0, 100)
