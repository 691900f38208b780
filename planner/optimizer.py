"""The optimizer: every feasible (offering × tensor-parallel degree × instances × spot share) per
region, the cheapest expected USD/hour that meets throughput with headroom and every latency target,
and why the rest lost.

For one offering and degree, cost grows with the instance count, so the fewest instances that carry
the demand are cheapest; and spot is priced below on-demand, so the cheapest split keeps exactly the
on-demand floor on on-demand. The property test in tests/test_optimizer_property.py checks this
closed form against brute force.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import msgspec

from core.errors import NoFeasibleCandidate, ProfileError
from planner.accelerators import Accelerator, accelerators
from planner.commitment import CommitmentPlan, held_on_demand, plan_commitment
from planner.hourly import HOURS_PER_MONTH, WeekDemand, week_costs, week_demand
from planner.models import ModelSpec
from planner.performance import (
    BYTES_PER_PARAM,
    TENSOR_PARALLEL_DEGREES,
    ErrorBand,
    LlmReplicaModel,
    LlmWorkload,
    NonLlmResult,
    OperatingPoint,
    ReplicaConfig,
    efficiency_table,
    error_band,
    non_llm_capacity,
)
from planner.profile import Commitments, Profile
from planner.traffic import HOURS_PER_WEEK
from providers import targets
from providers.catalog import Catalog, Offering, ZonePrice
from providers.commitments import commitment_rate

MAX_INSTANCES = 10_000
"""The largest fleet or endpoint the optimizer proposes; a choice needing more is no choice."""
CLIFF_MARGIN = 0.10
"""A replica whose unloaded latency (at the confidence quantile) is within 10% of a target is at a
cliff: it carries almost no load, so a small error in the model multiplies the fleet or breaks the
target. Such candidates are refused unless their accelerator or instance type is pinned."""
LARGE_FLEET_FACTOR = 3.0
"""Pins (cloud, region, kind, accelerator, instance type) that make the plan cost more than three
times the cheapest plan without them are flagged: `recommend` warns, `plan` and `deploy` ask."""
TARGET_WORDS = {
    "tpot": "time per output token",
    "ttft": "p95 time to first token",
    "e2e": "p95 end-to-end latency",
}


class Filters(msgspec.Struct, frozen=True):
    """Command-line pins on top of the profile's placement."""

    clouds: frozenset[str] | None = None
    regions: frozenset[str] | None = None
    kinds: frozenset[str] | None = None
    accelerators: frozenset[str] | None = None
    instance_types: frozenset[str] | None = None
    excluded_accelerators: frozenset[str] = frozenset()
    """What an environment cannot deploy (not a pin: a candidate at a cliff stays refused)."""
    environment: str | None = None
    """Whose schedule and scale to zero the hours follow (not a pin)."""

    def pins(self, offering: Offering) -> bool:
        """Whether the user pinned this offering's accelerator or instance type."""
        return (
            self.accelerators is not None and offering.accelerator.lower() in self.accelerators
        ) or (
            self.instance_types is not None
            and (
                offering.instance_type.lower() in self.instance_types
                or offering.display_name.lower() in self.instance_types
            )
        )


class Span(msgspec.Struct, frozen=True):
    """A figure at the optimistic (low latency, high capacity) and pessimistic quantiles."""

    low: float
    high: float


class Uncertainty(msgspec.Struct, frozen=True):
    """The model's error band for a candidate: between the (1 - confidence) and confidence
    quantiles of the published rows' held-out error. A latency stays under `high`, and the
    capacity above `low`, with probability `confidence`."""

    confidence: float
    rows: int
    pooled: bool
    capacity_requests_per_s: Span
    ttft_ms_p95: Span | None
    tpot_ms: Span | None
    e2e_ms_p95: Span | None


class Predicted(msgspec.Struct, frozen=True):
    """The model's central figures at the load each replica carries; the fleet's capacity at the
    confidence quantile (what it is sized with); the band around them (None: measured)."""

    throughput_tokens_per_s: float | None
    capacity_requests_per_s: float
    ttft_ms_p95: float | None
    tpot_ms: float | None
    e2e_ms_p95: float | None
    batch_per_replica: float | None
    uncertainty: Uncertainty | None = None


class Candidate(msgspec.Struct, frozen=True):
    offering: Offering
    zones: tuple[str, ...]
    tensor_parallel: int
    replicas_per_instance: int
    instances: int
    on_demand_instances: int
    ondemand_usd: float
    spot_usd: float | None
    accelerator: Accelerator
    replica: ReplicaPlan
    fixed_usd: float = 0.0
    """Per hour whatever the size: a cluster the toolkit creates (its control plane, and its
    system pool where the target has one)."""
    hours: tuple[tuple[int, int], ...] | None = None
    """(instances, on-demand instances) in each hour of the week (planner/hourly.py); None: the
    peak size every hour (no traffic shape, schedule or scale to zero)."""
    commitment: CommitmentPlan | None = None
    """Held and bought commitments on its on-demand part (`pricing.commitments`); None: none."""

    @property
    def capacity_requests_per_s(self) -> float:
        return self.instances * self.replicas_per_instance * self.replica.requests_per_s

    @property
    def spot_instances(self) -> int:
        return self.instances - self.on_demand_instances

    @property
    def spot_fraction(self) -> float:
        return self.spot_instances / self.instances

    @property
    def hourly_usd(self) -> float:
        spot = self.spot_usd if self.spot_usd is not None else self.ondemand_usd
        instances = self.on_demand_instances * self.ondemand_usd + self.spot_instances * spot
        return instances + self.fixed_usd

    @property
    def all_on_demand_hourly_usd(self) -> float:
        return self.instances * self.ondemand_usd + self.fixed_usd

    @property
    def spot_or_ondemand_usd(self) -> float:
        return self.spot_usd if self.spot_usd is not None else self.ondemand_usd

    def week_costs(self) -> list[float] | None:
        """What each hour of the week costs, None when every hour is the peak's."""
        if self.hours is None:
            return None
        return week_costs(
            list(self.hours), self.ondemand_usd, self.spot_or_ondemand_usd, self.fixed_usd
        )

    @property
    def expected_hourly_usd(self) -> float:
        """The mean over the week's hours: what the optimizer minimises (`hourly_usd` when
        every hour is the peak's, so a flat profile ranks exactly as it always did)."""
        costs = self.week_costs()
        hourly = self.hourly_usd if costs is None else sum(costs) / len(costs)
        if self.commitment is not None:
            hourly += self.commitment.delta_monthly_usd / HOURS_PER_MONTH
        return hourly

    def on_demand_hours(self) -> list[int]:
        """The on-demand instances of each hour of the week."""
        if self.hours is None:
            return [self.on_demand_instances] * HOURS_PER_WEEK
        return [on_demand for _, on_demand in self.hours]

    @property
    def expected_monthly_usd(self) -> float:
        return self.expected_hourly_usd * HOURS_PER_MONTH

    @property
    def sort_key(self) -> tuple[float, float, str, str, int]:
        o = self.offering
        return (
            self.expected_hourly_usd,
            -self.capacity_requests_per_s,
            o.region,
            o.display_name,
            self.tensor_parallel,
        )


