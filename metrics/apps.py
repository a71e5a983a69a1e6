from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Model metrics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from metrics import extract, intake
        from retrieval import hooks

        # The query syntax compares a metric under the spelling intake stores it with (recall<0.5 -> Recall).
        hooks.register_metric_names(extract.names.get)
        # Every door that stores hot logs extracts their metrics and keeps their aggregates.
        hooks.register_insert(intake.on_insert)
