"""`infra cost --format html`: one self-contained page (no scripts, no network) with two charts
drawn as inline SVG: cost by component, and cost against predicted latency for the chosen
hardware and its alternatives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from planner.cost.report import CostReport

CHART_WIDTH = 640
BAR_HEIGHT = 26
SCATTER_HEIGHT = 320
MARGIN = 60


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
            if value > 0:
                totals[component.category] = totals.get(component.category, 0.0) + value
    return sorted(totals.items(), key=lambda item: -item[1])


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

    from cli.cost_render import summary_lines

    source = files("templates").joinpath("reports/cost.html.j2").read_text(encoding="utf-8")
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=True)
    bar_rows = bars(report)
    return environment.from_string(source).render(
        report=report,
        data=report.to_dict(),
        summary=summary_lines(report),
        bars=bar_rows,
        bar_chart_height=max(1, len(bar_rows)) * BAR_HEIGHT + 20,
        points=points(alternatives),
        alternatives=list(alternatives),
        width=CHART_WIDTH,
        scatter_height=SCATTER_HEIGHT,
        margin=MARGIN,
    )