class Exclusion(msgspec.Struct, frozen=True):
    subject: str
    reason: str


class LargeFleet(msgspec.Struct, frozen=True):
    """Pins that make the plan cost more than LARGE_FLEET_FACTOR times the unpinned optimum."""

    pinned: str
    """`100× Standard_NC24ads_A100_v4 (azure/fleet, westus2)`"""
    pinned_monthly_usd: float
    unpinned: str
    unpinned_monthly_usd: float

    @property
    def ratio(self) -> float:
        return self.pinned_monthly_usd / self.unpinned_monthly_usd

    def sentence(self) -> str:
        return (
            f"the pins make the plan {self.pinned} at ${self.pinned_monthly_usd:,.0f}/month, "
            f"{self.ratio:,.1f} times the cheapest plan without them, {self.unpinned} at "
            f"${self.unpinned_monthly_usd:,.0f}/month"
        )


class Recommendation(msgspec.Struct):
    profile: Profile
    model: ModelSpec
    requests_per_s: float
    demand_requests_per_s: float
    catalog_date: str
    candidates: list[Candidate]
    excluded: list[Exclusion]
    capacity: CapacityModel
    warnings: list[str] = msgspec.field(default_factory=list)
    large_fleet: LargeFleet | None = None
    week: WeekDemand | None = None
    """The week the candidates' hours were sized for; None: flat at the peak."""

    def predicted(self, candidate: Candidate) -> Predicted:
        """Capacity of the fleet, and latencies at the load each replica carries (no headroom).

        Computed on demand: only the candidates that are shown need their operating point.
        """
        replicas = candidate.instances * candidate.replicas_per_instance
        load = self.requests_per_s / replicas
        memory_gib, degree = candidate.offering.accelerator_memory_gib, candidate.tensor_parallel
        point = self.capacity.operating_point(candidate.accelerator, memory_gib, degree, load)
        output = self.profile.workload.output_tokens
        fleet = candidate.capacity_requests_per_s
        return Predicted(
            throughput_tokens_per_s=fleet * output.mean if self.model.is_llm and output else None,
            capacity_requests_per_s=fleet,
            ttft_ms_p95=point.ttft_ms_p95 if point else None,
            tpot_ms=point.tpot_ms if point else None,
            e2e_ms_p95=point.e2e_ms_p95 if point else candidate.replica.latency_ms_p95,
            batch_per_replica=point.batch if point else None,
            uncertainty=self.capacity.uncertainty(
                candidate.replica, candidate.accelerator, memory_gib, load, replicas
            ),
        )

    @property
    def chosen(self) -> Candidate:
        return self.candidates[0]

    def summary(self, candidate: Candidate | None = None) -> str:
        """`2× g6.12xlarge (aws/fleet, us-east-2)`, as Decision.summary says it."""
        c = candidate or self.chosen
        o = c.offering
        return f"{c.instances}× {o.instance_type} ({o.cloud}/{o.kind}, {o.region})"

    def compare_unpinned(self, unpinned: Recommendation) -> None:
        """Flag (and warn about) pins that cost more than LARGE_FLEET_FACTOR times `unpinned`."""
        pinned_usd = self.chosen.expected_monthly_usd
        unpinned_usd = unpinned.chosen.expected_monthly_usd
        if pinned_usd <= LARGE_FLEET_FACTOR * unpinned_usd:
            return
        self.large_fleet = LargeFleet(self.summary(), pinned_usd, unpinned.summary(), unpinned_usd)
        self.warnings.append(f"{self.large_fleet.sentence()}.")

    def alternatives(self, limit: int | None = None) -> list[Candidate]:
        """The best candidate per (cloud, kind, instance type) after the chosen, cheapest first."""
        seen = {_variety(self.chosen)}
        result: list[Candidate] = []
        if limit == 0:
            return result
        for candidate in self.candidates[1:]:
            key = _variety(candidate)
            if key in seen:
                continue
            seen.add(key)
            result.append(candidate)
            if limit is not None and len(result) >= limit:
                break
        return result

    def best_per(self, attribute: str) -> dict[str, Candidate]:
        best: dict[str, Candidate] = {}
        for candidate in self.candidates:
            best.setdefault(getattr(candidate.offering, attribute), candidate)
        return best

    @property
    def mean_requests_per_s(self) -> float:
        """The rate served on average over the week (the peak when the week is flat)."""
        return self.week.served_rps if self.week is not None else self.requests_per_s

    def usd_per_million_output_tokens(self, candidate: Candidate) -> float | None:
        if not self.model.is_llm or self.profile.workload.output_tokens is None:
            return None
        rate = self.mean_requests_per_s
        tokens_per_hour = rate * self.profile.workload.output_tokens.mean * 3600
        return candidate.expected_hourly_usd / tokens_per_hour * 1e6 if rate else None

    def usd_per_thousand_requests(self, candidate: Candidate) -> float | None:
        rate = self.mean_requests_per_s
        return candidate.expected_hourly_usd / (rate * 3600) * 1000 if rate else None


def _variety(candidate: Candidate) -> tuple[str, str, str, int]:
    o = candidate.offering
    return (o.cloud, o.kind, o.display_name, candidate.tensor_parallel)


