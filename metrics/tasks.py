"""Celery tasks of the metrics store; their beat entries come from metrics/migrations (editable in the admin)."""

from celery import shared_task

from metrics import store


@shared_task(name="metrics.heal_metric_days")
def heal_metric_days() -> int:
    """Recount the days that lost a write (metrics.store); returns how many are left in doubt."""
    return len(store.heal())


@shared_task(name="metrics.roll_up_metrics")
def roll_up_metrics() -> int:
    """Fold hourly aggregates older than METRICS_HOURLY_DAYS into daily ones; returns the days folded."""
    return len(store.roll_up())
