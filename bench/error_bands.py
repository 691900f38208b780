"""Held-out residuals of the performance model and the error bands written next to its factors.

A residual is log(measured speed / predicted speed) of a row predicted by factors fitted without
it (k-fold cross-validation): log(measured / predicted) for throughput rows, log(predicted /
measured) for latency rows, so that positive always means faster than predicted. A setup the
model calls impossible although it was measured counts as log 3 faster.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench.calibration import LlmRow, median

MIN_ROWS = 5
"""Published rows an accelerator needs for its own error band (fewer: the pooled band, widened)."""
MIN_ROWS_FACTOR = 3
"""Published rows an accelerator needs for its own efficiency factor, which the fit still pulls
towards the pooled one (fewer: the pooled factors)."""
LATENCY_METRICS = {"tpot_ms", "ttft_ms"}
IMPOSSIBLE_RESIDUAL = math.log(3)
RULE = (
    "an accelerator (or accelerator/engine) with min_rows held-out rows or more gets its own band; "
    "otherwise the pooled bias with unseen_spread = sqrt(pooled spread^2 + accelerator_spread^2), "
    "accelerator_spread being the spread of the per-accelerator median residuals (accelerators "
    "with two rows or more): an accelerator the rows do not describe may sit anywhere the "
    "described ones do, on top of the scatter every prediction has."
)


def residual(row: LlmRow, predicted: float | None) -> float:
    if predicted is None or predicted <= 0:
        return IMPOSSIBLE_RESIDUAL
    ratio = math.log(row.measured / predicted)
    return -ratio if row.metric in LATENCY_METRICS else ratio


def spread(values: Sequence[float], centre: float) -> float:
    """Root mean square distance from the centre (the median), with the n-1 correction: not
    robust on purpose, an odd published figure is a real risk for whoever sizes on the band."""
    if len(values) < 2:
        return 0.0
    return math.sqrt(sum((v - centre) ** 2 for v in values) / (len(values) - 1))


def band(values: Sequence[float]) -> dict[str, float | int]:
    centre = median(list(values))
    return {
        "rows": len(values),
        "bias": round(centre, 4),
        "spread": round(spread(values, centre), 4),
    }


def error_bands(rows: Sequence[LlmRow], residuals: dict[str, float]) -> dict:
    """The `error_bands` section of efficiency.yaml."""
    groups: dict[str, list[float]] = {}
    for row in rows:
        groups.setdefault(row.accelerator, []).append(residuals[row.id])
        groups.setdefault(f"{row.accelerator}/{row.engine}", []).append(residuals[row.id])
    pooled = band(list(residuals.values()))
    biases = [median(v) for k, v in groups.items() if "/" not in k and len(v) >= 2]
    between = spread(biases, median(biases)) if len(biases) >= 2 else 0.0
    unseen = math.hypot(pooled["spread"], between)
    return {
        "rule": RULE,
        "min_rows": MIN_ROWS,
        "pooled": pooled,
        "accelerator_spread": round(between, 4),
        "unseen_spread": round(unseen, 4),
        "groups": {key: band(values) for key, values in sorted(groups.items())},
    }