# --- capacity of one replica -------------------------------------------------------------------


class Cliff(msgspec.Struct, frozen=True):
    """A target the replica meets only just, even unloaded (see CLIFF_MARGIN)."""

    target: str
    """tpot, ttft or e2e."""
    unloaded_ms: float
    """The replica's latency with no other request in flight, at the confidence quantile."""
    target_ms: float

    @property
    def margin(self) -> float:
        return 1 - self.unloaded_ms / self.target_ms

    def sentence(self) -> str:
        """`its time per output token of 49.8 ms is within 0.4% of the 50 ms target`"""
        unloaded = (
            f"{self.unloaded_ms:.1f}" if self.unloaded_ms < 100 else f"{self.unloaded_ms:,.0f}"
        )
        return (
            f"its {TARGET_WORDS[self.target]} of {unloaded} ms is within {self.margin:.1%} of the "
            f"{self.target_ms:g} ms target"
        )


class ReplicaPlan(msgspec.Struct, frozen=True):
    """What one model replica on `tensor_parallel` accelerators sustains within the targets."""

    tensor_parallel: int
    requests_per_s: float
    """At the confidence quantile (measured figures as given)."""
    point: OperatingPoint | None
    latency_ms_p95: float | None = None
    binding: str = ""
    """What stops a higher rate: tpot, ttft, e2e, memory, max_batch, compute, or measured."""
    cliff: Cliff | None = None
    band: ErrorBand | None = None
    """The model's error band it was sized with (None: measured)."""


class MemoryShort(msgspec.Struct, frozen=True):
    """A replica that did not fit: what it needs and what its accelerators keep for it.

    `usable_gib_per_accelerator` is the accelerator's memory times the runtime's memory
    utilisation, less its reserve (CUDA context, activations); a replica spans `tensor_parallel`
    accelerators of one instance."""

    needed_gib: float
    longest_sequence: float | None
    """Tokens of KV cache in `needed_gib` (LLMs); None: weights and one request (other models)."""
    tensor_parallel: int
    accelerator_memory_gib: float
    usable_gib_per_accelerator: float
    memory_utilization: float
    reserve_gib: float

    @property
    def usable_gib(self) -> float:
        return self.tensor_parallel * self.usable_gib_per_accelerator


class _ClassVerdict(msgspec.Struct):
    """Why an accelerator class (e.g. all T4 offerings) cannot serve, for the explanation."""

    best_latency: tuple[float | None, float | None, int] | None = None
    most_memory: MemoryShort | None = None
    """Of the replicas that did not fit in memory, the one given the most (the closest miss)."""

    def memory_short(self, attempt: MemoryShort) -> None:
        if self.most_memory is None or attempt.usable_gib > self.most_memory.usable_gib:
            self.most_memory = attempt

    cliff: tuple[Cliff, int] | None = None
    """The widest-margin cliff refused, and its tensor-parallel degree."""


def _tightest_cliff(
    unloaded: dict[str, float | None], targets: dict[str, float | None]
) -> Cliff | None:
    """The target whose unloaded latency comes closest to it, if within CLIFF_MARGIN."""
    cliffs = [
        Cliff(name, latency, target)
        for name, latency in unloaded.items()
        if latency is not None
        and (target := targets.get(name)) is not None
        and latency > target * (1 - CLIFF_MARGIN)
    ]
    return min(cliffs, key=lambda c: c.margin, default=None)


