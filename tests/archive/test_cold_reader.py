"""The cold reader against parts on the moto S3 server, written with plain gzip + json."""

import gzip
import hashlib
import random
import socket
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.test import override_settings

from archive import cache, reader
from archive import storage as object_storage
from archive.metrics import COLD_CACHE_LOOKUPS
from archive.models import ArchivePart
from archive.storage import archive_storage
from retrieval.query import ALL_LEVELS, LogQuery
from tests.cold_archive import GetCounter, line, log, s3_storages, silent_server, write_parts

DAY = datetime(2023, 8, 27, tzinfo=UTC)


def stored_bytes() -> int:
    """Bytes of the parts in the cold cache's folder."""
    return sum(path.stat().st_size for path in cache.directory().glob(f"*{cache.SUFFIX}"))


def Query(**fields: object) -> LogQuery:  # named as the class it stood in for
    """The reader's query: DAY, every user and level, unless given."""
    defaults = {"user_ids": (), "start": DAY, "end": DAY + timedelta(days=1), "levels": ALL_LEVELS}
    return LogQuery(**{**defaults, **fields})


@pytest.fixture(autouse=True)
def empty_cache(db):
    cache.clear()
    yield
    cache.clear()


def ids(documents):
    return [str(d["_id"]) for d in documents]


def ordered(documents, newest_first=True):
    return sorted(documents, key=lambda d: (d["timestamp"], str(d["_id"])), reverse=newest_first)


@pytest.fixture
def day_logs():
    messages = [
        "Validated a new model, leo. User: 1, Recall: 0.27",
        "Trained a new model (v2.*) with [brackets]",
        r"path C:\models\run $where {x}",
        "plain line",
    ]
    documents = [
        log(
            DAY + timedelta(minutes=7 * n),
            user_id=1 + n % 2,
            level=("info", "error")[n % 3 == 0],
            message=messages[n % 4],
        )
        for n in range(200)
    ]
    write_parts(random.Random(5).sample(documents, len(documents)))  # lines out of time order
    return documents


def test_fetch_returns_the_day_in_order_both_ways(day_logs):
    newest = reader.fetch(Query(), after=None, limit=1000)
    oldest = reader.fetch(Query(newest_first=False), after=None, limit=1000)

    assert ids(newest) == ids(ordered(day_logs))
    assert ids(oldest) == ids(ordered(day_logs, newest_first=False))
    assert newest[0]["timestamp"] == ordered(day_logs)[0]["timestamp"]
    assert newest[0]["timestamp"].tzinfo is not None


@pytest.mark.parametrize("keyword", ["recall", "RECALL: 0.2", "(v2.*)", ".*", "[brackets", "(", "\\", "$where", "{x}"])
def test_keyword_is_a_case_insensitive_literal(day_logs, keyword):
    found = reader.fetch(Query(keyword=keyword), after=None, limit=1000)

    expected = [d for d in ordered(day_logs) if keyword.lower() in d["message"].lower()]
    assert expected, "the data must contain the keyword"
    assert ids(found) == ids(expected)


def test_regex_metacharacters_do_not_match_as_patterns(day_logs):
    assert reader.fetch(Query(keyword="Tr.ined"), after=None, limit=1000) == []
    assert reader.fetch(Query(keyword="^plain"), after=None, limit=1000) == []


def test_time_range_is_half_open_and_users_and_levels_filter(day_logs):
    # Logs n=18 and n=42 are user 1's errors, exactly at the bounds.
    start, end = DAY + timedelta(minutes=7 * 18), DAY + timedelta(minutes=7 * 42)
    query = Query(start=start, end=end, user_ids=(1,), levels=("error",))

    found = reader.fetch(query, after=None, limit=1000)

    expected = [
        d for d in ordered(day_logs) if start <= d["timestamp"] < end and d["user_id"] == 1 and d["level"] == "error"
    ]
    assert expected
    assert ids(found) == ids(expected)
    assert found[-1]["timestamp"] == start
    assert found[0]["timestamp"] == end - timedelta(minutes=7 * 6)  # n=36, the last before n=42


@pytest.mark.parametrize("keyword", ["", "model", "C:\\"])
@pytest.mark.parametrize("newest_first", [True, False])
def test_cursor_pages_cover_everything_once(day_logs, newest_first, keyword):
    query = Query(newest_first=newest_first, keyword=keyword)
    seen, after = [], None
    while page := reader.fetch(query, after=after, limit=17):
        seen += page
        after = (page[-1]["timestamp"], str(page[-1]["_id"]))

    expected = [d for d in ordered(day_logs, newest_first) if keyword.lower() in d["message"].lower()]
    assert len(expected) > 40
    assert ids(seen) == ids(expected)


def test_late_arrivals_in_several_parts_of_one_day_merge_in_order():
    first = [log(DAY + timedelta(hours=h), user_id=3, level="warning") for h in range(0, 24, 2)]
    late = [log(DAY + timedelta(hours=h, minutes=30), user_id=3, level="warning") for h in range(0, 24, 3)]
    write_parts(first)
    write_parts(late)

    found = reader.fetch(Query(newest_first=False), after=None, limit=5)

    assert ids(found) == ids(ordered(first + late, newest_first=False)[:5])


