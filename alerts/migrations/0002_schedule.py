"""The beat entry of the evaluation tick, every minute (editable in the admin)."""

from django.db import migrations

EVALUATE = ("Evaluate alert rules (every minute)", "alerts.evaluate_alerts")


def create(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=EVALUATE[0],
        defaults={
            "task": EVALUATE[1],
            "interval": every_minute,
            # A tick that has not started within a minute is superseded by the next one.
            "expire_seconds": 60,
            "description": "alerts.states.tick: every enabled rule's series, their transitions and deliveries.",
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=EVALUATE[0], task=EVALUATE[1]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_rules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
