"""Figures of one load step, and whether the profile's targets held at it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from orchestrator.loadtest.client import StepRun

PERCENTILES = (50, 95, 99)
MAX_ERROR_SHARE = 0.01
"""Targets do not hold at a rate where more than 1% of the requests fail."""
MIN_THROUGHPUT_SHARE = 0.9
"""...nor where the endpoint completes fewer than 90% of the requests per second sent to it."""


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile, interpolated between the closest ranks (None without values)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Spread:
    """p50, p95 and p99 in milliseconds (None when no request measured it)."""

    p50: float | None
    p95: float | None
    p99: float | None

    @classmethod
    def of_seconds(cls, values: Sequence[float]) -> Spread:
        found = [percentile(values, q) for q in PERCENTILES]
        return cls(*(None if v is None else round(v * 1000, 2) for v in found))


@dataclass(frozen=True)
class Predicted:
    """What the planner's performance model predicts for one replica at this load."""

    ttft_ms_p95: float | None
    tpot_ms: float | None
    e2e_ms_p95: float | None


@dataclass(frozen=True)
class Targets:
    ttft_ms_p95: float | None
    tpot_ms: float | None
    e2e_ms_p95: float | None


@dataclass
class StepSummary:
    rate: float
    """Requests per second sent (the Poisson rate)."""
    requests: int
    succeeded: int
    errors: dict[str, int]
    ttft_ms: Spread
    tpot_ms: Spread
    e2e_ms: Spread
    lag_ms: Spread
    """How late requests were sent against their Poisson schedule (the client falling behind)."""
    sent_per_s: float
    """Requests per second sent (measured: a Poisson draw is near, not at, the rate)."""
    requests_per_s: float
    """Completed requests per second, from the first answer to the last."""
    output_tokens_per_s: float
    duration_s: float
    predicted: Predicted | None = None
    broken: list[str] = field(default_factory=list)
    """Why the targets do not hold at this rate (empty: they hold)."""

    @property
    def holds(self) -> bool:
        return not self.broken

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "holds": self.holds}


def _per_second(times: Sequence[float]) -> float:
    """Events per second between the first and the last of them: unbiased by the time before
    the first and after the last, which a short step would otherwise count."""
    if len(times) < 2 or max(times) == min(times):
        return 0.0
    return (len(times) - 1) / (max(times) - min(times))


def summarize(rate: float, run: StepRun, targets: Targets) -> StepSummary:
    good = [r for r in run.results if r.ok]
    done = [
        t + r.lag_s + r.e2e_s for t, r in zip(run.arrivals, run.results, strict=True) if r.e2e_s
    ]
    completed = _per_second(done)
    sends = [t + r.lag_s for t, r in zip(run.arrivals, run.results, strict=True)]
    mean_tokens = sum(r.output_tokens for r in good) / len(good) if good else 0.0
    summary = StepSummary(
        rate=rate,
        requests=len(run.results),
        succeeded=len(good),
        errors=dict(Counter(r.error for r in run.results if not r.ok)),
        ttft_ms=Spread.of_seconds([r.ttft_s for r in good if r.ttft_s is not None]),
        tpot_ms=Spread.of_seconds([r.tpot_s for r in good if r.tpot_s is not None]),
        e2e_ms=Spread.of_seconds([r.e2e_s for r in good if r.e2e_s is not None]),
        lag_ms=Spread.of_seconds([r.lag_s for r in run.results]),
        sent_per_s=round(_per_second(sends), 3),
        requests_per_s=round(completed, 3),
        output_tokens_per_s=round(completed * mean_tokens, 1),
        duration_s=round(run.elapsed_s, 3),
    )
    summary.broken = broken_targets(summary, targets)
    return summary


def broken_targets(step: StepSummary, targets: Targets) -> list[str]:
    """Each target the step misses, as a phrase. TPOT is compared at its median: the model's
    TPOT is the steady step time every token waits, not a tail."""
    broken: list[str] = []
    for name, measured, target in (
        ("TTFT p95", step.ttft_ms.p95, targets.ttft_ms_p95),
        ("TPOT p50", step.tpot_ms.p50, targets.tpot_ms),
        ("end-to-end p95", step.e2e_ms.p95, targets.e2e_ms_p95),
    ):
        if target is not None and measured is not None and measured > target:
            broken.append(f"{name} {measured:,.0f} ms > {target:g} ms")
    failed = step.requests - step.succeeded
    if step.requests and failed / step.requests > MAX_ERROR_SHARE:
        broken.append(f"{failed} of {step.requests} requests failed")
    if step.requests_per_s < MIN_THROUGHPUT_SHARE * step.sent_per_s:
        broken.append(f"completed {step.requests_per_s:.2f}/s of {step.sent_per_s:.2f}/s sent")
    return broken