def test_a_log_written_into_two_parts_by_an_older_archiver_fills_one_row_of_a_page():
    logs = [log(DAY + timedelta(minutes=m), user_id=3, level="info") for m in range(10)]
    write_parts(logs)
    write_parts(logs[2:6])  # the same logs archived a second time

    pages, after = [], None
    while page := reader.fetch(Query(newest_first=False), after=after, limit=3):
        pages.append(ids(page))
        after = (page[-1]["timestamp"], str(page[-1]["_id"]))

    assert [log_id for page in pages for log_id in page] == ids(ordered(logs, newest_first=False))
    assert all(len(set(page)) == len(page) == 3 for page in pages[:-1])


def test_only_the_parts_a_query_needs_are_fetched(day_logs):
    with GetCounter() as gets:
        reader.fetch(Query(user_ids=(2,), levels=("info",)), after=None, limit=10)

    assert len(gets) == 1
    assert "user_id%3D2/level%3Dinfo" in gets.urls[0] or "user_id=2/level=info" in gets.urls[0]


@pytest.fixture
def lookups(monkeypatch):
    """The cache lookups counted (COLD_CACHE_LOOKUPS), by result."""
    counted: Counter = Counter()
    monkeypatch.setattr(COLD_CACHE_LOOKUPS, "inc", lambda result, amount=1: counted.update({result: amount}))
    return counted


def test_repeated_query_is_answered_from_the_cache(day_logs, lookups):
    query = Query(keyword="recall")
    with GetCounter() as gets:
        first = reader.fetch(query, after=None, limit=1000)
        pulls = len(gets)
        again = reader.fetch(query, after=None, limit=1000)
        other_keyword = reader.fetch(Query(keyword="plain"), after=None, limit=1000)

    assert pulls == 4  # two users x two levels
    assert len(gets) == pulls
    assert ids(again) == ids(first)
    assert len(other_keyword) == 50
    assert lookups == {"miss": 4, "hit": 8}
    assert sorted(path.name for path in cache.directory().glob("*.jsonl.gz")) == sorted(
        f"{part.sha256}.jsonl.gz" for part in ArchivePart.objects.all()
    )


def part_size() -> int:
    return ArchivePart.objects.values_list("compressed_bytes", flat=True).first()


def cached_users() -> set[int]:
    names = {path.name for path in cache.directory().glob("*.jsonl.gz")}
    return {part.user_id for part in ArchivePart.objects.all() if f"{part.sha256}.jsonl.gz" in names}


def test_cache_size_bound_is_respected_least_recently_used_first():
    for user_id in range(1, 7):
        write_parts([log(DAY + timedelta(seconds=s), user_id=user_id, message=f"x{user_id}" * 100) for s in range(300)])
    size = max(ArchivePart.objects.values_list("compressed_bytes", flat=True))

    with override_settings(COLD_CACHE_MAX_BYTES=int(size * 2.5)):
        found = reader.fetch(Query(), after=None, limit=10_000)  # all six parts, held at once, then evicted to fit
        assert len(found) == 6 * 300
        assert len(cached_users()) == 2 and stored_bytes() <= size * 2.5
        cache.clear()
        for user_id in (1, 2, 1, 3):  # 1 was used after 2: 2 goes first
            reader.fetch(Query(user_ids=(user_id,)), after=None, limit=1)
            time.sleep(0.01)
        assert cached_users() == {1, 3}


def test_a_part_in_use_is_never_evicted():
    write_parts([log(DAY + timedelta(seconds=s), user_id=1) for s in range(50)])
    write_parts([log(DAY + timedelta(seconds=s), user_id=2) for s in range(50)])
    first, second = ArchivePart.objects.order_by("user_id")

    with override_settings(COLD_CACHE_MAX_BYTES=0):
        with cache.held([first], object_storage.chunk_reader) as (path,):
            assert len(reader.fetch(Query(user_ids=(2,)), after=None, limit=100)) == 50  # evicts, but not `first`
            assert [p.name for p in cache.directory().glob("*.jsonl.gz")] == [f"{first.sha256}.jsonl.gz"]
            with open(path, "rb") as file:
                assert gzip.decompress(file.read()).count(b"\n") == 50
        cache.make_room(cache.directory())

    assert stored_bytes() == 0


def test_concurrent_readers_of_a_missing_part_download_it_once():
    # flock locks belong to an open file, not to a process: threads stand for processes here.
    part = write_parts([log(DAY + timedelta(seconds=s)) for s in range(20)])[0]
    chunks, pulls = object_storage.chunk_reader(), []

    def slow_chunks(key):
        pulls.append(key)
        time.sleep(0.3)  # the others arrive while this download runs
        yield from chunks(key)

    paths = []

    def read():
        with cache.held([part], lambda: slow_chunks) as (path,):
            paths.append(path)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert pulls == [part.key]
    assert len(set(paths)) == 1 and len(paths) == 4
    with open(paths[0], "rb") as file:
        assert hashlib.sha256(file.read()).hexdigest() == part.sha256
    assert not [p for p in cache.directory().iterdir() if p.name.startswith(cache.TEMP_PREFIX)]


