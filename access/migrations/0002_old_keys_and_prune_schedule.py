"""Upgrading from DRF authtoken: every existing key becomes a hashed token (both scopes, the owner's whole
grant), and every user existing now gets read and write on every user_id, so that nothing they did before
stops working (narrow the grants in the admin). The plaintext key table is dropped. And the daily beat entry
that prunes the audit trail."""

import hashlib
from datetime import UTC, datetime

from django.db import migrations

TASK = "access.prune_audit_events"
NAME = "Prune audit events older than AUDIT_RETENTION_DAYS (daily)"


def migrate_old_keys(apps, schema_editor):
    connection = schema_editor.connection
    User = apps.get_model("auth", "User")
    Grant = apps.get_model("access", "Grant")
    ApiToken = apps.get_model("access", "ApiToken")
    for user in User.objects.filter(is_superuser=False):
        Grant.objects.get_or_create(user=user, defaults={"read_all": True, "write_all": True})
    if "authtoken_token" not in connection.introspection.table_names():
        return  # a new installation
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, user_id, created FROM authtoken_token")
        old_keys = cursor.fetchall()
    for key, user_id, created in old_keys:
        # SQLite hands raw SQL a string or a naive datetime (UTC, as Django wrote it).
        created = created if isinstance(created, datetime) else datetime.fromisoformat(created)
        ApiToken.objects.create(
            user_id=user_id,
            name="migrated DRF key",
            prefix=key[:8],
            key_hash=hashlib.sha256(key.encode()).hexdigest(),
            scopes=["logs:read", "logs:write"],
            created=created if created.tzinfo else created.replace(tzinfo=UTC),
        )
    schema_editor.execute("DROP TABLE authtoken_token")


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={"task": TASK, "crontab": crontab, "description": "Keeps AUDIT_RETENTION_DAYS of the audit trail."},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME, task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_grants_tokens_audit"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(migrate_old_keys, migrations.RunPython.noop),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
