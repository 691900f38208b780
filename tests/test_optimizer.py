"""The optimizer on small hand-built catalogs: what it chooses, how it prices spot and zones, and
how it explains what lost.

Pricing tests pin the capacity of a replica with `workload.measured` (exact requests/s, tensor
parallel 1), so they check the search and the pricing, not the performance model. Tests that need
the performance model (memory and latency exclusions) use cases that cannot flip when it is
re-fitted: a 70B model in bf16 on 64 GiB, a 1 ms time-to-first-token target.
"""

from __future__ import annotations

import csv
import re
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.errors import NoFeasibleCandidate
from planner import service
from planner.optimizer import (
    HOURS_PER_MONTH,
    Candidate,
    Exclusion,
    Filters,
    Recommendation,
    _variety,
    place_in_zones,
    recommend,
)
from planner.performance import efficiency_table
from planner.profile import Profile
from providers.catalog import COLUMNS, Catalog, Offering, ZonePrice, read_catalog_file
from tests.conftest import catalog_of, make_profile, offering, write_profile, zone

CHAT_TOKENS = {
    "input_tokens": {"mean": 512, "p95": 1024},
    "output_tokens": {"mean": 128, "p95": 256},
}


RELAXED = {"ttft_ms_p95": 20000, "tpot_ms": 500, "headroom": 0.2}
"""Targets loose enough that any re-fit of the performance model keeps a model that fits in
memory feasible."""


def measured_profile(
    rate: float,
    per_replica: float,
    *,
    policy: str = "never",
    floor: float | None = None,
    zones: int | list[str] = 1,
    min_replicas: int = 1,
    headroom: float = 0.25,
    accelerator: str = "A10G",
    **sections: Any,
) -> Profile:
    """A chat profile whose replicas on `accelerator` carry exactly `per_replica` requests/s."""
    spot: dict[str, Any] = {"policy": policy}
    if floor is not None:
        spot["on_demand_floor"] = floor
    return make_profile(
        workload={
            "requests_per_second": rate,
            **CHAT_TOKENS,
            "measured": [{"accelerator": accelerator, "requests_per_second": per_replica}],
        },
        targets={"ttft_ms_p95": 2000, "headroom": headroom},
        placement={
            "zones": zones,
            "spot": spot,
            "min_replicas": min_replicas,
        },
        **sections,
    )


def only_candidate(recommendation: Recommendation) -> Candidate:
    (candidate,) = recommendation.candidates
    return candidate


def assert_one_sentence(reason: str, accelerator: str) -> None:
    assert reason.startswith(f"{accelerator}: "), reason
    assert reason.endswith("."), reason
    assert "\n" not in reason and ". " not in reason, reason


# --- the cheapest feasible candidate ----------------------------------------------------------


def test_cheapest_fleet_wins_not_cheapest_instance() -> None:
    """Four 1-GPU instances at 1.00 lose to one 4-GPU instance at 3.50 that carries the same."""
    profile = measured_profile(rate=7, per_replica=2, headroom=0)
    catalog = catalog_of(
        offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.0)]),
        offering("g5.xlarge", "A10G", 1, 22.4, [zone("usw2-az1", 0.95)], region="us-west-2"),
        offering("g5.12xlarge", "A10G", 4, 22.4, [zone("use1-az1", 3.5)]),
        offering("g5.48xlarge", "A10G", 8, 22.4, [zone("use1-az1", 7.9)]),
    )
    result = recommend(profile, catalog)
    chosen = result.chosen
    assert chosen.offering.instance_type == "g5.12xlarge"
    assert (chosen.instances, chosen.replicas_per_instance) == (1, 4)
    assert chosen.hourly_usd == pytest.approx(3.5)
    assert chosen.hourly_usd == min(c.hourly_usd for c in result.candidates)
    hourly = {
        (c.offering.instance_type, c.offering.region): c.hourly_usd for c in result.candidates
    }
    assert hourly == pytest.approx(
        {
            ("g5.xlarge", "us-east-1"): 4.0,
            ("g5.xlarge", "us-west-2"): 3.8,
            ("g5.12xlarge", "us-east-1"): 3.5,
            ("g5.48xlarge", "us-east-1"): 7.9,
        }
    )
    for candidate in result.candidates:
        assert candidate.capacity_requests_per_s >= result.demand_requests_per_s


