"""Streamed exports of a whole result: CSV and JSON Lines, one page in memory at a time."""

import csv
import json
from collections.abc import Iterable, Iterator
from itertools import chain

from django.http import StreamingHttpResponse

from doors.door import row_record
from retrieval.planner import iter_all
from retrieval.query import LogQuery, LogRow

CSV_FIELDS = ("timestamp", "user_id", "level", "message", "logger", "source", "id", "context")
# Spreadsheets run cells that start with these as formulas (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    """A file-like object whose write() returns the line, for csv.writer in a generator."""

    def write(self, line: str) -> str:
        return line


def spreadsheet_safe(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_lines(rows: Iterable[LogRow]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_FIELDS)
    for row in rows:
        record = row_record(row)
        record["message"] = spreadsheet_safe(record["message"])
        record["logger"] = spreadsheet_safe(record["logger"])
        record["context"] = json.dumps(record["context"]) if record["context"] is not None else ""
        yield writer.writerow([record[name] for name in CSV_FIELDS])


def jsonl_lines(rows: Iterable[LogRow]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row_record(row), ensure_ascii=False) + "\n"


FORMATS = {
    "csv": (csv_lines, "text/csv; charset=utf-8"),
    "jsonl": (jsonl_lines, "application/x-ndjson; charset=utf-8"),
}


def export_response(query: LogQuery, fmt: str) -> StreamingHttpResponse:
    """Stream every row of `query`. The first page is read before the response starts,
    so that an unavailable source is an error status rather than a cut-off file."""
    rows = iter_all(query)
    first = next(rows, None)
    lines, content_type = FORMATS[fmt]
    body = lines(chain([first] if first else [], rows))
    response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="logs-{query.start:%Y%m%dT%H%M%S}.{fmt}"'
    return response
