"""Logs with metrics and errors at chosen times, rules and ticks at a fixed moment, for the alerts tests."""

from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import User

from alerts.models import Rule
from retrieval import hotstore

# Half past the previous hour: the current hour holds the last 30 minutes, the hour before the 60 before them.
NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=1)


def send(user_id: int, minutes_ago: float, message: str, level: str = "info", model: str = "resnet") -> None:
    hotstore.insert(
        [
            {
                "timestamp": NOW - timedelta(minutes=minutes_ago),
                "user_id": user_id,
                "level": level,
                "message": message,
                "context": {"model": model},
            }
        ]
    )


def recall(user_id: int, minutes_ago: float, value: float, model: str = "resnet") -> None:
    send(user_id, minutes_ago, f"Validated a new model. Recall: {value}", model=model)


def errors(user_id: int, minutes_ago: float, n: int, level: str = "error") -> None:
    for i in range(n):
        send(user_id, minutes_ago, f"failed {i}", level=level)


def rule(owner: User, **fields: object) -> Rule:
    defaults: dict[str, object] = {
        "name": "recall low",
        "kind": Rule.Kind.THRESHOLD,
        "metric": "Recall",
        "aggregate": Rule.Aggregate.AVG,
        "comparison": Rule.Comparison.BELOW,
        "threshold": 0.75,
        "window_minutes": 60,
        "email": "owner@example.com",
    }
    made = Rule(owner=owner, **{**defaults, **fields})
    made.full_clean(exclude=["owner"])
    made.save()
    return made
