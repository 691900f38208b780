"""Performance model: memory fit, throughput and latency of one replica on one accelerator type.

LLM serving with continuous batching and chunked prefill (vLLM, TGI, TensorRT-LLM) is modelled as a
sequence of steps. Each step carries the B sequences in decode (one token each) plus the prefill
tokens of new requests. A step costs the larger of its memory time (weights read once, plus every
in-flight sequence's KV cache) and its compute time (2 FLOPs per active parameter per token), plus a
fixed per-step overhead and the tensor-parallel all-reduces. Peak figures are scaled by efficiency
factors fitted to published measurements (planner/data/efficiency.yaml, `bench/fit_efficiency.py`).

In steady state at r requests/s, Little's law gives B = r * output_tokens * step_time; the batch the
targets allow is the largest one whose step time (TPOT) and time to first token still meet them.
Weights are streamed at one fitted fraction of peak bandwidth and the KV cache read at another
(attention kernels gather it in pages), so a batch of one is bounded by the weights alone and can
never beat weights / peak bandwidth.

Online serving (requests arriving at random, latency targets) cannot run at the engine's batch
cap the way an offline job does: the number of sequences in flight fluctuates around its mean B
(Poisson, M/G/inf: standard deviation sqrt(B)), and whenever it would pass the cap requests queue
for a slot. The online operating point therefore keeps B + ONLINE_TAIL_Z * sqrt(B) within the
cap, and the compute below a fitted utilisation ceiling (Efficiency.online_utilization): prompts
arriving at random queue for prefill well before the compute saturates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache
from statistics import NormalDist

import msgspec

from planner.accelerators import Accelerator
from planner.datafiles import PLANNER_DATA, load_yaml
from planner.models import ModelSpec

BYTES_PER_PARAM = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.53}
"""int4 is weight-only with group-wise fp16 scales and zeros (group 128): 4.25 bits a weight."""

TENSOR_PARALLEL_DEGREES = (1, 2, 4, 8)
# NVLink/Infinity Fabric/NeuronLink all-reduce vs PCIe: per-call latency and usable bandwidth (the
# PCIe all-reduce bandwidth is fitted: Efficiency.pcie_allreduce_gb_s).
_FAST_LINKS = {"nvlink", "infinity-fabric", "neuronlink", "nvlink-bridge"}
_ALLREDUCE_LATENCY_S = {True: 12e-6, False: 40e-6}
_FAST_ALLREDUCE_BYTES_PER_S = 150e9
P95_QUEUE_FACTOR = 3.0
"""p95 of an exponential wait is ln(20) ≈ 3 times its mean."""
ONLINE_TAIL_Z = NormalDist().inv_cdf(0.95)
"""Online: the 95th percentile of the sequences in flight must fit in the batch cap."""


class Efficiency(msgspec.Struct, frozen=True):
    """Fractions of peak reached in practice, and the fixed cost of one scheduler step."""

    compute: float
    bandwidth: float
    """Fraction of peak bandwidth when streaming the weights."""
    kv_bandwidth: float
    """Fraction of peak bandwidth when reading the KV cache in attention."""
    step_overhead_ms: float
    memory_utilization: float
    reserve_gib: float
    online_utilization: float
    """Highest fraction of the replica's compute an online server sustains: requests arriving at
    random queue for prefill long before the compute is saturated (MLPerf Server vs Offline)."""
    pcie_allreduce_gb_s: float
    """Usable all-reduce bandwidth between accelerators joined by PCIe only."""


class EfficiencyTable(msgspec.Struct, frozen=True):
    default: Efficiency
    per_accelerator: dict[str, dict[str, float]]
    per_engine: dict[str, dict[str, float]]
    non_llm_compute: dict[str, float]

    def for_(self, accelerator: str, engine: str) -> Efficiency:
        values = msgspec.structs.asdict(self.default)
        values.update(self.per_accelerator.get(accelerator, {}))
        for key, factor in self.per_engine.get(engine, {}).items():
            values[key] = values[key] * factor
        return Efficiency(**values)


@cache
def efficiency_table() -> EfficiencyTable:
    raw = load_yaml(PLANNER_DATA / "efficiency.yaml")
    return EfficiencyTable(
        default=Efficiency(**raw["default"]),
        per_accelerator=raw.get("accelerators") or {},
        per_engine=raw.get("engines") or {},
        non_llm_compute=raw.get("non_llm_compute") or {},
    )


class ErrorBand(msgspec.Struct, frozen=True):
    """How far published figures fall from the model's predictions for one accelerator (and engine).

    Residuals are log(measured speed / predicted speed), held out by cross-validation
    (`bench/fit_efficiency.py`): throughput rows as log(measured / predicted), latency rows as
    log(predicted / measured), so a positive bias always means the hardware is faster than
    predicted.
    They are treated as normal with mean `bias` and standard deviation `spread`.
    """

    rows: int
    """Published rows behind this accelerator's factors (0: pooled only)."""
    pooled: bool
    """True when the accelerator's own rows were too few and the pooled band is used."""
    bias: float
    """Centre (the median of the held-out signed log(measured/predicted)), taken as the normal's
    mean by the factors below."""
    spread: float
    """Scale (std-like) of held-out log residuals, widened when pooled."""

    def _quantile(self, confidence: float) -> float:
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be between 0 and 1 (exclusive), not {confidence}")
        return NormalDist().inv_cdf(confidence)

    def throughput_factor(self, confidence: float) -> float:
        """Multiplier on predicted throughput or capacity such that the real figure is at least
        predicted × factor with probability `confidence`."""
        return math.exp(self.bias - self.spread * self._quantile(confidence))

    def latency_factor(self, confidence: float) -> float:
        """Multiplier on predicted latency (TPOT, TTFT) such that the real latency is at most
        predicted × factor with probability `confidence`."""
        return math.exp(-self.bias + self.spread * self._quantile(confidence))


