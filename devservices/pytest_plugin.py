"""Pytest plugin: start the local services before pytest-django reads the settings.

Loaded with `-p devservices.pytest_plugin` (see pytest.ini). A hook wrapper runs
before every plain `pytest_load_initial_conftests` implementation, pytest-django's
included, so the settings module sees the services' URLs.
"""

import atexit
import os

import pytest

from devservices.localservices import SERVICES_DIR, LocalServices

_services = LocalServices(data_root=SERVICES_DIR / f"test-{os.getpid()}", ephemeral=True)

TEST_DEFAULTS = {
    "DEBUG": "false",
    "SECRET_KEY": "test-secret-key-not-for-production",
    # Required with DEBUG off; tests/app_server.py and test_metrics.py scrape with it.
    "METRICS_TOKEN": "test-metrics-token",
    "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
    "MONGODB_NAME": "logretrieval",
    "ARCHIVE_STORAGE": "s3",
    # The test client speaks plain HTTP; tests/logsite/test_deploy_settings.py checks the HTTPS-only settings.
    "HTTPS_ONLY": "false",
}


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # Not var/cold-cache: a test run empties its cache, and must not empty another run's.
    os.environ.setdefault("COLD_CACHE_DIR", str(_services.data_root / "cold-cache"))
    for name, value in TEST_DEFAULTS.items():
        os.environ.setdefault(name, value)
    os.environ.update(_services.start())
    # Also when pytest stops before pytest_unconfigure (a usage error in its arguments, say).
    atexit.register(_services.stop)
    # With DATABASE_URL=sqlite:///... the test database is a file of this run's own;
    # on PostgreSQL it is test_<name> in the cluster (this run's own unless DATABASE_URL is
    # configured). Tests hand the test database to their subprocesses: tests/conftest.py.
    if os.environ["DATABASE_URL"].startswith("sqlite:"):
        os.environ.setdefault("SQL_TEST_DB_NAME", str(_services.data_root / "test-db.sqlite3"))
    return (yield)


def pytest_unconfigure(config):
    _services.stop()
