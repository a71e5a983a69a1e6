"""Server-rendered SVG geometry of the metric chart: a line per (user_id, model), its min/max band, round y ticks.

As the explorer's histogram (explorer/charts.py): the SVG is stretched to its figure (preserveAspectRatio none)
with non-scaling strokes, and its axis labels are HTML beside it, readable at any width; no chart library, so
the page works offline. Series are told apart by colour and dash pattern both (`style_of`), so that two series
of one colour, or a reader who cannot tell the colours apart, still see two lines.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from metrics.store import Point, Series, align

WIDTH, HEIGHT = 900, 260
TOP = BOTTOM = 10  # room for the top and bottom ticks' labels
TICKS = 4  # about this many y-axis steps
COLOURS = 8  # .series-0 to .series-7 in charts.css, each >= 3:1 against the panel in both schemes
DASHES = ("", "8 4", "2 3", "10 3 2 3", "4 4")  # screen pixels (non-scaling strokes)
# Time-axis steps, the first that gives at most X_TICKS labels (whole hours, days, weeks from a Monday).
X_STEPS = tuple(timedelta(hours=h) for h in (1, 2, 3, 6, 12, 24, 48, 168, 336, 672, 2016, 4032))
X_TICKS = 6
LAST_LABEL = 0.92


@dataclass(frozen=True)
class Style:
    colour: int
    dash: str


def style_of(index: int) -> Style:
    """The index-th series' colour class and dash: 40 distinct pairs (8 colours x 5 dashes, lcm 40)."""
    return Style(index % COLOURS, DASHES[index % len(DASHES)])


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    href: str
    label: str


@dataclass(frozen=True)
class Line:
    label: str  # "user 4, resnet"
    style: Style
    paths: list[str]  # one polyline per run of adjacent steps (a step without values breaks the line)
    bands: list[str]  # min/max polygon per run
    markers: list[Marker]


@dataclass(frozen=True)
class Tick:
    text: str
    y: float  # in the SVG's units
    percent: float  # how far down the plot, for its HTML label


@dataclass(frozen=True)
class TimeTick:
    text: str
    x: float  # in the SVG's units
    percent: float  # how far across the plot, for its HTML label


def time_ticks(start: datetime, end: datetime) -> list[TimeTick]:
    """Round times within [start, end): every 6 h, every day, every Monday..., at most about X_TICKS."""
    step = next((s for s in X_STEPS if (end - start) / s <= X_TICKS), X_STEPS[-1])
    moment = align(start, step)
    moment += step if moment < start else timedelta(0)
    ticks = []
    # A label past LAST_LABEL would stick out of the figure (it is centred on its line).
    while moment < start + (end - start) * LAST_LABEL:
        x = WIDTH * (moment - start) / (end - start)
        text = f"{moment:%Y-%m-%d}" if step >= timedelta(days=1) else f"{moment:%m-%d %H:%M}"
        ticks.append(TimeTick(text, round(x, 2), round(100 * x / WIDTH, 2)))
        moment += step
    return ticks


def nice_step(span: float) -> float:
    """1, 2 or 5 times a power of ten near span / TICKS."""
    raw = span / TICKS
    power = 10 ** math.floor(math.log10(raw))
    return next(factor * power for factor in (1, 2, 5, 10) if factor * power >= raw)


def y_range(low: float, high: float) -> tuple[float, float, float]:
    """(bottom, top, step): round ticks covering [low, high]; a flat series gets room around its value."""
    if high == low:
        pad = abs(high) / 10 or 1.0
        low, high = low - pad, high + pad
    step = nice_step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def tick_text(value: float, step: float) -> str:
    """A tick's label with as many decimals as the step needs (0.05 -> 2), no float noise."""
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:,.{decimals}f}"


def line_chart(
    found: list[Series],
    value: Callable[[Point], float],
    start: datetime,
    end: datetime,
    step: timedelta,
    link: Callable[[Series, Point], str],
    label: Callable[[Series, Point], str],
    band: bool = True,
) -> dict:
    """Lines of `found` over [start, end), one marker per step at its middle, each a link (`link`) named `label`.

    `value(point)` is the plotted aggregate; `band`: also each step's minimum to maximum.
    """
    values = [value(p) for s in found for p in s.points]
    if band:
        values += [v for s in found for p in s.points for v in (p.stats.minimum, p.stats.maximum)]
    bottom, top, tick = y_range(min(values, default=0.0), max(values, default=1.0))
    plot, base = HEIGHT - TOP - BOTTOM, HEIGHT - BOTTOM
    span = (end - start).total_seconds()

    def x(moment: datetime) -> float:
        return round(WIDTH * ((moment + step / 2) - start).total_seconds() / span, 2)

    def y(number: float) -> float:
        return round(base - plot * (number - bottom) / (top - bottom), 2)

    lines = []
    for index, one in enumerate(found):
        runs: list[list[Point]] = []
        for point in one.points:
            if runs and point.t - runs[-1][-1].t == step:
                runs[-1].append(point)
            else:
                runs.append([point])
        paths = [" ".join(f"{x(p.t)},{y(value(p))}" for p in run) for run in runs]
        bands = []
        if band:
            for run in runs:
                upper = [f"{x(p.t)},{y(p.stats.maximum)}" for p in run]
                lower = [f"{x(p.t)},{y(p.stats.minimum)}" for p in reversed(run)]
                bands.append(" ".join(upper + lower))
        markers = [Marker(x(p.t), y(value(p)), link(one, p), label(one, p)) for p in one.points]
        lines.append(Line(series_label(one), style_of(index), paths, bands, markers))
    ticks = []
    for n in range(round((top - bottom) / tick) + 1):
        at = y(bottom + n * tick)
        ticks.append(Tick(tick_text(bottom + n * tick, tick), at, round(100 * at / HEIGHT, 2)))
    return {
        "lines": lines,
        "ticks": ticks,
        "time_ticks": time_ticks(start, end),
        "width": WIDTH,
        "height": HEIGHT,
        "points": len(values),
    }


def series_label(one: Series) -> str:
    return f"user {one.user_id}, {one.model or 'no model'}"
