"""Server-rendered SVG geometry for the volume histogram (no chart library to ship)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from retrieval.planner import Histogram
from retrieval.query import ALL_LEVELS

WIDTH, HEIGHT = 900, 160
AXIS = 44  # left margin for the y-axis labels
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
    label: str  # accessible name: the bucket, its total and its levels
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
    slot = (WIDTH - AXIS) / max(len(buckets), 1)
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
        label = f"{bucket:%Y-%m-%d %H:%M} to {bucket_end:%H:%M} UTC: {total:,} logs{f' ({levels})' if levels else ''}"
        x = round(AXIS + index * slot, 2)
        bars.append(Bar(label, bucket, bucket_end, link(bucket, bucket_end), x, round(slot * 0.9, 2), total, segments))
    ticks = [Tick(value, round(base - plot * value / top, 2)) for value in range(0, top + 1, step)]
    return {
        "bars": bars,
        "ticks": ticks,
        "axis": AXIS,
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
