"""Time expressions, the language of a search's `from`, `to` and `date`: an absolute moment, or one relative
to the time of the request as in Grafana (`now-6h`, `now-2d/d`, `today`, `yesterday`). The filterset
(`retrieval.filters`) parses its parameters with it; the API schema documents it (`api.schema`).
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from retrieval.query import BUCKET_ORIGIN

# now, now-15m, now+1h, now-1d-6h, now/d, now-2d/d: Grafana's relative times (no months or years,
# whose lengths vary).
RELATIVE_PATTERN = re.compile(r"now((?:[+-][0-9]{1,6}[smhdw])*)(?:/([smhdw]))?")
RELATIVE_STEP = re.compile(r"([+-])([0-9]+)([smhdw])")
UNITS = {"s": timedelta(seconds=1), "m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
UNITS["w"] = timedelta(weeks=1)
DAY_WORDS = {"today": 0, "yesterday": 1}
TIME_FORMATS = (
    "Use ISO 8601 (2023-08-27T12:30:00Z, 2023-08-27T14:30+02:00, 2023-08-27), "
    "or a time relative to now: now, now-15m, now-6h, now-2d/d (units s m h d w; /d rounds down to the "
    "start of the day, UTC), today or yesterday."
)


@dataclass(frozen=True)
class TimeExpression:
    """A `from` or `to` as typed: an absolute moment, or one relative to the time of the request."""

    text: str
    moment: datetime | None = None  # absolute (UTC); None: relative
    offset: timedelta = timedelta()
    round_to: str = ""  # a unit of UNITS: round down to its start after the offset

    @property
    def relative(self) -> bool:
        return self.moment is None

    def resolve(self, now: datetime) -> datetime:
        """The moment it names at `now`; OverflowError past year 1 or 9999."""
        if self.moment is not None:
            return self.moment
        at = now.astimezone(UTC) + self.offset
        if self.round_to:
            origin = BUCKET_ORIGIN  # a Monday midnight: weeks round down to Mondays
            width = UNITS[self.round_to]
            at = origin + ((at - origin) // width) * width
        return at


def parse_time_expression(text: str) -> TimeExpression | None:
    """A relative time (now-6h, now-2d/d, today, yesterday); None when `text` is not one."""
    if text in DAY_WORDS:
        return TimeExpression(text, offset=-DAY_WORDS[text] * UNITS["d"], round_to="d")
    match = RELATIVE_PATTERN.fullmatch(text)
    if match is None:
        return None
    offset = timedelta()
    for sign, number, unit in RELATIVE_STEP.findall(match.group(1)):
        offset += (1 if sign == "+" else -1) * int(number) * UNITS[unit]
    return TimeExpression(text, offset=offset, round_to=match.group(2) or "")
