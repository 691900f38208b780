"""`kind: kubernetes` follows the week (issue 14): KEDA cron triggers at the planner's hourly
sizes beside the queue's trigger, minReplicaCount 0 when the environment scales to zero, and node
pools whose minimum is the quietest hour. The windows are replayed hour by hour with KEDA's own
rule for a cron trigger (v2.20.2 pkg/scalers/cron_scaler.go: active when the next end comes
before the next start), independently of modules/week_schedule.py's grouping."""

from __future__ import annotations

import dataclasses
import random
from functools import cache
from typing import Any

import pytest

from modules.kubernetes.workload import ScheduledReplicas, render_workload, scaled_object
from modules.kubernetes.workload_checks import WorkloadError
from modules.week_schedule import size_windows
from planner.decision import decide
from planner.deployment import DeploymentSpec, spec_from_decision
from planner.hourly import HourlySizes, hourly_sizes
from planner.optimizer import Filters, recommend
from planner.profile import load_profile
from providers.catalog import load_catalog
from stacks.kubernetes_common import pool_ranges, workload_props
from tests.conftest import EXAMPLES
from tests.kubernetes_schemas import validate
from tests.stack_json import one_sentence
from tests.test_kubernetes_workload import make_props

OFFICE_HOURS = EXAMPLES / "chat-8b-kubernetes-office-hours.yaml"
DAY_OF_CRON = {0: 6, 1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5}
"""Cron day-of-week (Sunday 0) to the planner's day index (Monday 0)."""


def week(sizes: list[int]) -> HourlySizes:
    return hourly_sizes("Europe/Berlin", [(n, 0) for n in sizes], [1.0] * 168, 1.0)


def cron_hours(expression: str) -> set[int]:
    """The hours of the week (Monday 00:00 = 0) a `0 H * * DAYS` recurrence fires at."""
    minute, hour, dom, month, dow = expression.split()
    assert (minute, dom, month) == ("0", "*", "*")
    days: set[int] = set()
    for part in dow.split(","):
        first, _, last = part.partition("-")
        days |= set(range(int(first), int(last or first) + 1))
    return {DAY_OF_CRON[day] * 24 + int(hour) for day in days}


def active(start: str, end: str, hour: int) -> bool:
    """KEDA's rule, half an hour into `hour`: the next end comes before the next start."""
    now = hour + 0.5
    nexts = [min((h - now) % 168 for h in cron_hours(expression)) for expression in (start, end)]
    return nexts[1] < nexts[0]


def replay(minimum: int, triggers: list[dict[str, Any]]) -> list[int]:
    """The count KEDA's HPA asks for each hour with no queue: the largest of the minimum and of
    the open cron windows' desiredReplicas."""
    return [
        max(
            [minimum]
            + [
                int(t["metadata"]["desiredReplicas"])
                for t in triggers
                if t["type"] == "cron"
                and active(t["metadata"]["start"], t["metadata"]["end"], hour)
            ]
        )
        for hour in range(168)
    ]


