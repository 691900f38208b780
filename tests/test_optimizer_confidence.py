"""Sizing with the model's uncertainty: `targets.confidence`, the band shown per candidate, the
target that binds each replica, candidates at a cliff, and pins that make the plan much dearer.

Tests that need exact figures replace the shipped error band (planner/data/efficiency.yaml, which
is re-fitted as rows are added) with a fixed one; cliffs are built around the model's own unloaded
latency, so a re-fit of the efficiency factors cannot flip them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.errors import NoFeasibleCandidate
from planner import optimizer, service
from planner.accelerators import accelerators
from planner.optimizer import (
    CLIFF_MARGIN,
    LARGE_FLEET_FACTOR,
    CapacityModel,
    Filters,
    Recommendation,
    recommend,
)
from planner.performance import ErrorBand, LlmReplicaModel
from planner.profile import Profile
from providers.catalog import Catalog
from tests.conftest import catalog_of, make_profile, offering, write_profile, zone

NO_ERROR = ErrorBand(rows=9, pooled=False, bias=0.0, spread=0.0)
SPREAD = ErrorBand(rows=9, pooled=False, bias=0.0, spread=0.2)

GPU_CATALOG = catalog_of(
    offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.006)]),
    offering("g5.12xlarge", "A10G", 4, 22.4, [zone("use1-az1", 5.672)]),
    offering("g6e.xlarge", "L40S", 1, 44.7, [zone("use1-az1", 1.861)]),
    offering("p4de.24xlarge", "A100-80GB", 8, 80.0, [zone("use1-az1", 40.97)]),
    offering("p5.4xlarge", "H100", 1, 80.0, [zone("use1-az1", 6.88)]),
    offering("p5.48xlarge", "H100", 8, 80.0, [zone("use1-az1", 55.04)]),
    offering("ml.g5.xlarge", "A10G", 1, 22.4, [zone("", 1.408)], kind="sagemaker"),
)


def with_band(monkeypatch: pytest.MonkeyPatch, band: ErrorBand) -> None:
    monkeypatch.setattr(optimizer, "error_band", lambda accelerator, engine: band)


def chat(confidence: float | None = None, **targets: Any) -> Profile:
    chosen = {"ttft_ms_p95": 2000, "tpot_ms": 60, "headroom": 0.2, **targets}
    if confidence is not None:
        chosen["confidence"] = confidence
    return make_profile(targets=chosen, placement={"zones": 1, "spot": {"policy": "never"}})


def fleet_sizes(result: Recommendation) -> dict[tuple[str, str, int], int]:
    return {
        (c.offering.instance_type, c.offering.kind, c.tensor_parallel): c.instances
        for c in result.candidates
    }


# --- confidence --------------------------------------------------------------------------------


def test_the_default_confidence_is_0_8() -> None:
    assert make_profile().targets.confidence == 0.8


def test_higher_confidence_never_costs_less_nor_takes_fewer_instances() -> None:
    """With the shipped bands: more confidence drops candidates, never adds or shrinks one."""
    previous: Recommendation | None = None
    for confidence in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99):
        result = recommend(chat(confidence, ttft_ms_p95=4000, tpot_ms=150), GPU_CATALOG)
        if previous is not None:
            assert result.chosen.hourly_usd >= previous.chosen.hourly_usd
            before, now = fleet_sizes(previous), fleet_sizes(result)
            assert set(now) <= set(before), "a candidate appeared at a higher confidence"
            for key, instances in now.items():
                assert instances >= before[key], key
        previous = result


def test_capacity_is_the_model_at_targets_divided_by_k_times_1_over_k(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A replica k times slower than predicted must meet each target / k in the model's terms,
    and carries 1/k of that rate."""
    profile = chat(0.9)
    h100 = accelerators()["H100"]
    with_band(monkeypatch, NO_ERROR)
    exact = CapacityModel(profile, profile.model_spec()).replica(h100, 80.0, 1)
    with_band(monkeypatch, SPREAD)
    widened = CapacityModel(profile, profile.model_spec()).replica(h100, 80.0, 1)
    assert exact is not None and widened is not None
    slower = SPREAD.latency_factor(0.9)
    assert slower > 1
    model = CapacityModel(profile, profile.model_spec())._llm_replica(h100, 80.0, 1, slower)
    assert model.workload.tpot_ms == pytest.approx(60 / slower)
    assert widened.requests_per_s == pytest.approx(
        model.capacity().requests_per_s * SPREAD.throughput_factor(0.9)
    )
    assert widened.requests_per_s < exact.requests_per_s / slower


