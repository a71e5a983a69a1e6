"""Histogram counters of hot logs (retrieval.hotstore): every histogram equals a full count of the logs.

Real shape: 300 Zipf users, batches sent through ingest, late logs, re-sent batches, a writer
killed between its insert and its counter update, archived and rehydrated days. A "full count"
is the logs themselves, bucketed in Python by the query's own `bucket_of`.
"""

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from pymongo.errors import AutoReconnect

from access.scope import EVERY
from archive import rehydrate
from archive.archiver import archive_logs
from archive.models import ArchivePart
from devservices import traffic
from intake.ingest import IngestUnavailable, store, with_ids
from retrieval import buckets, hotstore, planner
from retrieval.query import ALL_LEVELS, LogQuery
from retrieval.sources import Volume

pytestmark = pytest.mark.django_db(databases=["default", "logs"])

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
# Three days of hot logs ending an hour ago; ingest takes nothing older than 2000 nor a day ahead.
START, END = NOW - timedelta(days=3), NOW - timedelta(hours=1)


def full_count(query: LogQuery, documents: list[dict]) -> Volume:
    return Counter((query.bucket_of(d["timestamp"]), d["level"]) for d in documents if query.matches(d))


def every_user(start: datetime, end: datetime, **fields) -> LogQuery:
    """Every user and level in [start, end), then `fields` changed."""
    return replace(LogQuery(user_ids=(), start=start, end=end, levels=ALL_LEVELS), **fields)


def histogram(query: LogQuery) -> Volume:
    result = planner.histogram(query)
    assert not result.partial, result.sources
    return +result.counts


def send(documents: list[dict]) -> int:
    """Through ingest's store, as a sender's batch (copies: the caller's documents stay unstamped)."""
    return store(with_ids([dict(d) for d in documents]), scope=EVERY).inserted


def queries(documents: list[dict], cut_minutes: bool = True) -> list[LogQuery]:
    """Whole-minute and (unless not `cut_minutes`: those read the logs of the minutes cut) cut ranges;
    every user, one user, a few users, two levels."""
    heavy = Counter(d["user_id"] for d in documents).most_common(3)
    cut = (START + timedelta(hours=5, minutes=17, seconds=23, microseconds=500), END - timedelta(seconds=41))
    whole = [
        every_user(START, END),
        every_user(START + timedelta(hours=7), START + timedelta(hours=8)),  # one-minute bars
        every_user(START, END, user_ids=(heavy[0][0],)),
        every_user(START, END, user_ids=tuple(u for u, _ in heavy), granted_users=True),
        every_user(START, END, levels=("error", "critical")),
    ]
    return whole + [every_user(*cut), every_user(*cut, user_ids=(heavy[0][0],))] if cut_minutes else whole


@pytest.fixture
def sent(logs_db) -> list[dict]:
    """12,000 logs of 300 users sent in batches, newest batches first (the older ones arrive late),
    and two batches sent twice (a sender's retry)."""
    documents = list(traffic.documents(12_000, START, END, users=300, seed=7, sender_ids=True))
    batches = list(traffic.batches(documents, 1_500))
    inserted = sum(send(batch) for batch in reversed(batches))
    assert inserted == len(documents)
    assert send(batches[0]) == 0 and send(batches[3]) == 0
    return documents


def test_histograms_from_counters_equal_a_full_count_with_late_logs_and_resent_batches(sent, logs_db):
    for query in queries(sent):
        assert histogram(query) == full_count(query, sent), query


def test_a_histogram_without_a_term_reads_no_log(sent, logs_db):
    # The logs leave MongoDB behind the counters' back: a histogram that still counts them read only counters.
    logs_db.delete_many({})
    for query in queries(sent, cut_minutes=False):
        assert histogram(query) == full_count(query, sent), query


def test_a_keyword_histogram_counts_the_matching_logs_hour_by_hour(sent, logs_db):
    query = every_user(START, END, keyword="nan losses")
    expected = full_count(query, sent)
    assert expected and histogram(query) == expected


def test_a_keyword_histogram_stopped_by_the_deadline_is_partial_and_the_page_says_so(sent, logs_db, client):
    from django.contrib.auth.models import User

    query = every_user(START, END, keyword="nan losses")
    with override_settings(SEARCH_TIMEOUT_SECONDS=0.000_001):
        result = planner.histogram(query)
        assert result.partial and result.sources["hot"].startswith("partial:")
        assert result.total <= sum(full_count(query, sent).values())
        client.force_login(User.objects.create_superuser("admin"))
        # The page loads its histogram after its rows, from /histogram: the notice is there.
        page = client.get("/histogram", {"from": START.isoformat(), "to": END.isoformat(), "keyword": "nan losses"})
    assert 'id="histogram-partial"' in page.content.decode()
    assert "At least" in page.content.decode()