class CapacityModel:
    """Replica capacities per (accelerator, memory, degree), computed once per recommendation.

    The model's figures are taken at `targets.confidence`: a replica whose steps run k times
    slower than predicted (k = the band's latency factor) shows k times the latency at k times
    the predicted batch, so it must meet each target divided by k, and carries the resulting
    rate times the throughput factor (1/k). Measured figures (`workload.measured`) are used as
    given.
    """

    def __init__(self, profile: Profile, model: ModelSpec) -> None:
        self.profile = profile
        self.model = model
        self.confidence = profile.targets.confidence
        self._cache: dict[tuple[str, float, int], ReplicaPlan | None] = {}
        self._replicas: dict[tuple[str, float, int, float], LlmReplicaModel] = {}
        self._points: dict[tuple[str, float, int, float], OperatingPoint | None] = {}
        self._optimistic: dict[tuple[str, float, int], float] = {}
        self.verdicts: dict[str, _ClassVerdict] = {}
        self.measured = {m.accelerator.lower(): m for m in profile.workload.measured}
        w, t = profile.workload, profile.targets
        self.targets = {"tpot": t.tpot_ms, "ttft": t.ttft_ms_p95, "e2e": t.e2e_ms_p95}
        self.llm_workload = (
            LlmWorkload(
                input_mean=w.input_tokens.mean,
                input_p95=w.input_tokens.p95,
                output_mean=w.output_tokens.mean,
                output_p95=w.output_tokens.p95,
                ttft_ms_p95=t.ttft_ms_p95,
                tpot_ms=t.tpot_ms,
                e2e_ms_p95=t.e2e_ms_p95,
                max_model_len=profile.runtime.max_model_len,
            )
            if model.is_llm and w.input_tokens and w.output_tokens
            else None
        )

    def refuse_cliff(self, accelerator: str, plan: ReplicaPlan) -> None:
        """Remember a candidate refused at a cliff, for the explanation (the widest margin)."""
        assert plan.cliff is not None
        verdict = self.verdicts[accelerator]
        if verdict.cliff is None or plan.cliff.margin > verdict.cliff[0].margin:
            verdict.cliff = (plan.cliff, plan.tensor_parallel)

    def band(self, accelerator: Accelerator) -> ErrorBand:
        return error_band(accelerator.name, self.profile.runtime.engine)

    def degrees(self, accelerator_count: int) -> Iterable[int]:
        if self.measured or not self.model.is_llm:
            return (1,)
        return (
            d
            for d in TENSOR_PARALLEL_DEGREES
            if d <= accelerator_count
            and accelerator_count % d == 0
            and self.model.tensor_parallel_ok(d)
        )

    def replica(
        self, accelerator: Accelerator, memory_gib: float, degree: int
    ) -> ReplicaPlan | None:
        key = (accelerator.name, memory_gib, degree)
        if key not in self._cache:
            self._cache[key] = self._compute(accelerator, memory_gib, degree)
        return self._cache[key]

    def _compute(
        self, accelerator: Accelerator, memory_gib: float, degree: int
    ) -> ReplicaPlan | None:
        verdict = self.verdicts.setdefault(accelerator.name, _ClassVerdict())
        if self.measured:
            return self._measured(accelerator)
        band = self.band(accelerator)
        slower = band.latency_factor(self.confidence)
        if self.llm_workload is None:
            result = self._non_llm(accelerator, memory_gib, slower)
            if not result.feasible:
                if result.reason == "memory":
                    verdict.memory_short(self._non_llm_memory(memory_gib))
                if result.reason == "latency" and result.latency_ms_p95 is not None:
                    verdict.best_latency = (None, result.latency_ms_p95 * slower, 1)
                return None
            unloaded = (result.unloaded_ms_p95 or 0.0) * slower
            return ReplicaPlan(
                1,
                result.requests_per_s * band.throughput_factor(self.confidence),
                None,
                result.latency_ms_p95,
                binding=result.binding,
                cliff=_tightest_cliff({"e2e": unloaded}, self.targets),
                band=band,
            )
        replica = self._llm_replica(accelerator, memory_gib, degree, slower)
        capacity = replica.capacity()
        if not capacity.feasible:
            if capacity.reason == "memory":
                eff = replica.efficiency
                verdict.memory_short(
                    MemoryShort(
                        needed_gib=capacity.memory_needed_gib,
                        longest_sequence=replica.longest_sequence,
                        tensor_parallel=degree,
                        accelerator_memory_gib=memory_gib,
                        usable_gib_per_accelerator=memory_gib * eff.memory_utilization
                        - eff.reserve_gib,
                        memory_utilization=eff.memory_utilization,
                        reserve_gib=eff.reserve_gib,
                    )
                )
            if capacity.reason == "latency":
                current = verdict.best_latency
                tpot, ttft = capacity.best_tpot_ms, capacity.best_ttft_ms
                ttft = ttft * slower if ttft is not None else None
                if current is None or (ttft or math.inf) < (current[1] or math.inf):
                    verdict.best_latency = (tpot * slower if tpot else tpot, ttft, degree)
            return None
        light = replica.operating_point(1e-9)
        assert light is not None  # capacity() found it within the targets
        unloaded = {
            "tpot": light.tpot_ms * slower,
            "ttft": light.ttft_ms_p95 * slower,
            "e2e": light.e2e_ms_p95 * slower,
        }
        return ReplicaPlan(
            degree,
            capacity.requests_per_s * band.throughput_factor(self.confidence),
            capacity.at_capacity,
            binding=capacity.binding,
            cliff=_tightest_cliff(unloaded, self.targets),
            band=band,
        )

    def _non_llm(self, accelerator: Accelerator, memory_gib: float, slower: float) -> NonLlmResult:
        profile = self.profile
        e2e = profile.targets.e2e_ms_p95
        return non_llm_capacity(
            family=self.model.family,
            params=self.model.total_params,
            precision=profile.model.precision,
            gflops_per_request=profile.workload.gflops_per_request
            or self.model.gflops_per_request
            or 0,
            memory_gib_per_request=profile.workload.memory_gib_per_request or 0.0,
            accelerator=accelerator,
            accelerator_memory_gib=memory_gib,
            max_batch=profile.runtime.max_batch,
            e2e_ms_p95=e2e / slower if e2e is not None else None,
        )

    def _non_llm_memory(self, memory_gib: float) -> MemoryShort:
        """The memory check of `non_llm_capacity`: weights and one request on one accelerator."""
        eff = efficiency_table().default
        profile = self.profile
        weights_gib = self.model.total_params * BYTES_PER_PARAM[profile.model.precision] / 2**30
        return MemoryShort(
            needed_gib=weights_gib + (profile.workload.memory_gib_per_request or 0.0),
            longest_sequence=None,
            tensor_parallel=1,
            accelerator_memory_gib=memory_gib,
            usable_gib_per_accelerator=memory_gib * eff.memory_utilization - eff.reserve_gib,
            memory_utilization=eff.memory_utilization,
            reserve_gib=eff.reserve_gib,
        )

    def _measured(self, accelerator: Accelerator) -> ReplicaPlan | None:
        measured = self.measured.get(accelerator.name.lower())
        if measured is None:
            return None
        targets = self.profile.targets

        def over(value: float | None, target: float | None) -> bool:
            return value is not None and target is not None and value > target

        if over(measured.ttft_ms_p95, targets.ttft_ms_p95) or over(
            measured.tpot_ms, targets.tpot_ms
        ):
            self.verdicts[accelerator.name].best_latency = (
                measured.tpot_ms,
                measured.ttft_ms_p95,
                1,
            )
            return None
        if over(measured.latency_ms_p95, targets.e2e_ms_p95):
            self.verdicts[accelerator.name].best_latency = (None, measured.latency_ms_p95, 1)
            return None
        return ReplicaPlan(
            1, measured.requests_per_second, None, measured.latency_ms_p95, binding="measured"
        )

    def _llm_replica(
        self, accelerator: Accelerator, memory_gib: float, degree: int, slower: float = 1.0
    ) -> LlmReplicaModel:
        """The replica model meeting each target divided by `slower` (1: as given)."""
        key = (accelerator.name, memory_gib, degree, slower)
        if key not in self._replicas:
            assert self.llm_workload is not None
            w = self.llm_workload
            self._replicas[key] = LlmReplicaModel(
                ReplicaConfig(
                    model=self.model,
                    precision=self.profile.model.precision,
                    accelerator=accelerator,
                    accelerator_memory_gib=memory_gib,
                    tensor_parallel=degree,
                    engine=self.profile.runtime.engine,
                    max_batch=self.profile.runtime.max_batch,
                    kv_cache_dtype=self.profile.runtime.kv_cache_dtype,
                ),
                msgspec.structs.replace(
                    w,
                    ttft_ms_p95=w.ttft_ms_p95 / slower if w.ttft_ms_p95 else None,
                    tpot_ms=w.tpot_ms / slower if w.tpot_ms else None,
                    e2e_ms_p95=w.e2e_ms_p95 / slower if w.e2e_ms_p95 else None,
                ),
            )
        return self._replicas[key]

    def operating_point(
        self, accelerator: Accelerator, memory_gib: float, degree: int, load: float
    ) -> OperatingPoint | None:
        """Predicted latency at the load each replica actually carries (no headroom)."""
        if self.llm_workload is None or self.measured:
            return None
        key = (accelerator.name, memory_gib, degree, load)
        if key not in self._points:
            self._points[key] = self._llm_replica(accelerator, memory_gib, degree).operating_point(
                load
            )
        return self._points[key]

    def uncertainty(
        self,
        plan: ReplicaPlan,
        accelerator: Accelerator,
        memory_gib: float,
        load: float,
        replicas: int,
    ) -> Uncertainty | None:
        """The band around a candidate's figures at `load` per replica (None when measured).

        At a quantile whose latency factor is k and throughput factor 1/k, a replica at `load`
        runs like the model's at load × k, k times slower."""
        band = plan.band
        if band is None:
            return None
        quantiles = (1 - self.confidence, self.confidence)
        spans: dict[str, list[float]] = {"ttft": [], "tpot": [], "e2e": []}
        for quantile in quantiles:
            slower = band.latency_factor(quantile)
            if self.llm_workload is None:
                spans["e2e"].append((plan.latency_ms_p95 or 0.0) * slower)
                continue
            point = self.operating_point(
                accelerator,
                memory_gib,
                plan.tensor_parallel,
                load / band.throughput_factor(quantile),
            )
            for name, value in (
                ("ttft", point.ttft_ms_p95 if point else None),
                ("tpot", point.tpot_ms if point else None),
                ("e2e", point.e2e_ms_p95 if point else None),
            ):
                if value is not None:
                    spans[name].append(value * slower)
        per_replica = self._optimistic_capacity(plan, accelerator, memory_gib, band)

        def span(name: str) -> Span | None:
            values = spans[name]
            return Span(min(values), max(values)) if len(values) == 2 else None

        return Uncertainty(
            confidence=self.confidence,
            rows=band.rows,
            pooled=band.pooled,
            capacity_requests_per_s=Span(
                replicas * plan.requests_per_s, replicas * max(per_replica, plan.requests_per_s)
            ),
            ttft_ms_p95=span("ttft"),
            tpot_ms=span("tpot"),
            e2e_ms_p95=span("e2e"),
        )

    def _optimistic_capacity(
        self, plan: ReplicaPlan, accelerator: Accelerator, memory_gib: float, band: ErrorBand
    ) -> float:
        """One replica's capacity at the (1 - confidence) quantile."""
        key = (accelerator.name, memory_gib, plan.tensor_parallel)
        if key not in self._optimistic:
            quantile = 1 - self.confidence
            slower = band.latency_factor(quantile)
            if self.llm_workload is None:
                rate = self._non_llm(accelerator, memory_gib, slower).requests_per_s
            else:
                replica = self._llm_replica(accelerator, memory_gib, plan.tensor_parallel, slower)
                rate = replica.capacity().requests_per_s
            self._optimistic[key] = rate * band.throughput_factor(quantile)
        return self._optimistic[key]


