"""What every enabled rule reads now, in batches: one store query per metric name (every rule of that metric and
window shares it), one read of the hot per-user counters for every errors rule. No log is read.

Metric rules read the hourly aggregates (metrics.store): a window of W minutes is the current hour and the
ceil(W/60) - 1 hours before it; a drop rule compares it with as many hours before. Errors rules read the
per-minute counters of `retrieval.hotstore` (levels error and critical) of the minutes overlapping
[now - W, now).

A rule sees only the user_ids its owner is granted when it is evaluated (`access.scope.user_scope`): its own
list narrowed to the grant, or the whole grant when its list is empty.
"""

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from access.models import READ
from access.scope import Scope, user_scope
from alerts.models import Rule
from metrics.api import value_of
from metrics.models import HOUR, MetricBucket
from metrics.store import Stats, hour_start
from retrieval import buckets, hotstore

ERROR_LEVELS = ("error", "critical")
SeriesKey = tuple[int, str]  # user_id, model


@dataclass(frozen=True)
class Reading:
    """A series' value now, and whether it breaches its rule."""

    value: float
    breaching: bool
    window_start: datetime
    window_end: datetime


def window_hours(rule: Rule) -> int:
    return max(1, math.ceil(rule.window_minutes / 60))


def users_of(rule: Rule, scope: Scope) -> frozenset[int] | None:
    """The user_ids `rule` may see under its owner's `scope` (None: every user_id)."""
    if rule.user_ids:
        return frozenset(u for u in rule.user_ids if scope.allows(u))
    return scope.user_ids


class MetricWindows:
    """Hourly stats of each metric name, read once per name for the longest span its rules need, and summed
    once per (name, hours back from, hours back to) for every rule sharing that window."""

    def __init__(self, rules: list[Rule], now: datetime):
        self.current_hour = hour_start(now)
        self.rows: dict[str, dict[int, list[tuple[str, int, Stats]]]] = {}
        self.sums: dict[tuple[str, int, int], dict[int, dict[str, Stats]]] = {}
        needed: dict[str, int] = defaultdict(int)
        for rule in rules:
            span = window_hours(rule) * (2 if rule.kind == Rule.Kind.DROP else 1)
            needed[rule.metric] = max(needed[rule.metric], span)
        for name, span in needed.items():
            self.rows[name] = self._read(name, span)

    def _read(self, name: str, span: int) -> dict[int, list[tuple[str, int, Stats]]]:
        """user_id -> (model, hours before the current one, stats) of the name's hourly rows of `span` hours."""
        first = self.current_hour - timedelta(hours=span - 1)
        found: dict[int, list[tuple[str, int, Stats]]] = defaultdict(list)
        rows = MetricBucket.objects.filter(name=name, width=HOUR, start__gte=first, start__lte=self.current_hour)
        for user_id, model, start, count, total, minimum, maximum, last, last_at in rows.values_list(
            "user_id", "model", "start", "count", "total", "minimum", "maximum", "last", "last_at"
        ):
            if last_at.tzinfo is None:  # SQLite
                last_at = last_at.replace(tzinfo=UTC)
            back = int((self.current_hour - start) / timedelta(hours=1))
            found[user_id].append((model, back, Stats(count, total, minimum, maximum, (last_at, last))))
        return found

    def window(self, name: str, first_back: int, hours: int) -> dict[int, dict[str, Stats]]:
        """user_id -> model -> stats of the hours `first_back` to `first_back + hours - 1` before the current."""
        key = (name, first_back, hours)
        if key not in self.sums:
            summed: dict[int, dict[str, Stats]] = defaultdict(lambda: defaultdict(Stats))
            for user_id, rows in self.rows.get(name, {}).items():
                for model, back, stats in rows:
                    if first_back <= back < first_back + hours:
                        summed[user_id][model].combine(stats)
            self.sums[key] = summed
        return self.sums[key]

    def bounds(self, first_back: int, hours: int) -> tuple[datetime, datetime]:
        end = self.current_hour - timedelta(hours=first_back - 1)
        return end - timedelta(hours=hours), end


