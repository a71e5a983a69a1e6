from django.db.models import Model
from django_mongodb_backend.schema import DatabaseSchemaEditor as MongoSchemaEditor

from logsite.mongodb import ferretdb


class DatabaseSchemaEditor(MongoSchemaEditor):
    def create_model(self, model: type[Model]) -> None:
        super().create_model(model)
        ensure_ferretdb_indexes(model, self.connection.settings_dict["NAME"])


def ensure_ferretdb_indexes(model: type[Model], database: str) -> None:
    """The model's `ferretdb_gin_fields` (if it names any) as a GIN index on FerretDB's PostgreSQL table."""
    fields = getattr(model, "ferretdb_gin_fields", ())
    if fields:
        ferretdb.ensure_gin_index(database, model._meta.db_table, fields)
