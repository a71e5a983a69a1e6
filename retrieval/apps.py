from django.apps import AppConfig


class RetrievalConfig(AppConfig):
    name = "retrieval"
    verbose_name = "Log retrieval"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from logsite import health
        from retrieval import metrics  # noqa: F401  (declaring the metrics shows them on /metrics)
        from retrieval.models import check_mongodb

        # Ready: no page, search or ingest answers without MongoDB.
        health.register("mongodb", check_mongodb, ready=True)
