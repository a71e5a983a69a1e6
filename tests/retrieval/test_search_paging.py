"""Paging at real shape: hundreds of users, skewed, interleaved in time, logs in hot, cold and both.

Every log must come back exactly once, in order, and paging must end only when all are
seen; a page a source could not answer must not let later pages skip that source's rows.
"""

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import override_settings

from archive import cache
from archive.archiver import archive_logs
from retrieval import hotstore, planner
from retrieval.query import ALL_LEVELS, LogQuery
from retrieval.sources import SourceUnavailable
from tests.cold_archive import log, s3_storages, write_parts

pytestmark = [
    pytest.mark.django_db(databases=["default", "logs"], transaction=True),
    pytest.mark.usefixtures("empty_cold_cache"),
]

USERS = 300
ARCHIVED_DAY = date(2023, 8, 26)  # every log recorded in a part; some also still in MongoDB
HOT_DAY = date(2023, 8, 27)  # not archived
START = datetime(2023, 8, 26, tzinfo=UTC)
END = datetime(2023, 8, 28, tzinfo=UTC)
CLOSED_PORT = "http://127.0.0.1:9"


def skewed_logs(rng: random.Random, day: date, count: int, user_ids: list[int]) -> list[dict]:
    """`count` logs of `day`: every user at least once, then Zipf(1.1) by rank; some share a timestamp."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    weights = [1 / rank**1.1 for rank in range(1, len(user_ids) + 1)]
    users = user_ids + rng.choices(user_ids, weights=weights, k=count - len(user_ids))
    documents: list[dict] = []
    for user_id in users:
        if documents and rng.random() < 0.1:
            stamp = rng.choice(documents)["timestamp"]  # a tie: the cursor must tell rows apart by id
        else:
            stamp = start + timedelta(milliseconds=rng.randrange(86_400_000))
        documents.append(log(stamp, user_id=user_id, level=rng.choice(ALL_LEVELS), message=f"step {len(documents)}"))
    return documents


@pytest.fixture
def shaped(logs_db, empty_archive) -> dict:
    """Logs of 300 user ids over two days; returns {"logs": distinct logs, "both": ids in hot and cold, "busiest": id}.

    ARCHIVED_DAY: all its logs are in recorded parts; 60% were purged from MongoDB, 40%
    are still there (the archiver's window between recording and purging), and late
    arrivals after the archive are in MongoDB only. HOT_DAY is in MongoDB only.
    """
    rng = random.Random(20230826)
    user_ids = rng.sample(range(1, 1_000_000), USERS)  # real ids are not 1..N; rank 1 is the busiest
    archived = skewed_logs(rng, ARCHIVED_DAY, 2500, user_ids)
    late = skewed_logs(rng, ARCHIVED_DAY, 300, user_ids)[USERS:]  # just the Zipf ones: a few users
    hot_day = skewed_logs(rng, HOT_DAY, 1200, user_ids)
    hotstore.insert(archived + late + hot_day)
    write_parts(archived)
    purged = rng.sample(archived, k=len(archived) * 6 // 10)
    logs_db.delete_many({"_id": {"$in": [d["_id"] for d in purged]}})
    purged_ids = {str(d["_id"]) for d in purged}
    both = {str(d["_id"]) for d in archived} - purged_ids
    documents = archived + late + hot_day
    assert len({d["user_id"] for d in documents}) == USERS
    return {"logs": documents, "both": both, "purged": purged_ids, "busiest": user_ids[0]}


def expected(documents: list[dict], user_id: int | None, newest_first: bool) -> list[str]:
    chosen = [d for d in documents if user_id is None or d["user_id"] == user_id]
    chosen.sort(key=lambda d: (d["timestamp"], str(d["_id"])), reverse=newest_first)
    return [str(d["_id"]) for d in chosen]


def api_params(user_id: int | None, order: str, page_size: int) -> dict:
    params = {"from": "2023-08-26T00:00:00Z", "to": "2023-08-28T00:00:00Z", "order": order, "page_size": page_size}
    return {**params, "user_id": user_id} if user_id else params


# (user, order, page size): the busiest user with small pages, everyone with larger ones.
PAGINGS = [
    ("busiest", "newest", 37),
    ("busiest", "oldest", 50),
    ("everyone", "newest", 300),
    ("everyone", "oldest", 450),
]


def test_paging_at_real_shape_returns_every_log_once_in_order_also_across_archive_outages_and_in_exports(api, shaped):
    """One test of three checks on one shaped archive (building it takes a while): the API's pages,
    pages the archive was down for, and the export."""
    paging_the_api_returns_every_log_once_in_order_and_stops_only_after_the_last(api, shaped)
    a_page_without_the_archive_has_no_next_cursor_and_paging_on_once_it_is_back_skips_nothing(api, shaped)
    an_export_has_every_log_once_in_order_or_fails_without_the_archive(shaped)


def paging_the_api_returns_every_log_once_in_order_and_stops_only_after_the_last(api, shaped):
    for who, order, page_size in PAGINGS:
        user_id = shaped["busiest"] if who == "busiest" else None
        want = expected(shaped["logs"], user_id, order == "newest")
        assert len(want) > 4 * page_size  # several pages, crossing hot, cold and both

        seen, sources, pages, cursor = [], {}, 0, None
        while True:
            params = api_params(user_id, order, page_size)
            body = api.get("/api/v1/logs", {**params, **({"cursor": cursor} if cursor else {})}).json()
            pages += 1
            assert body["partial"] is False, body["sources"]
            seen += [row["id"] for row in body["results"]]
            sources.update({row["id"]: row["source"] for row in body["results"]})
            if body["next_cursor"] is None:
                break
            assert len(body["results"]) == page_size, (who, order)  # only the last page is short
            cursor = body["next_cursor"]

        assert seen == want, (who, order)
        assert pages == -(-len(want) // page_size)
        in_cold_only = [log_id for log_id in want if log_id in shaped["purged"]]
        in_both = [log_id for log_id in want if log_id in shaped["both"]]
        assert in_cold_only and in_both
        assert {sources[log_id] for log_id in in_cold_only} == {"cold"}
        assert {sources[log_id] for log_id in in_both} == {"hot"}  # the hot copy wins


def an_export_has_every_log_once_in_order_or_fails_without_the_archive(shaped):
    q = LogQuery((), START, END, ALL_LEVELS, newest_first=False)
    assert [row.id for row in planner.iter_all(q)] == expected(shaped["logs"], None, newest_first=False)

    cache.clear()
    with override_settings(STORAGES=s3_storages(CLOSED_PORT)), pytest.raises(SourceUnavailable):
        list(planner.iter_all(q))


def a_page_without_the_archive_has_no_next_cursor_and_paging_on_once_it_is_back_skips_nothing(api, shaped):
    busiest = shaped["busiest"]
    want = expected(shaped["logs"], busiest, newest_first=True)
    params = api_params(busiest, "newest", 40)
    seen, cursor, outages, shown_late = [], None, 0, set()
    down_ids: set[str] = set()
    for request in range(200):
        query_params = {**params, **({"cursor": cursor} if cursor else {})}
        if request in (2, 3, 7):  # object storage goes down for these requests
            cache.clear()  # else the cached parts would still answer
            with override_settings(STORAGES=s3_storages(CLOSED_PORT)):
                down = api.get("/api/v1/logs", query_params).json()
            assert down["partial"] is True and down["sources"]["cold"] == "unavailable"
            assert down["next_cursor"] is None and down["next"] is None
            assert {row["source"] for row in down["results"]} <= {"hot"}
            outages += 1
            down_ids = {row["id"] for row in down["results"]}
            continue  # the client asks for the same page again later
        body = api.get("/api/v1/logs", query_params).json()
        assert body["partial"] is False
        page_ids = [row["id"] for row in body["results"]]
        if down_ids:  # the retry of a page the outage answered without the archive
            shown_late |= set(page_ids) - down_ids
            down_ids = set()
        seen += page_ids
        if body["next_cursor"] is None:
            break
        cursor = body["next_cursor"]

    assert outages == 3
    assert seen == want  # nothing skipped, nothing repeated
    # The retried pages brought archived rows the outage pages could not show.
    assert shown_late & shaped["purged"]


class ArchiverRunsAfterFirstRead:
    """The first source of LOG_SOURCES, then the real archiver archiving and purging ARCHIVED_DAY at once.

    Injects the race a real server cannot produce on demand: the archiver's record + purge
    landing between the planner's reads of the two sources.
    """

    def __init__(self, source):
        self.source, self.name, self.ran = source, source.name, False

    def fetch(self, query, after, limit):
        rows = self.source.fetch(query, after, limit)
        if not self.ran:
            self.ran = True
            run = archive_logs(before=HOT_DAY, trigger="test")
            assert run.status == "succeeded", run.error
        return rows

    def volume(self, query):
        return self.source.volume(query)


def test_the_archiver_purging_between_the_two_reads_loses_no_log(logs_db, empty_archive, monkeypatch):
    rng = random.Random(5)
    documents = skewed_logs(rng, ARCHIVED_DAY, 400, rng.sample(range(1, 1_000_000), 40))
    hotstore.insert(documents)
    hot, *later = planner.log_sources()
    first = ArchiverRunsAfterFirstRead(hot)
    monkeypatch.setattr(planner, "log_sources", lambda: [first, *later])
    q = LogQuery((), START, END, ALL_LEVELS, limit=1000)

    page = planner.search(q)

    assert first.ran and logs_db.count_documents({}) == 0  # archived and purged mid-search
    assert not page.partial
    assert [row.id for row in page.rows] == expected(documents, None, newest_first=True)
