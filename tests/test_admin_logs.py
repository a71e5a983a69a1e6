from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User

pytestmark = pytest.mark.django_db(databases=["default", "logs"])

START = datetime(2023, 8, 27, tzinfo=UTC)


@pytest.fixture
def staff_client(client):
    user = User.objects.create_user("staff", password="pw-for-tests", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def rows(response) -> list[str]:
    return [str(entry) for entry in response.context["cl"].result_list]


def test_admin_changelist_lists_logs_from_mongodb_newest_first(staff_client, logs_db, make_log):
    make_log(timestamp=START, message="older one")
    make_log(timestamp=START + timedelta(hours=1), message="newer one")

    response = staff_client.get("/admin/retrieval/logentry/")

    assert response.status_code == 200
    listed = rows(response)
    assert len(listed) == 2
    assert "newer one" in listed[0] and "older one" in listed[1]


def test_admin_filters_by_level_and_searches_the_message(staff_client, logs_db, make_log):
    make_log(timestamp=START, level="error", message="Recall dropped (again)")
    make_log(timestamp=START, level="info", message="Recall fine")
    make_log(timestamp=START, level="error", message="F1 fine")

    by_level = rows(staff_client.get("/admin/retrieval/logentry/", {"level__exact": "error"}))
    assert sorted(m.split(": ", 1)[1] for m in by_level) == ["F1 fine", "Recall dropped (again)"]

    searched = rows(staff_client.get("/admin/retrieval/logentry/", {"level__exact": "error", "q": "recall DROPPED ("}))
    assert [m.split(": ", 1)[1] for m in searched] == ["Recall dropped (again)"]


def test_admin_pages_without_counting_and_knows_when_there_is_a_next_page(staff_client, logs_db, make_log):
    for minute in range(150):
        make_log(timestamp=START + timedelta(minutes=minute), message=f"row {minute}")

    first = staff_client.get("/admin/retrieval/logentry/")
    second = staff_client.get("/admin/retrieval/logentry/", {"p": 2})

    assert len(rows(first)) == 100
    assert first.context["cl"].multi_page
    assert len(rows(second)) == 50
    assert not set(rows(first)) & set(rows(second))
    assert second.context["cl"].paginator.num_pages == 2


def test_admin_logs_are_read_only(staff_client, logs_db, make_log):
    make_log(timestamp=START)
    response = staff_client.get("/admin/retrieval/logentry/")

    assert response.status_code == 200
    assert staff_client.get("/admin/retrieval/logentry/add/").status_code == 403
    assert b"Add log entry" not in response.content


def test_admin_changelist_needs_a_staff_login(client, logs_db):
    response = client.get("/admin/retrieval/logentry/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