def office(peak: int, trough: int, start: int = 9, end: int = 18) -> list[int]:
    return [peak if h // 24 < 5 and start <= h % 24 < end else trough for h in range(168)]


def scheduled(sizes: list[int]) -> tuple[ScheduledReplicas, ...]:
    return tuple(
        ScheduledReplicas(start=w.start_cron, end=w.end_cron, replicas=w.instances)
        for w in size_windows(week(sizes))
        if w.instances
    )


RANDOM = random.Random(14)
WEEKS = {
    "office hours": office(6, 2),
    "dev: scheduled, zero outside": office(3, 0, 8, 20),
    "a curve every day": [1 + (h % 24) // 3 for h in range(168)],
    "weekend quieter": [4 if h // 24 < 5 else 1 for h in range(168)],
    "a run over Sunday night": [5 if h < 6 or h >= 160 else 1 for h in range(168)],
    "random": [RANDOM.randint(0, 5) for _ in range(168)],
}


@pytest.mark.parametrize("sizes", WEEKS.values(), ids=WEEKS.keys())
def test_the_cron_triggers_replay_the_hourly_sizes(sizes: list[int]) -> None:
    props = make_props(min_replicas=min(sizes), max_replicas=max(sizes), desired_replicas=None)
    props = dataclasses.replace(props, scheduled=scheduled(sizes), timezone="Europe/Berlin")
    obj = scaled_object(props)
    validate(obj)
    assert replay(obj["spec"]["minReplicaCount"], obj["spec"]["triggers"]) == sizes
    assert obj["spec"]["triggers"][0]["type"] == "prometheus"


def test_a_flat_week_has_no_windows() -> None:
    assert size_windows(week([3] * 168)) == []
    assert size_windows(None) == []


@cache
def office_spec(env: str, cloud: str) -> DeploymentSpec:
    profile = load_profile(OFFICE_HOURS).profile
    result = recommend(profile, load_catalog(), Filters(environment=env, clouds=frozenset({cloud})))
    return spec_from_decision(profile, decide(profile, result), env)


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_the_office_hours_workload_follows_the_planner_s_week(cloud: str) -> None:
    spec = office_spec("prod", cloud)
    assert spec.hourly is not None
    props = workload_props(spec, identity=None, weights=None)
    objects = render_workload(props)
    obj = next(o for o in objects if o["kind"] == "ScaledObject")
    validate(obj)
    pods = spec.runtime.replicas_per_instance
    sizes = [n * pods for n in spec.hourly.counts("instances")]
    assert obj["spec"]["minReplicaCount"] == min(sizes) > 0
    assert obj["spec"]["maxReplicaCount"] == spec.capacity.max_size * pods >= max(sizes)
    crons = [t for t in obj["spec"]["triggers"] if t["type"] == "cron"]
    assert crons == [
        {
            "type": "cron",
            "metadata": {
                "timezone": "Europe/Berlin",
                "start": "0 9 * * 1-5",
                "end": "0 18 * * 1-5",
                "desiredReplicas": str(max(sizes)),
            },
        }
    ]
    assert replay(obj["spec"]["minReplicaCount"], obj["spec"]["triggers"]) == sizes


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_dev_scales_to_zero_outside_its_schedule(cloud: str) -> None:
    spec = office_spec("dev", cloud)
    assert spec.hourly is not None
    obj = scaled_object(workload_props(spec, identity=None, weights=None))
    validate(obj)
    pods = spec.runtime.replicas_per_instance
    sizes = [n * pods for n in spec.hourly.counts("instances")]
    assert obj["spec"]["minReplicaCount"] == 0 == min(sizes)
    assert replay(0, obj["spec"]["triggers"]) == sizes
    windows = [(t["metadata"]["start"], t["metadata"]["end"]) for t in obj["spec"]["triggers"][1:]]
    assert windows == [
        ("0 8 * * 1-5", "0 9 * * 1-5"),
        ("0 9 * * 1-5", "0 18 * * 1-5"),
        ("0 18 * * 1-5", "0 20 * * 1-5"),
    ]
    ranges = pool_ranges(spec.capacity, spec.hourly)
    pools = [pool for pool in (ranges.on_demand, ranges.spot) if pool is not None]
    assert all(pool.min_nodes == 0 for pool in pools)
    assert sum(pool.max_nodes for pool in pools) == spec.capacity.max_size


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_the_pools_reach_down_to_the_quietest_hour_and_up_to_the_plan_s_maximum(
    cloud: str,
) -> None:
    spec = office_spec("prod", cloud)
    assert spec.hourly is not None
    ranges = pool_ranges(spec.capacity, spec.hourly)
    flat = pool_ranges(spec.capacity)
    pools = [pool for pool in (ranges.on_demand, ranges.spot) if pool is not None]
    assert sum(pool.min_nodes for pool in pools) == min(spec.hourly.counts("instances"))
    assert sum(pool.max_nodes for pool in pools) == spec.capacity.max_size
    assert [p.max_nodes for p in (ranges.on_demand, ranges.spot) if p] == [
        p.max_nodes for p in (flat.on_demand, flat.spot) if p
    ]


WINDOW = ScheduledReplicas(start="0 9 * * 1-5", end="0 18 * * 1-5", replicas=3)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "is not an IANA time zone"),
        ({"scheduled": (dataclasses.replace(WINDOW, start="at nine"),)}, "two cron recurrences"),
        ({"scheduled": (dataclasses.replace(WINDOW, end="0 9 * * 1-5"),)}, "KEDA refuses it"),
        ({"scheduled": (dataclasses.replace(WINDOW, replicas=9),)}, "outside 1-4"),
        ({"scheduled": (dataclasses.replace(WINDOW, replicas=0),)}, "outside 1-4"),
    ],
)
def test_a_bad_schedule_gets_one_sentence(changes: dict[str, Any], message: str) -> None:
    props = dataclasses.replace(make_props(), **{"scheduled": (WINDOW,), **changes})
    with pytest.raises(WorkloadError, match=message) as error:
        render_workload(props)
    one_sentence(str(error.value))


def test_a_window_at_the_minimum_adds_no_trigger() -> None:
    props = dataclasses.replace(
        make_props(min_replicas=3), scheduled=(WINDOW,), timezone="Europe/Berlin"
    )
    assert [t["type"] for t in scaled_object(props)["spec"]["triggers"]] == ["prometheus"]
