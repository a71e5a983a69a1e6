"""The traffic generator (devservices/traffic.py) looks like a real deployment's logs."""

import itertools
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from devservices import traffic
from intake.ingest import validate_batch
from retrieval.models import Level

START = datetime(2023, 8, 27, tzinfo=UTC)
END = datetime(2023, 8, 28, tzinfo=UTC)


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return list(traffic.documents(60_000, START, END, users=300, seed=1))


def test_many_users_with_a_skew(docs):
    per_user = Counter(document["user_id"] for document in docs)
    assert len(per_user) == 300
    assert set(per_user) == set(range(1, 301))
    top = sum(n for _, n in per_user.most_common(30))
    assert top / len(docs) >= 0.4, "the top 10% of users write at least 40% of logs"
    assert per_user.most_common()[-1][1] < len(docs) / 300 / 2, "the lightest users write well below average"


def test_zipf_user_ids():
    users = traffic.zipf_user_ids(1000, first_user_id=5)
    assert users.ids[0] == 5 and users.ids[-1] == 1004
    assert users.weights == sorted(users.weights, reverse=True)
    assert 0.4 < users.share_of_top(0.1) < 0.9


def test_every_level_mostly_info_and_debug(docs):
    levels = Counter(document["level"] for document in docs)
    assert set(levels) == set(Level.values)
    assert levels["info"] + levels["debug"] > 0.7 * len(docs)
    assert levels["warning"] > levels["error"] > levels["critical"] > 0


def test_timestamps_in_order_inside_the_span_as_bson_stores(docs):
    stamps = [document["timestamp"] for document in docs]
    assert stamps == sorted(stamps)
    assert stamps[0] >= START and stamps[-1] < END
    assert all(stamp.tzinfo == UTC and stamp.microsecond % 1000 == 0 for stamp in stamps)
    # Spread over the whole day, not bunched at one end.
    hours = Counter(stamp.hour for stamp in stamps)
    assert len(hours) == 24 and min(hours.values()) > 60_000 / 24 / 2


def test_users_interleave(docs):
    changes = sum(a["user_id"] != b["user_id"] for a, b in itertools.pairwise(docs))
    assert changes > 0.8 * (len(docs) - 1)


def test_fields_and_messages(docs):
    for document in docs[:1000]:
        assert set(document) - {"context"} == {"_id", "timestamp", "user_id", "level", "message", "logger"}
        assert document["logger"].startswith("trainer.")
        if "context" in document:
            assert {"model", "run_id", "step", "metrics"} <= set(document["context"])
    with_context = sum("context" in document for document in docs)
    assert 0.5 * len(docs) < with_context < len(docs), "context is usually there, sometimes absent"
    messages = {document["message"] for document in docs}
    assert len(messages) > 10_000
    for metacharacter in "(.*$[+?|\\^":
        assert any(metacharacter in message for message in messages), metacharacter
    # Some messages look like the demo's, user id included.
    assert any(re.fullmatch(r".+, \w+\. User: \d+, .+: [0-9.e-]+", message) for message in messages)


@pytest.mark.parametrize("sender_ids", [False, True])
def test_ids_unique_and_carry_the_log_time(sender_ids):
    seen = set()
    for document in traffic.documents(200_000, START, END, users=3000, seed=2, sender_ids=sender_ids):
        seen.add(document["_id"])
        assert document["_id"].generation_time == document["timestamp"].replace(microsecond=0)
    assert len(seen) == 200_000


def test_sender_ids_have_random_tails():
    ids = [document["_id"].binary for document in traffic.documents(2000, START, END, seed=3, sender_ids=True)]
    driver = [document["_id"].binary for document in traffic.documents(2000, START, END, seed=3)]
    # Not ObjectId.from_datetime (zero tail); a driver's ids share their 5 process bytes.
    assert all(oid[4:] != bytes(8) for oid in ids)
    assert len({oid[4:9] for oid in ids}) > 1900
    assert len({oid[4:9] for oid in driver}) == 1


def test_same_seed_same_output_other_seed_other_output():
    def make(seed, sender_ids=False):
        return list(traffic.documents(3000, START, END, seed=seed, sender_ids=sender_ids))

    assert make(7) == make(7)
    assert make(7, sender_ids=True) == make(7, sender_ids=True)
    other = make(8)
    assert [d["user_id"] for d in make(7)] != [d["user_id"] for d in other]
    assert {d["_id"] for d in make(7)}.isdisjoint(d["_id"] for d in other)


def test_records_round_trip_through_ingest_validation(docs):
    sent = list(traffic.records(docs[:20_000]))
    for record in sent[:100]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["timestamp"])
        assert ("context" in record) == ("context" in docs[sent.index(record)])
    validated = [document for batch in traffic.batches(sent, 10_000) for document in validate_batch(batch)]
    # What ingest would store is exactly the generated document: same id, time, fields.
    assert validated == docs[:20_000]


def test_batches():
    assert list(traffic.batches(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(traffic.batches([], 3)) == []


def test_with_resends():
    batch_list = [[f"log-{i}-{j}" for j in range(3)] for i in range(100)]
    sent = traffic.with_resends(batch_list, 0.2, seed=4)
    assert len(sent) == 120
    counts = Counter(tuple(batch) for batch in sent)
    assert set(counts) == {tuple(batch) for batch in batch_list}
    assert sorted(counts.values()) == [1] * 80 + [2] * 20
    # Originals in order; each resend comes after its original.
    firsts = [sent.index(batch) for batch in batch_list]
    assert firsts == sorted(firsts)
    for batch in (b for b in batch_list if counts[tuple(b)] == 2):
        assert len(sent) - 1 - sent[::-1].index(batch) > sent.index(batch)
    assert sent == traffic.with_resends(batch_list, 0.2, seed=4)
    assert sent != traffic.with_resends(batch_list, 0.2, seed=5)
    assert traffic.with_resends(batch_list, 0, seed=4) == batch_list


def test_late_documents():
    day = date(2023, 8, 20)
    late = traffic.late_documents(5000, day, users=500, seed=1)
    assert len(late) == 5000
    start = datetime(2023, 8, 20, tzinfo=UTC)
    assert all(start <= document["timestamp"] < start + timedelta(days=1) for document in late)
    assert all(document["_id"].generation_time == document["timestamp"].replace(microsecond=0) for document in late)
    on_time = traffic.documents(5000, start, start + timedelta(days=1), users=500, seed=1, sender_ids=True)
    assert {document["_id"] for document in late}.isdisjoint(document["_id"] for document in on_time)
    assert late == traffic.late_documents(5000, day, users=500, seed=1)