@cache
def error_band(accelerator: str, engine: str) -> ErrorBand:
    """The band of this accelerator and engine: their own when they have enough held-out rows,
    else the accelerator's, else the pooled band widened for an accelerator the rows do not
    describe (rule in planner/data/efficiency.yaml, `error_bands.rule`)."""
    bands = load_yaml(PLANNER_DATA / "efficiency.yaml")["error_bands"]
    minimum = bands["min_rows"]
    for key in (f"{accelerator}/{engine}", accelerator):
        own = bands["groups"].get(key)
        if own is not None and own["rows"] >= minimum:
            return ErrorBand(rows=own["rows"], pooled=False, bias=own["bias"], spread=own["spread"])
    rows = bands["groups"].get(accelerator, {}).get("rows", 0)
    pooled = bands["pooled"]
    return ErrorBand(rows=rows, pooled=True, bias=pooled["bias"], spread=bands["unseen_spread"])


class LlmWorkload(msgspec.Struct, frozen=True):
    """Token shape of the traffic and the latency targets (None: no target)."""

    input_mean: float
    input_p95: float
    output_mean: float
    output_p95: float
    ttft_ms_p95: float | None = None
    tpot_ms: float | None = None
    e2e_ms_p95: float | None = None
    max_model_len: int | None = None
    online: bool = True
    """Requests arrive at random and wait for a slot (serving); False: an offline job that keeps
    the batch at its cap."""


class ReplicaConfig(msgspec.Struct, frozen=True):
    model: ModelSpec
    precision: str
    accelerator: Accelerator
    accelerator_memory_gib: float
    tensor_parallel: int
    engine: str
    max_batch: int
    kv_cache_dtype: str = "auto"


class OperatingPoint(msgspec.Struct, frozen=True):
    requests_per_s: float
    batch: float
    tpot_ms: float
    ttft_ms_p95: float
    e2e_ms_p95: float


class ReplicaCapacity(msgspec.Struct, frozen=True):
    """What one replica sustains while meeting every target, or why it cannot."""

    feasible: bool
    reason: str = ""
    requests_per_s: float = 0.0
    max_batch: int = 0
    memory_needed_gib: float = 0.0
    best_tpot_ms: float | None = None
    best_ttft_ms: float | None = None
    at_capacity: OperatingPoint | None = None
    binding: str = ""
    """What stops a higher rate: a target (`tpot`, `ttft`, `e2e`), the KV cache (`memory`),
    runtime.max_batch (`max_batch`), or the accelerator's throughput (`compute`)."""


def weight_bytes(model: ModelSpec, precision: str) -> float:
    return model.total_params * BYTES_PER_PARAM[precision]


def kv_bytes_per_token(model: ModelSpec, precision: str, kv_cache_dtype: str = "auto") -> float:
    if kv_cache_dtype == "fp8" or (kv_cache_dtype == "auto" and precision == "fp8"):
        element = 1.0
    elif precision == "fp32" and kv_cache_dtype == "auto":
        element = 4.0
    else:
        element = 2.0
    return model.kv_elements_per_token * element