def test_every_candidate_carries_the_demand_with_headroom() -> None:
    """With the real performance model: the chosen is the cheapest and every fleet has headroom."""
    profile = make_profile(targets=RELAXED, placement={"zones": 1, "spot": {"policy": "never"}})
    catalog = catalog_of(
        offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.006)]),
        offering("g6e.xlarge", "L40S", 1, 44.7, [zone("use1-az1", 1.861)]),
        offering("p5.48xlarge", "H100", 8, 80.0, [zone("use1-az1", 98.32)]),
        offering("ml.g5.xlarge", "A10G", 1, 22.4, [zone("", 1.408)], kind="sagemaker"),
    )
    result = recommend(profile, catalog)
    assert result.demand_requests_per_s == pytest.approx(5 * 1.2)
    assert result.candidates, "an 8B model fits all of these"
    assert result.chosen.hourly_usd == min(c.hourly_usd for c in result.candidates)
    for candidate in result.candidates:
        per_instance = candidate.replicas_per_instance * candidate.replica.requests_per_s
        assert candidate.capacity_requests_per_s >= result.demand_requests_per_s
        fewer = max(profile.placement.min_replicas, candidate.instances - 1)
        if fewer < candidate.instances:
            assert fewer * per_instance < result.demand_requests_per_s, "not the fewest instances"
        if candidate.offering.kind == "fleet":
            assert candidate.replicas_per_instance * candidate.tensor_parallel == (
                candidate.offering.accelerator_count
            )
        else:
            assert candidate.replicas_per_instance == 1


def test_a_managed_endpoint_instance_runs_one_replica() -> None:
    """A fleet instance with 4 GPUs runs 4 replicas of a 1-GPU model; a SageMaker instance runs
    one model container, so the same GPUs serve one replica and need more instances."""
    profile = make_profile(targets=RELAXED, placement={"zones": 1, "spot": {"policy": "never"}})
    catalog = catalog_of(
        offering("g5.12xlarge", "A10G", 4, 22.4, [zone("use1-az1", 5.672)]),
        offering("ml.g5.12xlarge", "A10G", 4, 22.4, [zone("", 7.09)], kind="sagemaker"),
    )
    result = recommend(profile, catalog)
    by_kind: dict[str, list[Any]] = {}
    for candidate in result.candidates:
        by_kind.setdefault(candidate.offering.kind, []).append(candidate)
    assert {c.replicas_per_instance * c.tensor_parallel for c in by_kind["fleet"]} == {4}
    assert {c.replicas_per_instance for c in by_kind["sagemaker"]} == {1}
    one_gpu = [c for c in by_kind["sagemaker"] if c.tensor_parallel == 1]
    assert one_gpu, "an 8B model fits one A10G"
    for candidate in one_gpu:
        assert candidate.capacity_requests_per_s == pytest.approx(
            candidate.instances * candidate.replica.requests_per_s
        )


# --- spot policy and the on-demand floor ------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "floor", "on_demand"),
    [
        ("never", None, 5),
        ("never", 0.0, 5),
        ("allowed", None, 3),  # default floor 0.5: 5 of 10 requests/s -> 3 instances of 2
        ("allowed", 0.2, 1),  # exactly 2 of 10 requests/s: one instance suffices
        ("allowed", 0.21, 2),
        ("allowed", 1.0, 5),
        ("preferred", None, 0),
        ("preferred", 0.25, 2),
        ("preferred", 0.0, 0),
    ],
)
def test_on_demand_floor(policy: str, floor: float | None, on_demand: int) -> None:
    """On-demand instances alone carry `floor` of the demand (with headroom); no more of them."""
    profile = measured_profile(rate=8, per_replica=2, policy=policy, floor=floor)
    catalog = catalog_of(offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.0, 0.4)]))
    result = recommend(profile, catalog)
    candidate = only_candidate(result)
    demand = result.demand_requests_per_s
    assert demand == pytest.approx(10)
    assert candidate.instances == 5
    assert candidate.on_demand_instances == on_demand
    share = profile.placement.spot.floor
    assert on_demand * 2 >= share * demand - 1e-9
    if on_demand > 0:
        assert (on_demand - 1) * 2 < share * demand, "more on-demand than the floor needs"
    spot = 5 - on_demand
    assert candidate.spot_instances == spot
    assert candidate.spot_usd == (pytest.approx(0.4) if spot else None)
    assert candidate.hourly_usd == pytest.approx(on_demand * 1.0 + spot * 0.4)
    assert candidate.all_on_demand_hourly_usd == pytest.approx(5.0)


