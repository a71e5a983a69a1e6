"""What other apps plug into the search core besides sources (`LOG_SOURCES`, in reading order).

One style for every plug-in: the owning app calls a `register...` function from its `AppConfig.ready`
(as it calls `logsite.health.register` for its health checks and imports its `metrics` module there),
and the core calls whatever is registered. The core imports no app; without the archive app nothing is
registered and nothing is called.

- `register_archived_days(finder)`: which days of a query the app has taken out of MongoDB (the admin's
  log list, which reads MongoDB only, then says those days are elsewhere and links the search page);
- `register_stored(hook)`: told the documents hot storage has just confirmed (intake calls `stored` after
  each chunk, before answering the sender): the archive notes late logs of days it may have emptied;
- `register_insert(hook)`: called by `retrieval.hotstore.insert` with the stamped documents before every insert
  of hot logs (it may add fields), returning what to call with the documents MongoDB accepted (duplicates left
  out) after it: the metrics app extracts metrics and keeps their aggregates (`metrics.intake.on_insert`);
- `register_metric_names(lookup)`: the canonical spelling of metric names, casefolded name -> name (the
  metrics app's admin list), so that the query syntax's `recall<0.5` compares the `Recall` intake stored.

The query syntax uses this module, and the query uses the query syntax: `LogQuery` is imported for types only.
"""

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retrieval.query import LogQuery

ArchivedDays = Callable[["LogQuery"], Iterable[date]]
Stored = Callable[[list[dict]], None]
Insert = Callable[[list[dict]], Callable[[list[dict]], None]]
MetricNames = Callable[[], Mapping[str, str]]

_archived_days: list[ArchivedDays] = []
_stored: list[Stored] = []
_insert: list[Insert] = []
_metric_names: list[MetricNames] = []


def register_archived_days(finder: ArchivedDays) -> None:
    if finder not in _archived_days:
        _archived_days.append(finder)


def archived_days(query: "LogQuery") -> list[date]:
    """The days of `query` whose logs (of its users and levels) some app moved out of MongoDB."""
    return sorted({day for finder in _archived_days for day in finder(query)})


def register_stored(hook: Stored) -> None:
    if hook not in _stored:
        _stored.append(hook)


def stored(documents: list[dict]) -> None:
    """Tell every registered hook that hot storage confirmed `documents`; a hook's error is the caller's."""
    for hook in _stored:
        hook(documents)


def register_insert(hook: Insert) -> None:
    if hook not in _insert:
        _insert.append(hook)


def before_insert(documents: list[dict]) -> list[Callable[[list[dict]], None]]:
    """Call every insert hook with `documents` (stamped, about to be inserted); returns what each wants called
    with the documents MongoDB accepted."""
    return [hook(documents) for hook in _insert]


def register_metric_names(lookup: MetricNames) -> None:
    if lookup not in _metric_names:
        _metric_names.append(lookup)


def metric_names() -> dict[str, str]:
    """Casefolded metric name -> its canonical spelling, from every registered lookup, asked now ({}: none)."""
    names: dict[str, str] = {}
    for lookup in _metric_names:
        names.update(lookup())
    return names
