"""The insert hook of `retrieval.hotstore.insert` (`retrieval.hooks.register_insert`, from MetricsConfig.ready): every door that stores hot logs extracts
their metrics into the log (`metrics` field) and adds them to the store, counting only what MongoDB accepted."""

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings

from metrics import extract, store
from metrics.store import REHYDRATED
from retrieval import buckets

EPOCH_DAY = buckets.EPOCH.date()


def on_insert(documents: list[dict]) -> Callable[[list[dict]], None]:
    """Before the insert: set each document's `metrics` and note the writes of its days; returns what to call
    with the documents MongoDB accepted, after the insert."""
    if not settings.METRICS_EXTRACTION:
        return lambda inserted: None
    known = extract.names.get()
    days = set()
    for document in documents:
        if REHYDRATED in document:
            # Back from the archive, its line's `metrics` with it; counted when first stored (or rebuilt): not again.
            continue
        values = extract.extract(document, known)
        if values:
            document["metrics"] = values
            days.add(EPOCH_DAY + timedelta(days=document[buckets.DAY]))
    if not days:
        return lambda inserted: None
    store.start_writing(days)

    def finish(inserted: list[dict]) -> None:
        counted = [document for document in inserted if "metrics" in document and REHYDRATED not in document]
        store.finish_writing(days, counted, known)

    return finish
