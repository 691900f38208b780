"""Published measurements and the performance model's prediction of each, for the bench scripts.

bench/data/perf_calibration.csv holds LLM rows, one measured figure each (`metric`):
- `output_tokens_per_s` of the whole system (`accelerators` accelerators, `tensor_parallel` per
  replica) in one of four modes: `static_batch` (one batch of `max_batch` prompts run to the end),
  `offline` (as many requests as memory and the engine's batch cap allow, no latency limit),
  `server` (the most load whose p95 TTFT and TPOT stay within the limits);
- `tpot_ms` with `max_batch` requests always in flight (`concurrency`);
- `ttft_ms` of one prompt alone (`single_request`).
bench/data/perf_calibration_non_llm.csv holds encoder and vision rows in requests/s.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from planner.accelerators import accelerators
from planner.models import find_model
from planner.performance import (
    Efficiency,
    LlmReplicaModel,
    LlmWorkload,
    ReplicaConfig,
)

DATA = Path(__file__).parent / "data"
LLM_ROWS = DATA / "perf_calibration.csv"
NON_LLM_ROWS = DATA / "perf_calibration_non_llm.csv"
VALIDATION_ROWS = DATA / "perf_validation.csv"
"""Published LLM figures kept out of every fit, to judge the shipped factors on (same columns)."""


@dataclass(frozen=True)
class LlmRow:
    id: str
    model: str
    precision: str
    accelerator: str
    accelerators: int
    tensor_parallel: int
    engine: str
    mode: str
    max_batch: int
    input_tokens: float
    output_tokens: float
    ttft_limit_ms: float | None
    tpot_limit_ms: float | None
    shape: str
    metric: str
    measured: float

    @property
    def replicas(self) -> int:
        return self.accelerators // self.tensor_parallel

    @property
    def label(self) -> str:
        return (
            f"{self.model} {self.precision} {self.accelerators}x{self.accelerator} "
            f"TP{self.tensor_parallel} {self.engine} {self.mode}"
        )


@dataclass(frozen=True)
class NonLlmRow:
    id: str
    model: str
    precision: str
    accelerator: str
    accelerators: int
    gflops_per_request: float
    measured: float

    @property
    def family(self) -> str:
        return find_model(self.model).family

    @property
    def label(self) -> str:
        return f"{self.model} {self.precision} {self.accelerators}x{self.accelerator}"


def _optional(value: str) -> float | None:
    return float(value) if value.strip() else None


def load_llm_rows(path: Path = LLM_ROWS) -> list[LlmRow]:
    with path.open(newline="") as handle:
        return [
            LlmRow(
                id=r["id"],
                model=r["model"],
                precision=r["precision"],
                accelerator=r["accelerator"],
                accelerators=int(r["accelerators"]),
                tensor_parallel=int(r["tensor_parallel"]),
                engine=r["engine"],
                mode=r["mode"],
                max_batch=int(r["max_batch"]),
                input_tokens=float(r["input_tokens"]),
                output_tokens=float(r["output_tokens"]),
                ttft_limit_ms=_optional(r["ttft_limit_ms"]),
                tpot_limit_ms=_optional(r["tpot_limit_ms"]),
                shape=r["shape"],
                metric=r["metric"],
                measured=float(r["measured"]),
            )
            for r in csv.DictReader(handle)
        ]


def load_non_llm_rows(path: Path = NON_LLM_ROWS) -> list[NonLlmRow]:
    with path.open(newline="") as handle:
        return [
            NonLlmRow(
                id=r["id"],
                model=r["model"],
                precision=r["precision"],
                accelerator=r["accelerator"],
                accelerators=int(r["accelerators"]),
                gflops_per_request=float(r["gflops_per_request"]),
                measured=float(r["measured_requests_per_s"]),
            )
            for r in csv.DictReader(handle)
        ]


def replica_model(row: LlmRow, efficiency: Efficiency) -> LlmReplicaModel:
    accelerator = accelerators()[row.accelerator]
    config = ReplicaConfig(
        model=find_model(row.model),
        precision=row.precision,
        accelerator=accelerator,
        accelerator_memory_gib=accelerator.memory_gib,
        tensor_parallel=row.tensor_parallel,
        engine=row.engine,
        max_batch=row.max_batch,
    )
    workload = LlmWorkload(
        input_mean=row.input_tokens,
        input_p95=row.input_tokens,
        output_mean=row.output_tokens,
        output_p95=row.output_tokens,
        ttft_ms_p95=row.ttft_limit_ms,
        tpot_ms=row.tpot_limit_ms,
        online=row.mode == "server",
    )
    return LlmReplicaModel(config, workload, efficiency)


def predict_llm(row: LlmRow, efficiency: Efficiency) -> float | None:
    """The model's figure for the row's metric, or None when it predicts the setup cannot run."""
    model = replica_model(row, efficiency)
    if row.mode == "single_request":
        return model.prefill_seconds(row.input_tokens) * 1e3
    if row.mode == "concurrency":
        batch = row.max_batch
        step = model.step_seconds(batch, batch * row.input_tokens / row.output_tokens)
        return step * 1e3
    if row.mode == "static_batch":
        batch = min(row.max_batch, model.memory_batch_limit)
        if batch < 1:
            return None
        seconds = model.prefill_seconds(
            row.input_tokens, batch
        ) + row.output_tokens * model.step_seconds(batch)
        return row.replicas * batch * row.output_tokens / seconds
    capacity = model.capacity()  # offline (no limits) and server (limits) alike
    if not capacity.feasible:
        return None
    return row.replicas * capacity.requests_per_s * row.output_tokens


def predict_non_llm(row: NonLlmRow, compute_efficiency: float) -> float:
    """Requests/s of the system: a compute-bound batch at the fitted fraction of peak."""
    accelerator = accelerators()[row.accelerator]
    peak = accelerator.compute_flops_per_s(row.precision)
    return row.accelerators * peak * compute_efficiency / (row.gflops_per_request * 1e9)


def percentage_error(predicted: float | None, measured: float) -> float:
    """Absolute percentage error; a setup predicted impossible counts as 100%."""
    if predicted is None:
        return 100.0
    return abs(predicted - measured) / measured * 100


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
