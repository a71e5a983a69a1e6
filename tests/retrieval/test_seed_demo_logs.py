import re
from collections import Counter
from datetime import date

from django.core.management import call_command

from retrieval.demo import METRICS, WORDS

MESSAGE = re.compile(r"^[A-Z][a-z]+ an? (new )?model, (\w+)\. User: (\d), ([\w-]+): (0\.\d+|[01](\.0)?)")


def seed(**options):
    call_command("seed_demo_logs", verbosity=0, **options)


def documents(collection):
    return list(collection.find({}, {"_id": 0}).sort([("timestamp", 1), ("user_id", 1), ("message", 1)]))


def test_seed_inserts_days_times_per_day_logs_over_the_requested_days(logs_db):
    seed(days=3, per_day=400, seed=7, until=date(2023, 8, 28))

    rows = documents(logs_db)
    assert len(rows) == 1200
    per_day = Counter(row["timestamp"].date() for row in rows)
    assert per_day == {date(2023, 8, 26): 400, date(2023, 8, 27): 400, date(2023, 8, 28): 400}


def test_seed_spreads_logs_over_users_and_levels_like_the_seed_app(logs_db):
    seed(days=1, per_day=2000, seed=3, until=date(2023, 8, 27))

    rows = documents(logs_db)
    assert set(Counter(row["user_id"] for row in rows)) == {1, 2, 3, 4, 5}
    levels = Counter(row["level"] for row in rows)
    assert set(levels) == {"debug", "info", "warning", "error", "critical"}
    assert levels["info"] > levels["error"] > 0
    for row in rows:
        match = MESSAGE.match(row["message"])
        assert match, row["message"]
        assert match.group(2) in WORDS and match.group(4) in METRICS
        assert int(match.group(3)) == row["user_id"]


def test_seed_with_the_same_seed_gives_the_same_logs(logs_db):
    seed(days=2, per_day=300, seed=42, until=date(2023, 8, 28))
    first = documents(logs_db)
    logs_db.delete_many({})
    seed(days=2, per_day=300, seed=42, until=date(2023, 8, 28))
    assert documents(logs_db) == first

    logs_db.delete_many({})
    seed(days=2, per_day=300, seed=43, until=date(2023, 8, 28))
    assert documents(logs_db) != first


def test_seed_if_empty_leaves_an_existing_collection_alone(logs_db, make_log):
    make_log()
    seed(days=1, per_day=100, if_empty=True)
    assert logs_db.count_documents({}) == 1
