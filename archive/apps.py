from django.apps import AppConfig


class ArchiveConfig(AppConfig):
    name = "archive"
    verbose_name = "Archive (cold storage)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from archive import metrics  # noqa: F401  (declaring the metrics shows them on /metrics)
        from archive.storage import check_archive_storage
        from logsite import health

        health.register("archive_storage", check_archive_storage)
