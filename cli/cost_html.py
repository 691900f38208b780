"""`infra cost --format html`: one self-contained page (no scripts, no network) with charts drawn
as inline SVG: cost by component, cost against predicted latency for the chosen hardware and its
alternatives, and (when the fleet follows the traffic) fleet size and cost by hour of the week,
stacked on-demand and spot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from planner.cost.report import CostReport, WeekCost
from planner.traffic import WEEKDAYS

CHART_WIDTH = 640
BAR_HEIGHT = 26
SCATTER_HEIGHT = 320
MARGIN = 60
HOUR_WIDTH = 4
WEEK_HEIGHT = 160
WEEK_COLOURS = {
    "committed": "#2e8b57",
    "on-demand": "#3b6ea5",
    "spot": "#e0a030",
    "other": "#9aa5b1",
}


@dataclass(frozen=True)
class Segment:
    """One stacked part of an hour's column."""

    x: float
    y: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class WeekChart:
    title: str
    unit: str
    segments: list[Segment]
    top: float
    """The value at the top of the chart's axis."""
    days: list[tuple[float, str]]
    """Where each day starts, and its name."""
    width: int
    height: int
    legend: list[tuple[str, str]]
    """(name, colour) of each stacked part."""


def week_chart(week: WeekCost, title: str, unit: str, stacks: dict[str, list[float]]) -> WeekChart:
    """168 columns, each the stack of `stacks` (legend name → a value per hour)."""
    hours = len(week.on_demand_instances)
    totals = [sum(values[hour] for values in stacks.values()) for hour in range(hours)]
    top = max(totals, default=0.0) or 1.0
    segments = []
    for hour in range(hours):
        base = float(WEEK_HEIGHT)
        for name, values in stacks.items():
            height = WEEK_HEIGHT * values[hour] / top
            if height <= 0:
                continue
            base -= height
            label = f"{WEEKDAYS[hour // 24]} {hour % 24:02d}:00 {name}: {values[hour]:,.4g} {unit}"
            segments.append(
                Segment(MARGIN + hour * HOUR_WIDTH, base, height, WEEK_COLOURS[name], label)
            )
    days = [(MARGIN + day * 24 * HOUR_WIDTH, name) for day, name in enumerate(WEEKDAYS)]
    width = 2 * MARGIN + hours * HOUR_WIDTH
    legend = [(name, WEEK_COLOURS[name]) for name in stacks]
    return WeekChart(title, unit, segments, top, days, width, WEEK_HEIGHT, legend)


def week_charts(week: WeekCost | None) -> list[WeekChart]:
    """Fleet size and cost by hour of the week, stacked on-demand and spot."""
    if week is None:
        return []
    hours = len(week.on_demand_instances)
    committed = week.committed_instances or (0,) * hours
    sizes = {
        "committed": [float(n) for n in committed],
        "on-demand": [
            float(n - c) for n, c in zip(week.on_demand_instances, committed, strict=True)
        ],
        "spot": [float(n) for n in week.spot_instances],
    }
    costs = {
        "committed": list(week.committed_usd),
        "on-demand": list(week.on_demand_usd),
        "spot": list(week.spot_usd),
        "other": [week.other_usd_per_hour] * hours,
    }
    if not week.committed_instances:  # the legend names only what the report has
        del sizes["committed"], costs["committed"]
    return [
        week_chart(week, f"Fleet size by hour of the week ({week.timezone})", "instances", sizes),
        week_chart(week, f"Cost by hour of the week ({week.timezone})", "USD/hour", costs),
    ]


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    width: float
    y: float


@dataclass(frozen=True)
class Point:
    label: str
    x: float
    y: float
    monthly_usd: float
    latency_ms: float
    chosen: bool


def cost_by_category(report: CostReport) -> list[tuple[str, float]]:
    totals: dict[str, float] = {}
    for resource in report.resources:
        for component in resource.components:
            value = component.monthly_usd.expected
            totals[component.category] = totals.get(component.category, 0.0) + value
    # a commitment's credit lowers its category; a category at zero or below has no bar
    return sorted(((k, v) for k, v in totals.items() if v > 0), key=lambda item: -item[1])


def bars(report: CostReport) -> list[Bar]:
    rows = cost_by_category(report)
    largest = max((value for _, value in rows), default=0.0) or 1.0
    usable = CHART_WIDTH - 2 * MARGIN - 120
    return [
        Bar(label, round(value, 2), max(1.0, usable * value / largest), index * BAR_HEIGHT)
        for index, (label, value) in enumerate(rows)
    ]


def points(alternatives: Sequence[dict[str, Any]]) -> list[Point]:
    """Alternatives as {label, monthly_usd, latency_ms, chosen}, placed on the chart's axes."""
    usable = [a for a in alternatives if a.get("latency_ms") is not None]
    if not usable:
        return []
    costs = [a["monthly_usd"] for a in usable]
    latencies = [a["latency_ms"] for a in usable]
    low_cost, high_cost = min(costs), max(costs)
    low_latency, high_latency = min(latencies), max(latencies)
    width = CHART_WIDTH - 2 * MARGIN
    height = SCATTER_HEIGHT - 2 * MARGIN

    def scale(value: float, low: float, high: float, size: float) -> float:
        return size / 2 if high == low else size * (value - low) / (high - low)

    return [
        Point(
            label=a["label"],
            x=MARGIN + scale(a["latency_ms"], low_latency, high_latency, width),
            y=SCATTER_HEIGHT - MARGIN - scale(a["monthly_usd"], low_cost, high_cost, height),
            monthly_usd=a["monthly_usd"],
            latency_ms=a["latency_ms"],
            chosen=bool(a.get("chosen")),
        )
        for a in usable
    ]


def report_html(report: CostReport, alternatives: Sequence[dict[str, Any]] = ()) -> str:
    import jinja2

    from cli.cost_render import savings_rows, summary_lines

    source = files("templates").joinpath("reports/cost.html.j2").read_text(encoding="utf-8")
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=True)
    bar_rows = bars(report)
    return environment.from_string(source).render(
        report=report,
        data=report.to_dict(),
        summary=summary_lines(report, breakdown=False),
        savings=savings_rows(report.savings) if report.savings else [],
        bars=bar_rows,
        bar_chart_height=max(1, len(bar_rows)) * BAR_HEIGHT + 20,
        points=points(alternatives),
        week_charts=week_charts(report.week),
        week_height=WEEK_HEIGHT,
        alternatives=list(alternatives),
        width=CHART_WIDTH,
        scatter_height=SCATTER_HEIGHT,
        margin=MARGIN,
    )
