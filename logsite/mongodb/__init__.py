"""django-mongodb-backend, with one fix so that ORM queries also run on FerretDB 1.24.

The ORM sorts on a model field by first "adding" the field to itself:
`{"$addFields": {"timestamp": "$timestamp"}}`. MongoDB treats that as a no-op;
FerretDB 1.24 stores the literal string "$timestamp" instead, so every
`order_by()` returned garbage there. Dropping such identity entries changes
nothing on MongoDB and fixes FerretDB. See docs/ferretdb.md.
"""
