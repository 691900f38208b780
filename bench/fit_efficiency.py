"""Fit the performance model's efficiency factors to published measurements.

    .venv/bin/python -m bench.fit_efficiency            # fit, print, write the efficiency.yaml
    .venv/bin/python -m bench.fit_efficiency --dry-run  # fit and print only

Parameters, all multiplicative and fitted in log space by coordinate descent (golden-section
search on one parameter at a time) to minimise the absolute log error over every row of
bench/data/perf_calibration.csv:
- the default (pooled) fraction of peak compute, of peak bandwidth when streaming the weights and
  when reading the KV cache, the per-step overhead, the compute utilisation an online server
  sustains (fitted on the Server rows against their Offline pairs) and the all-reduce bandwidth
  of accelerators joined by PCIe only (the tensor-parallel L40S, H100 PCIe and A10G rows);
- per serving engine (vllm, tgi, neuronx; TensorRT-LLM under Triton is the reference): one factor
  on compute, one on the KV-cache bandwidth (attention kernels differ between engines; streaming
  the weights does not, so a batch of one is bounded by the hardware alone) and one on the step
  overhead;
- per accelerator with MIN_ROWS_FACTOR rows or more (bench/error_bands.py): one factor on
  compute and bandwidth together, pulled towards 1 by a penalty so that a single odd row cannot
  drag an accelerator far from the rest; every other accelerator gets the pooled factors.
The fit runs in two stages (`fit`): the default and engine factors on every row with no
per-accelerator factor, so the defaults are the pooled fit; then the per-accelerator factors.
Non-LLM compute efficiency is the median over each accelerator's rows of measured / peak.
"""

from __future__ import annotations

import argparse
import datetime
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import yaml

from bench.calibration import (
    LlmRow,
    NonLlmRow,
    load_llm_rows,
    load_non_llm_rows,
    median,
    predict_llm,
    predict_non_llm,
)
from bench.error_bands import MIN_ROWS_FACTOR, error_bands, residual
from planner.datafiles import PLANNER_DATA
from planner.performance import Efficiency, efficiency_table

REFERENCE_ENGINE = "triton"
PRIOR_WEIGHT = 0.5
"""Penalty per unit of |log| of an accelerator or engine factor: moving a factor 2x away from 1
must improve the rows' summed |log error| by at least 0.35 to pay for itself."""
IMPOSSIBLE_PENALTY = math.log(3)
MAX_FRACTION_OF_PEAK = 0.95
SEARCH_HALF_WIDTH = 1.6  # log-space: factors between 0.2x and 5x of the current value
BOUNDS = {
    "compute": (0.2, MAX_FRACTION_OF_PEAK),
    "bandwidth": (0.75, MAX_FRACTION_OF_PEAK),
    "kv_bandwidth": (0.2, MAX_FRACTION_OF_PEAK),
    "step_overhead_ms": (0.3, 5.0),
    "online_utilization": (0.85, 1.0),
    "pcie_allreduce_gb_s": (2.0, 32.0),
    "engine_compute": (0.25, 2.0),
    "engine_bandwidth": (0.25, 2.0),
    "engine_overhead": (0.25, 10.0),
    "accelerator_speed": (0.5, 1.6),
}
"""Physically plausible ranges. Without them the fit trades one factor for another where the rows
cannot tell them apart (a step overhead for a bandwidth, an online ceiling for an accelerator's
optimism), which matches these rows and misleads everywhere else. Streaming the weights (GEMV at
batch 1, GEMM above) reaches 75-95% of peak bandwidth on every engine (the single-stream A100 row
reads 77%); a scheduler step costs a fraction of a millisecond to a few; MLPerf's latency-bound
Server scenario reaches 0.90-0.94 of Offline (medians over submissions), so an online ceiling
much below 0.85 would be a fudge for something else."""


