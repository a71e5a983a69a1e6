import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections

from retrieval import hotstore
from retrieval.models import LogEntry

BOTH_DATABASES = ["default", "logs"]


def pytest_collection_modifyitems(items):
    # pytest-django creates a test database only for the aliases that some test's
    # django_db marker asks for; a test using `logs_db` needs the MongoDB one.
    for item in items:
        if "logs_db" in getattr(item, "fixturenames", ()) and not item.get_closest_marker("django_db"):
            item.add_marker(pytest.mark.django_db(databases=BOTH_DATABASES))


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None) -> Iterator[None]:
    """pytest-django's test databases; then every subprocess started with this environment uses them too.

    The services' DATABASE_URL names the development database (`logretrieval`); a Celery
    worker, gunicorn or `manage.py` started by a test must see the test database
    (`test_logretrieval` on PostgreSQL, a file on SQLite) that the test process writes.
    """
    from tests.sql_support import sql_test_database_url

    configured = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = sql_test_database_url()
    yield
    if configured is None:
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = configured


@pytest.fixture
def logs_db(django_db_setup, django_db_blocker):
    """The test database's log collection (pymongo), emptied before and after."""
    with django_db_blocker.unblock():
        empty_log_collection()
        yield LogEntry.collection()
        empty_log_collection()


_fresh_indexes: list[str] = []  # the log collection's index names as create_model makes them


def empty_log_collection() -> None:
    """Leave the log collection (and the hot counters) empty, with the indexes the migrations make.

    Already so (most tests leave it so, and every test empties it twice): nothing to do, which
    spares FerretDB a table drop and re-creation with its indexes, most of this fixture's cost.
    Otherwise drop and re-create rather than delete_many({}): FerretDB refuses to delete more
    than 32,766 documents in one command (docs/ferretdb.md), and dropping is quicker.
    """
    logs = LogEntry.collection()
    counters = [hotstore.counts_collection(), hotstore.user_counts_collection()]
    if (
        _fresh_indexes
        and all(collection.find_one({}, {"_id": 1}) is None for collection in [logs, *counters])
        and sorted(logs.index_information()) == _fresh_indexes
    ):
        return
    logs.drop()
    for collection in counters:
        collection.drop()
    with connections["logs"].schema_editor() as editor:
        editor.create_model(LogEntry)
    _fresh_indexes[:] = sorted(logs.index_information())


@pytest.fixture
def make_log():
    """Insert one log document and return it (with its `_id`)."""

    def make(
        timestamp: datetime | None = None,
        user_id: int = 1,
        level: str = "info",
        message: str = "Trained a new model, leo. User: 1, F1: 0.5",
        **extra,
    ) -> dict:
        document = {
            "timestamp": timestamp or datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5),
            "user_id": user_id,
            "level": level,
            "message": message,
            **extra,
        }
        hotstore.insert([document])
        return document

    return make


@pytest.fixture
def chromium():
    """Debian's Chromium, headless, driven by Playwright (`playwright install` cannot fetch browsers here).

    List it after the fixtures that use the ORM: Playwright's sync API runs an event
    loop, and Django refuses ORM calls while one is running.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def empty_archive():
    """The archive bucket emptied before and after the test."""
    from tests.archive_support import clear_archive

    clear_archive()
    yield
    clear_archive()


@pytest.fixture
def api():
    """A JSON API client holding a token (both scopes) of a fresh user granted every user_id."""
    from rest_framework.test import APIClient

    from tests.access_support import token_of, user_granted

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_of(user_granted('api'))}")
    return client


@pytest.fixture
def empty_cold_cache():
    """The cache of parsed archive parts emptied before and after the test."""
    from archive import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def app_server(tmp_path):
    """The app under gunicorn, not started yet (`app_server.start()`), on this test's databases: data the test
    writes must be committed (`django_db(transaction=True)`) for the server to see it."""
    from tests.app_server import AppServer

    server = AppServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def metric_names(django_db_blocker):
    """The migration's default metric names, read afresh by extraction (a transactional test's flush empties
    every table, data migrations' rows too, for the tests after it)."""
    import importlib

    from metrics import extract
    from metrics.models import MetricName

    with django_db_blocker.unblock():
        for name in importlib.import_module("metrics.migrations.0002_default_names_and_schedules").NAMES:
            MetricName.objects.get_or_create(name=name)
    extract.names.forget()
    yield
    extract.names.forget()
