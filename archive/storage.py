"""The archive's object storage, the one module that does its I/O: S3 (any S3 API) or a local folder, per
ARCHIVE_STORAGE. Open, read in chunks, read a byte range, put, delete, replace; every failure of the store
(S3 API, network, disk) is one `StorageError` naming what was asked and the key.

The archiver (upload, verify, manifests, recovery), the cold reader and the id index (reads), rehydration
(through the reader) and the lifecycle command (`apply_archive_lifecycle`, the bucket's client) use it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from storages.utils import clean_name

if TYPE_CHECKING:
    from storages.backends.s3 import S3Storage

# Errors of the object store (S3 API or local disk).
STORAGE_ERRORS = (BotoCoreError, ClientError, OSError)
# Bytes per read of a stored object.
READ_BYTES = 1 << 20


class StorageError(RuntimeError):
    """Object storage is down, slow, refused a write, or holds something other than what was written.

    The archiver's run fails (nothing is deleted) and is retried; a search reports the archive unavailable.
    """


@contextmanager
def mapped(what: str) -> Iterator[None]:
    """Run a storage call: any error of the store becomes a StorageError saying `what` failed."""
    try:
        yield
    except STORAGE_ERRORS as exc:
        raise StorageError(f"object storage failed to {what}: {exc}") from exc


def archive_storage() -> Storage:
    return storages["archive"]


def s3_archive_storage() -> S3Storage:
    """The archive storage as django-storages' S3Storage: only when ARCHIVE_STORAGE is "s3"."""
    return cast("S3Storage", archive_storage())


def is_s3(storage: Storage) -> bool:
    return hasattr(storage, "bucket_name")


def opener() -> Callable[[str], IO[bytes]]:
    """key -> a binary stream of the stored object: for S3, the body of one GET, as a bare client reads it.

    Built on the calling thread (django-storages keeps a connection per thread); boto3
    clients may then be used from any thread, as the cold cache's downloads are.
    """
    storage = archive_storage()
    if is_s3(storage):
        s3 = cast("S3Storage", storage)
        client = s3.connection.meta.client
        return lambda key: client.get_object(Bucket=s3.bucket_name, Key=s3._normalize_name(clean_name(key)))["Body"]
    return lambda key: storage.open(key, "rb")


def chunk_reader() -> Callable[[str], Iterator[bytes]]:
    """key -> the stored object's bytes, in reads of READ_BYTES (one opener for every key)."""
    open_key = opener()

    def chunks(key: str) -> Iterator[bytes]:
        with mapped(f"read {key}"), closing(open_key(key)) as stream:
            yield from iter(lambda: stream.read(READ_BYTES), b"")

    return chunks


def read_chunks(key: str) -> Iterator[bytes]:
    """The stored object's bytes, in reads of READ_BYTES."""
    return chunk_reader()(key)


def read_range(key: str, start: int, end: int) -> bytes:
    """Bytes [start, end) of a stored object: one ranged GET on S3."""
    storage = archive_storage()
    with mapped(f"read {key}"):
        if is_s3(storage):
            s3 = cast("S3Storage", storage)
            name = s3._normalize_name(clean_name(key))
            answer = s3.connection.meta.client.get_object(
                Bucket=s3.bucket_name, Key=name, Range=f"bytes={start}-{end - 1}"
            )
            return cast(bytes, answer["Body"].read())
        with storage.open(key, "rb") as stream:
            stream.seek(start)
            return cast(bytes, stream.read(end - start))


def put(key: str, file: IO[bytes]) -> None:
    """Store `file` under `key`, which must be new (S3Storage is set to file_overwrite=False)."""
    with mapped(f"store {key}"):
        name = archive_storage().save(key, File(file, name=key))
    if name != key:
        raise StorageError(f"object storage stored {key} as {name}")


def delete(key: str) -> None:
    """Delete the object `key` (nothing if there is none)."""
    with mapped(f"delete {key}"):
        archive_storage().delete(key)


def replace(key: str, file: IO[bytes]) -> None:
    """Store `file` under `key`, replacing what is there (storages do not overwrite: delete, then put)."""
    delete(key)
    put(key, file)


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
