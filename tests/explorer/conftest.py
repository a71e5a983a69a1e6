"""Fixtures of the explorer's browser tests: one seeded database, a logged-in tab per viewport."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from archive import cache
from archive.archiver import archive_logs
from retrieval import hotstore
from tests.explorer.browser_support import HOT_DAY, VIEWPORTS, cold_logs, hot_logs, open_tab


@pytest.fixture
def session_cookie(logs_db) -> dict:
    # Before the browser starts: Playwright's sync API runs an event loop, and the ORM refuses to run inside one.
    hotstore.insert(hot_logs())
    client = Client()
    # No password: force_login needs none, and hashing one costs a second per test.
    client.force_login(User.objects.create(username="engineer", is_staff=True, is_superuser=True))
    return {"name": "sessionid", "value": client.cookies["sessionid"].value}


@pytest.fixture
def with_cold_day(logs_db) -> None:
    hotstore.insert(cold_logs())
    archive_logs(before=HOT_DAY.date(), trigger="test")
    cache.clear()


@pytest.fixture
def tabs(session_cookie, chromium, live_server):
    """Each viewport in turn (1366 px, then 390 px): a tab of its own, on one browser and one seeded database."""

    def each():
        for name, size in VIEWPORTS.items():
            tab = open_tab(chromium, live_server, session_cookie, size)
            try:
                yield name, tab
            finally:
                tab.context.close()

    return each


@pytest.fixture
def desktop_page(session_cookie, chromium, live_server):
    tab = open_tab(chromium, live_server, session_cookie, VIEWPORTS["desktop"])
    yield tab
    tab.context.close()
