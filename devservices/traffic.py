"""Realistic log traffic for tests and benches.

What a real deployment sees, unlike the five-user demo: hundreds to thousands of
user ids writing at once with a Zipf skew (a few users write most logs), every
level (mostly info and debug), users interleaved in time, senders that retry
whole batches, logs that arrive late for days already archived, and senders that
make their own ObjectIds from the log's time.

Everything is deterministic for a seed and streams: `documents` generates a
million documents in a few seconds and holds only a small chunk at a time.
"""

from __future__ import annotations

import itertools
import math
import random
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

from bson import ObjectId

from retrieval.demo import ACTIONS, METRICS, WORDS
from retrieval.models import Level

# Mostly info and debug, some warnings, few errors and criticals.
LEVEL_WEIGHTS = {
    Level.DEBUG: 32,
    Level.INFO: 52,
    Level.WARNING: 10,
    Level.ERROR: 5,
    Level.CRITICAL: 1,
}
MODELS = ("resnet50", "bert-base", "gpt2-small", "xgboost", "unet", "vit-b16", "lstm", "t5-small")
LOGGERS = {model: f"trainer.{model}" for model in MODELS}
# Share of documents without a `context` (plain print-style logs).
NO_CONTEXT = 0.1
# Timestamps are drawn and sorted a chunk at a time: in order, without holding them all.
CHUNK = 2048
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OID = struct.Struct(">IQ")  # 4 bytes of seconds, 8 bytes of tail
_T = TypeVar("_T")


@dataclass(frozen=True)
class ZipfUsers:
    """User ids with Zipf weights: the id at rank k (from 1) writes in proportion to 1 / k**s."""

    ids: list[int]
    weights: list[float]
    cum_weights: list[float]

    def sample(self, rng: random.Random, k: int) -> list[int]:
        return rng.choices(self.ids, cum_weights=self.cum_weights, k=k)

    def share_of_top(self, fraction: float) -> float:
        """The expected share of logs written by the top `fraction` of users."""
        top = max(1, round(len(self.ids) * fraction))
        return self.cum_weights[top - 1] / self.cum_weights[-1]


def zipf_user_ids(users: int, s: float = 1.1, first_user_id: int = 1) -> ZipfUsers:
    """`users` ids from `first_user_id` on, heaviest writer first, with Zipf(s) weights."""
    if users < 1:
        raise ValueError("users must be at least 1")
    weights = [1 / rank**s for rank in range(1, users + 1)]
    return ZipfUsers(
        ids=list(range(first_user_id, first_user_id + users)),
        weights=weights,
        cum_weights=list(itertools.accumulate(weights)),
    )


# Message templates by level: (rng, user_id, model, step, loss) -> text. Some contain regex
# metacharacters ( ) . * $ + ? | [ ] \ ^ that a keyword search must treat literally.
# getrandbits and indexing instead of randrange/choice/uniform: several times cheaper per log.
def _demo(r: random.Random, user: int, model: str, step: int, loss: float) -> str:
    """The demo's (and the original Flask app's) message shape."""
    return f"{_pick(r, ACTIONS)}, {_pick(r, WORDS)}. User: {user}, {_pick(r, METRICS)}: {r.random()}"


def _pick(r: random.Random, options: Sequence[_T]) -> _T:
    return options[int(r.random() * len(options))]


def _bits(r: random.Random, k: int, low: int = 0) -> int:
    return low + r.getrandbits(k)


