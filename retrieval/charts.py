"""Server-rendered SVG geometry for the volume histogram (no chart library to ship)."""

from dataclasses import dataclass
from datetime import timedelta

from retrieval.planner import Histogram
from retrieval.query import ALL_LEVELS

WIDTH, HEIGHT = 900, 140


@dataclass
class Segment:
    level: str
    count: int
    y: float
    height: float


@dataclass
class Bar:
    label: str
    x: float
    width: float
    total: int
    segments: list[Segment]


def stacked_bars(histogram: Histogram) -> dict:
    """Bars (one per bucket) stacked by level, most severe on top, scaled to the tallest bar."""
    totals = [sum(histogram.counts[(b, level)] for level in ALL_LEVELS) for b in histogram.buckets]
    tallest = max(totals, default=0) or 1
    slot = WIDTH / max(len(histogram.buckets), 1)
    bars = []
    for index, (bucket, total) in enumerate(zip(histogram.buckets, totals, strict=True)):
        y, segments = float(HEIGHT), []
        for level in ALL_LEVELS:
            count = histogram.counts[(bucket, level)]
            if count:
                height = HEIGHT * count / tallest
                y -= height
                segments.append(Segment(level, count, round(y, 2), round(height, 2)))
        bars.append(Bar(f"{bucket:%Y-%m-%d %H:%M}", round(index * slot, 2), round(slot * 0.9, 2), total, segments))
    return {
        "bars": bars,
        "width": WIDTH,
        "height": HEIGHT,
        "tallest": max(totals, default=0),
        "total": sum(totals),
        "bucket": duration_label(histogram.buckets[1] - histogram.buckets[0]) if len(histogram.buckets) > 1 else "",
    }


def duration_label(width: timedelta) -> str:
    """30 min, 3 h, 1 day, 7 days."""
    minutes = int(width.total_seconds() // 60)
    if minutes % 1440 == 0:
        days = minutes // 1440
        return f"{days} day{'s' if days > 1 else ''}"
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"