# --- zones, prices and counts ------------------------------------------------------------------


class ZonePlacement(msgspec.Struct, frozen=True):
    """Where a fleet runs and what an instance costs there, averaged over its zones."""

    zones: tuple[str, ...]
    ondemand_usd: float
    spot_usd: float | None


def place_in_zones(
    offering: Offering,
    wanted: int | Sequence[str],
    instances: int,
    on_demand: int,
    use_spot: bool,
) -> ZonePlacement | None:
    """The zones the fleet spans and their mean on-demand and expected spot prices.

    A fleet spreads evenly over its zones, so prices are means over those zones (a zone without a
    usable spot offer carries its spot share at on-demand), never the single cheapest zone. With a
    zone count, the zones chosen are those where this mix of on-demand and spot instances costs
    least. Returns None when the offering is not listed in enough zones.
    """
    zones = [z for z in offering.ondemand_zones if z.ondemand_usd is not None]
    if not zones:
        return None

    def spot_or_ondemand(zone: ZonePrice) -> float:
        price = zone.spot_usd if use_spot and zone.spot_usd is not None else zone.ondemand_usd
        return price or 0.0

    if len(zones) == 1 and zones[0].zone == "":  # priced per region (Azure, managed endpoints)
        chosen = zones
    elif isinstance(wanted, int):
        if len(zones) < wanted:
            return None
        spot_count = instances - on_demand
        chosen = sorted(
            zones,
            key=lambda z: (
                on_demand * (z.ondemand_usd or 0.0) + spot_count * spot_or_ondemand(z),
                z.zone,
            ),
        )[:wanted]
    else:
        by_name = {z.zone: z for z in zones}
        if any(name not in by_name for name in wanted):
            return None
        chosen = [by_name[name] for name in wanted]
    ondemand = sum(z.ondemand_usd or 0.0 for z in chosen) / len(chosen)
    has_spot = use_spot and any(z.spot_usd is not None for z in chosen)
    spot = sum(spot_or_ondemand(z) for z in chosen) / len(chosen) if has_spot else None
    return ZonePlacement(tuple(sorted(z.zone for z in chosen if z.zone)), ondemand, spot)


def min_instances(min_replicas: int, replicas_per_instance: int) -> int:
    """The fewest instances that run `min_replicas` model replicas (placement.min_replicas counts
    replicas: 8 GPUs at tensor parallel 2 run 4, so a minimum of 2 needs one instance)."""
    return math.ceil(min_replicas / replicas_per_instance)


def instance_counts(
    demand: float, per_instance: float, min_instances: int, floor: float, spot_available: bool
) -> tuple[int, int]:
    """(instances, on-demand instances): the fewest instances that carry `demand`, and the fewest
    on-demand ones that still carry `floor` of it when every spot instance is interrupted."""
    instances = max(min_instances, math.ceil(demand / per_instance - 1e-9))
    if not spot_available:
        return instances, instances
    on_demand = math.ceil(floor * demand / per_instance - 1e-9) if floor > 0 else 0
    return instances, min(instances, on_demand)


