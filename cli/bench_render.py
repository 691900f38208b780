"""`infra bench` output: text lines, a markdown table, and the conclusions both share."""

from __future__ import annotations

from orchestrator.loadtest.run import BenchReport
from orchestrator.loadtest.summary import Spread, StepSummary


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _spread(spread: Spread) -> str:
    return "/".join(_ms(v) for v in (spread.p50, spread.p95, spread.p99))


def _errors(step: StepSummary) -> str:
    return ", ".join(f"{count} {kind}" for kind, count in sorted(step.errors.items())) or "0"


def _predicted(step: StepSummary) -> str:
    p = step.predicted
    return "beyond capacity" if p is None else f"{_ms(p.ttft_ms_p95)} / {_ms(p.tpot_ms)}"


LAG_NOTE_MS = 10.0
"""Send lag worth a sentence: the load sent fell short of the schedule."""

HEADER = (
    "rate/s",
    "done/s",
    "out tok/s",
    "TTFT p50/p95/p99 ms",
    "TPOT p50/p95/p99 ms",
    "E2E p50/p95/p99 ms",
    "errors",
    "predicted TTFT p95 / TPOT",
    "targets",
)


def rows(report: BenchReport) -> list[tuple[str, ...]]:
    return [
        (
            f"{step.rate:g}",
            f"{step.requests_per_s:.2f}",
            f"{step.output_tokens_per_s:,.0f}",
            _spread(step.ttft_ms),
            _spread(step.tpot_ms),
            _spread(step.e2e_ms),
            _errors(step),
            _predicted(step),
            "hold" if step.holds else "; ".join(step.broken),
        )
        for step in report.steps
    ]


def heading(report: BenchReport) -> str:
    t = report.target
    return (
        f"{report.profile} ({report.env}): {t['cloud']}/{t['kind']} {t['instance_type']}, "
        f"{t['accelerator']} (tensor parallel {t['tensor_parallel']}), {report.replicas} "
        f"replica(s) at {report.url}"
    )


def conclusions(report: BenchReport) -> list[str]:
    t = report.targets
    given = [
        f"{name} ≤ {value:g} ms"
        for name, value in (
            ("TTFT p95", t.ttft_ms_p95),
            ("TPOT p50", t.tpot_ms),
            ("end-to-end p95", t.e2e_ms_p95),
        )
        if value is not None
    ]
    lines = []
    held, broke = report.holds_up_to, report.breaks_at
    what = f"targets ({', '.join(given)})" if given else "no latency targets; errors and keeping up"
    if broke is None:
        lines.append(f"The {what} held at every rate, up to {held:g} requests/s.")
    else:
        step = next(s for s in report.steps if s.rate == broke)
        upto = f"held up to {held:g} requests/s and " if held is not None else ""
        lines.append(
            f"The {what} {upto}stopped holding at {broke:g} requests/s ({'; '.join(step.broken)})."
        )
    lines.append(
        f"The endpoint completed at most {report.saturation_requests_per_s:.2f} requests/s."
    )
    lag = max((step.lag_ms.p99 or 0.0 for step in report.steps), default=0.0)
    if lag > LAG_NOTE_MS:
        lines.append(
            f"This client sent requests up to {lag:,.0f} ms (p99) behind their schedule: a busy "
            "machine sends less than the rate (latencies count from each actual send)."
        )
    if report.predicted_capacity_requests_per_s is not None:
        lines.append(
            f"The planner predicts {report.predicted_capacity_requests_per_s:.2f} requests/s "
            f"within the targets for {report.replicas} replica(s) of this accelerator."
        )
    return lines


def text(report: BenchReport) -> str:
    table = [HEADER, *rows(report)]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    lines = [heading(report), ""]
    lines += ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in table]
    return "\n".join([*lines, "", *conclusions(report)])


def markdown(report: BenchReport) -> str:
    lines = [f"# Bench of {report.profile}", "", heading(report), ""]
    lines.append("| " + " | ".join(HEADER) + " |")
    lines.append("|" + "---|" * len(HEADER))
    lines += ["| " + " | ".join(row) + " |" for row in rows(report)]
    return "\n".join([*lines, "", *(f"- {line}" for line in conclusions(report)), ""])
