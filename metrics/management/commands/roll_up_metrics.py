from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from metrics import store


class Command(BaseCommand):
    help = "Fold hourly model-metric aggregates of days older than METRICS_HOURLY_DAYS into one row per day."

    def handle(self, *args: Any, **options: Any) -> None:
        days = store.roll_up()
        self.stdout.write(f"Rolled up {len(days)} day(s) older than {settings.METRICS_HOURLY_DAYS} days.")
