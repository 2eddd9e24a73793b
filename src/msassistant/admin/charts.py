"""The dashboard chart: geometry for an inline SVG bar chart, drawn by a template (so it is escaped too)."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 46


@dataclass
class Bar:
    day: str
    turns: int
    urgent: int
    x: float
    width: float
    y: float
    height: float
    urgent_y: float
    urgent_height: float
    label: str | None  # the date under every few bars


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, int]]  # (y, value) for the horizontal grid lines
    left: int
    right: float
    baseline: float
    maximum: int
    total: int
    urgent: int


def _nice_max(value: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if value <= step * 4:
            return step * 4
    return value


def turns_per_day(days: list[dict]) -> Chart:
    """Bars of turns per day with the urgent part of each bar drawn over it."""
    top = _nice_max(max([d["turns"] for d in days] + [1]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(days))
    bars = []
    every = max(1, len(days) // 8)
    for i, d in enumerate(days):
        h = plot_h * d["turns"] / top
        uh = plot_h * d["urgent"] / top
        x = LEFT + i * slot + slot * 0.15
        base = TOP + plot_h
        bars.append(Bar(day=d["day"], turns=d["turns"], urgent=d["urgent"], x=round(x, 1), width=round(slot * 0.7, 1),
                        y=round(base - h, 1), height=round(h, 1), urgent_y=round(base - uh, 1),
                        urgent_height=round(uh, 1), label=d["day"][5:] if (len(days) - 1 - i) % every == 0 else None))
    ticks = [(round(TOP + plot_h - plot_h * k / 4, 1), top * k // 4) for k in range(5)]
    return Chart(width=WIDTH, height=HEIGHT, bars=bars, ticks=ticks, left=LEFT, right=WIDTH - RIGHT,
                 baseline=TOP + plot_h, maximum=top, total=sum(d["turns"] for d in days),
                 urgent=sum(d["urgent"] for d in days))
