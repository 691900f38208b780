"""The optimizer's answer is exact: on random small catalogs it costs what brute force finds.

The capacity of one replica is a random table per (accelerator, tensor-parallel degree), plugged
into the real `CapacityModel` in place of the performance model, and brute force uses the same
table and the same degrees. So this checks the search (instance counts, on-demand split, zones),
not the performance model.

Brute force enumerates every offering × degree × instance count × on-demand count × set of zones
and prices a fleet as the module defines it: spread evenly over its zones, so an instance costs
the mean on-demand price of those zones, and a spot instance the mean spot price, a zone without a
usable spot offer counting at on-demand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from core.errors import NoFeasibleCandidate
from planner import optimizer
from planner.accelerators import Accelerator, accelerators
from planner.optimizer import Candidate, CapacityModel, ReplicaPlan, recommend
from planner.profile import Profile
from providers.catalog import Catalog, Offering, ZonePrice, judge_spot
from tests.conftest import make_profile

MEMORY_GIB = {"A10G": 22.4, "L4": 22.4, "T4": 16.0, "H100": 80.0}
DEGREES = (1, 2, 4, 8)
ZONE_POOL = ("z1", "z2", "z3", "z4")
EPS = 1e-9
"""The optimizer counts demand within 1e-9 of an instance as carried; so does brute force."""
# (cloud, kind, priced per zone); fleets priced per zone are where the search has most to do
PLACES = (
    ("aws", "fleet", True),
    ("aws", "fleet", True),
    ("aws", "fleet", True),
    ("gcp", "fleet", True),
    ("gcp", "fleet", True),
    ("azure", "fleet", False),
    ("aws", "sagemaker", False),
    ("gcp", "vertex", False),
)

CapacityTable = dict[tuple[str, int], float | None]


@dataclass(frozen=True)
class Scenario:
    profile: Profile
    catalog: Catalog
    table: CapacityTable


def table_capacity(table: CapacityTable) -> type[CapacityModel]:
    """The real CapacityModel (degrees and all), with replica capacity read from `table`."""

    class TableCapacity(CapacityModel):
        def replica(
            self, accelerator: Accelerator, memory_gib: float, degree: int
        ) -> ReplicaPlan | None:
            requests_per_s = table[(accelerator.name, degree)]
            return None if requests_per_s is None else ReplicaPlan(degree, requests_per_s, None)

    return TableCapacity


# --- random scenarios ----------------------------------------------------------------------------

prices = st.one_of(st.sampled_from([0.5, 1.0, 2.0, 4.0]), st.floats(0.05, 40.0))


@st.composite
def zone_prices(draw: st.DrawFn, name: str, loader_rules: bool) -> ZonePrice:
    """A zone with a random on-demand price (rarely none) and a listed spot price that is empty,
    below, at or above on-demand, or implausibly low."""
    ondemand = None if draw(st.integers(0, 9)) == 0 else draw(prices)
    shape = draw(st.sampled_from(["none", "below", "below", "below", "at", "above", "low", "any"]))
    base = ondemand or 1.0
    spot = {
        "none": None,
        "below": base * draw(st.floats(0.15, 0.99)),
        "at": base,
        "above": base * draw(st.floats(1.0, 3.0)),
        "low": base * draw(st.floats(0.01, 0.149)),
        "any": draw(prices),
    }[shape]
    if not loader_rules:  # a row that bypassed the loader: spot kept as listed
        return ZonePrice(name, ondemand, spot)
    usable, note = judge_spot(ondemand, spot)
    return ZonePrice(name, ondemand, usable, note)


@st.composite
def offerings(
    draw: st.DrawFn, index: int, places: Sequence[tuple[str, str, bool]] = PLACES
) -> Offering:
    cloud, kind, zoned = draw(st.sampled_from(places))
    spot_capable = kind == "fleet"
    if zoned:
        names = sorted(
            draw(st.lists(st.sampled_from(ZONE_POOL), min_size=1, max_size=4, unique=True))
        )
    else:
        names = [""]
    # kinds without a spot market sometimes carry a stray spot price: it must not be used
    loader_rules = spot_capable or draw(st.booleans())
    zones = tuple(draw(zone_prices(name, loader_rules)) for name in names)
    accelerator = draw(st.sampled_from(sorted(MEMORY_GIB)))
    return Offering(
        cloud=cloud,
        kind=kind,
        instance_type=f"type-{index}",
        accelerator=accelerator,
        accelerator_count=draw(st.sampled_from((1, 1, 2, 4, 8))),
        accelerator_memory_gib=MEMORY_GIB[accelerator],
        vcpus=8,
        memory_gib=64,
        region=draw(st.sampled_from(["r1", "r2"])),
        zones=zones,
        spot_capable=spot_capable,
        source="test",
        retrieved="2026-11-23",
    )


@st.composite
def scenarios(
    draw: st.DrawFn,
    places: Sequence[tuple[str, str, bool]] = PLACES,
    policies: Sequence[str] = ("never", "allowed", "preferred"),
) -> Scenario:
    count = draw(st.integers(1, 4))
    catalog = Catalog(tuple(draw(offerings(i, places)) for i in range(count)))
    table: CapacityTable = {
        (name, degree): draw(
            st.one_of(
                st.sampled_from([None, 0.0]), st.sampled_from([0.5, 1.0, 2.0]), st.floats(0.5, 5.0)
            )
        )
        for name in MEMORY_GIB
        for degree in DEGREES
    }
    floor = draw(st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.5, 1.0]), st.floats(0, 1)))
    spot: dict[str, Any] = {"policy": draw(st.sampled_from(policies))}
    if floor is not None:
        spot["on_demand_floor"] = floor
    zones = draw(
        st.one_of(
            st.integers(1, 2),
            st.integers(1, 3),
            st.lists(st.sampled_from(ZONE_POOL), min_size=1, max_size=2, unique=True),
        )
    )
    profile = make_profile(
        model={"name": draw(st.sampled_from(["llama-3.1-8b", "qwen2.5-7b"]))},
        workload={
            "requests_per_second": draw(
                st.one_of(st.sampled_from([1.0, 4.0, 10.0]), st.floats(0.1, 10))
            ),
            "input_tokens": {"mean": 512, "p95": 1024},
            "output_tokens": {"mean": 128, "p95": 256},
        },
        targets={
            "ttft_ms_p95": 2000,
            "headroom": draw(st.one_of(st.sampled_from([0.0, 0.2]), st.floats(0, 0.5))),
        },
        placement={"zones": zones, "spot": spot, "min_replicas": draw(st.integers(1, 4))},
    )
    return Scenario(profile, catalog, table)


# --- brute force ---------------------------------------------------------------------------------


def zone_sets(offering: Offering, profile: Profile) -> list[tuple[ZonePrice, ...]]:
    """Every set of zones the fleet may span: as many as the profile asks (fleets) or one
    (managed endpoints), or exactly the named ones; a region-priced offering has one price."""
    priced = [z for z in offering.zones if z.ondemand_usd is not None]
    if len(priced) == 1 and priced[0].zone == "":
        return [tuple(priced)]
    wanted = profile.placement.zones if offering.kind == "fleet" else 1
    if isinstance(wanted, int):
        return list(combinations(priced, wanted))
    by_name = {z.zone: z for z in priced}
    if all(name in by_name for name in wanted):
        return [tuple(by_name[name] for name in wanted)]
    return []


def mean_prices(zones: Sequence[ZonePrice], spot_ok: bool) -> tuple[float, float]:
    """(on-demand, spot) USD per instance-hour of a fleet spread evenly over `zones`."""
    ondemand = [z.ondemand_usd or 0.0 for z in zones]
    spot = [
        z.spot_usd if spot_ok and z.spot_usd is not None else z.ondemand_usd or 0.0 for z in zones
    ]
    return sum(ondemand) / len(zones), sum(spot) / len(zones)


def demand_of(profile: Profile) -> float:
    return profile.workload.requests_per_second * (1 + profile.targets.headroom)


def spot_ok(offering: Offering, profile: Profile) -> bool:
    return profile.placement.spot.policy != "never" and offering.spot_capable


def brute_force(profile: Profile, catalog: Catalog, capacity: CapacityModel) -> float | None:
    """The least hourly cost of any fleet that meets the demand, min_replicas and the floor."""
    demand = demand_of(profile)
    floor = profile.placement.spot.floor
    min_replicas = profile.placement.min_replicas
    best: float | None = None
    for offering in catalog.offerings:
        accelerator = accelerators()[offering.accelerator]
        for zones in zone_sets(offering, profile):
            ondemand, spot = mean_prices(zones, spot_ok(offering, profile))
            for degree in capacity.degrees(offering.accelerator_count):
                plan = capacity.replica(accelerator, offering.accelerator_memory_gib, degree)
                if plan is None or plan.requests_per_s <= 0:
                    continue
                replicas = offering.accelerator_count // degree if offering.kind == "fleet" else 1
                per_instance = replicas * plan.requests_per_s
                # cost grows with the count, so a couple past the fewest that suffice is enough
                limit = max(min_replicas, math.ceil(demand / per_instance)) + 2
                for instances in range(1, limit + 1):
                    # min_replicas counts model replicas, `replicas` to an instance
                    if (
                        instances * replicas < min_replicas
                        or instances < demand / per_instance - EPS
                    ):
                        continue
                    for on_demand in range(instances + 1):
                        if (
                            on_demand < instances
                            and on_demand < floor * demand / per_instance - EPS
                        ):
                            continue
                        cost = on_demand * ondemand + (instances - on_demand) * spot
                        if best is None or cost < best:
                            best = cost
    return best


def assert_feasible(candidate: Candidate, profile: Profile, capacity: CapacityModel) -> None:
    """The candidate meets every rule, and its price is what its zones cost."""
    offering = candidate.offering
    accelerator = accelerators()[offering.accelerator]
    assert candidate.tensor_parallel in capacity.degrees(offering.accelerator_count)
    plan = capacity.replica(accelerator, offering.accelerator_memory_gib, candidate.tensor_parallel)
    assert plan == candidate.replica
    expected = offering.accelerator_count // plan.tensor_parallel if offering.kind == "fleet" else 1
    assert candidate.replicas_per_instance == expected
    per_instance = candidate.replicas_per_instance * plan.requests_per_s
    demand = demand_of(profile)
    replicas = candidate.instances * candidate.replicas_per_instance
    assert replicas >= profile.placement.min_replicas
    assert (candidate.instances - 1) * candidate.replicas_per_instance < max(
        profile.placement.min_replicas, demand / plan.requests_per_s - EPS
    ) or candidate.instances == 1
    assert candidate.instances >= demand / per_instance - EPS
    assert 0 <= candidate.on_demand_instances <= candidate.instances
    if candidate.spot_instances:
        assert spot_ok(offering, profile)
        assert candidate.spot_usd is not None
        floor = profile.placement.spot.floor
        assert candidate.on_demand_instances >= floor * demand / per_instance - EPS
    by_name = {z.zone: z for z in offering.zones if z.ondemand_usd is not None}
    if list(by_name) == [""]:
        assert candidate.zones == ()
        zones = [by_name[""]]
    else:
        wanted = profile.placement.zones if offering.kind == "fleet" else 1
        if isinstance(wanted, int):
            assert len(candidate.zones) == wanted
        else:
            assert candidate.zones == tuple(sorted(wanted))
        zones = [by_name[name] for name in candidate.zones]
    ondemand, spot = mean_prices(zones, spot_ok(offering, profile))
    assert candidate.ondemand_usd == pytest.approx(ondemand, rel=1e-9)
    expected = candidate.on_demand_instances * ondemand + candidate.spot_instances * spot
    assert candidate.hourly_usd == pytest.approx(expected, rel=1e-9)


def floor_one_scenario() -> Scenario:
    """min_replicas adds an instance the demand does not need; a floor of 1 is met without it."""
    zones = (ZonePrice("z1", 0.5, 0.25),)
    offering = Offering(
        cloud="aws",
        kind="fleet",
        instance_type="type-0",
        accelerator="T4",
        accelerator_count=1,
        accelerator_memory_gib=16.0,
        vcpus=8,
        memory_gib=64,
        region="r1",
        zones=zones,
        spot_capable=True,
        source="test",
        retrieved="2026-11-23",
    )
    profile = make_profile(
        workload={
            "requests_per_second": 1.0,
            "input_tokens": {"mean": 512, "p95": 1024},
            "output_tokens": {"mean": 128, "p95": 256},
        },
        targets={"ttft_ms_p95": 2000, "headroom": 0.0},
        placement={
            "zones": 1,
            "spot": {"policy": "allowed", "on_demand_floor": 1.0},
            "min_replicas": 2,
        },
    )
    table: CapacityTable = {(name, d): None for name in MEMORY_GIB for d in DEGREES}
    table[("T4", 1)] = 1.0
    return Scenario(profile, Catalog((offering,)), table)


def check_against_brute_force(scenario: Scenario) -> None:
    """The optimizer's cheapest fleet costs what brute force finds; every candidate is valid."""
    profile, catalog = scenario.profile, scenario.catalog
    stub = table_capacity(scenario.table)
    capacity = stub(profile, profile.model_spec())
    best = brute_force(profile, catalog, capacity)
    with patch.object(optimizer, "CapacityModel", stub):
        try:
            result = recommend(profile, catalog)
        except NoFeasibleCandidate:
            event("no feasible fleet")
            assert best is None, f"brute force found a fleet at {best} USD/h"
            return
    assert best is not None, f"the optimizer chose {result.chosen} but no fleet is feasible"
    chosen = result.chosen
    assert chosen.hourly_usd == pytest.approx(best, rel=1e-9)
    if chosen.spot_instances:
        event("chosen: mixed" if chosen.on_demand_instances else "chosen: all spot")
    else:
        event("chosen: all on-demand")
    event(f"chosen spans {len(chosen.zones)} zones")
    minimum = profile.placement.min_replicas
    if minimum > 1 and chosen.instances == math.ceil(minimum / chosen.replicas_per_instance):
        event("min_replicas binds")
    for candidate in result.candidates:
        assert_feasible(candidate, profile, capacity)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
@example(floor_one_scenario())
def test_chosen_costs_the_brute_force_minimum(scenario: Scenario) -> None:
    """Any mix of kinds, zones, spot quirks and policies."""
    check_against_brute_force(scenario)


ZONED_FLEETS = (("aws", "fleet", True), ("gcp", "fleet", True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(places=ZONED_FLEETS, policies=("allowed", "preferred")))
def test_spot_fleets_cost_the_brute_force_minimum(scenario: Scenario) -> None:
    """Where the search has most to do: zoned fleets that may use spot."""
    check_against_brute_force(scenario)
