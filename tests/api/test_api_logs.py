"""GET /api/v1/logs (DRF): same parameters as the page; token and session auth; OpenAPI."""

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from retrieval import planner
from tests.access_support import user_granted
from tests.bad_search_input import BAD_SEARCH_INPUT

pytestmark = pytest.mark.django_db(databases=["default", "logs"])

DAY = datetime(2023, 8, 27, tzinfo=UTC)


@pytest.fixture
def logs(logs_db, make_log):
    return [
        make_log(timestamp=DAY + timedelta(minutes=m), user_id=1 + m % 2, level="error", message=f"Recall {m}")
        for m in range(9)
    ]


def test_results_next_cursor_and_sources(api, logs):
    response = api.get("/api/v1/logs", {"date": "2023-08-27", "user_id": "1", "page_size": "3"})
    assert response.status_code == 200
    body = response.json()
    assert [r["message"] for r in body["results"]] == ["Recall 8", "Recall 6", "Recall 4"]
    assert body["results"][0] == {
        "id": str(logs[8]["_id"]),
        "timestamp": "2023-08-27T00:08:00.000000Z",
        "user_id": 1,
        "level": "error",
        "message": "Recall 8",
        "logger": "",
        "context": None,
        "source": "hot",
        "metrics": None,
    }
    assert body["sources"] == {source.name: "ok" for source in planner.log_sources()} and body["partial"] is False
    assert body["next_cursor"] and "cursor=" in body["next"]

    second = api.get(body["next"]).json()
    assert [r["message"] for r in second["results"]] == ["Recall 2", "Recall 0"]
    assert second["next_cursor"] is None and second["next"] is None


def test_session_auth_works_and_anonymous_is_refused(client, logs):
    assert client.get("/api/v1/logs").status_code == 401
    client.force_login(user_granted("human"))
    assert client.get("/api/v1/logs", {"date": "2023-08-27"}).json()["results"]


def test_a_wrong_token_is_refused(logs):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get("/api/v1/logs").status_code == 401


@pytest.mark.parametrize(("params", "field"), BAD_SEARCH_INPUT)
def test_bad_input_is_a_400_naming_the_field(api, logs_db, params, field):
    response = api.get("/api/v1/logs", params)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("keyword", [".*", "(", "\\", "$where"])
def test_special_keywords_are_literal_text(api, logs_db, make_log, keyword):
    make_log(timestamp=DAY, message=f"has {keyword} inside")
    make_log(timestamp=DAY, message="plain text")
    body = api.get("/api/v1/logs", {"date": "2023-08-27", "keyword": keyword}).json()
    assert [r["message"] for r in body["results"]] == [f"has {keyword} inside"]


def test_openapi_schema_documents_the_parameters_and_swagger_ui_is_served(api, db):
    schema = api.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    operation = schema.json()["paths"]["/api/v1/logs"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"user_id", "date", "from", "to", "level", "min_level", "keyword", "order", "page_size", "cursor"} <= names
    assert "/logs/date/{day}/user/{user_id}/level/{level}" in schema.json()["paths"]
    # The docs page is for browsers: a session (login), not a token (API_DOCS_PUBLIC is off).
    api.force_login(user_granted("docs-reader"))
    docs = api.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
