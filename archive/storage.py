"""The archive's object storage: S3 (any S3 API) or a local folder, per ARCHIVE_STORAGE."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, cast

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages

if TYPE_CHECKING:
    from storages.backends.s3 import S3Storage


def archive_storage() -> Storage:
    return storages["archive"]


def s3_archive_storage() -> S3Storage:
    """The archive storage as django-storages' S3Storage: only when ARCHIVE_STORAGE is "s3"."""
    return cast("S3Storage", archive_storage())


def check_archive_storage() -> None:
    """Raise if the archive storage cannot be reached (bucket or folder missing, server down)."""
    if settings.ARCHIVE_STORAGE == "s3":
        storage = s3_archive_storage()
        storage.connection.meta.client.head_bucket(Bucket=storage.bucket_name)
    else:
        # The folder appears with the first archive; until then, it must be creatable.
        location = Path(cast(FileSystemStorage, archive_storage()).location)
        location.mkdir(parents=True, exist_ok=True)
        if not os.access(location, os.W_OK):
            raise PermissionError(f"archive folder {location} is not writable")