Template = Callable[[random.Random, int, str, int, float], str]
TEMPLATES: dict[Level, tuple[Template, ...]] = {
    Level.DEBUG: (
        lambda r, u, m, s, loss: f"step {s}: loss={loss:.4f} lr={_bits(r, 9, 1)}e-5 grad_norm={r.random() * 5:.3f}",
        lambda r, u, m, s, loss: f"Batch {s} loaded in {_bits(r, 8, 2)} ms (prefetch=4, workers={_pick(r, (2, 4, 8))})",
        lambda r, u, m, s, loss: f"cache hit ratio {r.random() * 100:.1f}% for shard-{_bits(r, 6):02d}.*",
        lambda r, u, m, s, loss: f"tokenizer matched pattern [a-z]+(\\d+)? in {_bits(r, 6, 1)} us",
    ),
    Level.INFO: (
        _demo,
        _demo,
        lambda r, u, m, s, loss: f"Epoch {s // 1000 + 1} done: train_loss={loss:.4f}, val_loss={loss * 1.1:.4f}",
        lambda r, u, m, s, loss: f"Saved checkpoint to s3://models/{m}/step-{s}.pt",
        lambda r, u, m, s, loss: (
            f"Evaluated {m} on holdout (n={_bits(r, 15, 1000)}): {_pick(r, METRICS)}={r.random():.4f}"
        ),
        lambda r, u, m, s, loss: f"Throughput {_bits(r, 13, 200)} samples/s | GPU util {_bits(r, 6, 36)}%",
    ),
    Level.WARNING: (
        lambda r, u, m, s, loss: f"Loss spike at step {s} ({loss * 4:.2f} > 3.0 * moving avg)",
        lambda r, u, m, s, loss: f"GPU memory at {_bits(r, 4, 84)}% [cuda:{_bits(r, 3)}]; consider a smaller batch?",
        lambda r, u, m, s, loss: f"Spot price now ${r.random() * 3:.2f}/h (budget $1.50/h)",
        lambda r, u, m, s, loss: f"Slow data path D:\\datasets\\{m}\\train: {_bits(r, 5, 2)}s per shard",
    ),
    Level.ERROR: (
        lambda r, u, m, s, loss: f"CUDA out of memory (tried to allocate {_bits(r, 13, 64)} MiB) at step {s}",
        lambda r, u, m, s, loss: (
            f"Failed to read s3://data/{m}/part-{_bits(r, 10):04d}.parquet: timeout after {_bits(r, 7, 5)}s"
        ),
        lambda r, u, m, s, loss: f"NaN in loss at step {s}; check lr * batch_size",
    ),
    Level.CRITICAL: (
        lambda r, u, m, s, loss: f"Training aborted: {_bits(r, 5, 3)} consecutive NaN losses (user {u}, model {m})",
        lambda r, u, m, s, loss: f"Node gpu-{_bits(r, 6):02d} lost; job ^{m}$ killed, restarting from step {s}",
    ),
}


def documents(
    count: int,
    start: datetime,
    end: datetime,
    *,
    users: int = 300,
    seed: int = 0,
    sender_ids: bool = False,
) -> Iterator[dict]:
    """`count` MongoDB log documents spread over [start, end), in time order (users interleaved).

    User ids are Zipf-skewed over `users` ids (from 1), levels weighted (LEVEL_WEIGHTS).
    Keys: _id, timestamp (aware UTC, whole milliseconds), user_id, level, message,
    logger ("trainer.<model>"), and context (model, run_id, step, metrics) except for
    about a tenth of the logs. With `sender_ids` the _id is what a sender makes from the
    log's own time: 4 bytes of its seconds + 8 random bytes; otherwise it looks like a
    fresh driver ObjectId (time, a 5-byte process value, a 3-byte counter) for that time.
    """
    yield from _generate(random.Random(seed), count, start, end, users, sender_ids)


