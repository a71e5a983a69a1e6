"""The Flask seed app's route, kept for its clients."""

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db(databases=["default", "logs"])

DAY = datetime(2023, 8, 27, tzinfo=UTC)
URL = "/logs/date/{}/user/{}/level/{}"


@pytest.fixture
def logs(logs_db, make_log):
    make_log(timestamp=DAY + timedelta(hours=2), user_id=4, level="error", message="Recall dropped")
    make_log(timestamp=DAY + timedelta(hours=1), user_id=4, level="error", message="F1 fine")
    make_log(timestamp=DAY + timedelta(hours=1), user_id=4, level="info", message="Recall fine")
    make_log(timestamp=DAY + timedelta(days=1), user_id=4, level="error", message="Recall next day")


def content(response) -> list[dict]:
    import json

    return json.loads(b"".join(response.streaming_content))


def test_returns_the_seed_fields_oldest_first(api, logs):
    response = api.get(URL.format("2023-08-27", 4, "error"))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert content(response) == [
        {"date": "2023-08-27T01:00:00.000000Z", "log_level": "error", "user_id": 4, "log_message": "F1 fine"},
        {"date": "2023-08-27T02:00:00.000000Z", "log_level": "error", "user_id": 4, "log_message": "Recall dropped"},
    ]


def test_keyword_filters_case_insensitively(api, logs):
    response = api.get(URL.format("2023-08-27", 4, "error"), {"keyword": "recall"})
    assert [r["log_message"] for r in content(response)] == ["Recall dropped"]


def test_nothing_found_is_a_404(api, logs):
    assert api.get(URL.format("2023-08-27", 5, "error")).status_code == 404
    assert api.get(URL.format("2023-08-27", 4, "error"), {"keyword": "(nothing"}).status_code == 404


@pytest.mark.parametrize(
    ("url", "field"),
    [
        (URL.format("2023-02-30", 4, "error"), "date"),
        (URL.format("27-08-2023", 4, "error"), "date"),
        (URL.format("2023-08-27", "abc", "error"), "user_id"),
        (URL.format("2023-08-27", 4, "fatal"), "level"),
        (URL.format("2023-08-27", 4, "error") + "?keyword=" + "k" * 10_000, "keyword"),
        (URL.format("2023-08-27", 4, "error") + "?user_id=5", "user_id"),
    ],
)
def test_bad_input_is_a_400(api, logs_db, url, field):
    response = api.get(url)
    assert response.status_code == 400
    assert field in response.json()


def test_needs_a_login_or_token(logs):
    assert APIClient().get(URL.format("2023-08-27", 4, "error")).status_code == 401
