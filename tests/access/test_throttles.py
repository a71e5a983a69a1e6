"""Request rates (THROTTLE_RATES) per token or user: search, export and ingest answer 429 with Retry-After
past theirs; the counts live in the test services' Redis (Django's cache), as in production."""

import json
import threading

import pytest
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from rest_framework.test import APIClient

from doors import capacity
from doors.capacity import search_capacity

pytestmark = pytest.mark.django_db(databases=["default", "logs"])

ONE_LOG = {"logs": [{"timestamp": "2023-08-27T12:30:00Z", "user_id": 4, "level": "error", "message": "x"}]}


@pytest.fixture
def low_rates(settings):
    settings.THROTTLE_RATES = {"search": "2/minute", "export": "1/minute", "ingest": "1/minute"}


def assert_throttled(response) -> None:
    assert response.status_code == 429, response.content
    assert 1 <= int(response["Retry-After"]) <= 60


def test_api_search_past_its_rate_is_429_with_retry_after(api, logs_db, low_rates):
    assert [api.get("/api/v1/logs").status_code for _ in range(2)] == [200, 200]

    assert_throttled(api.get("/api/v1/logs"))
    # The seed route is a search too, and counts against the same rate.
    assert_throttled(api.get("/logs/date/2023-08-27/user/4/level/error"))


def test_json_ingest_past_its_rate_is_429_and_searching_still_works(api, logs_db, low_rates):
    assert api.post("/api/v1/logs", ONE_LOG, format="json").status_code == 201

    assert_throttled(api.post("/api/v1/logs", ONE_LOG, format="json"))
    assert api.get("/api/v1/logs").status_code == 200


def test_otlp_ingest_past_its_rate_is_an_otlp_429_with_retry_after(api, logs_db, low_rates):
    body = json.dumps({"resourceLogs": []})
    assert api.post("/v1/logs", body, content_type="application/json").status_code == 200

    response = api.post("/v1/logs", body, content_type="application/json")

    assert_throttled(response)
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == 8  # google.rpc.Code RESOURCE_EXHAUSTED, as OTLP maps 429


def test_export_past_its_rate_is_429_with_retry_after(client, logs_db, low_rates, make_log):
    make_log()
    client.force_login(User.objects.create_user("exporter"))
    first = client.get("/export.csv")
    assert first.status_code == 200
    b"".join(first.streaming_content)

    assert_throttled(client.get("/export.jsonl"))


def test_each_token_or_user_has_its_own_count(api, logs_db, low_rates):
    other = APIClient()
    other.force_login(User.objects.create_user("someone-else"))
    for _ in range(2):
        api.get("/api/v1/logs")
    assert api.get("/api/v1/logs").status_code == 429

    assert other.get("/api/v1/logs").status_code == 200


def test_an_empty_rate_means_no_limit(api, logs_db, settings):
    settings.THROTTLE_RATES = {"search": "", "export": "", "ingest": ""}

    assert {api.get("/api/v1/logs").status_code for _ in range(5)} == {200}


@pytest.fixture
def no_search_running(monkeypatch):
    # The count is per process. A WSGI server closes every response, but an earlier test that read an
    # export's status without its streamed body left that response open, and so its permit taken.
    monkeypatch.setattr(capacity, "_running", 0)


def test_a_search_past_the_thread_limit_is_refused_at_once_and_a_closed_export_frees_its_thread(
    settings, no_search_running
):
    settings.SEARCH_THREADS = 1
    started, release = threading.Event(), threading.Event()

    @search_capacity
    def slow_search(request: HttpRequest) -> HttpResponse:
        started.set()
        release.wait(10)
        return HttpResponse("done")

    @search_capacity
    def export(request: HttpRequest) -> StreamingHttpResponse:
        return StreamingHttpResponse(iter(["a", "b"]))

    answers: list[HttpResponse] = []
    holder = threading.Thread(target=lambda: answers.append(slow_search(HttpRequest())))
    holder.start()
    started.wait(10)
    refused = export(HttpRequest())
    release.set()
    holder.join(10)
    answers[0].close()

    assert refused.status_code == 503 and refused["Retry-After"] == "1"
    streaming = export(HttpRequest())
    assert streaming.status_code == 200
    assert export(HttpRequest()).status_code == 503  # the open export holds the one thread
    streaming.close()
    again = export(HttpRequest())
    again.close()  # frees its permit for the next test
    assert again.status_code == 200


def test_the_search_page_past_the_thread_limit_is_a_busy_page_that_reloads_itself(
    client, logs_db, settings, no_search_running
):
    settings.SEARCH_THREADS = 1
    client.force_login(User.objects.create_user("reader", password="a-long-test-password"))
    started, release = threading.Event(), threading.Event()

    @search_capacity
    def slow_search(request: HttpRequest) -> HttpResponse:
        started.set()
        release.wait(10)
        return HttpResponse("done")

    holder = threading.Thread(target=lambda: slow_search(HttpRequest()).close())
    holder.start()
    started.wait(10)
    try:
        busy = client.get("/", {"date": "2023-08-27"})
    finally:
        release.set()
        holder.join(10)

    assert busy.status_code == 503 and busy["Retry-After"] == "1"
    assert busy["Content-Type"].startswith("text/html")
    assert b'http-equiv="refresh"' in busy.content and b"Too many searches at once" in busy.content
    assert client.get("/", {"date": "2023-08-27"}).status_code == 200
