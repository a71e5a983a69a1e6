"""The one way logs are stored in MongoDB: insert, time buckets (`retrieval.buckets`) and per-minute counters.

Every door that stores hot logs calls `insert` (ingest, the demo seed, rehydration, tests and
benches), so no log reaches MongoDB uncounted. Histograms without a query term read the
counters, not the logs (`retrieval.sources.HotSource.volume`).

Two collections beside `logs`:

- `log_counts`: one document per hour (`_id`: the hour since the epoch) for every user:
  `{hour, day, c: {<level>: {m<minute>: n}}, started, finished, last_start}`;
- `log_counts_by_user`: one per (hour, shard of user_ids) (`_id`: "<hour>:<shard>", the shard
  being `user_id % USER_SHARDS`): `{hour, day, shard, u: {u<user_id>: {<level>: {m<minute>: n}}}}`.

Why shards rather than a document per (hour, user_id): FerretDB 1.24 applies the updates of a
bulk write one by one, each a read and a rewrite of a row, milliseconds apiece; a batch of 300
users' logs would cost 300 of them. A shard holds a sixteenth of the users: at most 17 updates
per hour a chunk touches, and a user's histogram decodes 24 small documents a day.

Minutes are keyed `m0`..`m59` and users `u<id>`, never a bare number (a numeric path segment
would mean an array index to `$inc`). Both servers push the top-level `day` and `shard`
equalities a reader sends down to their storage.

How the counts stay exact (the rule, docs/architecture.md "Histogram counters"):

1. Before inserting, a writer adds 1 to `started` of each hour of its documents (and moves
   `last_start` on); after the insert it adds what was inserted to the user documents and
   then, in the same update as the hour's counts, 1 to `finished`. Only documents MongoDB
   accepted are counted: a duplicate id (a re-sent batch) is named in the BulkWriteError and
   never counted twice.
2. An hour whose `started` equals `finished` has no write in flight and none lost: its
   counters are the logs MongoDB holds. An hour with `started > finished` is in doubt (a
   writer is inserting now, or died between its insert and its counter update, and the
   sender's retry then saw only duplicates): readers count its logs by `hour` equality.
3. `recount(hour)` heals an hour in doubt once its last writer started more than
   HEAL_AFTER ago (a live writer's deadline is seconds): it starts as a writer itself,
   counts the hour's logs, rewrites its counters, and finishes only if no other writer
   started meanwhile (`started` still its own number) and none was in flight when it began;
   otherwise the hour stays in doubt (still exact, read from logs) until the next recount.
   The beat task `retrieval.heal_log_counts` and the command `rebuild_log_counts` run it for
   stale hours; `rebuild_log_counts --all` for every hour (an upgrade).
4. Days the archiver has touched are not read from counters at all (archive.hot): their
   logs leave MongoDB without the counters knowing.
"""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo import ReplaceOne, ReturnDocument, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from logsite.mongodb.ferretdb import bulk_write_in_chunks
from retrieval import buckets, hooks
from retrieval.models import LogEntry

COUNTS = "log_counts"
USER_COUNTS = "log_counts_by_user"
DUPLICATE_KEY = 11000
# A writer finishes (or fails) within its deadline, seconds; an hour in doubt for longer lost its writer.
HEAL_AFTER = timedelta(minutes=10)
USER_SHARDS = 16
REBUILD = "rebuild"  # the `_id` of `rebuild`'s progress in COUNTS

# (level, minute of the hour) -> logs
MinuteCounts = Counter[tuple[str, int]]


def counts_collection() -> Collection:
    return LogEntry.collection().database[COUNTS]


def user_counts_collection() -> Collection:
    return LogEntry.collection().database[USER_COUNTS]


def minute_key(level: str, minute: int) -> str:
    return f"c.{level}.m{minute}"


def decode(counts: dict | None) -> MinuteCounts:
    """A document's `c` as (level, minute) -> logs."""
    return Counter(
        {(level, int(key[1:])): n for level, minutes in (counts or {}).items() for key, n in minutes.items()}
    )


def encode(counts: MinuteCounts) -> dict:
    encoded: dict[str, dict[str, int]] = defaultdict(dict)
    for (level, minute), n in counts.items():
        encoded[level][f"m{minute}"] = n
    return dict(encoded)


