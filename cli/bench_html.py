"""`infra bench --report PATH.html`: one self-contained page (no scripts, no network) with the
measured latencies against the rate sent, as inline SVG line charts, beside the planner's
predictions and the profile's targets."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from cli import bench_render
from orchestrator.loadtest.run import BenchReport

WIDTH = 640
HEIGHT = 300
MARGIN = 60


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    dashed: bool
    points: str
    """SVG polyline points."""


@dataclass(frozen=True)
class Chart:
    title: str
    series: list[Series]
    target_y: float | None
    target_label: str
    x_labels: list[tuple[float, str]]
    y_labels: list[tuple[float, str]]


def _chart(
    report: BenchReport,
    title: str,
    lines: list[tuple[str, str, bool, list[float | None]]],
    target: float | None,
) -> Chart:
    rates = [step.rate for step in report.steps]
    values = [v for *_, column in lines for v in column if v is not None]
    top = max([*values, target or 0.0, 1e-9]) * 1.1
    low_x, high_x = min(rates), max(rates)

    def x(rate: float) -> float:
        span = high_x - low_x
        inner = WIDTH - 2 * MARGIN
        return MARGIN + (inner / 2 if span == 0 else inner * (rate - low_x) / span)

    def y(value: float) -> float:
        return HEIGHT - MARGIN - (HEIGHT - 2 * MARGIN) * value / top

    series = [
        Series(
            label,
            colour,
            dashed,
            " ".join(
                f"{x(rate):.1f},{y(value):.1f}"
                for rate, value in zip(rates, column, strict=True)
                if value is not None
            ),
        )
        for label, colour, dashed, column in lines
    ]
    return Chart(
        title=title,
        series=series,
        target_y=None if target is None else y(target),
        target_label="" if target is None else f"target {target:g} ms",
        x_labels=[(x(rate), f"{rate:g}") for rate in rates],
        y_labels=[(y(top * i / 4), f"{top * i / 4:,.0f}") for i in range(5)],
    )


def charts(report: BenchReport) -> list[Chart]:
    steps = report.steps
    predicted = [step.predicted for step in steps]
    return [
        _chart(
            report,
            "Time to first token (ms) against requests/s sent",
            [
                ("measured p50", "#3b6ea5", False, [s.ttft_ms.p50 for s in steps]),
                ("measured p95", "#c0392b", False, [s.ttft_ms.p95 for s in steps]),
                ("predicted p95", "#c0392b", True, [p and p.ttft_ms_p95 for p in predicted]),
            ],
            report.targets.ttft_ms_p95,
        ),
        _chart(
            report,
            "Time per output token (ms) against requests/s sent",
            [
                ("measured p50", "#3b6ea5", False, [s.tpot_ms.p50 for s in steps]),
                ("measured p95", "#c0392b", False, [s.tpot_ms.p95 for s in steps]),
                ("predicted", "#3b6ea5", True, [p and p.tpot_ms for p in predicted]),
            ],
            report.targets.tpot_ms,
        ),
        _chart(
            report,
            "End-to-end latency (ms) against requests/s sent",
            [
                ("measured p50", "#3b6ea5", False, [s.e2e_ms.p50 for s in steps]),
                ("measured p95", "#c0392b", False, [s.e2e_ms.p95 for s in steps]),
                ("predicted p95", "#c0392b", True, [p and p.e2e_ms_p95 for p in predicted]),
            ],
            report.targets.e2e_ms_p95,
        ),
    ]


def report_html(report: BenchReport) -> str:
    import jinja2

    source = files("templates").joinpath("reports/bench.html.j2").read_text(encoding="utf-8")
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=True)
    return environment.from_string(source).render(
        report=report,
        heading=bench_render.heading(report),
        header=bench_render.HEADER,
        rows=bench_render.rows(report),
        conclusions=bench_render.conclusions(report),
        charts=charts(report),
        width=WIDTH,
        height=HEIGHT,
        margin=MARGIN,
    )