# --- the search ----------------------------------------------------------------------------------


def _allowed(offering: Offering, profile: Profile, filters: Filters) -> bool:
    placement = profile.placement
    if offering.cloud not in placement.clouds or offering.kind not in placement.kinds:
        return False
    if unconfigured_kind(offering.kind, profile) is not None:
        return False
    if placement.regions and offering.region not in placement.regions:
        return False
    checks = (
        (filters.clouds, offering.cloud),
        (filters.regions, offering.region),
        (filters.kinds, offering.kind),
        (filters.accelerators, offering.accelerator.lower()),
    )
    if any(allowed is not None and value not in allowed for allowed, value in checks):
        return False
    if offering.accelerator.lower() in filters.excluded_accelerators:
        return False
    return (
        filters.instance_types is None
        or offering.instance_type.lower() in filters.instance_types
        or offering.display_name.lower() in filters.instance_types
    )


def unconfigured_kind(kind: str, profile: Profile) -> str | None:
    """Why the profile does not configure `kind` (its `configured_by`), or None."""
    check = targets.kind(kind).configured_by
    return targets.resolve(check)(profile) if check else None


def fixed_hourly_usd(offering: Offering, profile: Profile) -> float:
    """What a candidate on `offering` costs per hour whatever its size (its kind's `fixed_cost`)."""
    cost = targets.kind(offering.kind).fixed_cost
    if cost is None:
        return 0.0
    cloud = targets.cloud(offering.cloud)
    target = cloud.target(offering.kind)
    return targets.resolve(cost)(profile, cloud, target, offering.region)


def replicas_per_instance(offering: Offering, tensor_parallel: int) -> int:
    """An instance the toolkit runs holds as many replicas as its GPUs allow; a managed endpoint
    instance (SageMaker, Vertex AI, Azure ML) runs one model container, so one replica."""
    if not targets.kind(offering.kind).runs_instances:
        return 1
    return offering.accelerator_count // tensor_parallel


def refuse_unconfigured_kinds(profile: Profile, filters: Filters) -> None:
    """A search that may only use kinds the profile does not configure finds nothing for a reason
    the profile can fix: say it, rather than list every accelerator as infeasible."""
    pinned = filters.kinds is not None
    wanted = sorted(filters.kinds if pinned else set(profile.placement.kinds))
    reasons = [unconfigured_kind(kind, profile) for kind in wanted if kind in targets.kind_names()]
    if reasons and all(reasons) and len(reasons) == len(wanted):
        where = "--kind" if pinned else "placement.kinds allows only"
        raise ProfileError(f"{where} {', '.join(wanted)}: {'; '.join(dict.fromkeys(reasons))}.")


def recommend(profile: Profile, catalog: Catalog, filters: Filters | None = None) -> Recommendation:
    filters = filters or Filters()
    refuse_unconfigured_kinds(profile, filters)
    model = profile.model_spec()
    known_accelerators = accelerators()
    capacity = CapacityModel(profile, model)
    rate = profile.workload.requests_per_second
    demand = rate * (1 + profile.targets.headroom)
    floor = profile.placement.spot.floor
    week = week_demand(profile, filters.environment)
    spot_policy = profile.placement.spot.policy
    commitments = profile.pricing.commitments if profile.pricing else None
    if commitments is not None:
        check_held(commitments, catalog)
    candidates: list[Candidate] = []
    considered: dict[str, list[Offering]] = {}
    zone_misses: set[str] = set()
    oversized: set[str] = set()
    for offering in catalog.offerings:
        if not _allowed(offering, profile, filters):
            continue
        accelerator = known_accelerators.get(offering.accelerator)
        if accelerator is None:
            continue
        vendors = targets.kind(offering.kind).vendors
        if vendors is not None and accelerator.vendor not in vendors:
            continue
        fixed_usd = fixed_hourly_usd(offering, profile)
        considered.setdefault(accelerator.name, []).append(offering)
        wanted_zones = profile.placement.zones if targets.kind(offering.kind).runs_instances else 1
        band = offering.spot_interruption
        use_spot = (
            spot_policy != "never"
            and offering.spot_capable
            and any(z.spot_usd is not None for z in offering.zones)
            and profile.placement.spot.accepts(band.band if band else None)
        )
        for degree in capacity.degrees(offering.accelerator_count):
            plan = capacity.replica(accelerator, offering.accelerator_memory_gib, degree)
            if plan is None or plan.requests_per_s <= 0:
                continue
            if plan.cliff is not None and not filters.pins(offering):
                capacity.refuse_cliff(accelerator.name, plan)
                continue
            per_instance_replicas = replicas_per_instance(offering, degree)
            per_instance = per_instance_replicas * plan.requests_per_s
            fewest = min_instances(profile.placement.min_replicas, per_instance_replicas)
            instances, on_demand = instance_counts(demand, per_instance, fewest, floor, use_spot)
            held = (
                commitments.held_count(offering.instance_type, offering.region)
                if commitments
                else 0
            )
            # held capacity runs first; held at the peak too, the fleet has no spot (as with a
            # floor of 1): a spot group would keep Target.spot_floor instances the hours miss
            on_demand = held_on_demand(on_demand, instances, held)
            if instances > MAX_INSTANCES:
                oversized.add(accelerator.name)
                continue
            placed = place_in_zones(offering, wanted_zones, instances, on_demand, use_spot)
            if placed is None:
                zone_misses.add(accelerator.name)
                break
            if placed.spot_usd is None:
                on_demand = instances
            candidates.append(
                Candidate(
                    offering=offering,
                    zones=placed.zones,
                    tensor_parallel=degree,
                    replicas_per_instance=per_instance_replicas,
                    instances=instances,
                    on_demand_instances=on_demand,
                    ondemand_usd=placed.ondemand_usd,
                    spot_usd=placed.spot_usd if on_demand < instances else None,
                    accelerator=accelerator,
                    replica=plan,
                    fixed_usd=fixed_usd,
                    hours=_week_sizes(
                        week, profile, offering, plan, per_instance_replicas, instances, on_demand
                    ),
                )
            )
    if commitments is not None:
        candidates = [with_commitment(c, commitments) for c in candidates]
    candidates.sort(key=lambda c: c.sort_key)
    excluded = explain_exclusions(
        profile, model, catalog, filters, capacity, considered, candidates, zone_misses, oversized
    )
    if not candidates:
        raise NoFeasibleCandidate(
            f"no offering can serve {model.name} at {rate:g} requests/s within the targets",
            [{"class": e.subject, "reason": e.reason} for e in excluded],
        )
    recommendation = Recommendation(
        profile=profile,
        model=model,
        requests_per_s=rate,
        demand_requests_per_s=demand,
        catalog_date=catalog.date,
        candidates=candidates,
        excluded=excluded,
        capacity=capacity,
        week=week,
    )
    cliff = recommendation.chosen.replica.cliff
    if cliff is not None:
        recommendation.warnings.append(
            f"the chosen {recommendation.chosen.offering.display_name} is at a cliff: even "
            f"unloaded, {cliff.sentence()}, so a small error in the prediction multiplies the "
            "fleet or breaks the target; it is planned only because it is pinned."
        )
    return recommendation