def test_a_kill_between_the_insert_and_the_counters_is_counted_from_the_logs_then_healed(logs_db, monkeypatch):
    documents = list(traffic.documents(3_000, START, END, users=300, seed=8, sender_ids=True))
    first, second = documents[:1_500], documents[1_500:]
    send(first)

    def killed(hours, inserted):
        raise AutoReconnect("the process died after its insert")

    with monkeypatch.context() as patched:
        patched.setattr(hotstore, "_finish", killed)
        with pytest.raises(IngestUnavailable):
            send(second)
    # The sender's retry finds only duplicates: nothing more is counted by it.
    assert send(second) == 0
    assert logs_db.count_documents({}) == len(documents)
    doubtful = {buckets.hour_of(d["timestamp"]) for d in second}
    states = hotstore.hour_states({hour // 24 for hour in doubtful})
    assert {hour for hour, state in states.items() if not state.settled} == doubtful
    for query in queries(documents):
        assert histogram(query) == full_count(query, documents), query

    # Not healed while the writer may be alive; healed once it is surely gone.
    assert hotstore.stale_hours() == []
    monkeypatch.setattr(hotstore, "HEAL_AFTER", timedelta(0))
    call_command("rebuild_log_counts")
    assert all(state.settled for state in hotstore.hour_states({hour // 24 for hour in doubtful}).values())
    logs_db.delete_many({})  # counters alone now
    for query in queries(documents, cut_minutes=False):
        assert histogram(query) == full_count(query, documents), query


def test_a_recount_leaves_an_hour_in_doubt_when_a_writer_came_meanwhile(logs_db, monkeypatch):
    documents = list(traffic.documents(500, START, START + timedelta(minutes=30), users=300, seed=9))
    send(documents)
    hour = buckets.hour_of(START)
    real_user_counts = hotstore.user_counts_collection

    def a_writer_arrives_after_the_count():
        hotstore._start([hour])  # another sender's batch, in flight
        return real_user_counts()

    # The recount asks for the users' counters right after counting the hour's logs.
    monkeypatch.setattr(hotstore, "user_counts_collection", a_writer_arrives_after_the_count)
    assert not hotstore.recount(hour)
    monkeypatch.undo()
    assert not hotstore.hour_states([hour // 24])[hour].settled
    query = every_user(START, START + timedelta(hours=1))
    assert histogram(query) == full_count(query, documents)


def test_the_rebuild_command_counts_logs_stored_before_the_counters(logs_db):
    documents = list(traffic.documents(4_000, START, END, users=300, seed=10))
    logs_db.insert_many(buckets.stamped([dict(d) for d in documents]))  # as an older release stored them
    # An interrupted run noted the hours it did: a second run goes on below them.
    top = buckets.hour_of(documents[-1]["timestamp"])
    hotstore.counts_collection().insert_one({"_id": hotstore.REBUILD, "below": top - 5})
    call_command("rebuild_log_counts", "--all")
    assert hotstore.hour_states([top // 24]).get(top) is None  # not redone
    assert hotstore.counts_collection().find_one({"_id": hotstore.REBUILD}) is None

    call_command("rebuild_log_counts", "--all")
    logs_db.delete_many({})  # counters alone now
    for query in queries(documents, cut_minutes=False):
        assert histogram(query) == full_count(query, documents), query


ARCHIVED_DAYS = [date(2023, 8, 25), date(2023, 8, 26)]
HOT_DAY = date(2023, 8, 27)


# The archiver takes its day locks on connections of its own: the test's data must be committed.
@pytest.mark.django_db(databases=["default", "logs"], transaction=True)
@pytest.mark.usefixtures("empty_archive", "empty_cold_cache")
def test_archived_late_and_rehydrated_days_are_counted_once_hot_and_cold(logs_db):
    first = datetime(2023, 8, 25, tzinfo=UTC)
    # 60 users: each (user, level) of the two archived days is a part to upload, and counting them once
    # hot and cold does not depend on how many there are.
    documents = list(traffic.documents(6_000, first, first + timedelta(days=3), users=60, seed=11))
    hotstore.insert([dict(d) for d in documents])
    run = archive_logs(before=HOT_DAY, trigger="test")
    assert run.status == "succeeded"
    archived = [buckets.day_of(datetime.combine(day, datetime.min.time(), UTC)) for day in ARCHIVED_DAYS]
    assert hotstore.counts_collection().count_documents({"day": {"$in": archived}}) == 0  # dropped with the purge

    late = {"timestamp": first + timedelta(hours=30, seconds=5), "user_id": 42, "level": "error", "message": "late"}
    assert send([late]) == 1  # through ingest, which notes the late write for searches
    documents.append(late)
    part = ArchivePart.objects.filter(day=ARCHIVED_DAYS[0]).order_by("-count").first()
    assert rehydrate.rehydrate([part], hours=1) == part.count

    whole = every_user(first, first + timedelta(days=3))
    cut = every_user(first + timedelta(hours=20, seconds=13), first + timedelta(hours=52, minutes=3, seconds=7))
    for query in [whole, cut, replace(whole, user_ids=(part.user_id,)), replace(cut, levels=(part.level,))]:
        assert histogram(query) == full_count(query, documents), query
