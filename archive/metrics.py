"""What the archiver and the cold reader record (shown on /metrics; see logsite.metrics)."""

from logsite.metrics import Counter

COLD_CACHE_LOOKUPS = Counter(
    "cold_cache_lookups",
    "Lookups of cold archive parts in the local disk cache (a miss downloads the part).",
    labels=("result",),
)
ARCHIVE_RUNS = Counter("archive_runs", "Archive runs ended, by status.", labels=("status",))
ARCHIVED_LOGS = Counter("archived_logs", "Logs archived to object storage, by run status.", labels=("status",))


def count_archive_run(status: str, logs: int) -> None:
    """One archive run ended with `status`, having archived `logs` logs."""
    ARCHIVE_RUNS.inc(status)
    ARCHIVED_LOGS.inc(status, amount=logs)
