"""A byte-bounded, TTL-bound cache of parsed archive parts on top of Django's cache.

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
from typing import Any

import redis
from django.conf import settings
from django.core.cache import caches

logger = logging.getLogger(__name__)

PREFIX = "cold-part:v1:"
LEDGER_KEY = "cold-part:v1:ledger"
LOCK_KEY = "cold-part:v1:lock"


def _cache():
    return caches[settings.COLD_CACHE_ALIAS]


def get(key: str) -> Any | None:
    """The cached value, or None; a cache outage is a miss (the archive still answers)."""
    try:
        blob = _cache().get(PREFIX + key)
    except redis.RedisError as exc:
        logger.warning("cold part cache unavailable: %s", exc)
        return None
    return None if blob is None else pickle.loads(blob)


def put(key: str, value: Any) -> bool:
    """Store `value` if it fits the byte budget; False if it was not stored."""
    blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
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
    """Bytes of parsed parts this module has in the cache (by its ledger)."""
    return sum((_cache().get(LEDGER_KEY) or {}).values())


def clear() -> None:
    cache = _cache()
    ledger = cache.get(LEDGER_KEY) or {}
    cache.delete_many([PREFIX + key for key in ledger] + [LEDGER_KEY])
