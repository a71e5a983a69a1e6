"""The admin's log list and the archive ledger in a real browser (Debian's Chromium, headless, Playwright):
they fit a laptop's and a phone's screen, and the log list passes axe-core's serious and critical checks."""

from datetime import UTC, date, datetime

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from archive.archiver import archive_logs
from retrieval import hotstore
from tests.archive_support import DAYS, insert_demo_logs

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(databases=["default", "logs"], transaction=True),
    pytest.mark.usefixtures("empty_archive"),
]

VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
# Two days for user 2: 2023-08-25 archived (the notice), 2023-08-26 still hot (the rows).
LOG_LIST = "/admin/retrieval/logentry/?from=2023-08-25T00:00:00Z&to=2023-08-27T00:00:00Z&user_id=2"
PARTS = "/admin/archive/archivepart/"
# The width the content has and the width it needs, for the page's content and the list's table.
WIDTHS = """() => Object.fromEntries(['#content', '#changelist .results']
    .filter((selector) => document.querySelector(selector))
    .map((selector) => {
        const element = document.querySelector(selector);
        return [selector, [element.scrollWidth, element.clientWidth]];
    }))"""


@pytest.fixture
def session_cookie(logs_db) -> dict:
    # Before the browser starts: Playwright's sync API runs an event loop, and the ORM refuses to run inside one.
    insert_demo_logs(days=DAYS[:2], per_day=200)
    archive_logs(before=date(2023, 8, 26))
    # The list's first row: a log whose context has a long value that must wrap on a phone.
    hotstore.insert(
        [
            {
                "timestamp": datetime(2023, 8, 26, 23, 59, 59, tzinfo=UTC),
                "user_id": 2,
                "level": "error",
                "message": "Evaluation failed",
                "logger": "eval.runner",
                "context": {"checkpoint": "s3://models/" + "x" * 200, "metrics": {"f1": 0.5}},
            }
        ]
    )
    client = Client()
    client.force_login(User.objects.create_superuser("admin", password="a-long-test-password"))
    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value}


@pytest.fixture(params=list(VIEWPORTS))
def page(request, session_cookie, chromium, live_server):
    context = chromium.new_context(viewport=VIEWPORTS[request.param])
    context.add_cookies([{**session_cookie, "url": live_server.url}])
    tab = context.new_page()
    tab.base = live_server.url
    yield tab
    context.close()


def overflowing(page) -> dict[str, list[int]]:
    """The elements (of #content and the list's table) whose content is wider than they are."""
    return {selector: widths for selector, widths in page.evaluate(WIDTHS).items() if widths[0] > widths[1]}


def serious_violations(page) -> list[tuple[str, list]]:
    from axe_playwright_python.sync_playwright import Axe

    return [
        (violation["id"], [node["target"] for node in violation["nodes"]][:3])
        for violation in Axe().run(page).response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


# One test a screen size: the ledger a run makes is the slow part of each.
def test_admin_log_list_a_log_and_the_parts_page_fit_the_screen_and_pass_axe(page):
    page.goto(page.base + LOG_LIST)
    assert page.locator("#result_list tbody tr").count() > 0
    assert "2023-08-25 are in the archive" in page.inner_text("#archive-notice")
    assert overflowing(page) == {}
    assert serious_violations(page) == []

    page.click("#result_list tbody tr th a")
    page.locator("pre.log-context").wait_for()
    assert overflowing(page) == {}

    page.goto(page.base + PARTS)
    assert page.locator("#result_list tbody tr").count() > 0
    assert overflowing(page) == {}
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