def test_no_error_sizes_as_the_model_predicts(monkeypatch: pytest.MonkeyPatch) -> None:
    with_band(monkeypatch, NO_ERROR)
    profile = chat(0.95)
    plan = CapacityModel(profile, profile.model_spec()).replica(accelerators()["H100"], 80.0, 1)
    assert plan is not None and plan.band == NO_ERROR
    bare = CapacityModel(profile, profile.model_spec())._llm_replica(
        accelerators()["H100"], 80.0, 1
    )
    assert plan.requests_per_s == pytest.approx(bare.capacity().requests_per_s)


@pytest.mark.parametrize("confidence", [0.5, 0.95])
def test_measured_figures_are_not_widened(confidence: float) -> None:
    profile = make_profile(
        workload={
            "requests_per_second": 8,
            "input_tokens": {"mean": 512, "p95": 1024},
            "output_tokens": {"mean": 128, "p95": 256},
            "measured": [{"accelerator": "A10G", "requests_per_second": 2}],
        },
        targets={"ttft_ms_p95": 2000, "headroom": 0.25, "confidence": confidence},
        placement={"zones": 1, "spot": {"policy": "never"}},
    )
    catalog = catalog_of(offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.0)]))
    result = recommend(profile, catalog)
    (candidate,) = result.candidates
    assert candidate.instances == 5 and candidate.replica.requests_per_s == 2
    assert candidate.replica.binding == "measured" and candidate.replica.band is None
    assert result.predicted(candidate).uncertainty is None