def _start(hours: Iterable[int]) -> None:
    """Mark a write in flight in each hour (rule 1): readers count these hours from logs until it finishes."""
    now = datetime.now(UTC)
    bulk_write_in_chunks(
        counts_collection(),
        [
            UpdateOne(
                {"_id": hour},
                {"$inc": {"started": 1}, "$max": {"last_start": now}, "$set": {"hour": hour, "day": hour // 24}},
                upsert=True,
            )
            for hour in sorted(hours)
        ],
    )


def _finish(hours: Iterable[int], inserted: list[dict]) -> None:
    """Count `inserted` (stamped documents), then mark the writes of `hours` finished (rule 1)."""
    by_shard: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    by_hour: dict[int, dict[str, int]] = {hour: {} for hour in hours}
    for document in inserted:
        hour, user_id = document[buckets.HOUR], document["user_id"]
        key = minute_key(document["level"], document["timestamp"].minute)
        shard = by_shard[(hour, user_id % USER_SHARDS)]
        user_key = f"u.u{user_id}.{key[2:]}"
        shard[user_key] = shard.get(user_key, 0) + 1
        by_hour[hour][key] = by_hour[hour].get(key, 0) + 1
    if by_shard:
        bulk_write_in_chunks(
            user_counts_collection(),
            [
                UpdateOne(
                    {"_id": f"{hour}:{shard}"},
                    {"$inc": counts, "$set": {"hour": hour, "day": hour // 24, "shard": shard}},
                    upsert=True,
                )
                for (hour, shard), counts in by_shard.items()
            ],
        )
    # After the users' counts: an hour whose writes all finished has every user's counts too.
    # No upsert: an hour the archiver dropped (its day purged) is not brought back half counted.
    bulk_write_in_chunks(
        counts_collection(),
        [UpdateOne({"_id": hour}, {"$inc": {"finished": 1, **counts}}) for hour, counts in by_hour.items()],
    )


def insert(documents: list[dict]) -> int:
    """Store `documents` (each with its `_id`) in MongoDB, stamped and counted; returns how many were new.

    An `_id` MongoDB holds already is a duplicate: skipped, not replaced, not counted.
    Raises pymongo's errors: a BulkWriteError with other failures than duplicates after
    counting what was inserted; a timeout or a lost connection leaves the hours in doubt
    (the module docstring's rule 2), so a retry that finds only duplicates is still exact.
    """
    if not documents:
        return 0
    buckets.stamped(documents)
    # Each hook may change the documents before the insert, and is told which were inserted after it.
    after_insert = hooks.before_insert(documents)
    hours = {document[buckets.HOUR] for document in documents}
    _start(hours)
    try:
        LogEntry.collection().insert_many(documents, ordered=False)
    except BulkWriteError as exc:
        failures = exc.details.get("writeErrors", [])
        failed = {failure["index"] for failure in failures}
        inserted = [document for index, document in enumerate(documents) if index not in failed]
        _finish(hours, inserted)
        for done in after_insert:
            done(inserted)
        if any(failure.get("code") != DUPLICATE_KEY for failure in failures):
            raise
        return len(inserted)
    _finish(hours, documents)
    for done in after_insert:
        done(documents)
    return len(documents)


@dataclass(frozen=True)
class HourState:
    hour: int
    counts: MinuteCounts  # every user's
    settled: bool  # no write in flight or lost: the counters are the logs MongoDB holds


def hour_states(days: Iterable[int]) -> dict[int, HourState]:
    """The every-user counters of the hours of `days` that any write touched: one query.

    `$in` is not pushed down by FerretDB, but the collection holds only the hot days' hours
    (a few hundred small documents): one scan costs less than a round trip per day.
    """
    return {
        document["hour"]: HourState(
            document["hour"], decode(document.get("c")), document.get("started", 0) == document.get("finished", 0)
        )
        for document in counts_collection().find({"day": {"$in": sorted(set(days))}})
    }


def user_counts(days: Iterable[int], user_ids: Iterable[int]) -> dict[int, MinuteCounts]:
    """The counters of `user_ids` (summed) per hour of `days`: one query per shard they fall in (its equality
    is pushed down; see hour_states for the `$in`)."""
    by_shard: dict[int, set[str]] = defaultdict(set)
    for user_id in user_ids:
        by_shard[user_id % USER_SHARDS].add(f"u{user_id}")
    counts: dict[int, MinuteCounts] = defaultdict(Counter)
    wanted_days = sorted(set(days))
    for shard, users in by_shard.items():
        for document in user_counts_collection().find({"shard": shard, "day": {"$in": wanted_days}}):
            for user in users & document.get("u", {}).keys():
                counts[document["hour"]].update(decode(document["u"][user]))
    return counts


def counts_by_user(days: Iterable[int]) -> dict[int, dict[int, MinuteCounts]]:
    """Every user's counters per hour of `days` (user_id -> hour -> counts): one query (see hour_states for the
    `$in`). An hour in doubt may lack a writer in flight (its counts come a moment later)."""
    found: dict[int, dict[int, MinuteCounts]] = defaultdict(dict)
    for document in user_counts_collection().find({"day": {"$in": sorted(set(days))}}):
        for user, counts in document.get("u", {}).items():
            found[int(user[1:])][document["hour"]] = decode(counts)
    return found


def stale_hours(now: datetime | None = None) -> list[int]:
    """Hours in doubt whose last writer started more than HEAL_AFTER ago (rule 3)."""
    cutoff = (now or datetime.now(UTC)) - HEAL_AFTER
    return sorted(
        document["_id"]
        for document in counts_collection().find({}, {"started": 1, "finished": 1, "last_start": 1})
        if isinstance(document["_id"], int)
        and document.get("started", 0) != document.get("finished", 0)
        and document["last_start"].replace(tzinfo=UTC) < cutoff
    )


def recount(hour: int) -> bool:
    """Count the logs of `hour` again and rewrite its counters (rule 3); False if a writer was in flight.

    Memory: the counters of one hour (users x levels x 60 at most).
    """
    now = datetime.now(UTC)
    before = (
        counts_collection().find_one_and_update(
            {"_id": hour},
            {"$inc": {"started": 1}, "$max": {"last_start": now}, "$set": {"hour": hour, "day": hour // 24}},
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        or {}
    )
    mine = before.get("started", 0) + 1
    if (
        before.get("started", 0) != before.get("finished", 0)
        and before["last_start"].replace(tzinfo=UTC) > now - HEAL_AFTER
    ):
        # A writer may be between its insert and its counts: counting now could count its logs twice.
        # The hour stays in doubt (exact, read from logs) and is stale, so healed, HEAL_AFTER from now.
        return False
    by_user: dict[int, MinuteCounts] = defaultdict(Counter)
    found = LogEntry.collection().find(
        {buckets.HOUR: hour}, {"_id": 0, "timestamp": 1, "user_id": 1, "level": 1}, batch_size=10_000
    )
    for document in found:
        by_user[document["user_id"]][(document["level"], document["timestamp"].minute)] += 1
    shards: dict[int, dict[str, dict]] = defaultdict(dict)
    for user_id, counts in by_user.items():
        shards[user_id % USER_SHARDS][f"u{user_id}"] = encode(counts)
    users = user_counts_collection()
    users.delete_many({"hour": hour})
    if shards:
        bulk_write_in_chunks(
            users,
            [
                ReplaceOne(
                    {"_id": f"{hour}:{shard}"},
                    {"hour": hour, "day": hour // 24, "shard": shard, "u": users_counts},
                    upsert=True,
                )
                for shard, users_counts in shards.items()
            ],
        )
    every_user: MinuteCounts = sum(by_user.values(), Counter())
    # Settled only if `started` is still ours: a writer that came meanwhile keeps the hour in doubt.
    done = counts_collection().update_one(
        {"_id": hour, "started": mine}, {"$set": {"finished": mine, "c": encode(every_user)}}
    )
    return done.matched_count == 1


def drop_day(day: int) -> None:
    """Forget the counters of a day (the archiver, once the day is purged from MongoDB)."""
    counts_collection().delete_many({"day": day})
    user_counts_collection().delete_many({"day": day})


def heal() -> list[int]:
    """Recount the stale hours in doubt (rule 3); returns those still in doubt (a writer came meanwhile)."""
    return [hour for hour in stale_hours() if not recount(hour)]


def rebuild(done: Callable[[int], None] = lambda hour: None) -> list[int]:
    """Recount every hour from the newest log MongoDB holds to the oldest (an upgrade); returns the hours left
    in doubt (a writer was in flight: `heal` settles them later).

    Resumable: the hours done are noted in `log_counts` (`_id` "rebuild"), and a run after an
    interrupted one goes on below the last hour done. Memory: one hour's counters.
    """
    logs = LogEntry.collection()
    newest = logs.find_one({}, {"timestamp": 1}, sort=[("timestamp", -1)])
    oldest = logs.find_one({}, {"timestamp": 1}, sort=[("timestamp", 1)])
    if newest is None or oldest is None:
        return []
    progress = counts_collection().find_one({"_id": REBUILD}) or {}
    top = buckets.hour_of(newest["timestamp"])
    if "below" in progress:
        top = min(top, progress["below"] - 1)
    left = []
    for hour in range(top, buckets.hour_of(oldest["timestamp"]) - 1, -1):
        if not recount(hour):
            left.append(hour)
        counts_collection().update_one({"_id": REBUILD}, {"$set": {"below": hour}}, upsert=True)
        done(hour)
    counts_collection().delete_one({"_id": REBUILD})
    return left
