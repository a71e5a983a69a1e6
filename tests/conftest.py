from datetime import UTC, datetime, timedelta

import pytest

from retrieval.models import LogEntry

BOTH_DATABASES = ["default", "logs"]


@pytest.fixture
def logs_db(django_db_setup, django_db_blocker):
    """Access to both databases; the logs collection is emptied before and after."""
    with django_db_blocker.unblock():
        LogEntry.collection().delete_many({})
        yield LogEntry.collection()
        LogEntry.collection().delete_many({})


@pytest.fixture
def make_log():
    """Insert one log document and return it (with its `_id`)."""

    def make(
        timestamp: datetime | None = None,
        user_id: int = 1,
        level: str = "info",
        message: str = "Trained a new model, leo. User: 1, F1: 0.5",
        **extra,
    ) -> dict:
        document = {
            "timestamp": timestamp or datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5),
            "user_id": user_id,
            "level": level,
            "message": message,
            **extra,
        }
        LogEntry.collection().insert_one(document)
        return document

    return make