class LlmReplicaModel:
    """Step-cost model of one replica (tensor_parallel accelerators) of a decoder LLM."""

    def __init__(
        self, config: ReplicaConfig, workload: LlmWorkload, efficiency: Efficiency | None = None
    ) -> None:
        """`efficiency` overrides the shipped factors (the calibration fit tries its own)."""
        self.config = config
        self.workload = workload
        model, accelerator, tp = config.model, config.accelerator, config.tensor_parallel
        eff = efficiency or efficiency_table().for_(accelerator.name, config.engine)
        self.efficiency = eff
        self.bytes_per_param = BYTES_PER_PARAM[config.precision]
        self.weights = weight_bytes(model, config.precision)
        self.kv_per_token = kv_bytes_per_token(model, config.precision, config.kv_cache_dtype)
        self.bandwidth = tp * accelerator.bandwidth_bytes_per_s * eff.bandwidth
        self.kv_bandwidth = tp * accelerator.bandwidth_bytes_per_s * eff.kv_bandwidth
        self.compute = tp * accelerator.compute_flops_per_s(config.precision) * eff.compute
        fast = accelerator.interconnect in _FAST_LINKS
        link_bytes_per_s = _FAST_ALLREDUCE_BYTES_PER_S if fast else eff.pcie_allreduce_gb_s * 1e9
        layers = model.layers or 0
        hidden = model.hidden_size or 0
        if tp > 1:
            self.comm_fixed = 2 * layers * _ALLREDUCE_LATENCY_S[fast]
            self.comm_per_token = 2 * layers * hidden * 2 * (tp - 1) / tp / link_bytes_per_s
        else:
            self.comm_fixed = self.comm_per_token = 0.0
        self.overhead = eff.step_overhead_ms / 1000 + self.comm_fixed
        self.dense_params, self.expert_params = model.expert_split()
        # Average context a sequence in decode holds: its prompt plus half its answer.
        self.context_mean = workload.input_mean + workload.output_mean / 2
        self.prefill_ratio = workload.input_mean / workload.output_mean
        usable = (
            tp * (config.accelerator_memory_gib * eff.memory_utilization - eff.reserve_gib) * 2**30
        )
        self.kv_capacity = usable - self.weights
        longest = workload.max_model_len or (workload.input_p95 + workload.output_p95)
        self.longest_sequence = longest
        self.memory_needed = self.weights + self.kv_per_token * longest
        self.memory_batch_limit = (
            int(self.kv_capacity // (self.kv_per_token * self.context_mean))
            if self.kv_capacity > 0
            else 0
        )
        self.batch_limit = min(config.max_batch, self.memory_batch_limit)

    # --- step costs -------------------------------------------------------------------------

    def _weights_read(self, batch: float) -> float:
        model = self.config.model
        if not model.is_moe:
            return self.weights
        assert model.experts is not None and model.active_experts is not None
        touched = model.experts * (1 - (1 - model.active_experts / model.experts) ** max(batch, 1))
        return (self.dense_params + touched * self.expert_params) * self.bytes_per_param

    def step_seconds(self, decode_batch: float, prefill_tokens: float = 0.0) -> float:
        memory = (
            self._weights_read(decode_batch) / self.bandwidth
            + decode_batch * self.context_mean * self.kv_per_token / self.kv_bandwidth
        )
        tokens = decode_batch + prefill_tokens
        compute = 2 * self.config.model.active_params * tokens
        return max(memory, compute / self.compute) + self.overhead + tokens * self.comm_per_token

    def prefill_seconds(self, tokens: float, sequences: float = 1) -> float:
        """`sequences` prompts of `tokens` each processed together, without decodes: compute-bound,
        plus causal attention within each prompt; the weights are read once."""
        model = self.config.model
        attention = 2 * (model.layers or 0) * tokens * tokens * (model.hidden_size or 0)
        total = tokens * sequences
        compute = sequences * (2 * model.active_params * tokens + attention) / self.compute
        memory = self._weights_read(total) / self.bandwidth
        return max(compute, memory) + self.overhead + total * self.comm_per_token

    # --- steady state -----------------------------------------------------------------------

    def compute_utilization(self, requests_per_s: float) -> float:
        tokens = requests_per_s * (self.workload.input_mean + self.workload.output_mean)
        return tokens * 2 * self.config.model.active_params / self.compute

    def operating_point(self, requests_per_s: float) -> OperatingPoint | None:
        """Steady state at this load, or None when the replica cannot keep up."""
        utilization = self.compute_utilization(requests_per_s)
        ceiling = self.efficiency.online_utilization if self.workload.online else 1.0
        if utilization >= ceiling:
            return None
        batch = self.steady_batch(requests_per_s)
        if batch is None:
            return None
        tpot = self.step_seconds(batch, batch * self.prefill_ratio)
        prefill = self.prefill_seconds(self.workload.input_p95)
        mean_prefill = self.prefill_seconds(self.workload.input_mean)
        queue_wait = utilization * mean_prefill / (1 - utilization)
        ttft = prefill / (1 - utilization) + P95_QUEUE_FACTOR * queue_wait + tpot
        e2e = ttft + tpot * self.workload.output_p95
        return OperatingPoint(requests_per_s, batch, tpot * 1e3, ttft * 1e3, e2e * 1e3)

    def steady_batch(self, requests_per_s: float) -> float | None:
        """The smallest B >= 1 with B = r * output_tokens * step(B) (Little's law), or None when
        no batch within the cap keeps up.

        With f(B) = r * out * step(B) - B, the fixed-point step B + f(B) never passes the smallest
        root (the right side grows with B) but crawls as the load nears saturation: it contracts
        by the utilisation per step, and a capped number of such steps once stopped the replica
        short of its real capacity. Each iteration therefore also tries Newton's step (exact on
        the linear pieces of a dense model's step time) and keeps the further of the two; if
        that passes the root (f < 0: the weights a mixture of experts reads grow concavely with
        B), bisection between the two finds it.
        """
        out = self.workload.output_mean

        def excess(batch: float) -> float:
            return (
                requests_per_s * out * self.step_seconds(batch, batch * self.prefill_ratio) - batch
            )

        if self.batch_limit < 1:
            return None
        batch, value = 1.0, excess(1.0)
        if value <= 0:  # light load: one sequence at a time keeps up
            return 1.0
        for _ in range(200):
            if value <= 1e-6 * batch:
                break
            safe = batch + value
            if safe > self.batch_limit:
                return None
            slope = (excess(batch + 1e-3 * batch) - value) / (1e-3 * batch)
            trial = batch - value / slope if slope < 0 else safe
            trial = min(max(trial, safe), float(self.batch_limit))
            trial_value = excess(trial)
            if trial_value < 0:
                batch = self._bisect_root(excess, safe, trial)
                break
            batch, value = trial, trial_value
        else:
            return None
        return batch if self._in_flight_peak(batch) <= self.batch_limit else None

    @staticmethod
    def _bisect_root(excess: Callable[[float], float], low: float, high: float) -> float:
        """The root of `excess` between low (positive) and high (negative)."""
        for _ in range(60):
            middle = (low + high) / 2
            if excess(middle) > 0:
                low = middle
            else:
                high = middle
            if high - low < 1e-6 * high:
                break
        return high

    def _in_flight_peak(self, batch: float) -> float:
        """Sequences in flight the batch cap must hold at this mean batch (see the module doc);
        a mean of one is always allowed, or a cap of one could serve nothing."""
        if not self.workload.online or batch <= 1:
            return batch
        return batch + ONLINE_TAIL_Z * math.sqrt(batch)

    def _largest_mean_batch(self) -> float:
        """The mean batch whose in-flight peak (`_in_flight_peak`) just fills the batch cap."""
        cap = float(self.batch_limit)
        if not self.workload.online or cap <= 1:
            return cap
        root = (-ONLINE_TAIL_Z + math.sqrt(ONLINE_TAIL_Z**2 + 4 * cap)) / 2
        return max(1.0, root * root)

    def meets_targets(self, point: OperatingPoint) -> bool:
        w = self.workload
        return not (
            (w.tpot_ms is not None and point.tpot_ms > w.tpot_ms)
            or (w.ttft_ms_p95 is not None and point.ttft_ms_p95 > w.ttft_ms_p95)
            or (w.e2e_ms_p95 is not None and point.e2e_ms_p95 > w.e2e_ms_p95)
        )

    def limit_at(self, requests_per_s: float) -> str:
        """The first constraint this rate breaks (see ReplicaCapacity.binding), or ""."""
        ceiling = self.efficiency.online_utilization if self.workload.online else 1.0
        if self.compute_utilization(requests_per_s) >= ceiling:
            return "compute"
        point = self.operating_point(requests_per_s)
        if point is None:
            largest = self._largest_mean_batch()
            needed = requests_per_s * self.workload.output_mean
            needed *= self.step_seconds(largest, largest * self.prefill_ratio)
            if needed <= largest:  # the step at the largest batch keeps up: not the cap
                return "compute"
            return "memory" if self.memory_batch_limit <= self.config.max_batch else "max_batch"
        w = self.workload
        for name, predicted, target in (
            ("tpot", point.tpot_ms, w.tpot_ms),
            ("ttft", point.ttft_ms_p95, w.ttft_ms_p95),
            ("e2e", point.e2e_ms_p95, w.e2e_ms_p95),
        ):
            if target is not None and predicted > target:
                return name
        return ""

    def capacity(self) -> ReplicaCapacity:
        needed_gib = self.memory_needed / 2**30
        if self.kv_capacity < self.kv_per_token * self.longest_sequence:
            return ReplicaCapacity(feasible=False, reason="memory", memory_needed_gib=needed_gib)
        light = self.operating_point(1e-9)
        if light is None or not self.meets_targets(light):
            return ReplicaCapacity(
                feasible=False,
                reason="latency",
                memory_needed_gib=needed_gib,
                best_tpot_ms=light.tpot_ms if light else None,
                best_ttft_ms=light.ttft_ms_p95 if light else None,
            )
        low, high = 0.0, self._upper_bound_rate()
        for _ in range(50):
            mid = (low + high) / 2
            point = self.operating_point(mid)
            if point is not None and self.meets_targets(point):
                low = mid
            else:
                high = mid
            if high - low < 1e-4 * high:
                break
        point = self.operating_point(low)
        return ReplicaCapacity(
            feasible=low > 0,
            reason="" if low > 0 else "latency",
            requests_per_s=low,
            max_batch=self.batch_limit,
            memory_needed_gib=needed_gib,
            best_tpot_ms=light.tpot_ms,
            best_ttft_ms=light.ttft_ms_p95,
            at_capacity=point,
            binding=self.limit_at(high) or "compute",
        )

    def _upper_bound_rate(self) -> float:
        w = self.workload
        compute_bound = self.compute / (
            2 * self.config.model.active_params * (w.input_mean + w.output_mean)
        )
        batch_bound = (
            self.batch_limit / (w.output_mean * self.overhead) if self.overhead else math.inf
        )
        return min(compute_bound, batch_bound)


class NonLlmResult(msgspec.Struct, frozen=True):
    feasible: bool
    reason: str = ""
    requests_per_s: float = 0.0
    batch: int = 0
    latency_ms_p95: float | None = None
    memory_needed_gib: float = 0.0
    binding: str = ""
    """What caps the batch: `e2e` (the target), `memory` or `max_batch`."""
    unloaded_ms_p95: float | None = None
    """p95 latency of a request alone (a batch of one)."""


def non_llm_capacity(
    *,
    family: str,
    params: float,
    precision: str,
    gflops_per_request: float,
    memory_gib_per_request: float,
    accelerator: Accelerator,
    accelerator_memory_gib: float,
    max_batch: int,
    e2e_ms_p95: float | None,
) -> NonLlmResult:
    """Encoders, vision and speech models: compute-bound batches on one accelerator.

    The fraction of peak reached depends on the kind of network more than on the accelerator
    (transformer encoders run large matmuls; convolutions reach much less), so it is per family.

    A request waits for at most one batch in flight and then its own: p95 latency ≈ 2 × batch time.
    """
    table = efficiency_table()
    eff = table.default
    compute = accelerator.compute_flops_per_s(precision) * table.non_llm_compute.get(
        family, table.non_llm_compute["default"]
    )
    per_request = gflops_per_request * 1e9 / compute
    overhead = eff.step_overhead_ms / 1000
    weights_gib = params * BYTES_PER_PARAM[precision] / 2**30
    usable = accelerator_memory_gib * eff.memory_utilization - eff.reserve_gib - weights_gib
    needed = weights_gib + memory_gib_per_request + eff.reserve_gib
    if usable < memory_gib_per_request:
        return NonLlmResult(False, "memory", memory_needed_gib=needed)
    batch, binding = max_batch, "max_batch"
    if usable < batch * memory_gib_per_request:  # (a tiny figure would overflow usable // it)
        batch, binding = int(usable // memory_gib_per_request), "memory"
    if e2e_ms_p95 is not None:
        fits = int((e2e_ms_p95 / 1000 / 2 - overhead) // per_request)
        if fits < 1:
            latency = 2 * (per_request + overhead) * 1e3
            return NonLlmResult(False, "latency", latency_ms_p95=latency, memory_needed_gib=needed)
        if fits < batch:
            batch, binding = fits, "e2e"
    batch_time = batch * per_request + overhead
    return NonLlmResult(
        True,
        requests_per_s=batch / batch_time,
        batch=batch,
        latency_ms_p95=2 * batch_time * 1e3,
        memory_needed_gib=needed,
        binding=binding,
        unloaded_ms_p95=2 * (per_request + overhead) * 1e3,
    )
