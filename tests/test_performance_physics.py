"""Physics the shipped performance model must respect whatever the fit says: a batch of one
cannot beat the memory-bandwidth floor nor sit far above it on an accelerator without rows, and
online serving (random arrivals, latency targets) carries less than an offline job on the same
replica."""

from __future__ import annotations

import pytest

from planner.accelerators import accelerators
from planner.models import find_model
from planner.performance import (
    BYTES_PER_PARAM,
    LlmReplicaModel,
    LlmWorkload,
    ReplicaConfig,
    error_band,
)

CHAT = {"input_mean": 512, "input_p95": 1024, "output_mean": 256, "output_p95": 512}


def replica(
    model: str,
    precision: str,
    accelerator: str,
    engine: str,
    workload: LlmWorkload,
    tensor_parallel: int = 1,
    max_batch: int = 256,
) -> LlmReplicaModel:
    spec = find_model(model)
    assert spec is not None
    chip = accelerators()[accelerator]
    config = ReplicaConfig(
        model=spec,
        precision=precision,
        accelerator=chip,
        accelerator_memory_gib=chip.memory_gib,
        tensor_parallel=tensor_parallel,
        engine=engine,
        max_batch=max_batch,
    )
    return LlmReplicaModel(config, workload)


def bandwidth_floor_ms(model: str, precision: str, accelerator: str) -> float:
    spec = find_model(model)
    assert spec is not None
    weights = spec.total_params * BYTES_PER_PARAM[precision]
    return weights / accelerators()[accelerator].bandwidth_bytes_per_s * 1e3


@pytest.mark.parametrize(
    ("model", "precision"),
    [("llama-2-7b", "fp16"), ("mistral-7b", "bf16"), ("qwen2.5-7b", "bf16")],
)
def test_batch_of_one_on_l4_sits_near_the_bandwidth_floor(model: str, precision: str) -> None:
    """L4 has no calibration row: the pooled factors, with vLLM (the default engine), must give
    a decode step within 1.3x of reading the weights once at peak bandwidth, and never below it
    (a conservative constant once put it at 2x)."""
    assert error_band("L4", "vllm").pooled
    point = replica(model, precision, "L4", "vllm", LlmWorkload(**CHAT)).operating_point(1e-6)
    assert point is not None
    floor = bandwidth_floor_ms(model, precision, "L4")
    assert floor <= point.tpot_ms <= 1.3 * floor, (point.tpot_ms, floor)


@pytest.mark.parametrize("engine", ["vllm", "tgi", "triton"])
@pytest.mark.parametrize("accelerator", ["H100", "H200", "A100-80GB", "L40S", "L4", "A10G", "T4"])
def test_batch_of_one_never_beats_the_bandwidth_floor(accelerator: str, engine: str) -> None:
    precision = "fp16"
    point = replica(
        "llama-3.1-8b", precision, accelerator, engine, LlmWorkload(**CHAT)
    ).operating_point(1e-6)
    if point is None:  # 16 GB of weights do not leave room on a T4
        return
    assert point.tpot_ms >= bandwidth_floor_ms("llama-3.1-8b", precision, accelerator)


@pytest.mark.parametrize(
    ("model", "precision", "accelerator", "tensor_parallel", "engine"),
    [
        ("llama-3.1-8b", "fp8", "H100", 1, "vllm"),
        ("llama-3.1-8b", "fp8", "L40S", 1, "vllm"),
        ("llama-3.1-8b", "bf16", "L4", 1, "vllm"),
        ("llama-3.1-8b", "bf16", "A10G", 1, "tgi"),
        ("llama-2-70b", "fp8", "H100", 2, "triton"),
        ("llama-2-70b", "fp8", "H100-NVL", 2, "triton"),
    ],
)
def test_online_serving_carries_less_than_offline(
    model: str, precision: str, accelerator: str, tensor_parallel: int, engine: str
) -> None:
    """MLPerf's latency-bounded Server scenario reaches about 0.9 of Offline; the model must
    never predict an online replica at or above the offline one."""
    shape = {"input_mean": 780, "input_p95": 780, "output_mean": 128, "output_p95": 128}
    offline = LlmWorkload(**shape, online=False)
    online = LlmWorkload(**shape, ttft_ms_p95=2000, tpot_ms=100)
    args = (model, precision, accelerator, engine)
    offline_rate = replica(*args, offline, tensor_parallel).capacity().requests_per_s
    online_rate = replica(*args, online, tensor_parallel).capacity().requests_per_s
    assert 0 < online_rate < offline_rate
    assert online_rate > 0.5 * offline_rate, "an online cost this large would be a bug"


def test_online_without_targets_still_leaves_room_for_fluctuation() -> None:
    """The queue for a batch slot is the cost of random arrivals, not of a latency target."""
    shape = {"input_mean": 250, "input_p95": 250, "output_mean": 290, "output_p95": 290}
    args = ("llama-2-70b", "fp8", "H200", "triton")
    offline = replica(*args, LlmWorkload(**shape, online=False), max_batch=1024).capacity()
    online = replica(*args, LlmWorkload(**shape), max_batch=1024).capacity()
    assert online.requests_per_s < offline.requests_per_s
    assert online.at_capacity is not None and offline.at_capacity is not None
    assert online.at_capacity.batch < offline.at_capacity.batch


def test_offline_capacity_reaches_the_batch_cap() -> None:
    """Near saturation the steady batch must still be found: an offline job fills the engine's
    batch cap (a fixed-point iteration that gave up near 85% utilisation once capped it there)."""
    shape = {"input_mean": 250, "input_p95": 250, "output_mean": 290, "output_p95": 290}
    model = replica(
        "llama-2-70b", "fp8", "H200", "triton", LlmWorkload(**shape, online=False), max_batch=512
    )
    capacity = model.capacity()
    assert capacity.at_capacity is not None
    assert capacity.at_capacity.batch == pytest.approx(512, rel=0.01)


def test_steady_batch_solves_littles_law() -> None:
    model = replica("llama-3.1-8b", "bf16", "A10G", "vllm", LlmWorkload(**CHAT))
    for rate in (0.01, 0.3, 1.0):
        batch = model.steady_batch(rate)
        assert batch is not None
        step = model.step_seconds(batch, batch * model.prefill_ratio)
        assert batch == pytest.approx(max(1.0, rate * CHAT["output_mean"] * step), rel=1e-4)
    assert model.steady_batch(1e6) is None
