"""The test SQL database, for the subprocesses a test starts (Celery worker, gunicorn, manage.py)."""

from urllib.parse import quote

from django.db import connections


def sql_test_database_url() -> str:
    """A DATABASE_URL naming the test process's own `default` database (the test one once it is set up)."""
    settings = connections["default"].settings_dict
    if settings["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings['NAME']}"
    if settings["ENGINE"] != "django.db.backends.postgresql":
        raise NotImplementedError(f"no DATABASE_URL for {settings['ENGINE']}")
    credentials = quote(settings["USER"] or "", safe="")
    if settings["PASSWORD"]:
        credentials += ":" + quote(settings["PASSWORD"], safe="")
    host = settings["HOST"] or "localhost"
    port = f":{settings['PORT']}" if settings["PORT"] else ""
    return f"postgres://{credentials}{'@' if credentials else ''}{host}{port}/{quote(settings['NAME'], safe='')}"
