"""End to end in a real browser: Debian's Chromium, headless, driven by Playwright."""

import csv
import io
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.access_support import user_granted

pytestmark = [pytest.mark.browser, pytest.mark.django_db(databases=["default", "logs"], transaction=True)]

DAY = datetime(2023, 8, 27, tzinfo=UTC)


@pytest.fixture
def seeded(logs_db, make_log):
    # Before the browser starts: Playwright's sync API runs an event loop, and the ORM refuses to run inside one.
    user_granted("engineer", password="a-long-test-password")
    make_log(timestamp=DAY + timedelta(hours=9), user_id=4, level="error", message="Validated a model, Recall: 0.27")
    make_log(timestamp=DAY + timedelta(hours=8), user_id=4, level="error", message="Validated a model, F1: 0.5")
    make_log(timestamp=DAY + timedelta(hours=7), user_id=3, level="error", message="Other user, Recall: 0.9")


@pytest.fixture
def browser_page(seeded, chromium):
    return chromium.new_page(accept_downloads=True)


def test_log_in_search_see_highlights_open_the_permalink_and_download_csv(live_server, browser_page):
    page = browser_page

    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "engineer")
    page.fill("#id_password", "a-long-test-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.fill("#id_user_id", "4")
    page.fill("#id_date", "2023-08-27")
    page.check("input[name=level][value=error]")
    page.fill("#id_keyword", "recall")
    page.click("form.search button[type=submit]")
    page.wait_for_selector("#results")

    rows = page.locator("#results tbody tr")
    assert rows.count() == 1
    assert page.locator("#results mark").inner_text() == "Recall"
    expect(page.locator("svg.histogram rect.error")).to_have_count(1)  # the histogram comes after the rows

    permalink = page.get_attribute("#permalink", "href")
    assert parse_qs(urlsplit(permalink).query)["keyword"] == ["recall"]
    page.goto(live_server.url + permalink)
    assert page.locator("#results tbody tr").count() == 1
    assert page.input_value("#id_keyword") == "recall"

    with page.expect_download() as download_info:
        page.click("#export-csv")
    with open(download_info.value.path(), encoding="utf-8") as handle:
        exported = list(csv.DictReader(io.StringIO(handle.read())))
    assert [(r["user_id"], r["level"], r["message"]) for r in exported] == [
        ("4", "error", "Validated a model, Recall: 0.27")
    ]
