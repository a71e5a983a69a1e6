"""Operations in the admin: the beat schedule that drives the archiver is visible and editable."""

import importlib

import pytest
from django.apps import apps
from django_celery_beat.models import PeriodicTask

pytestmark = pytest.mark.django_db(databases=["default", "logs"])


def test_the_daily_archive_schedule_is_listed_and_editable_in_the_admin(admin_client):
    # The migration's own function (idempotent): a flushing test before this one may have removed the row.
    importlib.import_module("archive.migrations.0002_daily_beat_entry").create_schedule(apps, None)
    task = PeriodicTask.objects.get(task="archive.archive_old_logs")

    listing = admin_client.get("/admin/django_celery_beat/periodictask/")
    change = admin_client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")

    assert listing.status_code == 200
    assert task.name in listing.content.decode()
    assert change.status_code == 200
    assert 'name="enabled"' in change.content.decode()
