"""The SQL database: the local PostgreSQL by default, shared with every subprocess a test starts."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_the_test_sql_database_is_on_postgresql_unless_sqlite_is_chosen() -> None:
    if os.environ.get("SQL_TEST_DB_NAME"):  # DATABASE_URL=sqlite:///... chosen for this run
        assert connection.vendor == "sqlite"
    else:
        assert connection.vendor == "postgresql"
        assert connection.settings_dict["NAME"].startswith("test_")


@pytest.mark.django_db(transaction=True)
def test_a_subprocess_started_with_the_test_environment_uses_the_test_database() -> None:
    User.objects.create_user("seen-by-the-subprocess")
    code = (
        "import django; django.setup()\n"
        "from django.contrib.auth.models import User\n"
        "from django.db import connection\n"
        "print(connection.settings_dict['NAME'], User.objects.filter(username='seen-by-the-subprocess').exists())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "logsite.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(connection.settings_dict["NAME"]), "True"]
