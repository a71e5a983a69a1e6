"""Celery tasks of access control; the beat entry is created by a migration (access/migrations)."""

from celery import shared_task

from access import audit


@shared_task(name="access.prune_audit_events")
def prune_audit_events() -> int:
    """Delete audit events older than AUDIT_RETENTION_DAYS."""
    return audit.prune()
