"""Server-rendered SVG geometry for the volume histogram (no chart library to ship)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from retrieval.planner import Histogram
from retrieval.query import ALL_LEVELS

# The SVG's own units: it is stretched to the figure (CSS sets its height, taller on phones), so
# the y-axis labels are HTML beside it (`Tick.percent`), readable at any size.
WIDTH, HEIGHT = 900, 160
TOP = BOTTOM = 8  # room for the top and bottom ticks' labels
TICKS = 4  # about this many y-axis steps


@dataclass
class Segment:
    level: str
    count: int
    y: float
    height: float


@dataclass
class Bar:
    label: str  # accessible name: the bucket (UTC), then `counts`
    counts: str  # its total and its levels: "12 logs (3 error, 9 info)" (explorer.js names the bucket in local time)
    start: datetime
    end: datetime
    href: str  # the search narrowed to this bucket
    x: float
    width: float
    total: int
    segments: list[Segment]


@dataclass
class Tick:
    value: int
    y: float

    @property
    def percent(self) -> float:
        """How far down the plot it is, for its HTML label."""
        return round(100 * self.y / HEIGHT, 2)


def round_step(tallest: int) -> int:
    """A 1, 2 or 5 times a power of ten near tallest / TICKS: ticks at 0, 50, 100 rather than 0, 37, 74."""
    step = 1
    while step * TICKS < tallest:
        for factor in (2, 5 / 2, 2):  # 1 -> 2 -> 5 -> 10
            step = int(step * factor)
            if step * TICKS >= tallest:
                break
    return step


def stacked_bars(histogram: Histogram, end: datetime, link: Callable[[datetime, datetime], str]) -> dict:
    """Bars (one per bucket, the last ending at `end`) stacked by level, most severe on top, on a round y-axis.

    `link(start, end)` is the URL of the search over one bar's time range (zooming in).
    """
    buckets = histogram.buckets
    totals = [sum(histogram.counts[(b, level)] for level in ALL_LEVELS) for b in buckets]
    step = round_step(max(totals, default=0))
    top = max(step * -(-max(totals, default=0) // step), step)  # the tallest bar rounded up to a tick
    plot, base = HEIGHT - TOP - BOTTOM, HEIGHT - BOTTOM
    slot = WIDTH / max(len(buckets), 1)
    bars = []
    for index, (bucket, total) in enumerate(zip(buckets, totals, strict=True)):
        bucket_end = buckets[index + 1] if index + 1 < len(buckets) else end
        y, segments = float(base), []
        for level in ALL_LEVELS:
            count = histogram.counts[(bucket, level)]
            if count:
                height = plot * count / top
                y -= height
                segments.append(Segment(level, count, round(y, 2), round(height, 2)))
        levels = ", ".join(f"{s.count:,} {s.level}" for s in reversed(segments))
        counts = f"{total:,} logs{f' ({levels})' if levels else ''}"
        label = f"{bucket:%Y-%m-%d %H:%M} to {bucket_end:%H:%M} UTC: {counts}"
        x = round(index * slot, 2)
        bar = Bar(label, counts, bucket, bucket_end, link(bucket, bucket_end), x, round(slot * 0.9, 2), total, segments)
        bars.append(bar)
    ticks = [Tick(value, round(base - plot * value / top, 2)) for value in range(0, top + 1, step)]
    return {
        "bars": bars,
        "ticks": ticks,
        "width": WIDTH,
        "height": HEIGHT,
        "tallest": max(totals, default=0),
        "total": sum(totals),
        "bucket": duration_label(buckets[1] - buckets[0]) if len(buckets) > 1 else "",
    }


def duration_label(width: timedelta) -> str:
    """30 min, 3 h, 1 day, 7 days."""
    minutes = int(width.total_seconds() // 60)
    if minutes % 1440 == 0:
        days = minutes // 1440
        return f"{days} day{'s' if days > 1 else ''}"
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
