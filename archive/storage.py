"""The archive's object storage: S3 (any S3 API) or a local folder, per ARCHIVE_STORAGE."""

import os
from pathlib import Path

from django.conf import settings
from django.core.files.storage import Storage, storages


def archive_storage() -> Storage:
    return storages["archive"]


def check_archive_storage() -> None:
    """Raise if the archive storage cannot be reached (bucket or folder missing, server down)."""
    storage = archive_storage()
    if settings.ARCHIVE_STORAGE == "s3":
        storage.connection.meta.client.head_bucket(Bucket=storage.bucket_name)
    else:
        # The folder appears with the first archive; until then, it must be creatable.
        location = Path(storage.location)
        location.mkdir(parents=True, exist_ok=True)
        if not os.access(location, os.W_OK):
            raise PermissionError(f"archive folder {location} is not writable")
