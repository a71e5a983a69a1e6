"""The admin changelist uses the shared search filters and links to the search page; and
the same query gives the same rows on the page, the API, the seed route and the admin."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User

from tests.access_support import token_of

pytestmark = pytest.mark.django_db(databases=["default", "logs"])

DAY = datetime(2023, 8, 27, tzinfo=UTC)
ADMIN = "/admin/retrieval/logentry/"


@pytest.fixture
def staff(client):
    user = User.objects.create_user("staff", password="pw-for-tests", is_staff=True, is_superuser=True)
    client.force_login(user)
    client.token = token_of(user)
    return client


@pytest.fixture
def logs(logs_db, make_log):
    made = []
    for i in range(60):
        made.append(
            make_log(
                timestamp=DAY - timedelta(hours=6) + timedelta(minutes=29 * i),
                user_id=1 + i % 5,
                level=("debug", "info", "warning", "error", "critical")[i % 4 + (i % 7 == 0)],
                message=f"Validated a model. User: {1 + i % 5}, {'Recall' if i % 3 else 'F1'}: 0.{i} (run)",
            )
        )
    return made


def admin_ids(response) -> list[str]:
    return [str(entry.pk) for entry in response.context["cl"].result_list]


@pytest.mark.parametrize(
    "params",
    [
        {"date": "2023-08-27", "user_id": "4", "level": "error"},
        {"date": "2023-08-27", "user_id": "4", "level": "error", "keyword": "recall"},
        {"date": "2023-08-27", "user_id": "2"},
        {"date": "2023-08-27", "keyword": "RECALL: 0.1"},
        {"date": "2023-08-27", "min_level": "warning", "keyword": "(run)"},
        {"from": "2023-08-26T20:00:00Z", "to": "2023-08-27T03:30:00Z", "user_id": "1,3"},
    ],
)
def test_page_api_seed_route_and_admin_agree_on_the_same_query(staff, logs, params):
    page = staff.get("/", {**params, "page_size": "1000"})
    page_ids = [row.id for row in page.context["page"].rows]
    assert page_ids, "the case should match something"

    api = staff.get("/api/v1/logs", {**params, "page_size": "1000"}, HTTP_AUTHORIZATION=f"Token {staff.token}")
    assert [r["id"] for r in api.json()["results"]] == page_ids

    admin_params = {k: v for k, v in params.items() if k != "keyword"}
    if "keyword" in params:
        admin_params["q"] = params["keyword"]
    assert admin_ids(staff.get(ADMIN, admin_params)) == page_ids

    if set(params) <= {"date", "user_id", "level", "keyword"} and "level" in params and "," not in params["user_id"]:
        url = f"/logs/date/{params['date']}/user/{params['user_id']}/level/{params['level']}"
        seed = staff.get(url, {"keyword": params["keyword"]} if "keyword" in params else {})
        messages = [r["log_message"] for r in json.loads(b"".join(seed.streaming_content))]
        assert messages == [row.message for row in reversed(page.context["page"].rows)]


def test_the_search_pages_open_in_admin_link_lists_the_same_rows_without_a_refused_parameter(staff, logs):
    page = staff.get("/", {"date": "2023-08-27", "user_id": "4", "keyword": "recall", "order": "oldest"})
    page_ids = [row.id for row in page.context["page"].rows]

    listed = staff.get(page.context["admin_url"], follow=True)

    assert page_ids and listed.redirect_chain == []
    assert sorted(admin_ids(listed)) == sorted(page_ids)
    assert not list(listed.context["messages"])


def test_admin_sidebar_has_the_search_form_and_a_link_to_the_search_page(staff, logs):
    response = staff.get(ADMIN, {"date": "2023-08-27", "user_id": "4", "level": "error", "q": "recall"})
    html = response.content.decode()
    assert 'name="date"' in html and 'name="min_level"' in html and 'name="level"' in html
    link = response.context["search_url"]
    assert urlsplit(link).path == "/"
    assert parse_qs(urlsplit(link).query) == {
        "date": ["2023-08-27"],
        "user_id": ["4"],
        "level": ["error"],
        "keyword": ["recall"],
    }
    assert 'id="open-in-search"' in html


def test_admin_keyword_is_one_literal_substring_not_separate_words(staff, logs_db, make_log):
    make_log(timestamp=DAY, message="Recall 0.5 (run)")
    make_log(timestamp=DAY, message="(run) then Recall")
    assert len(admin_ids(staff.get(ADMIN, {"q": "recall 0.5 (run"}))) == 1
    assert len(admin_ids(staff.get(ADMIN, {"q": ".*"}))) == 0


def test_admin_without_a_time_range_browses_all_hot_logs(staff, logs):
    assert len(admin_ids(staff.get(ADMIN, {"user_id": "1"}))) == 12


@pytest.mark.parametrize(
    "params", [{"date": "2023-02-30"}, {"level": "fatal"}, {"user_id": "abc"}, {"q": "k" * 10_000}]
)
def test_admin_bad_input_shows_an_error_naming_the_field_not_a_500(staff, logs, params):
    response = staff.get(ADMIN, params, follow=True)
    assert response.status_code == 200
    shown = " ".join(str(m) for m in response.context["messages"])
    field = "keyword" if "q" in params else next(iter(params))
    assert shown.startswith(field)
    assert admin_ids(response) == []


def test_admin_filtered_pages_do_not_count_the_result(staff, logs):
    from explorer.pagination import WindowPaginator

    response = staff.get(ADMIN, {"from": "2023-08-26T00:00:00Z", "to": "2023-08-28T00:00:00Z"})
    assert isinstance(response.context["cl"].paginator, WindowPaginator)
    assert len(admin_ids(response)) == 60
