"""Send the log model to MongoDB and everything else to the SQL database."""

LOGS_DB = "logs"
LOG_MODELS = {("retrieval", "logentry")}


class LogsRouter:
    def _is_log_model(self, model) -> bool:
        return (model._meta.app_label, model._meta.model_name) in LOG_MODELS

    def db_for_read(self, model, **hints):
        return LOGS_DB if self._is_log_model(model) else "default"

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return self._is_log_model(obj1) == self._is_log_model(obj2)

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if model_name is None:
            # Operations without a model (RunPython, RunSQL) run on SQL only.
            return db != LOGS_DB
        return (db == LOGS_DB) == ((app_label, model_name) in LOG_MODELS)