def check_held(commitments: Commitments, catalog: Catalog) -> None:
    """Every held commitment names an instance type the catalog offers in its region."""
    offered = {(o.instance_type.lower(), o.region) for o in catalog.offerings}
    for index, held in enumerate(commitments.held):
        if (held.instance_type.lower(), held.region) not in offered:
            raise ProfileError(
                f"field pricing.commitments.held[{index}]: the catalog offers no "
                f"{held.instance_type} in {held.region}; name the instance type and region the "
                "commitment covers (`infra catalog show` lists them)."
            )


def with_commitment(candidate: Candidate, commitments: Commitments) -> Candidate:
    """The candidate with its held commitments and what is worth buying on its on-demand part."""
    o = candidate.offering
    rate = commitment_rate(
        o.cloud, o.kind, o.instance_type, o.region, commitments.kind, commitments.term
    )
    usd = rate.usd_per_hour if rate else None
    plan = plan_commitment(
        instance_type=o.instance_type,
        kind=commitments.kind,
        term=commitments.term,
        on_demand=candidate.on_demand_hours(),
        ondemand_usd=candidate.ondemand_usd,
        rate_usd=usd,
        rate_source=f"{rate.source}, retrieved {rate.retrieved}" if rate else None,
        held=commitments.held_count(o.instance_type, o.region),
        held_rate_usd=usd,
        may_buy=commitments.may_buy,
    )
    if usd is None and plan.held_instances == 0:
        return candidate
    return msgspec.structs.replace(candidate, commitment=plan)


def _week_sizes(
    week: WeekDemand | None,
    profile: Profile,
    offering: Offering,
    plan: ReplicaPlan,
    replicas_per_instance: int,
    instances: int,
    on_demand: int,
) -> tuple[tuple[int, int], ...] | None:
    """The candidate's size in each hour of `week`, from the same per-replica capacity it is
    sized with at the peak."""
    if week is None:
        return None
    sizes = week.sizes(
        headroom=profile.targets.headroom,
        per_instance_rps=replicas_per_instance * plan.requests_per_s,
        replicas_per_instance=replicas_per_instance,
        min_replicas=profile.placement.min_replicas,
        peak_instances=instances,
        peak_on_demand=on_demand,
        scales_to_zero=targets.kind(offering.kind).scales_to_zero,
        spot_floor=target.spot_floor
        if (target := targets.target(offering.cloud, offering.kind))
        else 0,
    )
    return tuple(sizes)


def _gib(value: float) -> str:
    return f"{value:,.1f} GiB"


def explain_exclusions(
    profile: Profile,
    model: ModelSpec,
    catalog: Catalog,
    filters: Filters,
    capacity: CapacityModel,
    considered: dict[str, list[Offering]],
    candidates: list[Candidate],
    zone_misses: set[str],
    oversized: set[str],
) -> list[Exclusion]:
    """One sentence per accelerator class that has no feasible candidate, saying why."""
    feasible = {c.offering.accelerator for c in candidates}
    reasons: list[Exclusion] = []
    for name in sorted(catalog.accelerators()):
        if name in feasible:
            continue
        offerings = considered.get(name)
        if not offerings:
            reasons.append(Exclusion(name, _not_considered(name, profile, catalog, filters)))
            continue
        if capacity.measured and name.lower() not in capacity.measured:
            reasons.append(
                Exclusion(name, f"{name}: no measured throughput for it in workload.measured.")
            )
            continue
        verdict = capacity.verdicts.get(name)
        if name in oversized:
            reasons.append(
                Exclusion(
                    name,
                    f"{name}: carrying the load would take more than {MAX_INSTANCES:,} instances.",
                )
            )
            continue
        if name in zone_misses:  # a feasible replica was found first, so a verdict exists too
            zones = profile.placement.zones
            wanted = f"{zones} zones" if isinstance(zones, int) else ", ".join(zones)
            reasons.append(
                Exclusion(name, f"{name}: no offering spans {wanted} in the allowed regions.")
            )
            continue
        if verdict is not None and verdict.cliff is not None:
            cliff, degree = verdict.cliff
            reasons.append(
                Exclusion(
                    name,
                    f"{name}: at a cliff: even unloaded, {cliff.sentence()}, under the "
                    f"{CLIFF_MARGIN:.0%} margin a plan keeps (tensor parallel {degree}); pin "
                    "its accelerator or instance type to plan it anyway.",
                )
            )
            continue
        if verdict is None or (verdict.best_latency is None and verdict.most_memory is None):
            reasons.append(
                Exclusion(
                    name,
                    f"{name}: no tensor-parallel degree that divides the model's "
                    f"{model.attention_heads} attention heads fits its instances.",
                )
            )
            continue
        if verdict.best_latency is not None:
            reasons.append(Exclusion(name, _latency_reason(name, profile, model, verdict)))
            continue
        assert verdict.most_memory is not None
        reasons.append(
            Exclusion(
                name,
                _memory_reason(name, profile, model, catalog, offerings, verdict.most_memory),
            )
        )
    return reasons


