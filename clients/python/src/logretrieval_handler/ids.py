"""Record ids made by the sender, in the shape of a BSON ObjectId (24 hex digits).

The server stores each record under its id and answers a record whose id it already
holds as a duplicate, so a batch re-sent after a lost answer stores nothing twice.
Bytes 0-3 are the log's time in seconds (the id's time is the log's time), 4-8 a random
value per process, 9-11 a counter: unique across processes without coordination.
"""

from __future__ import annotations

import itertools
import os
import random

_process_hex = os.urandom(5).hex()
_counter = itertools.count(random.getrandbits(24))


def _new_process() -> None:
    # A forked child (e.g. a DataLoader worker) would otherwise repeat its parent's ids,
    # and the server would take its logs for duplicates of the parent's.
    global _process_hex, _counter
    _process_hex = os.urandom(5).hex()
    _counter = itertools.count(random.getrandbits(24))


os.register_at_fork(after_in_child=_new_process)


def new_id(seconds: float) -> str:
    """A fresh id for a log made at `seconds` since the epoch."""
    # next() on itertools.count is atomic under the GIL: no lock needed across threads.
    return f"{int(seconds) & 0xFFFFFFFF:08x}{_process_hex}{next(_counter) & 0xFFFFFF:06x}"