@pytest.mark.parametrize(
    ("policy", "floor", "on_demand"),
    [("allowed", 0.5, 3), ("allowed", 1.0, 5), ("preferred", 0.0, 0), ("never", None, 8)],
)
def test_floor_is_of_the_demand_not_of_the_instance_count(
    policy: str, floor: float | None, on_demand: int
) -> None:
    """min_replicas adds instances; the floor still sizes on-demand by the demand they carry.

    Even a floor of 1 keeps only the 5 instances the demand needs on on-demand; the 3 extra
    ones min_replicas asks for may be spot. Only policy `never` keeps them all on on-demand.
    """
    profile = measured_profile(rate=8, per_replica=2, policy=policy, floor=floor, min_replicas=8)
    catalog = catalog_of(offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.0, 0.4)]))
    candidate = only_candidate(recommend(profile, catalog))
    assert (candidate.instances, candidate.on_demand_instances) == (8, on_demand)
    assert candidate.hourly_usd == pytest.approx(on_demand * 1.0 + (8 - on_demand) * 0.4)


def test_no_spot_price_means_all_on_demand() -> None:
    """Spot allowed but not listed, listed at or above on-demand, or implausibly low: none used."""
    profile = measured_profile(rate=8, per_replica=2, policy="preferred")
    catalog = catalog_of(
        offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.0)]),
        offering("g5.xlarge", "A10G", 1, 22.4, [zone("usw2-az1", 1.0, 1.0)], region="us-west-2"),
        offering("g5.xlarge", "A10G", 1, 22.4, [zone("euw1-az1", 1.0, 0.05)], region="eu-west-1"),
    )
    result = recommend(profile, catalog)
    assert len(result.candidates) == 3
    for candidate in result.candidates:
        assert candidate.on_demand_instances == candidate.instances == 5
        assert candidate.spot_usd is None
        assert candidate.hourly_usd == pytest.approx(5.0)


# --- zones ---------------------------------------------------------------------------------------

FOUR_ZONES = [
    zone("use1-az1", 1.0, 0.30),
    zone("use1-az2", 1.0, 0.50),
    zone("use1-az3", 1.0),
    zone("use1-az4", 1.0, 0.60),
]


@pytest.mark.parametrize(
    ("zones", "chosen", "spot_usd"),
    [
        (1, ("use1-az1",), 0.30),
        (2, ("use1-az1", "use1-az2"), 0.40),
        (3, ("use1-az1", "use1-az2", "use1-az4"), (0.30 + 0.50 + 0.60) / 3),
        # the zone without spot carries its spot share at on-demand
        (4, ("use1-az1", "use1-az2", "use1-az3", "use1-az4"), (0.30 + 0.50 + 1.0 + 0.60) / 4),
        (["use1-az3", "use1-az1"], ("use1-az1", "use1-az3"), (0.30 + 1.0) / 2),
    ],
)
def test_spot_is_priced_at_the_mean_over_the_zones_spanned(
    zones: int | list[str], chosen: tuple[str, ...], spot_usd: float
) -> None:
    profile = measured_profile(rate=8, per_replica=2, policy="preferred", zones=zones)
    catalog = catalog_of(offering("g5.xlarge", "A10G", 1, 22.4, FOUR_ZONES))
    candidate = only_candidate(recommend(profile, catalog))
    assert candidate.zones == chosen
    assert candidate.spot_usd == pytest.approx(spot_usd)
    assert candidate.hourly_usd == pytest.approx(5 * spot_usd)
    if len(chosen) > 1:
        assert candidate.hourly_usd > 5 * 0.30, "priced at the single cheapest zone"


MIXED_ZONES = [
    zone("use1-az1", 1.0, 0.30),
    zone("use1-az2", 0.8),
    zone("use1-az3", 1.2, 0.35),
]


@pytest.mark.parametrize(
    ("policy", "chosen", "ondemand_usd", "spot_usd"),
    [
        # 3 on-demand + 2 spot per zone: az1 3.6, az2 4.0, az3 4.3
        ("allowed", ("use1-az1", "use1-az2"), 0.9, 0.55),
        # 5 spot per zone: az1 1.5, az3 1.75, az2 4.0
        ("preferred", ("use1-az1", "use1-az3"), 1.1, 0.325),
        # 5 on-demand per zone: az2 4.0, az1 5.0, az3 6.0
        ("never", ("use1-az1", "use1-az2"), 0.9, None),
    ],
)
def test_zones_chosen_are_the_cheapest_for_the_fleet_mix(
    policy: str, chosen: tuple[str, ...], ondemand_usd: float, spot_usd: float | None
) -> None:
    profile = measured_profile(rate=8, per_replica=2, policy=policy, zones=2)
    catalog = catalog_of(offering("g5.xlarge", "A10G", 1, 22.4, MIXED_ZONES))
    candidate = only_candidate(recommend(profile, catalog))
    assert candidate.zones == chosen
    assert candidate.ondemand_usd == pytest.approx(ondemand_usd)
    if spot_usd is None:
        assert candidate.spot_usd is None
    else:
        assert candidate.spot_usd == pytest.approx(spot_usd)
    spot = candidate.spot_usd or 0.0
    expected = candidate.on_demand_instances * ondemand_usd + candidate.spot_instances * spot
    assert candidate.hourly_usd == pytest.approx(expected)


