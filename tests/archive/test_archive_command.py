"""manage.py archive_logs when a service it needs is down: a one-line CommandError, not a traceback."""

import time

import pytest
from django.core.management import CommandError, call_command

from archive.models import ArchiveRun
from tests.faults import closed_port_uri, logs_database_at

pytestmark = pytest.mark.django_db(databases=["default", "logs"])


@pytest.mark.parametrize("args", [[], ["--dry-run"]])
def test_archive_logs_with_mongodb_down_raises_a_one_line_command_error_naming_mongodb(args):
    started = time.monotonic()
    with logs_database_at(closed_port_uri(), serverSelectionTimeoutMS=300), pytest.raises(CommandError) as caught:
        call_command("archive_logs", "--before", "2023-08-28", *args, verbosity=0)

    message = str(caught.value)
    assert message.startswith("MongoDB is unreachable or failed, nothing unverified was deleted: ")
    assert "\n" not in message and len(message) < 400
    elapsed = time.monotonic() - started
    # 300 ms of server selection, generous for a busy machine, and well short of pymongo's default 30 s.
    assert elapsed < 15, f"the command took {elapsed:.1f} s to give up on MongoDB (server selection: 300 ms)"
    assert not ArchiveRun.objects.exists()
