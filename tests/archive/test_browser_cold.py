"""In a real browser: search an archived day from the form and see its rows marked cold."""

from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.sync_api import expect

from archive import cache
from archive.archiver import archive_logs
from retrieval import hotstore
from tests.access_support import user_granted

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=["default", "logs"], transaction=True)]

OLD_DAY = datetime(2023, 8, 20, tzinfo=UTC)


@pytest.fixture
def archived_day(logs_db):
    # Before the browser starts: Playwright's sync API runs an event loop, and the ORM refuses to run inside one.
    user_granted("engineer", password="a-long-test-password")
    hotstore.insert(
        [
            {
                "timestamp": OLD_DAY + timedelta(hours=h),
                "user_id": 4,
                "level": "error",
                "message": f"Validated a model, Recall: 0.{h}",
            }
            for h in range(5)
        ]
        + [{"timestamp": OLD_DAY + timedelta(hours=6), "user_id": 5, "level": "error", "message": "someone else"}]
    )
    run = archive_logs(before=date(2023, 8, 21), trigger="test")
    assert run.logs == 6 and logs_db.count_documents({}) == 0
    cache.clear()


@pytest.fixture
def browser_page(archived_day, chromium):
    return chromium.new_page()


def test_search_an_archived_day_and_see_rows_marked_cold(live_server, browser_page):
    page = browser_page
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "engineer")
    page.fill("#id_password", "a-long-test-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.fill("#id_user_id", "4")
    page.fill("#id_date", "2023-08-20")
    page.fill("#id_keyword", "recall")
    page.click("form.search button[type=submit]")
    page.wait_for_selector("#results")

    rows = page.locator("#results tbody tr")
    assert rows.count() == 5
    texts = [rows.nth(i).inner_text() for i in range(5)]
    assert all("(cold)" in text for text in texts), texts
    assert "Recall: 0.4" in texts[0] and "Recall: 0.0" in texts[-1]  # newest first
    assert "Partial results" not in page.content()
    expect(page.locator("svg.histogram rect.error").first).to_be_attached()  # the histogram comes after the rows
