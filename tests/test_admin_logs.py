from datetime import UTC, datetime, timedelta

import pytest
from django.contrib import admin
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

    by_level = rows(staff_client.get("/admin/retrieval/logentry/", {"level": "error"}))
    assert sorted(m.split(": ", 1)[1] for m in by_level) == ["F1 fine", "Recall dropped (again)"]

    searched = rows(staff_client.get("/admin/retrieval/logentry/", {"level": "error", "q": "recall DROPPED ("}))
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


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize(
    "params",
    [
        {"message__regex": "(a+)+$"},
        {"context__has_key": "x"},
        {"level__exact": "error"},
        {"_changelist_filters": "level=error"},
        {"all": ""},
    ],
)
def test_admin_refuses_a_parameter_it_does_not_offer_with_a_message_and_no_query(
    staff_client, logs_db, make_log, params
):
    make_log(timestamp=START, level="info", message="kept")
    name = next(iter(params))

    response = staff_client.get("/admin/retrieval/logentry/", {**params, "user_id": "1"}, follow=True)

    assert response.redirect_chain == [("/admin/retrieval/logentry/?user_id=1", 302)]
    assert response.status_code == 200
    assert messages_of(response) == [f"Parameter “{name}” refused: not a filter of this list."]
    assert len(rows(response)) == 1  # the list the offered filters ask for, the refused one dropped


def test_admin_lookup_allowed_only_for_the_sidebar_filters(staff_client, logs_db):
    from retrieval.admin import LogEntryAdmin
    from retrieval.models import LogEntry

    model_admin = LogEntryAdmin(LogEntry, admin.site)
    assert model_admin.lookup_allowed("level", "error", None)
    assert not model_admin.lookup_allowed("message__regex", ".*", None)
    assert not model_admin.lookup_allowed("level__exact", "error", None)


@pytest.mark.parametrize("page", ["99999999999999999999999", "0", "abc", "1" * 5000])
def test_admin_refuses_a_page_number_out_of_range_and_shows_the_first_page(staff_client, logs_db, make_log, page):
    make_log(timestamp=START, level="error", message="only one")

    response = staff_client.get("/admin/retrieval/logentry/", {"p": page, "level": "error"}, follow=True)

    assert response.redirect_chain == [("/admin/retrieval/logentry/?level=error", 302)]
    assert len(rows(response)) == 1
    assert len(messages_of(response)) == 1 and "“p” refused" in messages_of(response)[0]


def test_window_paginator_refuses_a_page_beyond_the_limit_without_querying_it(logs_db, make_log):
    from django.core.paginator import EmptyPage

    from retrieval.models import LogEntry
    from retrieval.pagination import MAX_PAGE_NUMBER, WindowPaginator

    make_log(timestamp=START)
    huge = 10**23
    paginator = WindowPaginator(LogEntry.objects.order_by("-timestamp"), 100, page_number=huge)

    assert paginator.count == 1  # the window of page 1, not a skip MongoDB cannot take
    with pytest.raises(EmptyPage):
        paginator.page(huge)
    with pytest.raises(EmptyPage):
        paginator.page(MAX_PAGE_NUMBER + 1)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "0001-01-01T00:00:00+23:59", "to": "0001-01-01T10:00:00+23:59"}, "from"),
        ({"to": "9999-12-31T23:59:59-23:59"}, "to"),
    ],
)
def test_admin_shows_an_out_of_range_time_as_a_message_naming_the_field(staff_client, logs_db, make_log, params, field):
    make_log(timestamp=START)

    response = staff_client.get("/admin/retrieval/logentry/", params)

    assert response.status_code == 200
    assert rows(response) == []
    assert any(message.startswith(f"{field}: Out of range") for message in messages_of(response))
