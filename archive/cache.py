"""A byte-bounded, TTL-bound cache of parsed archive parts, in two layers.

1. Per process, the most recently used parts, unpickled (`COLD_CACHE_LOCAL_MAX_BYTES`):
   a hit costs nothing, where copying a part of tens of megabytes out of Redis
   and unpickling it costs a good part of what pulling it from S3 does.
2. Shared by every web and worker process: Django's cache (see below).

Django's cache (Redis when configured, local memory otherwise) bounds entries by
count at best, and a parsed part can be tens of megabytes, so this module keeps
its own ledger of what it stored and how many bytes each entry takes: adding an
entry evicts the oldest ones until the total fits `COLD_CACHE_MAX_BYTES`.
Entries also expire after `COLD_CACHE_TTL` seconds.

Values are pickled here (not by the cache backend) so that the size counted is
the size stored.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections import OrderedDict
from typing import Any

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache

logger = logging.getLogger(__name__)

PREFIX = "cold-part:v1:"
LEDGER_KEY = "cold-part:v1:ledger"
LOCK_KEY = "cold-part:v1:lock"


def _cache() -> BaseCache:
    return caches[settings.COLD_CACHE_ALIAS]


class _LocalLayer:
    """This process's most recently used values, by pickled size, least recently used evicted first."""

    def __init__(self) -> None:
        self.entries: OrderedDict[str, tuple[Any, int, float]] = OrderedDict()
        self.bytes = 0
        self.lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return None
            if entry[2] < time.monotonic():
                self._drop(key)
                return None
            self.entries.move_to_end(key)
            return entry[0]

    def put(self, key: str, value: Any, size: int) -> None:
        limit = settings.COLD_CACHE_LOCAL_MAX_BYTES
        with self.lock:
            self._drop(key)
            if size > limit:
                return
            while self.bytes + size > limit:
                self._drop(next(iter(self.entries)))
            self.entries[key] = (value, size, time.monotonic() + settings.COLD_CACHE_TTL)
            self.bytes += size

    def _drop(self, key: str) -> None:
        entry = self.entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry[1]

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.bytes = 0


local = _LocalLayer()


def get(key: str) -> Any | None:
    """The cached value, or None; a cache outage is a miss (the archive still answers)."""
    value = local.get(key)
    if value is not None:
        return value
    try:
        blob = _cache().get(PREFIX + key)
    except redis.RedisError as exc:
        logger.warning("cold part cache unavailable: %s", exc)
        return None
    if blob is None:
        return None
    value = pickle.loads(blob)
    local.put(key, value, len(blob))
    return value


def put(key: str, value: Any) -> bool:
    """Store `value` in both layers where it fits; False if the shared layer did not take it."""
    blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    local.put(key, value, len(blob))
    limit = settings.COLD_CACHE_MAX_BYTES
    if len(blob) > limit:
        return False
    try:
        return _put(key, blob, limit)
    except redis.RedisError as exc:
        logger.warning("cold part not cached: %s", exc)
        return False


def _put(key: str, blob: bytes, limit: int) -> bool:
    cache = _cache()
    # One writer at a time edits the ledger; a writer that cannot get the lock
    # skips caching (the next query will try again) rather than overshoot the bound.
    if not cache.add(LOCK_KEY, 1, timeout=10):
        return False
    try:
        ledger: dict[str, int] = cache.get(LEDGER_KEY) or {}
        ledger.pop(key, None)
        total = sum(ledger.values())
        evicted = []
        for old_key in list(ledger):  # insertion order: oldest first
            if total + len(blob) <= limit:
                break
            total -= ledger.pop(old_key)
            evicted.append(PREFIX + old_key)
        if evicted:
            cache.delete_many(evicted)
        ttl = settings.COLD_CACHE_TTL
        cache.set(PREFIX + key, blob, timeout=ttl)
        ledger[key] = len(blob)
        # The ledger outlives no entry by more than a TTL; an entry that expired
        # on its own is still counted until evicted, which errs on the small side.
        cache.set(LEDGER_KEY, ledger, timeout=ttl)
        return True
    finally:
        cache.delete(LOCK_KEY)


def stored_bytes() -> int:
    """Bytes of parsed parts this module has in the shared cache (by its ledger)."""
    return sum((_cache().get(LEDGER_KEY) or {}).values())


def clear() -> None:
    local.clear()
    cache = _cache()
    ledger = cache.get(LEDGER_KEY) or {}
    cache.delete_many([PREFIX + key for key in ledger] + [LEDGER_KEY])
