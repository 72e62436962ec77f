"""Bar chart geometry for inline SVG, computed on the server: no chart library, no script."""

import math
from dataclasses import dataclass

WIDTH = 720
HEIGHT = 240
PLOT_LEFT = 48
PLOT_RIGHT = 24  # room for the last day's label, centred under its bar
PLOT_TOP = 12
PLOT_BOTTOM = 28
GAP_RATIO = 0.25
MAX_X_LABELS = 7


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int


@dataclass(frozen=True)
class Tick:
    position: float  # y for value ticks, x (centre) for label ticks
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    maximum: int
    unit: str


def nice_maximum(value: int) -> int:
    """The smallest round number (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 x 10^n) at or above `value`, at least 1:
    the axis reads in round numbers without leaving the bars half the height they could have."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8):
        if step * magnitude >= value:
            return math.ceil(step * magnitude)
    return 10 * magnitude


def short_number(value: int) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return str(value)


def bar_chart(points: list[tuple[str, str, int]], *, unit: str = "calls") -> BarChart:
    """Bars for `points` given as (axis label, full label, value), left to right."""
    plot_width = WIDTH - PLOT_LEFT - PLOT_RIGHT
    plot_height = HEIGHT - PLOT_TOP - PLOT_BOTTOM
    baseline = PLOT_TOP + plot_height
    maximum = nice_maximum(max((value for _, _, value in points), default=0))
    slot = plot_width / max(len(points), 1)
    bar_width = max(slot * (1 - GAP_RATIO), 1.0)
    bars = []
    for index, (_axis_label, label, value) in enumerate(points):
        height = plot_height * value / maximum
        if value and height < 1:
            height = 1.0  # a day with any calls stays visible
        bars.append(
            Bar(
                x=round(PLOT_LEFT + index * slot + (slot - bar_width) / 2, 2),
                y=round(baseline - height, 2),
                width=round(bar_width, 2),
                height=round(height, 2),
                label=label,
                value=value,
            )
        )
    y_ticks = [
        Tick(
            position=round(baseline - plot_height * fraction, 2),
            label=short_number(round(maximum * fraction)),
        )
        for fraction in (0, 0.5, 1)
        if maximum * fraction == int(maximum * fraction)
    ]
    every = max(1, math.ceil(len(points) / MAX_X_LABELS))
    x_ticks = [
        Tick(position=round(PLOT_LEFT + index * slot + slot / 2, 2), label=axis_label)
        for index, (axis_label, _label, _value) in enumerate(points)
        if (len(points) - 1 - index) % every == 0  # always label the latest day
    ]
    return BarChart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=PLOT_LEFT,
        plot_right=WIDTH - PLOT_RIGHT,
        plot_top=PLOT_TOP,
        plot_bottom=baseline,
        bars=bars,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        maximum=maximum,
        unit=unit,
    )