def _generate(
    rng: random.Random, count: int, start: datetime, end: datetime, users: int, sender_ids: bool
) -> Iterator[dict]:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    # Whole milliseconds since the epoch: lo is the first allowed, hi the first excluded.
    lo = math.ceil((start - _EPOCH) / timedelta(milliseconds=1))
    hi = math.ceil((end - _EPOCH) / timedelta(milliseconds=1))
    if count and hi <= lo:
        raise ValueError("end must be after start")
    zipf = zipf_user_ids(users)
    levels = [str(level) for level in LEVEL_WEIGHTS]
    level_cum = list(itertools.accumulate(LEVEL_WEIGHTS.values()))
    templates = {str(level): TEMPLATES[level] for level in LEVEL_WEIGHTS}
    base = _EPOCH + timedelta(milliseconds=lo)
    one_ms = timedelta(milliseconds=1)  # base + one_ms * n is the cheapest datetime arithmetic
    span = hi - lo
    steps: dict[int, int] = {}
    process = rng.getrandbits(40) << 24  # a driver's per-process random value
    counter = rng.getrandbits(24)
    random_ = rng.random
    getrandbits = rng.getrandbits
    pack = _OID.pack
    for first in range(0, count, CHUNK):
        n = min(CHUNK, count - first)
        # This chunk's share of the span; sorted within it, so the whole stream is in order.
        a = span * first / count
        width = span * n / count
        offsets = sorted([int(a + random_() * width) for _ in range(n)])
        user_ids = zipf.sample(rng, n)
        chunk_levels = rng.choices(levels, cum_weights=level_cum, k=n)
        for offset, user_id, level in zip(offsets, user_ids, chunk_levels, strict=True):
            seconds = (lo + offset) // 1000
            if sender_ids:
                _id = ObjectId(pack(seconds, getrandbits(64)))
            else:
                counter = (counter + 1) & 0xFFFFFF
                _id = ObjectId(pack(seconds, process | counter))
            # Each user trains a few models (the first most); steps count up per user.
            slot = getrandbits(2) % 3
            model = MODELS[(user_id * 3 + slot) % len(MODELS)]
            step = steps.get(user_id, 0) + 1
            steps[user_id] = step
            loss = 2.5 * math.exp(-step / 20_000) + random_() * 0.1
            options = templates[level]
            document = {
                "_id": _id,
                "timestamp": base + one_ms * offset,
                "user_id": user_id,
                "level": level,
                "message": options[int(random_() * len(options))](rng, user_id, model, step, loss),
                "logger": LOGGERS[model],
            }
            if random_() >= NO_CONTEXT:
                document["context"] = {
                    "model": model,
                    "run_id": f"r{user_id}-{slot}",
                    "step": step,
                    "metrics": {"loss": loss, "accuracy": random_()},
                }
            yield document


def records(docs: Iterable[dict]) -> Iterator[dict]:
    """The same logs as POST /api/v1/logs records (id, ISO timestamp with ms and Z, ...)."""
    for document in docs:
        stamp = document["timestamp"].astimezone(UTC)
        record = {
            "id": str(document["_id"]),
            "timestamp": f"{stamp:%Y-%m-%dT%H:%M:%S}.{stamp.microsecond // 1000:03d}Z",
            "user_id": document["user_id"],
            "level": document["level"],
            "message": document["message"],
        }
        for optional in ("logger", "context"):
            if document.get(optional) is not None:
                record[optional] = document[optional]
        yield record


def batches(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of `size` items (the last may be shorter)."""
    if size < 1:
        raise ValueError("size must be at least 1")
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def with_resends(batch_list: list[list], fraction: float, seed: int = 0) -> list[list]:
    """The batches, with round(fraction * len) of them sent again later, as a retrying sender does.

    Originals keep their order; each re-sent copy (a new list of the same items) lands at a
    random place after its original. Deterministic for a seed.
    """
    rng = random.Random(seed)
    total = len(batch_list)
    repeats = rng.sample(range(total), round(fraction * total))
    # Sort keys: original i at i, its resend somewhere in (i, total].
    keyed = [(float(i), i, batch) for i, batch in enumerate(batch_list)]
    keyed += [(i + 0.5 + rng.random() * (total - i), i, list(batch_list[i])) for i in repeats]
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [batch for _, _, batch in keyed]


def late_documents(count: int, day: date, *, users: int = 300, seed: int = 0) -> list[dict]:
    """Logs stamped within `day` (e.g. a day already archived) arriving late, with sender ids from the past.

    Seeded apart from `documents(..., seed=seed)` so they never repeat its ids for the same day.
    """
    start = datetime.combine(day, time.min, tzinfo=UTC)
    rng = random.Random(f"late-{seed}")
    return list(_generate(rng, count, start, start + timedelta(days=1), users, sender_ids=True))
