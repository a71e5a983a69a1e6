"""Demo logs shaped like the ones the original Flask app generated.

Messages look like `Validated a new model, ligula. User: 4, Recall: 0.2773660126196892`.
"""

import math
import random
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

from retrieval.models import Level

USER_IDS = (1, 2, 3, 4, 5)
METRICS = ("ROC-AUC", "F1", "Precision", "Recall", "Sensitivity", "Specificity")
WORDS = [
    "Lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "Maecenas",
    "ullamcorper",
    "convallis",
    "leo",
    "sit",
    "amet",
    "feugiat",
    "ligula",
    "viverra",
    "eu",
]
# Each demo user trains two or three models whose metrics drift (retrieval.demo.drifting_value), so that a
# chart of a user's models shows trends to compare.
DEMO_MODELS = ("resnet50", "bert-base", "xgboost")
DRIFT_DAYS = 40  # the period of a series' slow swing
DRIFT_ORIGIN = datetime(2023, 1, 2, tzinfo=UTC)
ACTIONS = ("Trained a new model", "Validated a new model", "Evaluated a model", "Deployed a model")
# Roughly what a model's log looks like: mostly info and debug, a few errors.
LEVEL_WEIGHTS = {
    Level.DEBUG: 30,
    Level.INFO: 40,
    Level.WARNING: 15,
    Level.ERROR: 10,
    Level.CRITICAL: 5,
}


def models_of(user_id: int) -> tuple[str, ...]:
    """Users with an odd id train three models, the others two."""
    return DEMO_MODELS if user_id % 2 else DEMO_MODELS[:2]


def drifting_value(user_id: int, model: str, metric: str, moment: datetime, noise: float) -> float:
    """A 0-1 score of (user, model, metric) at `moment`: its own level, swinging by up to 0.15 over DRIFT_DAYS
    days from its own phase, plus up to 0.05 of noise (`noise` is a uniform draw in [0, 1))."""
    key = zlib.crc32(f"{user_id}/{model}/{metric}".encode())
    level = 0.55 + (key % 1000) / 1000 * 0.3
    phase = (key >> 10) % 1000 / 1000
    days = (moment - DRIFT_ORIGIN) / timedelta(days=1)
    value = level + 0.15 * math.sin(2 * math.pi * (days / DRIFT_DAYS + phase)) + (noise - 0.5) * 0.1
    return min(1.0, max(0.0, value))


def demo_days(days: int, until: date) -> list[date]:
    """The `days` UTC days ending with `until`, oldest first."""
    return [until - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def generate_demo_logs(
    days: list[date], per_day: int, seed: int | None, not_after: datetime | None = None
) -> Iterator[dict]:
    """Yield MongoDB documents for the log collection, `per_day` for each day in order.

    The same seed and days give the same documents (apart from `_id`, which the
    server assigns on insert). No timestamp is later than `not_after`: today's
    demo logs are in the past.
    """
    rng = random.Random(seed)
    # Models drawn apart: the other draws (users, levels, times) stay what they were before models existed.
    model_rng = random.Random(None if seed is None else f"models-{seed}")
    levels = list(LEVEL_WEIGHTS)
    weights = list(LEVEL_WEIGHTS.values())
    for day in days:
        start = datetime.combine(day, time.min, tzinfo=UTC)
        span_ms = 86_400_000
        if not_after is not None:
            span_ms = max(1, min(span_ms, int((not_after - start).total_seconds() * 1000)))
        for offset in sorted(rng.randrange(span_ms) for _ in range(per_day)):
            user_id = rng.choice(USER_IDS)
            metric = rng.choice(METRICS)
            model = model_rng.choice(models_of(user_id))
            # Millisecond precision: what BSON dates store.
            stamp = start + timedelta(milliseconds=offset)
            action, word = rng.choice(ACTIONS), rng.choice(WORDS)
            value = drifting_value(user_id, model, metric, stamp, rng.random())
            yield {
                "timestamp": stamp,
                "user_id": user_id,
                "level": str(rng.choices(levels, weights)[0]),
                "message": f"{action}, {word}. User: {user_id}, {metric}: {value}",
                "logger": "demo.trainer",
                "context": {"model": model},
            }
