from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "archive"
    verbose_name = "Archive (cold storage)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from archive import (
            boundary,
            metrics,  # noqa: F401  (declaring the metrics shows them on /metrics)
        )
        from archive.storage import check_archive_storage
        from logsite import health
        from retrieval import hooks

        health.register("archive_storage", check_archive_storage)
        # The hot/cold day boundary (archive.boundary): the admin's log list names the archived days of
        # its query, and intake's stored logs of days the archiver may have emptied are noted.
        hooks.register_archived_days(boundary.archived_days)
        hooks.register_stored(boundary.note_late_writes)