def test_place_in_zones_needs_enough_zones_and_named_ones() -> None:
    two = offering("g5.xlarge", "A10G", 1, 22.4, FOUR_ZONES[:2])
    assert place_in_zones(two, 3, 5, 0, True) is None
    assert place_in_zones(two, ["use1-az1", "use1-az9"], 5, 0, True) is None
    placed = place_in_zones(two, 2, 5, 0, False)
    assert placed is not None and placed.spot_usd is None and placed.ondemand_usd == 1.0
    regional = offering("ml.g5.xlarge", "A10G", 1, 22.4, [zone("", 1.4)], kind="sagemaker")
    placed = place_in_zones(regional, 3, 5, 5, False)
    assert placed is not None and placed.zones == () and placed.ondemand_usd == 1.4
    no_price = offering("p5e.48xlarge", "H200", 8, 141, [zone("use1-az1", None, 30.0)])
    assert place_in_zones(no_price, 1, 1, 0, True) is None


@pytest.mark.parametrize("measured", [True, False], ids=["measured", "modelled"])
def test_too_few_zones_is_explained(measured: bool) -> None:
    """The class would fit; the reason is the zones, not memory it does not lack."""
    catalog = catalog_of(offering("g5.xlarge", "A10G", 1, 22.4, FOUR_ZONES[:2]))
    for zones, wanted in ((3, "3 zones"), (["use1-az1", "use1-az9"], "use1-az1, use1-az9")):
        if measured:
            profile = measured_profile(rate=8, per_replica=2, zones=zones)
        else:
            profile = make_profile(targets=RELAXED, placement={"zones": zones})
        with pytest.raises(NoFeasibleCandidate) as caught:
            recommend(profile, catalog)
        assert caught.value.reasons == [
            {"class": "A10G", "reason": f"A10G: no offering spans {wanted} in the allowed regions."}
        ]


# --- kinds without a spot market -------------------------------------------------------------


def test_kinds_without_spot_never_get_spot() -> None:
    """A managed endpoint stays on-demand even if a spot price slipped into its zone row."""
    endpoint = Offering(
        cloud="aws",
        kind="sagemaker",
        instance_type="ml.g5.xlarge",
        accelerator="A10G",
        accelerator_count=1,
        accelerator_memory_gib=22.4,
        vcpus=4,
        memory_gib=16,
        region="us-east-1",
        zones=(ZonePrice("", 1.0, 0.3),),
        spot_capable=False,
        source="test",
        retrieved="2026-11-23",
    )
    profile = measured_profile(rate=8, per_replica=2, policy="preferred", zones=2)
    candidate = only_candidate(recommend(profile, catalog_of(endpoint)))
    assert candidate.on_demand_instances == candidate.instances == 5
    assert candidate.spot_usd is None
    assert candidate.zones == ()
    assert candidate.hourly_usd == pytest.approx(5.0)