def _not_considered(name: str, profile: Profile, catalog: Catalog, filters: Filters) -> str:
    """The profile's placement has no offering of this accelerator, or the pins left it out."""
    if msgspec.structs.replace(filters, environment=None) != Filters() and any(
        o.accelerator == name and _allowed(o, profile, Filters()) for o in catalog.offerings
    ):
        pins = "--cloud, --region, --kind, --accelerator or --instance-type"
        environment = filters.environment
        by_environment = f" or by where environment {environment} deploys" if environment else ""
        return f"{name}: left out by the pins ({pins}){by_environment}."
    refused_kinds = _kinds_refusing_its_vendor(name, profile, catalog, filters)
    if refused_kinds:
        accelerator = accelerators()[name]
        serves = "; ".join(
            f"kind {kind} serves only on {' or '.join(sorted(targets.kind(kind).vendors or ()))} "
            "accelerators"
            for kind in refused_kinds
        )
        return f"{name}: made by {accelerator.vendor}, and {serves}."
    return f"{name}: not offered in the allowed clouds, kinds and regions."


def _kinds_refusing_its_vendor(
    name: str, profile: Profile, catalog: Catalog, filters: Filters
) -> list[str]:
    """The allowed kinds that offer this accelerator but not its vendor's, when no allowed kind
    takes it: the reason is the kind's vendor rule, not the placement."""
    accelerator = accelerators().get(name)
    allowed = [
        o for o in catalog.offerings if o.accelerator == name and _allowed(o, profile, filters)
    ]
    if accelerator is None or not allowed:
        return []
    refusing = {
        o.kind
        for o in allowed
        if (vendors := targets.kind(o.kind).vendors) is not None
        and accelerator.vendor not in vendors
    }
    return sorted(refusing) if len(refusing) == len({o.kind for o in allowed}) else []


def _latency_reason(name: str, profile: Profile, model: ModelSpec, verdict: _ClassVerdict) -> str:
    assert verdict.best_latency is not None
    tpot, latency, degree = verdict.best_latency
    targets = profile.targets
    parts = []
    if tpot is not None and targets.tpot_ms is not None and tpot > targets.tpot_ms:
        parts.append(f"time per output token {tpot:.1f} ms > target {targets.tpot_ms:g} ms")
    if (
        latency is not None
        and model.is_llm
        and targets.ttft_ms_p95 is not None
        and latency > targets.ttft_ms_p95
    ):
        parts.append(
            f"p95 time to first token {latency:.0f} ms > target {targets.ttft_ms_p95:g} ms"
        )
    if not parts:
        parts.append(f"p95 latency {latency or 0:.0f} ms exceeds the targets")
    return (
        f"{name}: even unloaded, the best it reaches is {' and '.join(parts)} "
        f"(tensor parallel {degree})."
    )


def _memory_reason(
    name: str,
    profile: Profile,
    model: ModelSpec,
    catalog: Catalog,
    offerings: list[Offering],
    short: MemoryShort,
) -> str:
    """What one replica needs against the most memory one replica was given, and why it could
    not be given more: the tensor-parallel limit within one instance, or the catalog."""
    holds = (
        f"the KV cache of one {short.longest_sequence:,.0f}-token sequence"
        if short.longest_sequence is not None
        else "one request"
    )
    degree = short.tensor_parallel
    given = (
        f"{degree} × {_gib(short.usable_gib_per_accelerator)} = {_gib(short.usable_gib)}"
        if degree > 1
        else _gib(short.usable_gib)
    )
    return (
        f"{name}: a replica needs {_gib(short.needed_gib)} (weights at {profile.model.precision} "
        f"and {holds}) but gets at most {given}: tensor parallel {degree} on "
        f"{short.accelerator_memory_gib:g} GiB accelerators, each keeping "
        f"{short.memory_utilization:.0%} of its memory less a {short.reserve_gib:g} GiB runtime "
        f"reserve; {_why_no_more(name, model, catalog, offerings, short)}."
    )


def _why_no_more(
    name: str,
    model: ModelSpec,
    catalog: Catalog,
    offerings: list[Offering],
    short: MemoryShort,
) -> str:
    """Why no replica spans more accelerators of this size: replicas do not span instances."""
    if not model.is_llm:
        return "a replica of an encoder, vision or speech model runs on one accelerator"
    higher = [d for d in TENSOR_PARALLEL_DEGREES if d > short.tensor_parallel]
    if not higher:
        return (
            f"{short.tensor_parallel} is the highest tensor-parallel degree considered, "
            "and a replica does not span instances"
        )
    wanted = higher[0]
    same_size = [o for o in offerings if o.accelerator_memory_gib == short.accelerator_memory_gib]
    largest = max(same_size, key=lambda o: o.accelerator_count)
    if largest.accelerator_count < wanted:
        return (
            f"tensor parallel {wanted} needs {wanted} of them in one instance (a replica does not "
            f"span instances) and the largest allowed {name} instance, {largest.display_name}, "
            f"has {largest.accelerator_count}{_catalog_gap(name, catalog, offerings)}"
        )
    if not model.tensor_parallel_ok(wanted):
        heads = f"{model.attention_heads} attention heads"
        if model.attention_heads is not None and model.attention_heads % wanted == 0:
            heads = f"{model.kv_heads} KV heads"
        return f"tensor parallel {wanted} does not divide the model's {heads}"
    return (
        f"tensor parallel {wanted} must divide an instance's accelerators, and no allowed "
        f"{name} instance has a multiple of {wanted} (the largest, {largest.display_name}, "
        f"has {largest.accelerator_count})"
    )


def _catalog_gap(name: str, catalog: Catalog, offerings: list[Offering]) -> str:
    """The catalog's larger instance of this accelerator that the placement or pins leave out."""
    allowed = max(o.accelerator_count * o.accelerator_memory_gib for o in offerings)
    outside = [
        o
        for o in catalog.offerings
        if o.accelerator == name and o.accelerator_count * o.accelerator_memory_gib > allowed
    ]
    if not outside:
        return ""
    biggest = max(outside, key=lambda o: o.accelerator_count * o.accelerator_memory_gib)
    return (
        f" ({biggest.display_name}, {biggest.accelerator_count} × "
        f"{biggest.accelerator_memory_gib:g} GiB on {biggest.cloud}/{biggest.kind}, is outside "
        "what the placement and the pins allow)"
    )
