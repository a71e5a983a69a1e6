"""Real faults for the tests: the logs database pointed at another server (a closed port, a proxy)."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections

from devservices.localservices import free_port


def closed_port_uri() -> str:
    """A MongoDB URI where nothing listens: a server that is down."""
    return f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"


@contextmanager
def logs_database_at(uri: str, **options) -> Iterator[None]:
    """The `logs` database alias connected to `uri` (client `options` added), then back to the test server."""
    connection = connections["logs"]
    saved = {**connection.settings_dict, "OPTIONS": dict(connection.settings_dict["OPTIONS"])}
    connection.close_pool()  # the next use connects with the settings below
    connection.settings_dict.update(HOST=uri, OPTIONS={**saved["OPTIONS"], **options})
    try:
        yield
    finally:
        connection.close_pool()
        connection.settings_dict.update(saved)