def test_the_band_brackets_the_prediction_and_the_pessimistic_end_meets_the_targets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At full load (no headroom, one replica sized exactly), the pessimistic latency of the
    binding target is the target itself, and every other one is within its target."""
    with_band(monkeypatch, SPREAD)
    profile = chat(0.8, headroom=0)
    result = recommend(profile, catalog_of(GPU_CATALOG.offerings[4]))  # p5.4xlarge, 1×H100
    candidate = result.chosen
    full = msgspec.structs.replace(
        result, requests_per_s=candidate.capacity_requests_per_s
    ).predicted(candidate)
    band = full.uncertainty
    assert band is not None and (band.rows, band.pooled, band.confidence) == (9, False, 0.8)
    for name, central, target in (
        ("tpot", full.tpot_ms, 60),
        ("ttft", full.ttft_ms_p95, 2000),
    ):
        span = getattr(band, "tpot_ms" if name == "tpot" else "ttft_ms_p95")
        assert span.low < central < span.high <= target * (1 + 1e-3), name
        if candidate.replica.binding == name:
            assert span.high == pytest.approx(target, rel=2e-3)
    capacity = band.capacity_requests_per_s
    assert capacity.low == pytest.approx(candidate.capacity_requests_per_s)
    assert capacity.high > capacity.low


# --- the binding target ------------------------------------------------------------------------


def binding_of(profile: Profile, accelerator: str, memory_gib: float, degree: int = 1) -> str:
    model = CapacityModel(profile, profile.model_spec())
    plan = model.replica(accelerators()[accelerator], memory_gib, degree)
    assert plan is not None
    return plan.binding


SHORT = ({"mean": 1024, "p95": 2048}, {"mean": 256, "p95": 512})
LONG = ({"mean": 512, "p95": 1024}, {"mean": 8192, "p95": 16384})
"""Long answers: the KV cache holds fewer sequences than max_batch long before compute runs out."""
LOOSE = {"ttft_ms_p95": 600000, "tpot_ms": 10000}
TARGET_FIELDS = {"tpot": "tpot_ms", "ttft": "ttft_ms_p95", "e2e": "e2e_ms_p95"}


def h100_profile(targets: dict[str, Any], tokens: Any = SHORT, **runtime: Any) -> Profile:
    return make_profile(
        targets={"headroom": 0.2, **targets},
        runtime=runtime,
        workload={"requests_per_second": 5, "input_tokens": tokens[0], "output_tokens": tokens[1]},
    )


def midway(name: str) -> dict[str, Any]:
    """Loose targets, but `name` halfway between its unloaded value and its value where the
    loose replica saturates (the model's own figures, so a re-fit keeps the case)."""
    loose = h100_profile(LOOSE)
    replica = CapacityModel(loose, loose.model_spec())._llm_replica(accelerators()["H100"], 80.0, 1)
    light, full = replica.operating_point(1e-9), replica.capacity().at_capacity
    assert light is not None and full is not None
    field = TARGET_FIELDS[name]
    targets: dict[str, Any] = {**LOOSE, "e2e_ms_p95": None}
    targets[field] = (getattr(light, field) + getattr(full, field)) / 2
    return targets


@pytest.mark.parametrize(
    ("targets", "runtime", "tokens", "binding"),
    [
        ("tpot", {}, SHORT, "tpot"),
        ("ttft", {}, SHORT, "ttft"),
        ("e2e", {}, SHORT, "e2e"),
        (LOOSE, {"max_batch": 4}, SHORT, "max_batch"),
        (LOOSE, {}, LONG, "memory"),
        (LOOSE, {"max_batch": 4096}, SHORT, "compute"),
    ],
)
def test_the_binding_target_is_the_constraint_a_higher_rate_breaks(
    monkeypatch: pytest.MonkeyPatch,
    targets: dict[str, Any] | str,
    runtime: dict[str, Any],
    tokens: tuple[dict[str, int], dict[str, int]],
    binding: str,
) -> None:
    with_band(monkeypatch, NO_ERROR)
    profile = h100_profile(
        midway(targets) if isinstance(targets, str) else targets, tokens, **runtime
    )
    assert binding_of(profile, "H100", 80.0) == binding
    model = CapacityModel(profile, profile.model_spec())
    plan = model.replica(accelerators()["H100"], 80.0, 1)
    assert plan is not None
    replica: LlmReplicaModel = model._llm_replica(accelerators()["H100"], 80.0, 1)
    assert replica.limit_at(plan.requests_per_s * 0.999) == ""
    assert replica.limit_at(plan.requests_per_s * 1.01) == binding


@pytest.mark.parametrize(("e2e", "binding"), [(20, "e2e"), (100000, "max_batch")])
def test_a_classifier_is_bound_by_its_target_or_its_batch(
    monkeypatch: pytest.MonkeyPatch, e2e: float, binding: str
) -> None:
    with_band(monkeypatch, NO_ERROR)
    profile = make_profile(
        model={"name": "bert-base-uncased", "precision": "fp16"},
        workload={"requests_per_second": 50},
        targets={"e2e_ms_p95": e2e},
        runtime={"max_batch": 32},
    )
    assert binding_of(profile, "T4", 16.0) == binding


# --- cliffs --------------------------------------------------------------------------------------

A100_ONE = offering(
    "Standard_NC24ads_A100_v4", "A100-80GB", 1, 80.0, [zone("", 3.67)], cloud="azure"
)


def cliff_profile(factor: float) -> Profile:
    """A 32B model on one A100 80GB with the time-per-token target `factor` × its unloaded
    time per token (the model's own figure, so a re-fit keeps the case)."""
    base = make_profile(
        model={"name": "qwen2.5-32b", "precision": "bf16"},
        targets={"ttft_ms_p95": 60000, "tpot_ms": 1000},
        workload={
            "requests_per_second": 5,
            "input_tokens": {"mean": 512, "p95": 1024},
            "output_tokens": {"mean": 256, "p95": 512},
        },
        placement={"zones": 1, "spot": {"policy": "never"}},
    )
    replica = CapacityModel(base, base.model_spec())._llm_replica(
        accelerators()["A100-80GB"], 80.0, 1
    )
    light = replica.operating_point(1e-9)
    assert light is not None
    targets = msgspec.structs.replace(base.targets, tpot_ms=round(light.tpot_ms * factor, 3))
    return msgspec.structs.replace(base, targets=targets)


def test_a_candidate_at_a_cliff_is_refused_naming_the_target_and_the_margin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_band(monkeypatch, NO_ERROR)
    profile = cliff_profile(1.002)
    with pytest.raises(NoFeasibleCandidate) as caught:
        recommend(profile, catalog_of(A100_ONE))
    (reason,) = caught.value.reasons
    target = profile.targets.tpot_ms
    assert reason["class"] == "A100-80GB"
    text = reason["reason"]
    assert text.startswith("A100-80GB: at a cliff: even unloaded, its time per output token of ")
    assert f"is within 0.2% of the {target:g} ms target, under the 10% margin" in text
    assert text.endswith(
        "(tensor parallel 1); pin its accelerator or instance type to plan it anyway."
    )
    assert "\n" not in text and ". " not in text


@pytest.mark.parametrize(
    "pins",
    [
        Filters(accelerators=frozenset({"a100-80gb"})),
        Filters(instance_types=frozenset({"standard_nc24ads_a100_v4"})),
    ],
    ids=["accelerator", "instance type"],
)
def test_a_pinned_cliff_is_planned_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, pins: Filters
) -> None:
    with_band(monkeypatch, NO_ERROR)
    result = recommend(cliff_profile(1.002), catalog_of(A100_ONE), pins)
    cliff = result.chosen.replica.cliff
    assert cliff is not None and cliff.target == "tpot"
    assert 0 <= cliff.margin < CLIFF_MARGIN
    assert result.chosen.instances > 10, "a cliff carries almost no load per replica"
    (warning,) = result.warnings
    assert warning.startswith("the chosen Standard_NC24ads_A100_v4 is at a cliff: even unloaded")
    assert "it is planned only because it is pinned." in warning