@dataclass
class Parameters:
    compute: float = 0.5
    bandwidth: float = 0.8
    kv_bandwidth: float = 0.5
    step_overhead_ms: float = 2.0
    online_utilization: float = 0.9
    pcie_allreduce_gb_s: float = 12.0
    engine_compute: dict[str, float] = field(default_factory=dict)
    engine_bandwidth: dict[str, float] = field(default_factory=dict)
    engine_overhead: dict[str, float] = field(default_factory=dict)
    accelerator_speed: dict[str, float] = field(default_factory=dict)

    def efficiency(self, row: LlmRow) -> Efficiency:
        base = efficiency_table().default
        speed = self.accelerator_speed.get(row.accelerator, 1.0)
        compute = min(self.compute * speed, MAX_FRACTION_OF_PEAK)
        bandwidth = min(self.bandwidth * speed, MAX_FRACTION_OF_PEAK)
        kv_bandwidth = min(self.kv_bandwidth * speed, MAX_FRACTION_OF_PEAK)
        engine_bandwidth = self.engine_bandwidth.get(row.engine, 1.0)
        return Efficiency(
            compute=compute * self.engine_compute.get(row.engine, 1.0),
            bandwidth=bandwidth,
            kv_bandwidth=min(kv_bandwidth * engine_bandwidth, MAX_FRACTION_OF_PEAK),
            step_overhead_ms=self.step_overhead_ms * self.engine_overhead.get(row.engine, 1.0),
            memory_utilization=base.memory_utilization,
            reserve_gib=base.reserve_gib,
            online_utilization=self.online_utilization,
            pcie_allreduce_gb_s=self.pcie_allreduce_gb_s,
        )

    def names(self) -> list[tuple[str, str | None]]:
        fields: list[tuple[str, str | None]] = [
            ("compute", None),
            ("bandwidth", None),
            ("kv_bandwidth", None),
            ("step_overhead_ms", None),
            ("online_utilization", None),
            ("pcie_allreduce_gb_s", None),
        ]
        fields += [("engine_compute", name) for name in self.engine_compute]
        fields += [("engine_bandwidth", name) for name in self.engine_bandwidth]
        fields += [("engine_overhead", name) for name in self.engine_overhead]
        fields += [("accelerator_speed", name) for name in self.accelerator_speed]
        return fields

    def get(self, name: str, key: str | None) -> float:
        return getattr(self, name) if key is None else getattr(self, name)[key]

    def set(self, name: str, key: str | None, value: float) -> None:
        if key is None:
            setattr(self, name, value)
        else:
            getattr(self, name)[key] = value

    def copy(self) -> Parameters:
        return Parameters(
            self.compute,
            self.bandwidth,
            self.kv_bandwidth,
            self.step_overhead_ms,
            self.online_utilization,
            self.pcie_allreduce_gb_s,
            dict(self.engine_compute),
            dict(self.engine_bandwidth),
            dict(self.engine_overhead),
            dict(self.accelerator_speed),
        )


def starting_parameters(rows: Sequence[LlmRow]) -> Parameters:
    engines = sorted({r.engine for r in rows} - {REFERENCE_ENGINE})
    per_accelerator = Counter(r.accelerator for r in rows)
    return Parameters(
        engine_compute=dict.fromkeys(engines, 1.0),
        engine_bandwidth=dict.fromkeys(engines, 1.0),
        engine_overhead=dict.fromkeys(engines, 1.0),
        accelerator_speed={
            name: 1.0 for name, n in sorted(per_accelerator.items()) if n >= MIN_ROWS_FACTOR
        },
    )


def row_loss(row: LlmRow, params: Parameters) -> float:
    predicted = predict_llm(row, params.efficiency(row))
    if predicted is None or predicted <= 0:
        return IMPOSSIBLE_PENALTY
    return abs(math.log(predicted / row.measured))


def loss(rows: Sequence[LlmRow], params: Parameters) -> float:
    """Absolute log errors (robust: an odd row costs in proportion, not squared) plus the prior."""
    factors = [
        *params.accelerator_speed.values(),
        *params.engine_compute.values(),
        *params.engine_bandwidth.values(),
    ]
    prior = sum(abs(math.log(v)) for v in factors)
    return sum(row_loss(r, params) for r in rows) + PRIOR_WEIGHT * prior


