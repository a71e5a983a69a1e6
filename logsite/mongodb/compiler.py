from django_mongodb_backend.compiler import (  # noqa: F401 - the backend looks compilers up by name here
    SQLAggregateCompiler,
    SQLDeleteCompiler,
    SQLInsertCompiler,
    SQLUpdateCompiler,
)
from django_mongodb_backend.compiler import SQLCompiler as MongoSQLCompiler


class SQLCompiler(MongoSQLCompiler):
    def get_project_fields(self, columns=None, ordering=None, force_expression=False):
        fields = super().get_project_fields(columns, ordering, force_expression)
        if force_expression:
            # Identity entries ({"f": "$f"}) are no-ops on MongoDB and wrong on FerretDB.
            fields = {name: value for name, value in fields.items() if value != f"${name}"}
        return fields