def test_a_part_larger_than_the_cache_is_pulled_every_time():
    write_parts([log(DAY + timedelta(seconds=s), message="y" * 100) for s in range(500)])

    with override_settings(COLD_CACHE_MAX_BYTES=1000), GetCounter() as gets:
        first = reader.fetch(Query(), after=None, limit=600)
        second = reader.fetch(Query(), after=None, limit=600)

    assert len(first) == len(second) == 500
    assert len(gets) == 2
    assert stored_bytes() == 0


def test_several_gzip_members_in_one_part_are_read():
    documents = [log(DAY + timedelta(minutes=m)) for m in range(10)]
    parts = write_parts(documents)
    body = gzip.compress(b"".join(line(d) for d in documents[:4])) + gzip.compress(
        b"".join(line(d) for d in documents[4:])
    )
    storage = archive_storage()
    storage.delete(parts[0].key)
    storage.save(parts[0].key, ContentFile(body))
    ArchivePart.objects.filter(pk=parts[0].pk).update(sha256=hashlib.sha256(body).hexdigest())

    assert ids(reader.fetch(Query(newest_first=False), after=None, limit=100)) == ids(documents)


@pytest.mark.parametrize(
    "body",
    [b"not gzip at all", gzip.compress(b'{"_id": "x"}\n'), gzip.compress(b"[1, 2]\n"), gzip.compress(b"{}\n" * 3)[:-9]],
    ids=["not-gzip", "missing-fields", "not-an-object", "truncated"],
)
def test_a_corrupt_part_is_a_clear_read_error(body):
    part = write_parts([log(DAY)])[0]
    storage = archive_storage()
    storage.delete(part.key)
    storage.save(part.key, ContentFile(body))

    with pytest.raises(reader.ColdReadError, match=part.key):
        reader.fetch(Query(), after=None, limit=10)


def test_a_missing_object_is_a_clear_read_error():
    part = write_parts([log(DAY)])[0]
    archive_storage().delete(part.key)

    with pytest.raises(reader.ColdReadError, match="NoSuchKey|Not Found|404"):
        reader.fetch(Query(), after=None, limit=10)


def test_storage_down_is_a_read_error():
    write_parts([log(DAY)])
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]

    down = override_settings(STORAGES=s3_storages(f"http://127.0.0.1:{port}"))
    with down, pytest.raises(reader.ColdReadError, match="Could not connect"):
        reader.fetch(Query(), after=None, limit=10)


def test_slow_storage_times_out_into_a_read_error():
    write_parts([log(DAY)])

    started = datetime.now(UTC)
    with (
        silent_server() as url,
        override_settings(STORAGES=s3_storages(url)),
        pytest.raises(reader.ColdReadError, match="timeout|timed out"),
    ):
        reader.fetch(Query(), after=None, limit=10)

    assert datetime.now(UTC) - started < timedelta(seconds=10)


def test_filesystem_archive_storage_is_read_too(tmp_path):
    file_storages = {
        **settings.STORAGES,
        "archive": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    with override_settings(STORAGES=file_storages):
        documents = [log(DAY + timedelta(minutes=m), message=f"m{m}") for m in range(30)]
        write_parts(documents)
        found = reader.fetch(Query(keyword="m2"), after=None, limit=100)

    assert ids(found) == ids([d for d in ordered(documents) if "m2" in d["message"]])


def test_keyword_after_messages_whose_lower_case_is_longer():
    # "İ".lower() is two characters: row offsets must still point at the right message.
    documents = [
        log(DAY + timedelta(minutes=1), message="İİİİ Straße ünïcode"),
        log(DAY + timedelta(minutes=2), message="second ERROR here"),
        log(DAY + timedelta(minutes=3), message="third"),
    ]
    write_parts(documents)

    assert ids(reader.fetch(Query(keyword="error"), after=None, limit=10)) == [str(documents[1]["_id"])]
    assert ids(reader.fetch(Query(keyword="straße"), after=None, limit=10)) == [str(documents[0]["_id"])]
    assert reader.fetch(Query(keyword="here\x00third"), after=None, limit=10) == []


@pytest.mark.parametrize("newest_first", [True, False])
def test_cursor_tells_rows_of_one_timestamp_apart_by_id(newest_first):
    documents = [log(DAY + timedelta(hours=1), user_id=1 + n % 2) for n in range(30)]
    write_parts(documents)
    query = Query(newest_first=newest_first)

    seen, after = [], None
    while page := reader.fetch(query, after=after, limit=7):
        seen += page
        after = (page[-1]["timestamp"], str(page[-1]["_id"]))

    assert ids(seen) == ids(ordered(documents, newest_first))