def test_an_environment_narrowing_is_not_a_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.decisions import deployable_filters

    with_band(monkeypatch, NO_ERROR)
    with pytest.raises(NoFeasibleCandidate):
        recommend(cliff_profile(1.002), catalog_of(A100_ONE), deployable_filters("prod", Filters()))


def test_a_margin_wider_than_the_cliff_is_planned_without_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_band(monkeypatch, NO_ERROR)
    result = recommend(cliff_profile(1.0 / (1 - CLIFF_MARGIN) + 0.01), catalog_of(A100_ONE))
    assert result.chosen.replica.cliff is None and result.warnings == []


def test_the_margin_is_taken_at_the_confidence_quantile(monkeypatch: pytest.MonkeyPatch) -> None:
    """20% of margin in the model's terms is a cliff when the band says it may run 15% slower."""
    profile = cliff_profile(1.2)
    with_band(monkeypatch, NO_ERROR)
    assert recommend(profile, catalog_of(A100_ONE)).chosen.replica.cliff is None
    slow = ErrorBand(rows=9, pooled=False, bias=-math.log(1.15), spread=0.0)
    with_band(monkeypatch, slow)
    with pytest.raises(NoFeasibleCandidate) as caught:
        recommend(profile, catalog_of(A100_ONE))
    (reason,) = caught.value.reasons
    assert "at a cliff" in reason["reason"] and "within 4.2% of the" in reason["reason"]


# --- pins that make the plan much dearer ---------------------------------------------------------

TWO_ACCELERATORS = catalog_of(
    offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.0)]),
    offering("g6.xlarge", "L4", 1, 22.4, [zone("use1-az1", 1.0)]),
)


def two_measured(tmp_path: Path, l4_per_replica: float) -> Path:
    data = msgspec.to_builtins(
        make_profile(
            workload={
                "requests_per_second": 8,
                "input_tokens": {"mean": 512, "p95": 1024},
                "output_tokens": {"mean": 128, "p95": 256},
                "measured": [
                    {"accelerator": "A10G", "requests_per_second": 2},
                    {"accelerator": "L4", "requests_per_second": l4_per_replica},
                ],
            },
            targets={"ttft_ms_p95": 2000, "headroom": 0.25},
            placement={"zones": 1, "spot": {"policy": "never"}},
        )
    )
    return write_profile(tmp_path, data)


@pytest.fixture
def two_catalog(monkeypatch: pytest.MonkeyPatch) -> Catalog:
    monkeypatch.setattr(service, "load_catalog", lambda: TWO_ACCELERATORS)
    return TWO_ACCELERATORS


def test_pins_many_times_dearer_are_flagged_with_both_figures(
    tmp_path: Path, two_catalog: Catalog
) -> None:
    """10 req/s: 5 A10G instances unpinned; pinned to L4 at 0.5 req/s a replica, 20."""
    path = two_measured(tmp_path, 0.5)
    pins = Filters(accelerators=frozenset({"l4"}))
    result = service.recommend_for_profile(path, pins, Filters())
    large = result.large_fleet
    assert large is not None
    assert (large.pinned_monthly_usd, large.unpinned_monthly_usd) == (20 * 730, 5 * 730)
    assert large.ratio == 4 > LARGE_FLEET_FACTOR
    assert result.warnings == [
        "the pins make the plan 20× g6.xlarge (aws/fleet, us-east-1) at $14,600/month, 4.0 times "
        "the cheapest plan without them, 5× g5.xlarge (aws/fleet, us-east-1) at $3,650/month."
    ]


@pytest.mark.parametrize(
    ("l4_per_replica", "pins"),
    [
        (0.7, Filters(accelerators=frozenset({"l4"}))),  # 15 instances: 3 times, not more
        (0.5, Filters()),  # no pins
        (0.5, Filters(accelerators=frozenset({"a10g"}))),  # pinned to the optimum
    ],
)
def test_no_flag_within_the_factor_or_without_pins(
    tmp_path: Path, two_catalog: Catalog, l4_per_replica: float, pins: Filters
) -> None:
    result = service.recommend_for_profile(two_measured(tmp_path, l4_per_replica), pins, Filters())
    assert result.large_fleet is None and result.warnings == []


def test_locks_taken_before_confidence_existed_stay_valid() -> None:
    """The targets digest leaves out a default confidence, so it equals the digest of the same
    targets without the field; setting another confidence is a change of the targets."""
    from planner.lock import _digest, profile_digest

    profile = chat()
    targets = msgspec.to_builtins(profile.targets)
    del targets["confidence"]
    assert profile_digest(profile)["targets"] == _digest(targets)
    assert profile_digest(chat(0.8)) == profile_digest(profile)
    assert profile_digest(chat(0.9))["targets"] != profile_digest(profile)["targets"]
