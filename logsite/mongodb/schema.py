from django_mongodb_backend.schema import DatabaseSchemaEditor as MongoSchemaEditor

from logsite.mongodb import ferretdb


class DatabaseSchemaEditor(MongoSchemaEditor):
    def create_model(self, model):
        super().create_model(model)
        ensure_ferretdb_indexes(model, self.connection.settings_dict["NAME"])


def ensure_ferretdb_indexes(model, database: str) -> None:
    """The model's `ferretdb_gin_fields` (if it names any) as a GIN index on FerretDB's PostgreSQL table."""
    fields = getattr(model, "ferretdb_gin_fields", ())
    if fields:
        ferretdb.ensure_gin_index(database, model._meta.db_table, fields)
