"""Demo logs shaped like the ones the original Flask app generated.

Messages look like `Validated a new model, ligula. User: 4, Recall: 0.2773660126196892`.
"""

import random
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
ACTIONS = ("Trained a new model", "Validated a new model", "Evaluated a model", "Deployed a model")
# Roughly what a model's log looks like: mostly info and debug, a few errors.
LEVEL_WEIGHTS = {
    Level.DEBUG: 30,
    Level.INFO: 40,
    Level.WARNING: 15,
    Level.ERROR: 10,
    Level.CRITICAL: 5,
}


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
            message = f"{rng.choice(ACTIONS)}, {rng.choice(WORDS)}. User: {user_id}, {metric}: {rng.random()}"
            yield {
                # Millisecond precision: what BSON dates store.
                "timestamp": start + timedelta(milliseconds=offset),
                "user_id": user_id,
                "level": str(rng.choices(levels, weights)[0]),
                "message": message,
                "logger": "demo.trainer",
            }
