"""Small server-rendered charts: the geometry of a line or bar chart as plain numbers and strings, which a template
draws as inline SVG (no JavaScript, nothing from a CDN, and nothing the Content-Security-Policy forbids)."""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH, HEIGHT, LEFT, BOTTOM, TOP, RIGHT = 640, 200, 48, 24, 12, 12
PALETTE = ["#2459c7", "#c76a24", "#1e7b34", "#8a3fb8", "#b3261e", "#5d6b7a", "#0f7d8c", "#a68b00"]


@dataclass
class Chart:
    """What a template needs to draw one chart; coordinates in the SVG's own units (``WIDTH`` x ``HEIGHT``)."""

    title: str
    width: int = WIDTH
    height: int = HEIGHT
    lines: list[dict] = field(default_factory=list)  # {"name", "colour", "points": "x,y x,y ..."}
    dots: list[dict] = field(default_factory=list)  # {"x", "y", "colour", "label"}
    bars: list[dict] = field(default_factory=list)  # {"x", "y", "w", "h", "colour", "label"}
    y_ticks: list[dict] = field(default_factory=list)  # {"y", "label"}
    x_labels: list[dict] = field(default_factory=list)  # {"x", "label"}
    legend: list[dict] = field(default_factory=list)  # {"name", "colour"}
    empty: bool = False


def _scale(value: float, top: float) -> float:
    return HEIGHT - BOTTOM - (HEIGHT - BOTTOM - TOP) * (value / top if top else 0)


def _ticks(chart: Chart, top: float, fmt: str) -> None:
    chart.y_ticks = [{"y": round(_scale(top * k / 4, top), 1), "label": format(top * k / 4, fmt)} for k in range(5)]


def _x(i: int, n: int) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * (i + 0.5) / max(n, 1)


def line_chart(
    title: str, labels: list[str], series: dict[str, list[float | None]], *, fmt: str = ".2f", marks: list[tuple[int, str, str]] = ()
) -> Chart:
    """Lines over ``labels`` (gaps where a value is None); ``marks`` are (index, colour, label) dots on the first series."""
    chart = Chart(title, empty=not labels)
    values = [v for points in series.values() for v in points if v is not None]
    top = max(values, default=0) * 1.1 or 1.0
    _ticks(chart, top, fmt)
    for colour, (name, points) in zip(PALETTE, series.items()):
        coords = [f"{_x(i, len(labels)):.1f},{_scale(v, top):.1f}" for i, v in enumerate(points) if v is not None]
        chart.lines.append({"name": name, "colour": colour, "points": " ".join(coords)})
        chart.legend.append({"name": name, "colour": colour})
    first = next(iter(series.values()), [])
    for i, colour, label in marks:
        value = first[i] if i < len(first) and first[i] is not None else 0
        chart.dots.append({"x": round(_x(i, len(labels)), 1), "y": round(_scale(value, top), 1), "colour": colour, "label": label})
    chart.x_labels = _sparse_labels(labels)
    return chart


def bar_chart(title: str, labels: list[str], stacks: dict[str, list[float]], *, fmt: str = ".0f") -> Chart:
    """Stacked bars over ``labels``: one stack per label, one colour per key of ``stacks``."""
    chart = Chart(title, empty=not labels)
    totals = [sum(values[i] for values in stacks.values()) for i in range(len(labels))]
    top = max(totals, default=0) * 1.1 or 1.0
    _ticks(chart, top, fmt)
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    for i, label in enumerate(labels):
        base = 0.0
        for colour, (name, values) in zip(PALETTE, stacks.items()):
            if values[i] <= 0:
                continue
            y_top, y_base = _scale(base + values[i], top), _scale(base, top)
            chart.bars.append(
                {
                    "x": round(LEFT + slot * i + slot * 0.15, 1),
                    "y": round(y_top, 1),
                    "w": round(slot * 0.7, 1),
                    "h": round(y_base - y_top, 1),
                    "colour": colour,
                    "label": f"{label}: {name} {format(values[i], fmt)}",
                }
            )
            base += values[i]
    chart.legend = [{"name": name, "colour": colour} for colour, name in zip(PALETTE, stacks)] if len(stacks) > 1 else []
    chart.x_labels = _sparse_labels(labels)
    return chart


def _sparse_labels(labels: list[str], most: int = 8) -> list[dict]:
    every = max(1, -(-len(labels) // most))
    return [{"x": round(_x(i, len(labels)), 1), "label": label} for i, label in enumerate(labels) if i % every == 0]
