from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


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
        post_migrate.connect(ensure_ferretdb_indexes, sender=self)


def ensure_ferretdb_indexes(using: str, **kwargs: object) -> None:
    """At every `migrate --database logs`: FerretDB's GIN index, for a collection made before it existed."""
    from logsite.mongodb.schema import ensure_ferretdb_indexes as ensure
    from retrieval.models import LogEntry

    if using == "logs":
        ensure(LogEntry, connections[using].settings_dict["NAME"])