def _golden_section(objective, low: float, high: float, steps: int) -> float:
    ratio = (math.sqrt(5) - 1) / 2
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = objective(c), objective(d)
    for _ in range(steps):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = objective(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = objective(d)
    return (a + b) / 2


def fit(
    rows: Sequence[LlmRow], start: Parameters | None = None, sweeps: int = 4, steps: int = 18
) -> Parameters:
    """Two stages, so that the default factors are the pooled fit of every row: first every
    factor but the per-accelerator ones (held at 1), then those alone with the rest fixed."""
    start = (start or starting_parameters(rows)).copy()
    speeds = start.accelerator_speed
    start.accelerator_speed = {}
    pooled = _descend(rows, start, lambda name: name != "accelerator_speed", sweeps, steps)
    pooled.accelerator_speed = speeds
    return _descend(rows, pooled, lambda name: name == "accelerator_speed", sweeps, steps)


def _descend(
    rows: Sequence[LlmRow],
    start: Parameters,
    free: Callable[[str], bool],
    sweeps: int,
    steps: int,
) -> Parameters:
    """Coordinate descent over the free parameters; a coordinate keeps its old value unless the
    new one lowers the loss."""
    params = start.copy()
    for _ in range(sweeps):
        for name, key in params.names():
            if not free(name):
                continue
            current = params.get(name, key)
            best_loss = loss(rows, params)

            def objective(
                log_value: float,
                name: str = name,
                key: str | None = key,
                base: Parameters = params,
            ) -> float:
                trial = base.copy()
                trial.set(name, key, math.exp(log_value))
                return loss(rows, trial)

            low, high = (math.log(bound) for bound in BOUNDS[name])
            centre = math.log(current)
            candidate = math.exp(
                _golden_section(
                    objective,
                    max(low, centre - SEARCH_HALF_WIDTH),
                    min(high, centre + SEARCH_HALF_WIDTH),
                    steps,
                )
            )
            trial = params.copy()
            trial.set(name, key, candidate)
            if loss(rows, trial) < best_loss:
                params = trial
    return params


def cross_validated_predictions(
    rows: Sequence[LlmRow], folds: int, full: Parameters | None = None
) -> dict[str, float | None]:
    """Refit on all rows but one fold (warm-started from the full fit), predict the fold."""
    full = full or fit(rows)
    predictions: dict[str, float | None] = {}
    for fold in range(folds):
        held_out = [r for i, r in enumerate(rows) if i % folds == fold]
        training = [r for i, r in enumerate(rows) if i % folds != fold]
        start = starting_parameters(training)
        start.compute, start.bandwidth = full.compute, full.bandwidth
        start.kv_bandwidth = full.kv_bandwidth
        start.step_overhead_ms = full.step_overhead_ms
        start.online_utilization = full.online_utilization
        start.pcie_allreduce_gb_s = full.pcie_allreduce_gb_s
        params = fit(training, start, sweeps=2)
        for row in held_out:
            predictions[row.id] = predict_llm(row, params.efficiency(row))
    return predictions


def fit_non_llm(rows: Sequence[NonLlmRow]) -> dict[str, float]:
    """Per model family, the median of measured / (peak / FLOPs per request); `default` (for
    families with no rows, e.g. speech) is the lowest family's, the cautious choice."""
    ratios: dict[str, list[float]] = {}
    for row in rows:
        ratios.setdefault(row.family, []).append(row.measured / predict_non_llm(row, 1.0))
    fitted = {family: round(median(values), 3) for family, values in sorted(ratios.items())}
    return {"default": min(fitted.values()), **fitted}


def efficiency_document(
    params: Parameters, non_llm: dict[str, float], rows: int, bands: dict
) -> dict:
    base = efficiency_table().default
    accelerators = {
        name: {
            "compute": round(min(params.compute * factor, MAX_FRACTION_OF_PEAK), 4),
            "bandwidth": round(min(params.bandwidth * factor, MAX_FRACTION_OF_PEAK), 4),
            "kv_bandwidth": round(min(params.kv_bandwidth * factor, MAX_FRACTION_OF_PEAK), 4),
        }
        for name, factor in params.accelerator_speed.items()
    }
    engines = {
        name: {
            "compute": round(params.engine_compute[name], 4),
            "kv_bandwidth": round(params.engine_bandwidth[name], 4),
            "step_overhead_ms": round(params.engine_overhead[name], 4),
        }
        for name in params.engine_compute
    }
    engines.setdefault(REFERENCE_ENGINE, {})
    return {
        "fitted": f"{datetime.date.today().isoformat()} by bench/fit_efficiency.py on {rows} rows "
        "of bench/data/perf_calibration.csv",
        "default": {
            "compute": round(params.compute, 4),
            "bandwidth": round(params.bandwidth, 4),
            "kv_bandwidth": round(params.kv_bandwidth, 4),
            "step_overhead_ms": round(params.step_overhead_ms, 3),
            "memory_utilization": base.memory_utilization,
            "reserve_gib": base.reserve_gib,
            "online_utilization": round(params.online_utilization, 4),
            "pcie_allreduce_gb_s": round(params.pcie_allreduce_gb_s, 2),
        },
        "accelerators": accelerators,
        "engines": engines,
        "non_llm_compute": non_llm,
        "error_bands": bands,
    }


HEADER = """\
# Efficiency factors of the performance model (planner/performance.py).
# Written by bench/fit_efficiency.py from bench/data/perf_calibration*.csv; edit by re-fitting.
# default (pooled over every row): fractions of peak compute, of peak bandwidth streaming the
#   weights and reading the KV cache, fixed cost of one scheduler step, the compute utilisation an
#   online (latency-bound) server sustains, all-reduce GB/s between accelerators joined by PCIe.
# accelerators: absolute fractions of peak for accelerators with three or more published rows;
#   any other accelerator uses the default (pooled) factors.
# engines: multipliers on compute, KV-cache bandwidth and step overhead (TensorRT-LLM under Triton
#   is the reference; weight streaming is the hardware's, the same for every engine);
#   neuronx is transformers-neuronx, the engine of the Inferentia2 rows.
# non_llm_compute: per model family, measured requests/s over (peak / FLOPs per request), median of
#   the rows; above 1 means the FLOPs estimate of models.yaml counts more than the kernels execute.
# error_bands: held-out (k-fold) log residuals, log(measured speed / predicted speed), per
#   accelerator and per accelerator/engine: rows, median (bias) and spread; see `rule`.
"""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print, do not write the file")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds of the bands")
    args = parser.parse_args(argv)
    rows = load_llm_rows()
    params = fit(rows)
    held_out = cross_validated_predictions(rows, args.folds, params)
    residuals = {row.id: residual(row, held_out[row.id]) for row in rows}
    document = efficiency_document(
        params, fit_non_llm(load_non_llm_rows()), len(rows), error_bands(rows, residuals)
    )
    text = HEADER + yaml.safe_dump(document, sort_keys=False)
    print(text)
    if not args.dry_run:
        target = PLANNER_DATA / "efficiency.yaml"
        target.write_text(text)
        print(f"wrote {target}; now run: .venv/bin/python -m bench.perf_model_error")


if __name__ == "__main__":
    main()
