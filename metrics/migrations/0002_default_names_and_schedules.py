"""The default metric names and the beat entries of the store (both editable in the admin)."""

from django.db import migrations

NAMES = ("ROC-AUC", "F1", "Precision", "Recall", "Sensitivity", "Specificity", "Accuracy", "Loss", "AUC", "MAE", "RMSE")
HEAL = ("Recount metrics of days that lost a write", "metrics.heal_metric_days")
ROLL_UP = ("Roll up old hourly metrics into days (daily)", "metrics.roll_up_metrics")


def create(apps, schema_editor):
    MetricName = apps.get_model("metrics", "MetricName")
    for name in NAMES:
        MetricName.objects.get_or_create(name=name)
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_15, _ = IntervalSchedule.objects.get_or_create(every=15, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=HEAL[0],
        defaults={"task": HEAL[1], "interval": every_15, "description": "metrics.store.heal: days in doubt."},
    )
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="45", hour="0", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=ROLL_UP[0],
        defaults={
            "task": ROLL_UP[1],
            "crontab": crontab,
            "description": "Hourly metric aggregates older than METRICS_HOURLY_DAYS become one row per day.",
        },
    )


def remove(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task in (HEAL, ROLL_UP):
        PeriodicTask.objects.filter(name=name, task=task).delete()
    apps.get_model("metrics", "MetricName").objects.filter(name__in=NAMES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0001_store"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