class ErrorWindows:
    """Error and critical logs per user_id, from the hot counters of the days the longest window covers."""

    def __init__(self, rules: list[Rule], now: datetime):
        self.now = now
        longest = max((rule.window_minutes for rule in rules), default=0)
        first_day, last_day = buckets.day_of(now - timedelta(minutes=longest)), buckets.day_of(now)
        self.counts = hotstore.counts_by_user(range(first_day, last_day + 1)) if rules else {}
        self.sums: dict[int, dict[int, int]] = {}

    def window(self, minutes: int) -> dict[int, int]:
        """user_id -> error-level logs in the minutes overlapping [now - minutes, now)."""
        if minutes not in self.sums:
            first = int((self.now - timedelta(minutes=minutes)).timestamp()) // 60
            last = int(self.now.timestamp()) // 60
            totals: dict[int, int] = {}
            for user_id, hours in self.counts.items():
                total = 0
                for hour, counts in hours.items():
                    for (level, minute), n in counts.items():
                        if level in ERROR_LEVELS and first <= hour * 60 + minute <= last:
                            total += n
                totals[user_id] = total
            self.sums[minutes] = totals
        return self.sums[minutes]


def compare(rule: Rule, value: float) -> bool:
    if rule.comparison == Rule.Comparison.BELOW:
        return value < rule.threshold
    return value > rule.threshold


def pick(
    found: dict[int, dict[str, Stats]], users: frozenset[int] | None, model: str
) -> Iterable[tuple[int, str, Stats]]:
    for user_id in found if users is None else users & found.keys():
        for series_model, stats in found[user_id].items():
            if stats.count and (not model or series_model == model):
                yield user_id, series_model, stats


def readings(rules: list[Rule], now: datetime) -> dict[tuple[int, int, str], Reading]:
    """(rule id, user_id, model) -> its reading, for every series of `rules` with values in its window."""
    metric_rules = [rule for rule in rules if rule.kind != Rule.Kind.ERRORS]
    error_rules = [rule for rule in rules if rule.kind == Rule.Kind.ERRORS]
    metrics, errors = MetricWindows(metric_rules, now), ErrorWindows(error_rules, now)
    scopes: dict[int, Scope] = {}
    found: dict[tuple[int, int, str], Reading] = {}
    for rule in rules:
        if rule.owner_id not in scopes:
            scopes[rule.owner_id] = user_scope(rule.owner, READ)
        users = users_of(rule, scopes[rule.owner_id])
        if rule.kind == Rule.Kind.ERRORS:
            start = now - timedelta(minutes=rule.window_minutes)
            for user_id, count in errors.window(rule.window_minutes).items():
                if users is None or user_id in users:
                    found[(rule.pk, user_id, "")] = Reading(float(count), count > rule.threshold, start, now)
            continue
        hours = window_hours(rule)
        start, end = metrics.bounds(0, hours)
        current = metrics.window(rule.metric, 0, hours)
        if rule.kind == Rule.Kind.THRESHOLD:
            for user_id, model, stats in pick(current, users, rule.model):
                value = value_of(stats, rule.aggregate or Rule.Aggregate.AVG)
                found[(rule.pk, user_id, model)] = Reading(value, compare(rule, value), start, end)
            continue
        previous = metrics.window(rule.metric, hours, hours)
        for user_id, model, stats in pick(current, users, rule.model):
            before = previous.get(user_id, {}).get(model)
            if before is None or not before.count or before.total / before.count <= 0:
                continue
            mean_before = before.total / before.count
            drop = (mean_before - stats.total / stats.count) / mean_before * 100
            found[(rule.pk, user_id, model)] = Reading(drop, drop >= rule.threshold, start, end)
    return found
