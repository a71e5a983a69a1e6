"""One definition of a log search, shared by every front door and every source.

`LogQuery` is what the user asked for, already validated (see `retrieval.filters`).
It translates itself to a MongoDB filter (hot source), a Django Q (admin) and a
Python predicate (sources that filter rows themselves, like the cold reader), so
the three cannot drift apart. `LogRow` is one result, whatever source it came from.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from bson.errors import InvalidId
from django.core import signing
from django.db.models import Q

from retrieval import querysyntax, textfold
from retrieval.buckets import EPOCH
from retrieval.models import Level
from retrieval.querysyntax import Term

ALL_LEVELS: tuple[str, ...] = tuple(Level.values)
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
MAX_KEYWORD_LENGTH = 200
# Histogram bucket widths, smallest first; the first that gives at most
# MAX_BUCKETS buckets over the query's span is used.
BUCKET_WIDTHS = tuple(timedelta(minutes=m) for m in (1, 5, 15, 30, 60, 180, 360, 720, 1440, 10080))
MAX_BUCKETS = 60
# Buckets start at multiples of their width from a Monday midnight (UTC): 5-minute bars at
# :00, :05..., days at midnight, weeks on Mondays.
BUCKET_ORIGIN = EPOCH + timedelta(days=4)
# The range a search may cover (retrieval.filters says why).
EARLIEST = EPOCH
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
CURSOR_SALT = "retrieval.cursor"
MONGO_COMPARISONS = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte", "=": "$eq"}

Position = tuple[datetime, str]  # (timestamp, ObjectId hex): a row's place in the order


@dataclass(frozen=True)
class LogQuery:
    user_ids: tuple[int, ...]  # empty: every user
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    levels: tuple[str, ...]  # never empty; ALL_LEVELS when not restricted
    keyword: str = ""  # case-insensitive literal substring of the message; "" matches all
    newest_first: bool = True
    limit: int = DEFAULT_PAGE_SIZE
    # The part of [start, end) a source reads, when it knows it holds nothing outside it
    # (None: all of it). Only the MongoDB filter narrows; buckets and cursors keep [start, end).
    read_range: tuple[datetime, datetime] | None = None
    # True when `user_ids` are the caller's grant rather than what they asked for (retrieval.filters):
    # permalinks leave them out, and an empty grant matches no log.
    granted_users: bool = False
    q: str = ""  # query syntax (retrieval.querysyntax), already checked by the filterset; "" matches all
    log_id: str | None = None  # one log only (planner.find_log)
    # The time parameters as the user gave them (date=..., from=now-6h), echoed by `to_params`
    # instead of the absolute range; () echoes from/to.
    time_params: tuple[tuple[str, str], ...] = ()

    @property
    def terms(self) -> tuple[Term, ...]:
        return querysyntax.terms_of(self.q)

    @property
    def matches_nothing(self) -> bool:
        """An empty grant: no source need be asked."""
        return self.granted_users and not self.user_ids

    @property
    def direction(self) -> int:
        return -1 if self.newest_first else 1

    def sort_key(self, row: "LogRow") -> Position:
        return (row.timestamp, row.id)

    def mongo_filter(self, after: Position | None = None) -> dict:
        """The MongoDB filter for this query, strictly after `after` in the query order.

        One flat document: one user or one level is a plain equality (`{"user_id": 4}`),
        several an `$in`; the cursor's tie-break is a top-level `$or` beside them. The
        same meaning as `$in` of one value (and the same `user_level_time` bounds) on
        MongoDB, and FerretDB's PostgreSQL handler pushes top-level scalar equalities
        into its SQL (`$in` and `$and` it does not), see docs/ferretdb.md.
        """
        clauses: dict = {}
        if self.user_ids or self.granted_users:
            clauses["user_id"] = one_or_any(self.user_ids)
        clauses["level"] = one_or_any(self.levels)
        first, last = self.read_range or (self.start, self.end)
        time_range = {"$gte": first, "$lt": last}
        clauses["timestamp"] = time_range
        if after is not None:
            stamp, oid = after[0], ObjectId(after[1])
            # Rows at the cursor's own timestamp are told apart by _id; bounding
            # the range first keeps it an index range on real MongoDB. (Key order
            # matters on FerretDB, which stops at the first key a log fails.)
            if self.newest_first:
                time_range["$lte"] = stamp
                clauses["$or"] = [{"timestamp": {"$lt": stamp}}, {"_id": {"$lt": oid}}]
            else:
                time_range["$gte"] = max(stamp, first)
                clauses["$or"] = [{"timestamp": {"$gt": stamp}}, {"_id": {"$gt": oid}}]
        if self.keyword:
            # Escaped: the user's text is never a regex.
            clauses["message"] = text_filter(self.keyword)
        if self.log_id is not None:
            # One log (planner.find_log): by the `_id` index alone, wherever its timestamp lies: an id
            # the server made on insert carries the time of the insert, not the log's.
            del clauses["timestamp"]
            clauses["_id"] = ObjectId(self.log_id)
        if self.terms:
            # Last: FerretDB tries keys in order, the indexed equalities first.
            clauses["$and"] = [term_filter(term) for term in self.terms]
        return clauses

    def mongo_sort(self) -> list[tuple[str, int]]:
        return [("timestamp", self.direction), ("_id", self.direction)]

    def orm_q(self, with_time: bool = True) -> Q:
        """The same filter for the ORM (the admin's changelist, which may browse all time); the admin takes no `q`."""
        q = Q(level__in=self.levels)
        if with_time:
            q &= Q(timestamp__gte=self.start, timestamp__lt=self.end)
        if self.user_ids or self.granted_users:
            q &= Q(user_id__in=self.user_ids)
        if self.keyword:
            q &= Q(message__icontains=self.keyword)
        return q

    def matches(self, document: Mapping) -> bool:
        """Does a log document (or decoded archive line) satisfy the query? For sources that filter in Python."""
        return (
            self.start <= document["timestamp"] < self.end
            and document["level"] in self.levels
            and (not (self.user_ids or self.granted_users) or document["user_id"] in self.user_ids)
            and (not self.keyword or textfold.contains(document["message"], self.keyword))
            and (self.log_id is None or str(document["_id"]) == self.log_id)
            and querysyntax.matches(self.terms, document)
        )

    @property
    def bucket_width(self) -> timedelta:
        span = self.end - self.start
        return next((w for w in BUCKET_WIDTHS if span / w <= MAX_BUCKETS), BUCKET_WIDTHS[-1])

    def bucket_of(self, timestamp: datetime) -> datetime:
        """Start of the histogram bucket holding `timestamp`: a multiple of the width from BUCKET_ORIGIN.

        The first and last buckets may start before `start` or end after `end`; they count
        only the logs in [start, end).
        """
        width = self.bucket_width
        return BUCKET_ORIGIN + ((timestamp - BUCKET_ORIGIN) // width) * width

    def buckets(self) -> list[datetime]:
        width, starts, at = self.bucket_width, [], self.bucket_of(self.start)
        while at < self.end:
            starts.append(at)
            at += width
        return starts

    def to_params(self) -> dict[str, str]:
        """URL parameters that `LogFilterSet` parses back into this same search (permalinks, paging).

        The time as the user gave it (`date`, or `from`/`to` as typed: `now-6h` stays relative),
        else the absolute range; no empty parameter. A cursor keeps a relative range's page exact
        (it pins the range it was made in, see `Cursor`).
        """
        params = dict(self.time_params) or {"from": isoformat(self.start), "to": isoformat(self.end)}
        if self.user_ids and not self.granted_users:
            params["user_id"] = ",".join(str(u) for u in self.user_ids)
        if self.levels != ALL_LEVELS:
            params["level"] = ",".join(self.levels)
        if self.keyword:
            params["keyword"] = self.keyword
        if self.q:
            params["q"] = self.q
        if not self.newest_first:
            params["order"] = "oldest"
        if self.limit != DEFAULT_PAGE_SIZE:
            params["page_size"] = str(self.limit)
        return params


@dataclass
class LogRow:
    id: str  # ObjectId hex
    timestamp: datetime  # UTC
    user_id: int
    level: str
    message: str
    logger: str = ""
    context: dict | None = None
    source: str = "hot"  # "hot" | "cold"
    metrics: dict | None = None  # name -> value, as intake extracted them (metrics.intake)


def text_filter(text: str) -> dict:
    """The message contains `text`: an escaped, case-insensitive `$regex` (never the user's regex)."""
    return {"$regex": re.escape(text), "$options": "i"}


def term_filter(term: Term) -> dict:
    """One query-syntax term as a MongoDB filter (docs/ferretdb.md, "Query syntax")."""
    if term.field == "message":
        clause: dict = {"message": text_filter(term.value)}
    elif term.op:
        clause = metric_filter(term)
    elif term.field == "model":
        clause = model_filter(term.value)
    else:
        # Equality operands only; the field is logger, level, user_id or a checked context.<key> path.
        clause = {term.field: one_or_any(term.typed_values())}
    # $nor, not $ne / $not: one shape for every term, true where the field is missing.
    return {"$nor": [clause]} if term.negated else clause


def model_filter(model: str) -> dict:
    """The log's model (`querysyntax.model_of`) is `model`: its context's text, or, without one, its logger."""
    return {
        "$or": [
            {"context.model": model},
            {"logger": model, "context.model": {"$not": {"$type": "string"}}},
            {"logger": model, "context.model": ""},
        ]
    }


def metric_filter(term: Term) -> dict:
    """A comparison on a metric (`metrics.<checked name>`): our operator, a float operand. MongoDB compares a
    number with numbers only, so a missing metric never matches."""
    path, number = term.field, term.threshold
    if term.op == "!=":
        # Less or greater, not $ne: $ne also holds where the metric is missing.
        return {"$or": [{path: {"$lt": number}}, {path: {"$gt": number}}]}
    return {path: {MONGO_COMPARISONS[term.op]: number}}


def one_or_any(values: Sequence[object]) -> object:
    """A filter value: the value itself when there is one, else `{"$in": [...]}`."""
    return values[0] if len(values) == 1 else {"$in": list(values)}


def isoformat(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, microseconds kept: 2023-08-27T12:30:15.123000Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class Cursor:
    """A place in a search's order, as `next_cursor` and `prev_cursor` carry it (signed, opaque to clients)."""

    position: Position  # the row the page next to it ends (forward) or starts (backward) with
    newest_first: bool
    index: int = 0  # the 1-based index of that row in the search's order (0: unknown)
    backward: bool = False  # the page before `position` (a prev_cursor), else the page after it
    # The absolute range and the time parameters of the page that made it: a relative
    # range (now-6h) on a later page reads this range again (retrieval.filters).
    pinned: tuple[datetime, datetime] | None = None
    time_params: tuple[tuple[str, str], ...] = ()

    def encode(self) -> str:
        pinned = [isoformat(moment) for moment in self.pinned] if self.pinned else None
        payload = [isoformat(self.position[0]), self.position[1], self.newest_first, self.index, self.backward]
        return signing.dumps(
            [*payload, pinned, [list(pair) for pair in self.time_params]], salt=CURSOR_SALT, compress=True
        )


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def decode_cursor(token: str, newest_first: bool) -> Cursor:
    """The cursor a token stands for; InvalidCursor when forged, damaged or for the other order."""
    try:
        payload = signing.loads(token, salt=CURSOR_SALT)
        stamp, oid, order = payload[:3]
        index, backward, pinned, params = (payload[3:] + [0, False, None, []])[:4]
        cursor = Cursor(
            position=(_moment(stamp), str(ObjectId(oid))),
            newest_first=bool(order),
            index=int(index),
            backward=bool(backward),
            pinned=(_moment(pinned[0]), _moment(pinned[1])) if pinned else None,
            time_params=tuple((str(name), str(value)) for name, value in params),
        )
    except (signing.BadSignature, InvalidId, ValueError, TypeError, IndexError) as exc:
        raise InvalidCursor("This cursor is not valid.") from exc
    if cursor.newest_first != newest_first:
        raise InvalidCursor("This cursor belongs to the other sort order.")
    return cursor
