import re
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


COUNT_TEXT = re.compile(r"\d+ (results?|log entr(y|ies)|total)\b")


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
    from explorer.admin import LogEntryAdmin
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

    from explorer.pagination import MAX_PAGE_NUMBER, WindowPaginator
    from retrieval.models import LogEntry

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


def test_admin_list_shows_its_position_and_previous_next_never_a_count_or_show_all(staff_client, logs_db, make_log):
    for minute in range(150):
        make_log(timestamp=START + timedelta(minutes=minute), level="error" if minute % 2 else "info")

    first = staff_client.get("/admin/retrieval/logentry/").content.decode()
    second = staff_client.get("/admin/retrieval/logentry/", {"p": 2}).content.decode()

    assert "Logs 1–100" in first and 'href="?p=2" rel="next"' in first and "Previous" not in first
    assert "Logs 101–150" in second and 'href="?p=1" rel="prev"' in second and "Next" not in second
    for html in (first, second):
        # Django's "101 log entries" and "49900 results" were guesses from the page window.
        assert not COUNT_TEXT.search(html) and "Show all" not in html


def test_admin_page_past_the_end_says_no_more_logs_and_links_only_the_first_page(staff_client, logs_db, make_log):
    for minute in range(150):
        make_log(timestamp=START + timedelta(minutes=minute))

    response = staff_client.get("/admin/retrieval/logentry/", {"p": 500, "level": "info"})
    html = response.content.decode()

    assert response.status_code == 200 and rows(response) == []
    assert "No more logs: this list ends before page 500." in html
    assert 'href="?level=info">First page' in html
    assert "p=499" not in html and "p=497" not in html and not COUNT_TEXT.search(html)


def test_admin_search_bar_keeps_the_filters_and_offers_no_show_all_link(staff_client, logs_db, make_log):
    make_log(timestamp=START, level="error", message="kept")
    html = staff_client.get("/admin/retrieval/logentry/", {"level": "error", "user_id": "1"}).content.decode()
    search_form = html.split('id="changelist-search"', 1)[1].split("</form>", 1)[0]

    assert '<input type="hidden" name="level" value="error">' in search_form
    assert '<input type="hidden" name="user_id" value="1">' in search_form
    assert "Show all" not in search_form and 'href="?"' not in search_form


def test_admin_times_are_utc_with_seconds_and_labelled_in_the_list_and_the_detail(staff_client, logs_db, make_log):
    log = make_log(
        timestamp=START + timedelta(hours=23, minutes=54, seconds=7),
        level="warning",
        user_id=42,
        message="Loss went up",
        logger="trainer.loop",
        context={"run": "r-7", "metrics": {"loss": 0.5}},
    )

    listed = staff_client.get("/admin/retrieval/logentry/").content.decode()
    detail = staff_client.get(f"/admin/retrieval/logentry/{log['_id']}/change/").content.decode()

    assert "Time (UTC)" in listed and "2023-08-27 23:54:07" in listed and "p.m." not in listed
    assert "Time (UTC)" in detail and "2023-08-27 23:54:07" in detail
    for shown in (str(log["_id"]), "warning", "42", "trainer.loop", "Loss went up"):
        assert shown in detail
    assert (
        "{\n  &quot;run&quot;: &quot;r-7&quot;,\n  &quot;metrics&quot;: {\n    &quot;loss&quot;: 0.5\n  }\n}</pre>"
        in detail
    )
    assert f'href="/logs/{log["_id"]}"' in detail and f'href="/logs/{log["_id"]}/around"' in detail


def test_admin_list_past_the_search_deadline_says_so_instead_of_a_500(staff_client, logs_db, make_log):
    from django.test import override_settings

    from tests.faults import hung_mongodb

    make_log(timestamp=START)
    with override_settings(SEARCH_TIMEOUT_SECONDS=1), hung_mongodb():
        response = staff_client.get("/admin/retrieval/logentry/", {"level": "info"})

    assert response.status_code == 200 and rows(response) == []
    [message] = messages_of(response)
    assert message.startswith("No logs shown: MongoDB did not answer within 1 s; narrow the search")