def write_catalog(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """A catalog CSV of A10G instances: (instance type, zone, on-demand, spot) per row."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for instance_type, zone_name, ondemand, spot in rows:
            writer.writerow(
                [
                    *(instance_type, "A10G", "1", "22.4", "4", "16", "us-east-1", zone_name),
                    *(ondemand, spot, "test", "2026-11-23"),
                ]
            )
    return path


def test_spot_follows_the_kind_when_read_from_csv(tmp_path: Path) -> None:
    fleet = read_catalog_file(
        write_catalog(tmp_path / "ec2.csv", [("g5.xlarge", "use1-az1", "1.0", "0.4")]),
        "aws",
        "fleet",
        True,
    )
    endpoints = read_catalog_file(
        write_catalog(tmp_path / "sagemaker.csv", [("ml.g5.xlarge", "", "1.2", "0.4")]),
        "aws",
        "sagemaker",
        False,
    )
    profile = measured_profile(rate=8, per_replica=2, policy="preferred")
    result = recommend(profile, Catalog((*fleet, *endpoints)))
    by_type = {c.offering.instance_type: c for c in result.candidates}
    assert by_type["g5.xlarge"].spot_instances == 5
    assert by_type["g5.xlarge"].hourly_usd == pytest.approx(2.0)
    assert by_type["ml.g5.xlarge"].spot_instances == 0
    assert by_type["ml.g5.xlarge"].hourly_usd == pytest.approx(6.0)
    assert result.chosen.offering.instance_type == "g5.xlarge"


# --- min_replicas --------------------------------------------------------------------------------


@pytest.mark.parametrize(("min_replicas", "instances"), [(1, 5), (5, 5), (6, 6), (9, 9)])
def test_min_replicas(min_replicas: int, instances: int) -> None:
    profile = measured_profile(rate=8, per_replica=2, min_replicas=min_replicas)
    catalog = catalog_of(offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.0)]))
    candidate = only_candidate(recommend(profile, catalog))
    assert candidate.instances == instances
    assert candidate.hourly_usd == pytest.approx(instances * 1.0)


@pytest.mark.parametrize(
    ("min_replicas", "instances"), [(1, 1), (2, 1), (4, 1), (5, 2), (8, 2), (9, 3)]
)
def test_min_replicas_counts_model_replicas_not_instances(
    min_replicas: int, instances: int
) -> None:
    """8 GPUs at tensor parallel 2 run 4 replicas: a minimum of 2 replicas needs one instance."""
    profile = make_profile(
        model={"name": "llama-3.1-70b", "precision": "fp8"},
        workload={"requests_per_second": 0.01, **CHAT_TOKENS},
        targets=RELAXED,
        placement={"zones": 1, "spot": {"policy": "never"}, "min_replicas": min_replicas},
    )
    catalog = catalog_of(offering("p5.48xlarge", "H100", 8, 80.0, [zone("use1-az1", 98.32)]))
    by_degree = {c.tensor_parallel: c for c in recommend(profile, catalog).candidates}
    candidate = by_degree[2]
    assert candidate.replicas_per_instance == 4
    assert candidate.instances == instances
    assert candidate.instances * candidate.replicas_per_instance >= min_replicas
    assert by_degree[8].instances == min_replicas  # one replica to an instance


def test_min_replicas_on_a_multi_replica_fleet_reaches_the_deployment() -> None:
    """The decision's autoscaling minimum is the instances min_replicas needs, not the count."""
    from planner.decision import decide
    from planner.deployment import spec_from_decision

    profile = make_profile(
        workload={"requests_per_second": 0.01, **CHAT_TOKENS},
        targets=RELAXED,
        placement={"zones": 1, "spot": {"policy": "never"}, "min_replicas": 6},
    )
    catalog = catalog_of(offering("g5.12xlarge", "A10G", 4, 22.4, [zone("use1-az1", 5.672)]))
    result = recommend(profile, catalog)
    chosen = result.chosen
    assert (chosen.tensor_parallel, chosen.replicas_per_instance) == (1, 4)
    assert chosen.instances == 2
    decision = decide(profile, result)
    assert (decision.instances, decision.min_instances, decision.max_instances) == (2, 2, 4)
    assert decision.hourly_usd == pytest.approx(2 * 5.672)
    spec = spec_from_decision(profile, decision, "prod")
    capacity = spec.capacity
    assert (capacity.min_size, capacity.desired, capacity.max_size) == (2, 2, 4)
    assert (spec.runtime.tensor_parallel, spec.runtime.replicas_per_instance) == (1, 4)


# --- why the rest lost -----------------------------------------------------------------------

NEEDS_MEMORY = re.compile(
    r"^(?P<name>[\w-]+): a replica needs (?P<needed>[\d,.]+) GiB \(weights at (?P<precision>\w+) "
    r"and (?P<holds>[^)]+)\) but gets at most (?:(?P<degree>\d+) × (?P<per>[\d.]+) GiB = )?"
    r"(?P<usable>[\d,.]+) GiB: tensor parallel (?P<tp>\d+) on (?P<gpu>[\d.]+) GiB accelerators, "
    r"each keeping (?P<utilization>\d+)% of its memory less a (?P<reserve>[\d.]+) GiB runtime "
    r"reserve; (?P<why>.+)\.$"
)


def _number(match: re.Match[str], key: str) -> float:
    return float(match[key].replace(",", ""))


def memory_reasons(profile: Profile, catalog: Catalog, filters: Filters | None = None) -> dict:
    """The memory exclusions by accelerator, each parsed, after checking it is consistent: one
    sentence, GiB only, what one replica gets below what it needs, per accelerator times degree."""
    try:
        excluded = recommend(profile, catalog, filters).excluded
        reasons = {e.subject: e.reason for e in excluded}
    except NoFeasibleCandidate as error:
        reasons = {r["class"]: r["reason"] for r in error.reasons}
    parsed = {}
    for name, reason in reasons.items():
        assert_one_sentence(reason, name)
        assert " GB" not in reason, reason
        match = NEEDS_MEMORY.match(reason)
        if match is None:
            continue
        number = partial(_number, match)
        assert number("usable") < number("needed"), reason
        efficiency = efficiency_table().for_(name, profile.runtime.engine)
        per = number("gpu") * efficiency.memory_utilization - efficiency.reserve_gib
        assert int(match["utilization"]) == round(efficiency.memory_utilization * 100)
        assert number("reserve") == efficiency.reserve_gib
        assert number("usable") == pytest.approx(int(match["tp"]) * per, abs=0.06)
        if match["degree"]:
            assert match["degree"] == match["tp"]
            assert number("per") == pytest.approx(per, abs=0.06)
        parsed[name] = match
    return parsed


def test_memory_exclusion_says_what_one_replica_needs_and_gets() -> None:
    """70B at bf16 (~131 GiB of weights): 4 T4s in one instance keep ~52 GiB, which the old
    message set against the instance's total (64 GiB, "69 GB") as if that were the limit."""
    profile = make_profile(model={"name": "llama-3.1-70b", "precision": "bf16"}, targets=RELAXED)
    catalog = catalog_of(
        offering("g4dn.xlarge", "T4", 1, 16.0, [zone("use1-az1", 0.526)]),
        offering("g4dn.12xlarge", "T4", 4, 16.0, [zone("use1-az1", 3.912)]),
        offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.006)]),
        offering("p5.48xlarge", "H100", 8, 80.0, [zone("use1-az1", 98.32)]),
    )
    parsed = memory_reasons(profile, catalog)
    assert set(parsed) == {"T4", "A10G"}
    weights_gib = profile.model_spec().total_params * 2 / 2**30
    t4, a10g = parsed["T4"], parsed["A10G"]
    assert (t4["tp"], t4["gpu"], a10g["tp"], a10g["gpu"]) == ("4", "16", "1", "22.4")
    assert a10g["degree"] is None
    for match in (t4, a10g):
        assert float(match["needed"].replace(",", "")) > weights_gib
        assert match["precision"] == "bf16"
        assert match["holds"] == "the KV cache of one 1,280-token sequence"
    assert t4["why"] == (
        "tensor parallel 8 needs 8 of them in one instance (a replica does not span instances) "
        "and the largest allowed T4 instance, g4dn.12xlarge, has 4"
    )
    assert a10g["why"].startswith("tensor parallel 2 needs 2 of them in one instance")


