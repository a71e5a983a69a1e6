"""LogRetrievalHandler: a logging.Handler whose emit() only queues; a daemon thread sends batches."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import random
import sys
import threading
import time
import weakref

from logretrieval_handler import wire
from logretrieval_handler.ids import new_id

# Backoff between attempts at one batch: full jitter (a random wait in [0, min(cap, base * 2**n)]),
# so that many senders coming back after an outage do not all retry at once.
BACKOFF_BASE = 0.2
BACKOFF_CAP = 5.0
RETRY_AFTER_CAP = 60.0
# Answers that mean "the same batch may succeed later". Everything else outside 2xx is final.
RETRIED_STATUSES = {408, 429}
# Wakes the sender (flush, close) without being a record.
_WAKE = object()
_live_handlers: weakref.WeakSet = weakref.WeakSet()


class LogRetrievalHandler(logging.Handler):
    """Sends log records to Log Retrieval's `POST /api/v1/logs` in batches, from a background thread.

    `emit()` never blocks and never raises: a full queue drops the record (counted in `dropped`).
    Each record gets its id when it is queued, and a batch is re-sent unchanged after a 5xx, 429,
    timeout or refused connection, so the server stores each record once however often it is sent.
    `max_retries=None` (the default) retries until `close()`; a number gives up after that many
    retries and counts the batch as dropped. Counters: `sent`, `dropped`, `rejected` (by the server).
    """

    def __init__(
        self,
        url: str,
        token: str,
        user_id: int | None = None,
        logger_name_field: bool = True,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        timeout: float = 5.0,
        max_retries: int | None = None,
        close_timeout: float = 10.0,
        level: int = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        if not 1 <= batch_size <= 10_000:
            raise ValueError("batch_size must be from 1 to 10,000 (the server's limit per request)")
        self.url = url
        self.token = token
        self.user_id = user_id
        self.logger_name_field = logger_name_field
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.timeout = timeout
        self.max_retries = max_retries
        self.close_timeout = close_timeout
        self._closed = False
        self._warned: set = set()
        self._start()
        _live_handlers.add(self)
        # logging.shutdown() also closes handlers at exit; this makes it true for a handler
        # that was never added to a logger, and close() is idempotent.
        atexit.register(self.close)

    def _start(self) -> None:
        """The queue, counters and sender thread (again in a forked child, whose copy has no thread)."""
        self._queue: queue.Queue = queue.Queue(self.max_queue)
        self._counts = threading.Lock()
        self._sent = self._dropped = self._rejected = 0
        # Records accepted onto the queue and records finished (sent, rejected or given up):
        # flush() waits until `finished` reaches what was `accepted` when it was called.
        self._accepted = 0
        self._finished = 0
        self._progress = threading.Condition()
        self._flushing = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="LogRetrievalHandler", daemon=True)
        self._thread.start()

    @property
    def sent(self) -> int:
        return self._sent

    @property
    def dropped(self) -> int:
        return self._dropped

    @property
    def rejected(self) -> int:
        return self._rejected

    # The caller's side: as little as possible, the rest is the sender's.

    def emit(self, record: logging.LogRecord) -> None:
        if self._closed:
            self._drop(1)
            return
        try:
            user_id = getattr(record, "user_id", self.user_id)
            if user_id is None:
                self._drop(1)
                self._warn_once("user_id", "a record without user_id (extra={'user_id': N}) and no default user_id")
                return
            context = getattr(record, "context", None)
            item = (
                record.created,
                record.levelno,
                self.format(record),
                record.name if self.logger_name_field else None,
                user_id,
                # A copy: the caller may change its dict before the sender encodes it.
                dict(context) if isinstance(context, dict) else None,
                new_id(record.created),
            )
            self._queue.put_nowait(item)
        except queue.Full:
            self._drop(1)
        except Exception:
            self.handleError(record)
        else:
            with self._counts:
                self._accepted += 1

    # Handler.flush() returns None; the answer here is extra, and logging itself ignores it.
    def flush(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        """Wait until every record queued before this call is sent or given up; False on timeout."""
        with self._counts:
            target = self._accepted
        deadline = None if timeout is None else time.monotonic() + timeout
        self._flushing.set()
        self._wake()
        with self._progress:
            while self._finished < target and self._thread.is_alive():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._progress.wait(remaining)
        return self._finished >= target

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued (waiting at most `timeout`, default `close_timeout`), then stop the thread.

        What is still unsent then is counted as dropped.
        """
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self.flush(self.close_timeout if timeout is None else timeout)
        self._stopping.set()
        self._wake()
        # An attempt in flight ends within `timeout`; waiting longer would only delay the exit.
        self._thread.join(self.timeout + 1)
        super().close()

    # The sender thread.

    def _run(self) -> None:
        while not self._stopping.is_set():
            batch = self._collect()
            if batch:
                self._deliver(batch)
        # Stopped by close() after its flush: what is still queued is given up.
        leftover = 0
        while True:
            try:
                leftover += self._queue.get_nowait() is not _WAKE
            except queue.Empty:
                break
        self._drop(leftover)
        self._finish(leftover)

    def _collect(self) -> list:
        """Up to batch_size items: whatever arrives within flush_interval of the first, sooner on flush()."""
        batch: list = []
        deadline = None
        while len(batch) < self.batch_size:
            if self._stopping.is_set() or self._flushing.is_set():
                wait = 0.0
            elif deadline is None:
                wait = 0.5  # look at the events twice a second while idle
            else:
                wait = max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                if batch or self._flushing.is_set() or self._stopping.is_set() or deadline is not None:
                    break
                continue
            if item is _WAKE:
                continue
            batch.append(item)
            if deadline is None:
                deadline = time.monotonic() + self.flush_interval
        if not batch or self._queue.empty():
            # Nothing more was queued before this batch: a flush() waiting for it is served by it.
            self._flushing.clear()
        return batch

    def _deliver(self, batch: list) -> None:
        texts = []
        for item in batch:
            text, context_left_out = wire.encode(item)
            if context_left_out:
                self._warn_once("context", "a context that is not JSON (NaN, infinity or a loop); sent without it")
            texts.append(text)
        for start, end in _chunks(texts, wire.MAX_BATCH_BYTES):
            self._send(texts[start:end])
            self._finish(end - start)

    def _send(self, texts: list) -> None:
        """POST one batch until it is stored, refused or given up; the same texts (ids) every time."""
        attempt = 0
        while texts:
            body = ('{"logs":[' + ",".join(texts) + "]}").encode("utf-8")
            answer = wire.post(self.url, self.token, body, self.timeout)
            if answer.status is not None and 200 <= answer.status < 300:
                self._count_sent(len(texts))
                return
            if answer.status == 400:
                bad = wire.rejected_indexes(answer.body, len(texts))
                named = "the batch" if bad is None else f"{len(bad)} record(s)"
                self._warn_once(400, f"400 from the server for {named}: {answer.body[:300]!r}")
                if bad is None:
                    break
                # Each record is checked before any is written: the others were not stored. Send them again.
                self._count_rejected(len(bad))
                texts = [text for index, text in enumerate(texts) if index not in bad]
                continue
            if answer.status is not None and answer.status < 500 and answer.status not in RETRIED_STATUSES:
                self._warn_once(answer.status, f"{answer.status} from the server: {answer.body[:300]!r}")
                break
            if self.max_retries is not None and attempt >= self.max_retries:
                self._give_up(texts, f"after {attempt + 1} attempt(s): {answer.status or answer.error}")
                return
            delay = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt, 16)))
            if answer.retry_after is not None:
                delay = min(answer.retry_after, RETRY_AFTER_CAP)
            attempt += 1
            if self._stopping.wait(delay):
                self._give_up(texts, f"at close, after {attempt} attempt(s): {answer.status or answer.error}")
                return
        self._count_rejected(len(texts))

    def _give_up(self, texts: list, why: str) -> None:
        self._warn_once("gave up", f"gave up a batch of {len(texts)} record(s) {why}")
        self._drop(len(texts))

    # Bookkeeping: `dropped` is written by callers and the sender, so every counter takes the lock.

    def _count_sent(self, amount: int) -> None:
        with self._counts:
            self._sent += amount

    def _count_rejected(self, amount: int) -> None:
        with self._counts:
            self._rejected += amount

    def _drop(self, amount: int) -> None:
        with self._counts:
            self._dropped += amount

    def _finish(self, amount: int) -> None:
        with self._progress:
            self._finished += amount
            self._progress.notify_all()

    def _wake(self) -> None:
        with contextlib.suppress(queue.Full):  # a full queue wakes the sender anyway
            self._queue.put_nowait(_WAKE)

    def _warn_once(self, kind: object, text: str) -> None:
        # stderr, not logging: this handler may be on the root logger and would log to itself.
        if kind not in self._warned:
            self._warned.add(kind)
            sys.stderr.write(f"LogRetrievalHandler({self.url}): {text} (reported once)\n")


def _chunks(texts: list, max_bytes: int) -> list:
    """(start, end) ranges of texts whose JSON stays under max_bytes (at least one text each)."""
    ranges, start, size = [], 0, 0
    for index, text in enumerate(texts):
        # json.dumps escapes non-ASCII, so a text's length is its size in bytes (+1 for the comma).
        if index > start and size + len(text) + 1 > max_bytes:
            ranges.append((start, index))
            start, size = index, 0
        size += len(text) + 1
    ranges.append((start, len(texts)))
    return ranges


def _restart_in_child() -> None:
    # The child's copy of a handler has no sender thread and may have locks held by the
    # parent's: give it new ones. Records its parent had queued are the parent's to send.
    for handler in list(_live_handlers):
        if not handler._closed:
            handler._start()


os.register_at_fork(after_in_child=_restart_in_child)
