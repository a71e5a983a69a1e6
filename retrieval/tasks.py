"""Celery tasks of retrieval. The beat schedule (admin: Periodic tasks) runs `retrieval.heal_log_counts`."""

from celery import shared_task

from retrieval import hotstore


@shared_task(name="retrieval.heal_log_counts")
def heal_log_counts() -> int:
    """Recount the hours whose counter update was lost (retrieval.hotstore, rule 3); returns those left in doubt."""
    return len(hotstore.heal())
