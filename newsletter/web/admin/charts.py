"""Line charts as plain data for inline SVG: the template draws, this module scales.

No JavaScript and no chart library: a chart is a polyline, the area under it, and a few
labelled ticks, all in the SVG's own coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 640
HEIGHT = 200
PAD_LEFT = 48
PAD_BOTTOM = 28
PAD_TOP = 12
PAD_RIGHT = 12


@dataclass(frozen=True)
class Tick:
    """A labelled position along an axis."""

    at: float
    label: str


@dataclass(frozen=True)
class LineChart:
    """What the template needs to draw one line chart."""

    width: int
    height: int
    line: str  # "x,y x,y …" for <polyline points>
    area: str  # the closed polygon under the line
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    last_label: str
    empty: bool


def line_chart(
    points: Sequence[tuple[float, float]],
    *,
    x_labels: Sequence[str],
    width: int = WIDTH,
    height: int = HEIGHT,
) -> LineChart:
    """Scale ``points`` (x ascending) into the chart box; ``x_labels`` name each point."""
    if not points:
        return LineChart(width, height, "", "", [], [], "", True)
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x_low, x_high = min(xs), max(xs)
    y_high = max(max(ys), 1)
    inner_w = width - PAD_LEFT - PAD_RIGHT
    inner_h = height - PAD_TOP - PAD_BOTTOM
    span = (x_high - x_low) or 1

    def sx(x: float) -> float:
        return round(PAD_LEFT + (x - x_low) / span * inner_w, 1)

    def sy(y: float) -> float:
        return round(PAD_TOP + inner_h - y / y_high * inner_h, 1)

    coords = [(sx(x), sy(y)) for x, y in points]
    if len(coords) == 1:  # one point: draw a flat line across
        coords = [(float(PAD_LEFT), coords[0][1]), (float(width - PAD_RIGHT), coords[0][1])]
    line = " ".join(f"{x},{y}" for x, y in coords)
    base = PAD_TOP + inner_h
    area = f"{coords[0][0]},{base} {line} {coords[-1][0]},{base}"
    picks = sorted({0, len(points) // 2, len(points) - 1})
    x_ticks = [Tick(sx(points[i][0]), x_labels[i]) for i in picks if i < len(x_labels)]
    y_ticks = [Tick(sy(v), _number(v)) for v in (0, y_high / 2, y_high)]
    return LineChart(width, height, line, area, x_ticks, y_ticks, _number(ys[-1]), False)


def _number(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    return f"{value:,.0f}"
