from django_mongodb_backend.base import DatabaseWrapper as MongoDatabaseWrapper
from django_mongodb_backend.operations import DatabaseOperations as MongoDatabaseOperations

from logsite.mongodb.schema import DatabaseSchemaEditor


class DatabaseOperations(MongoDatabaseOperations):
    compiler_module = "logsite.mongodb.compiler"


class DatabaseWrapper(MongoDatabaseWrapper):
    ops_class = DatabaseOperations
    # Re-creating a collection (tests drop and create it) re-creates FerretDB's GIN index too.
    SchemaEditorClass = DatabaseSchemaEditor
