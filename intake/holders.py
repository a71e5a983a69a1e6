"""Who holds an id a sender sends again: a duplicate is news only to a sender who may write its log's user_id.

Ingest stores one log per id across hot and cold storage (the first write wins). Answering
"duplicate" for an id held by a log of a user_id the sender may not write would tell them
that such a log exists, so ingest answers those ids as new (and stores nothing).
"""

from bson import ObjectId

from access.scope import Scope
from retrieval.models import LogEntry


def foreign_ids(holders: dict[ObjectId, set[int]], scope: Scope) -> set[ObjectId]:
    """The held ids no log of which is of a user_id `scope` covers: to their sender, unknown ids."""
    if scope.everything:
        return set()
    return {log_id for log_id, user_ids in holders.items() if not any(map(scope.allows, user_ids))}


def hot_id_holders(documents: list[dict]) -> dict[ObjectId, set[int]]:
    """The ids of `documents` MongoDB holds under another user_id than the document's -> that user_id.

    Asked only when an insert found duplicates: a retry of a batch, rare."""
    claimed = {document["_id"]: document["user_id"] for document in documents}
    stored = LogEntry.collection().find({"_id": {"$in": list(claimed)}}, {"user_id": 1})
    return {log["_id"]: {log["user_id"]} for log in stored if log["user_id"] != claimed[log["_id"]]}
