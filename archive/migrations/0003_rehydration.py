"""Rehydration: ArchivePart.rehydrated_until, and an hourly beat entry that expires rehydrated logs."""

from django.db import migrations, models

TASK = "archive.expire_rehydrated_logs"
NAME = "Expire rehydrated logs (hourly)"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "interval": hourly,
            "description": "Deletes logs loaded back from the archive once their rehydration time is over.",
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME, task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("archive", "0002_daily_beat_entry"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="archivepart",
            name="rehydrated_until",
            field=models.DateTimeField(
                blank=True, help_text="Its logs are back in MongoDB until then (rehydrated).", null=True
            ),
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