def test_memory_exclusion_names_a_larger_instance_the_placement_leaves_out() -> None:
    """A catalog gap: the 8-GPU instance exists, but not in the allowed region."""
    profile = make_profile(
        model={"name": "llama-3.1-70b", "precision": "bf16"},
        targets=RELAXED,
        placement={"regions": ["us-east-1"]},
    )
    catalog = catalog_of(
        offering("g4dn.12xlarge", "T4", 4, 16.0, [zone("use1-az1", 3.912)]),
        offering("g4dn.metal", "T4", 8, 16.0, [zone("usw2-az1", 7.8)], region="us-west-2"),
        offering("p5.48xlarge", "H100", 8, 80.0, [zone("use1-az1", 98.32)]),
    )
    why = memory_reasons(profile, catalog)["T4"]["why"]
    assert why.endswith(
        "has 4 (g4dn.metal, 8 × 16 GiB on aws/fleet, is outside what the placement and the pins "
        "allow)"
    ), why


def test_memory_exclusion_of_a_16_gpu_instance_stops_at_tensor_parallel_8() -> None:
    """405B at fp8 on 16 × 40 GiB: the instance holds 640 GiB, more than a replica needs, but a
    replica gets 8 of its GPUs (the old message set 407 "GB" against 687 "GB")."""
    profile = make_profile(model={"name": "llama-3.1-405b", "precision": "fp8"}, targets=RELAXED)
    catalog = catalog_of(
        offering("a2-megagpu-16g", "A100", 16, 40.0, [zone("a", 55.74)], cloud="gcp", region="x"),
        offering("p5en.48xlarge", "H200", 8, 141.0, [zone("use1-az1", 63.3)]),
    )
    match = memory_reasons(profile, catalog)["A100"]
    assert float(match["needed"].replace(",", "")) < 16 * 40
    assert (match["tp"], match["gpu"]) == ("8", "40")
    assert match["why"] == (
        "8 is the highest tensor-parallel degree considered, and a replica does not span instances"
    )


def architecture(attention_heads: int, kv_heads: int) -> dict[str, Any]:
    """A 100B decoder that fits no 8 × 16 GiB instance, with the heads given."""
    return {
        "architecture": {
            "params_b": 100,
            "layers": 80,
            "hidden_size": 8192,
            "attention_heads": attention_heads,
            "kv_heads": kv_heads,
            "head_dim": 128,
        },
        "precision": "bf16",
    }


