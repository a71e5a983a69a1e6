"""What other apps plug into the search core besides sources (`LOG_SOURCES`, in reading order).

One style for every plug-in: the owning app calls a `register...` function from its `AppConfig.ready`
(as it calls `logsite.health.register` for its health checks and imports its `metrics` module there),
and the core calls whatever is registered. The core imports no app; without the archive app nothing is
registered and nothing is called.

- `register_archived_days(finder)`: which days of a query the app has taken out of MongoDB (the admin's
  log list, which reads MongoDB only, then says those days are elsewhere and links the search page);
- `register_stored(hook)`: told the documents hot storage has just confirmed (intake calls `stored` after
  each chunk, before answering the sender): the archive notes late logs of days it may have emptied.
"""

from collections.abc import Callable, Iterable
from datetime import date

from retrieval.query import LogQuery

ArchivedDays = Callable[[LogQuery], Iterable[date]]
Stored = Callable[[list[dict]], None]

_archived_days: list[ArchivedDays] = []
_stored: list[Stored] = []


def register_archived_days(finder: ArchivedDays) -> None:
    if finder not in _archived_days:
        _archived_days.append(finder)


def archived_days(query: LogQuery) -> list[date]:
    """The days of `query` whose logs (of its users and levels) some app moved out of MongoDB."""
    return sorted({day for finder in _archived_days for day in finder(query)})


def register_stored(hook: Stored) -> None:
    if hook not in _stored:
        _stored.append(hook)


def stored(documents: list[dict]) -> None:
    """Tell every registered hook that hot storage confirmed `documents`; a hook's error is the caller's."""
    for hook in _stored:
        hook(documents)
