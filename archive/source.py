"""The cold source of the search planner: archived logs, read from object storage by `archive.reader`."""

from collections import Counter
from dataclasses import replace
from typing import Any

from bson import ObjectId

from archive import minutes, reader
from archive.models import ArchivePart
from retrieval.models import LogEntry
from retrieval.query import LogQuery, LogRow, Position
from retrieval.sources import HotSource, SourceUnavailable, Volume, answered_in_time

UNAVAILABLE = "archived logs could not be read from object storage ({})"


class ColdSource:
    name = "cold"

    def fetch(self, query: LogQuery, after: Position | None, limit: int) -> list[LogRow]:
        try:
            documents = reader.fetch(query, after, limit)
        except reader.ColdReadError as exc:
            raise SourceUnavailable(UNAVAILABLE.format(exc)) from exc
        return [replace(HotSource.row(document), source="cold") for document in documents]

    def id_holders(self, documents: list[dict[str, Any]]) -> dict[ObjectId, set[int]]:
        try:
            return reader.archived_id_holders(documents)
        except reader.ColdReadError as exc:
            raise SourceUnavailable(UNAVAILABLE.format(exc)) from exc

    def volume(self, query: LogQuery) -> Volume:
        """Archived logs per (bucket, level), leaving out those MongoDB still holds (the hot source counts them).

        Without a keyword, parts MongoDB cannot hold are counted from the ledger's per-minute
        counts (archive.minutes), reading no object; the rest is counted by reading the parts.
        """
        parts = reader.parts_for(query)
        in_hot_parts = [part for part in parts if may_be_hot(part)]
        in_hot = hot_ids(in_hot_parts, query)
        counts: Volume = Counter()
        unread = parts
        if not (query.keyword or query.q or query.log_id):  # the ledger counts every log of a part
            counts, unread = minutes.ledger_volume(query, [part for part in parts if not may_be_hot(part)])
            unread += in_hot_parts
        try:
            counts.update(reader.volume(query, unread, in_hot))
        except reader.ColdReadError as exc:
            raise SourceUnavailable(UNAVAILABLE.format(exc)) from exc
        return counts


def may_be_hot(part: ArchivePart) -> bool:
    """Can MongoDB hold logs of this part too? Until the archiver purged them, and while they are rehydrated."""
    return part.purged is None or part.rehydrated_until is not None


def hot_ids(parts: list[ArchivePart], query: LogQuery) -> set[str]:
    """Ids of `parts`' logs that are in MongoDB too: not yet purged by the archiver, or rehydrated.

    Raises SourceUnavailable when MongoDB does not answer: without these ids the archive's
    counts could not leave out the logs the hot source counts, and would double them.
    """
    if not parts:
        return set()
    clauses = [{"user_id": part.user_id, "level": part.level} for part in parts]
    try:
        with answered_in_time():
            found = LogEntry.collection().find(
                {"timestamp": {"$gte": query.start, "$lt": query.end}, "$or": clauses}, {"_id": 1}, batch_size=10_000
            )
            return {str(document["_id"]) for document in found}
    except SourceUnavailable as exc:
        raise SourceUnavailable(
            f"archived logs could not be counted: which of them MongoDB still holds ({exc})"
        ) from exc
