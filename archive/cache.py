"""The cold part cache: archive objects as local files, bounded in bytes, shared by the processes of one host.

A part is kept as its object, byte for byte (gzip JSON Lines), in `COLD_CACHE_DIR`
under its sha256, which the download checks while it streams. Several processes
(gunicorn workers, Celery) and threads may use the directory at once:

- a download goes to a temporary file in the same directory, then `os.replace`:
  nobody ever sees half a part;
- a download holds an exclusive `flock` on the part's lock file (one of 4096,
  by sha256 prefix): a second process wanting the same part waits for the first
  instead of downloading it again;
- a reader holds a shared `flock` on the part's file for as long as it queries it;
  eviction takes an exclusive one without waiting, so it skips every file in use;
- least recently used goes first: a hit sets the file's mtime, and after a query
  that downloaded parts, eviction deletes the oldest until the directory fits
  `COLD_CACHE_MAX_BYTES`. Parts in use are never evicted, so while queries run the
  directory may hold their parts on top of the bound.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

from django.conf import settings

from archive.metrics import COLD_CACHE_LOOKUPS
from archive.models import ArchivePart

SUFFIX = ".jsonl.gz"
TEMP_PREFIX = ".download-"
# Download locks are named by the sha256's first 3 hex digits: two parts share one of the 4096
# with odds 1/4096, and then download one after the other.
LOCK_HEX_DIGITS = 3
# A temporary file this old belongs to a download that died with its process.
STALE_TEMP_SECONDS = 3600
# Parts downloaded at once: each GET mostly waits on the network.
DOWNLOAD_THREADS = 8

Chunks = Callable[[str], Iterable[bytes]]  # an object key -> its bytes


class CorruptPart(ValueError):
    """The downloaded object is not the one the ledger recorded (sha256 differs)."""


def directory() -> Path:
    path = Path(settings.COLD_CACHE_DIR)
    (path / "locks").mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def held(parts: Sequence[ArchivePart], open_store: Callable[[], Chunks]) -> Iterator[list[str]]:
    """Local paths of `parts`' objects, in order, downloaded where missing through `open_store()`,
    called on this thread and only then (a hit touches no object storage client).

    None of them is evicted before the block ends. Raises CorruptPart, or what the download raises.
    """
    root = directory()
    downloaded = 0
    futures: list[Future[tuple[int, bool]]] = []
    try:
        with ExitStack() as stack:
            found = [_open_shared(_path(root, part)) for part in parts]
            for fd in found:
                if fd is not None:
                    stack.callback(os.close, fd)
            missing = [part for part, fd in zip(parts, found, strict=True) if fd is None]
            hits = len(parts) - len(missing)
            if missing:
                chunks = open_store()
                with ThreadPoolExecutor(min(DOWNLOAD_THREADS, len(missing)), thread_name_prefix="cold-get") as pool:
                    futures = [pool.submit(_fetch, root, part, chunks) for part in missing]
                for future in futures:  # all have finished: keep every descriptor for closing, then raise
                    if future.exception() is None:
                        fd, was_downloaded = future.result()
                        stack.callback(os.close, fd)
                        downloaded += was_downloaded
                        # A part another process downloaded while this one waited for its lock is a hit.
                        hits += not was_downloaded
            # Failed downloads are neither: they raise below.
            for result, amount in (("hit", hits), ("miss", downloaded)):
                if amount:
                    COLD_CACHE_LOOKUPS.inc(result, amount=amount)
            for future in futures:
                future.result()
            yield [str(_path(root, part)) for part in parts]
    finally:
        if downloaded:
            make_room(root)  # once released: this query's parts may go too


def _path(root: Path, part: ArchivePart) -> Path:
    return root / f"{part.sha256}{SUFFIX}"


def _open_shared(path: Path) -> int | None:
    """A descriptor of `path` under a shared lock, or None if it is not there (or was evicted meanwhile)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    fcntl.flock(fd, fcntl.LOCK_SH)
    if _same_file(path, fd):
        os.utime(path)  # this use makes it the most recent
        return fd
    os.close(fd)
    return None


def _same_file(path: Path, fd: int) -> bool:
    """Does `path` still name the file `fd` was opened on (eviction may have unlinked it)?"""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _fetch(root: Path, part: ArchivePart, chunks: Chunks) -> tuple[int, bool]:
    """(a shared-locked descriptor of the part's file, whether this call downloaded it)."""
    path = _path(root, part)
    stripe = root / "locks" / f"{part.sha256[:LOCK_HEX_DIGITS]}.lock"
    lock = os.open(stripe, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fd = _open_shared(path)
        if fd is not None:
            return fd, False
        return _download(root, path, part, chunks), True
    finally:
        os.close(lock)  # closing releases the lock


def _download(root: Path, path: Path, part: ArchivePart, chunks: Chunks) -> int:
    fd, temp = tempfile.mkstemp(dir=root, prefix=TEMP_PREFIX)
    try:
        digest = hashlib.sha256()
        with open(fd, "wb", closefd=False) as file:
            for chunk in chunks(part.key):
                digest.update(chunk)
                file.write(chunk)
        if digest.hexdigest() != part.sha256:
            raise CorruptPart(f"archive part {part.key}: sha256 {digest.hexdigest()}, the ledger says {part.sha256}")
        # Locked before it gets its name: eviction can never catch it unused.
        fcntl.flock(fd, fcntl.LOCK_SH)
        os.replace(temp, path)
    except BaseException:
        os.close(fd)
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return fd


def make_room(root: Path) -> None:
    """Evict least recently used parts not in use until the directory fits COLD_CACHE_MAX_BYTES."""
    limit = settings.COLD_CACHE_MAX_BYTES
    now = time.time()
    total, parts = 0, []
    for entry in os.scandir(root):
        if entry.name.startswith(TEMP_PREFIX):
            with suppress(FileNotFoundError):  # a download renamed it into place meanwhile
                stat = entry.stat()
                if now - stat.st_mtime > STALE_TEMP_SECONDS:
                    os.unlink(entry.path)
                else:
                    total += stat.st_size
        elif entry.name.endswith(SUFFIX):
            with suppress(FileNotFoundError):
                stat = entry.stat()
                total += stat.st_size
                parts.append((stat.st_mtime, stat.st_size, entry.path))
    for _, size, path in sorted(parts):
        if total <= limit:
            return
        if evict(Path(path)):
            total -= size


def evict(path: Path) -> bool:
    """Delete a cached part unless someone holds it; True if it is gone."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    try:
        if _same_file(path, fd):
            os.unlink(path)
        return True
    finally:
        os.close(fd)


def clear() -> None:
    """Evict every part not in use (tests, and an operator freeing the disk)."""
    for path in directory().glob(f"*{SUFFIX}"):
        evict(path)