@pytest.mark.parametrize(
    ("heads", "kv_heads", "degree", "why"),
    [
        (28, 4, "4", "tensor parallel 8 does not divide the model's 28 attention heads"),
        (48, 6, "2", "tensor parallel 4 does not divide the model's 6 KV heads"),
        (
            64,
            8,
            "8",
            "8 is the highest tensor-parallel degree considered, and a replica does not "
            "span instances",
        ),
    ],
)
def test_memory_exclusion_says_why_no_higher_tensor_parallel_degree(
    heads: int, kv_heads: int, degree: str, why: str
) -> None:
    profile = make_profile(model=architecture(heads, kv_heads), targets=RELAXED)
    catalog = catalog_of(offering("g4dn.metal", "T4", 8, 16.0, [zone("use1-az1", 7.8)]))
    match = memory_reasons(profile, catalog)["T4"]
    assert (match["tp"], match["why"]) == (degree, why)


def test_memory_exclusion_when_the_instance_does_not_split_into_the_next_degree() -> None:
    """12 accelerators run tensor parallel 4 at most: 8 does not divide 12."""
    profile = make_profile(model=architecture(64, 8), targets=RELAXED)
    catalog = catalog_of(offering("inf2.48xlarge", "Inferentia2", 12, 32.0, [zone("a", 12.98)]))
    match = memory_reasons(profile, catalog)["Inferentia2"]
    assert match["tp"] == "4"
    assert match["why"] == (
        "tensor parallel 8 must divide an instance's accelerators, and no allowed Inferentia2 "
        "instance has a multiple of 8 (the largest, inf2.48xlarge, has 12)"
    )


def test_memory_exclusion_of_a_non_llm_model() -> None:
    profile = make_profile(
        model={"name": "bert-base-uncased", "precision": "fp16"},
        workload={"requests_per_second": 50, "memory_gib_per_request": 30},
        targets={"e2e_ms_p95": 1000},
    )
    catalog = catalog_of(
        offering("g4dn.xlarge", "T4", 1, 16.0, [zone("use1-az1", 0.526)]),
        offering("p5.48xlarge", "H100", 8, 80.0, [zone("use1-az1", 98.32)]),
    )
    match = memory_reasons(profile, catalog)["T4"]
    assert (match["tp"], match["holds"], match["why"]) == (
        "1",
        "one request",
        "a replica of an encoder, vision or speech model runs on one accelerator",
    )


def test_impossible_target_raises_with_a_reason_per_accelerator() -> None:
    profile = make_profile(targets={"ttft_ms_p95": 1, "tpot_ms": 60})
    catalog = catalog_of(
        offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.006)]),
        offering("p5.48xlarge", "H100", 8, 80.0, [zone("use1-az1", 98.32)]),
        offering("g6.xlarge", "L4", 1, 22.4, [zone("use1-az1", 0.805)], cloud="gcp"),
    )
    with pytest.raises(NoFeasibleCandidate) as caught:
        recommend(profile, catalog)
    error = caught.value
    assert str(error) == "no offering can serve llama-3.1-8b at 5 requests/s within the targets"
    assert error.exit_code == 3
    assert [r["class"] for r in error.reasons] == ["A10G", "H100", "L4"]
    for item in error.reasons:
        assert_one_sentence(item["reason"], item["class"])
        assert re.fullmatch(
            rf"{item['class']}: even unloaded, the best it reaches is "
            r"(time per output token [\d.]+ ms > target 60 ms and )?"
            r"p95 time to first token \d+ ms > target 1 ms \(tensor parallel [1248]\)\.",
            item["reason"],
        ), item["reason"]


def test_other_exclusion_reasons() -> None:
    profile = measured_profile(rate=8, per_replica=2)
    catalog = catalog_of(
        offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.0)]),
        offering("g6.xlarge", "L4", 1, 22.4, [zone("use1-az1", 0.8)]),
        offering("a2-highgpu-1g", "A100", 1, 40.0, [zone("a", 3.7)], cloud="gcp", region="x"),
    )
    result = recommend(profile, catalog, Filters(clouds=frozenset({"aws"})))
    pinned = (
        "A100: left out by the pins (--cloud, --region, --kind, --accelerator or --instance-type)."
    )
    assert [(e.subject, e.reason) for e in result.excluded] == [
        ("A100", pinned),
        ("L4", "L4: no measured throughput for it in workload.measured."),
    ]
    in_local = recommend(profile, catalog, Filters(environment="local", clouds=frozenset({"aws"})))
    assert in_local.excluded[0].reason == (
        "A100: left out by the pins (--cloud, --region, --kind, --accelerator or --instance-type) "
        "or by where environment local deploys."
    )
    placed = msgspec.structs.replace(
        profile, placement=msgspec.structs.replace(profile.placement, clouds=["aws"])
    )
    assert recommend(placed, catalog).excluded[0] == Exclusion(
        "A100", "A100: not offered in the allowed clouds, kinds and regions."
    )


