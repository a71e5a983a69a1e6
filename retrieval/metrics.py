"""What the search and ingest paths record (shown on /metrics; see logsite.metrics)."""

from logsite.metrics import Counter, Histogram

# Upper bounds (seconds) of the query latency buckets: a hot query is milliseconds,
# a cold one that downloads parts can take seconds.
QUERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

QUERY_SECONDS = Histogram(
    "query_duration_seconds", "Time one source took to answer one query.", label="source", buckets=QUERY_BUCKETS
)
INGESTED_LOGS = Counter("ingested_logs", "Logs written to hot storage.")