# --- ordering and unit costs -----------------------------------------------------------------


def test_candidates_and_alternatives_are_sorted_by_hourly_usd() -> None:
    profile = measured_profile(rate=8, per_replica=2, policy="allowed", zones=1)
    catalog = catalog_of(
        offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.0, 0.4)]),
        offering("g5.xlarge", "A10G", 1, 22.4, [zone("usw2-az1", 0.9)], region="us-west-2"),
        offering("g5.2xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.2, 0.5)]),
        offering("g5.12xlarge", "A10G", 4, 22.4, [zone("use1-az1", 5.7)]),
        offering("ml.g5.xlarge", "A10G", 1, 22.4, [zone("", 1.4)], kind="sagemaker"),
        offering("a2-highgpu-1g", "A10G", 1, 22.4, [zone("c", 1.1)], cloud="gcp", region="x"),
    )
    result = recommend(profile, catalog)
    costs = [c.hourly_usd for c in result.candidates]
    assert costs == sorted(costs)
    alternatives = result.alternatives()
    hourly = [c.hourly_usd for c in alternatives]
    assert hourly == sorted(hourly)
    assert result.chosen.hourly_usd <= hourly[0]
    varieties = [_variety(c) for c in alternatives]
    assert len(set(varieties)) == len(varieties)
    assert _variety(result.chosen) not in varieties
    # us-west-2 g5.xlarge is the same variety as the chosen us-east-1 one
    assert {v[2] for v in varieties} == {
        "g5.2xlarge",
        "g5.12xlarge",
        "ml.g5.xlarge",
        "a2-highgpu-1g",
    }
    assert result.alternatives(limit=2) == alternatives[:2]
    assert result.chosen.offering.region == "us-east-1"  # 3 x 1.0 + 2 x 0.4 < 5 x 0.9
    assert result.best_per("cloud")["gcp"].offering.instance_type == "a2-highgpu-1g"


def test_cost_per_token_and_per_request() -> None:
    profile = measured_profile(rate=8, per_replica=2)
    catalog = catalog_of(offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.0)]))
    result = recommend(profile, catalog)
    chosen = result.chosen
    tokens_per_hour = 8 * 128 * 3600
    assert result.usd_per_million_output_tokens(chosen) == pytest.approx(
        5.0 / tokens_per_hour * 1e6
    )
    assert result.usd_per_thousand_requests(chosen) == pytest.approx(5.0 / (8 * 3600) * 1000)


def test_non_llm_has_no_cost_per_output_token() -> None:
    profile = make_profile(
        model={"name": "bert-base-uncased", "precision": "fp16"},
        workload={"requests_per_second": 50},
        targets={"e2e_ms_p95": 1000},
    )
    catalog = catalog_of(offering("g4dn.xlarge", "T4", 1, 16.0, [zone("use1-az1", 0.526)]))
    result = recommend(profile, catalog)
    chosen = result.chosen
    assert chosen.tensor_parallel == 1
    assert result.usd_per_million_output_tokens(chosen) is None
    assert result.usd_per_thousand_requests(chosen) > 0
    predicted = result.predicted(chosen)
    assert predicted.throughput_tokens_per_s is None
    assert predicted.ttft_ms_p95 is None


# --- budget ----------------------------------------------------------------------------------


@pytest.fixture
def small_catalog(monkeypatch: pytest.MonkeyPatch) -> Catalog:
    catalog = catalog_of(offering("g5.xlarge", "A10G", 1, 22.4, [zone("use1-az1", 1.0)]))
    monkeypatch.setattr(service, "load_catalog", lambda: catalog)
    return catalog


def budget_profile(tmp_path: Path, monthly_usd: float) -> Path:
    profile = measured_profile(rate=8, per_replica=2, budget={"monthly_usd": monthly_usd})
    return write_profile(tmp_path, msgspec.to_builtins(profile))


def test_budget_warning_when_over(tmp_path: Path, small_catalog: Catalog) -> None:
    result = service.recommend_for_profile(budget_profile(tmp_path, 1000))
    monthly = 5 * 1.0 * HOURS_PER_MONTH
    assert result.chosen.hourly_usd * HOURS_PER_MONTH == pytest.approx(monthly)
    assert result.warnings == [
        f"the cheapest feasible choice costs {monthly:,.0f} USD/month, "
        f"{monthly - 1000:,.0f} over the budget of 1,000."
    ]


def test_no_budget_warning_when_within(tmp_path: Path, small_catalog: Catalog) -> None:
    result = service.recommend_for_profile(budget_profile(tmp_path, 5 * HOURS_PER_MONTH))
    assert result.warnings == []
