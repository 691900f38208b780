"""The AWS fleet follows the week (issue 14): scheduled actions from the planner's hourly sizes and
target tracking on the engine's requests in flight. The week the actions give is replayed hour by
hour from their cron recurrences, independently of modules/week_schedule.py's grouping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from modules.aws.engine_metrics import (
    ENGINE_METRICS_NAMESPACE,
    GROUP_DIMENSION,
    IN_FLIGHT_METRIC,
    RUNNING_METRIC,
    WAITING_METRIC,
)
from modules.aws.fleet_schedule import MAX_SCHEDULED_ACTIONS, ScheduleError
from modules.week_schedule import cron_days, size_changes
from planner.decision import Decision
from planner.deployment import DeploymentSpec, spec_as_data
from planner.hourly import HourlySizes, hourly_sizes
from tests.conftest import EXAMPLES, Cli
from tests.decided import decided
from tests.stack_json import Synthesized, only, ref, resources, synthesize_specs

OFFICE_HOURS = EXAMPLES / "chat-8b-office-hours.yaml"
FLAT = EXAMPLES / "chat-8b.yaml"


def week(sizes: list[int]) -> HourlySizes:
    return hourly_sizes("Europe/Berlin", [(n, 0) for n in sizes], [1.0] * 168, 1.0)


def fleet_spec(path: Path, env: str = "prod") -> tuple[DeploymentSpec, Decision]:
    return decided(path, "aws", "fleet", env)


# --- the week as recurring changes ------------------------------------------------------------


def office_week(peak: int, trough: int) -> list[int]:
    """Peak 09:00-18:00 on weekdays, trough otherwise."""
    return [peak if hour // 24 < 5 and 9 <= hour % 24 < 18 else trough for hour in range(168)]


def test_office_hours_are_two_recurring_changes() -> None:
    changes = size_changes(week(office_week(6, 2)))
    assert [(c.cron, c.instances, c.label) for c in changes] == [
        ("0 9 * * 1-5", 6, "0900-mon-fri"),
        ("0 18 * * 1-5", 2, "1800-mon-fri"),
    ]


def test_a_flat_week_has_no_change() -> None:
    assert size_changes(None) == []
    assert size_changes(week([3] * 168)) == []


def test_monday_midnight_is_a_change_only_when_sunday_night_differs() -> None:
    sizes = [4] * 168
    sizes[-1] = 1  # sun 23:00
    changes = size_changes(week(sizes))
    assert [(c.cron, c.instances) for c in changes] == [("0 0 * * 1", 4), ("0 23 * * 0", 1)]


@pytest.mark.parametrize(
    ("days", "cron"),
    [
        (("sat", "sun"), "0,6"),
        (("mon", "wed", "fri"), "1,3,5"),
        (("mon", "tue", "sat", "sun"), "0-2,6"),
        (("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "0-6"),
    ],
)
def test_cron_days_number_sunday_zero(days: tuple[str, ...], cron: str) -> None:
    assert cron_days(days) == cron


# --- the planner's in-flight target -----------------------------------------------------------


def test_a_fleet_that_follows_the_week_tracks_requests_in_flight_per_replica() -> None:
    spec, decision = fleet_spec(OFFICE_HOURS)
    per_replica_rps = decision.scaling_target_per_minute / 60 / decision.replicas_per_instance
    predicted = decision.predicted
    stay_s = (predicted.ttft_ms_p95 + predicted.tpot_ms * 256) / 1000  # output_tokens.mean
    expected = round(per_replica_rps * stay_s, 2)
    assert spec.scaling.signal == "alb_requests_per_target"
    assert spec.scaling.in_flight_per_replica == pytest.approx(expected, abs=0.01)


def test_a_flat_fleet_tracks_requests_alone_and_its_record_is_unchanged() -> None:
    spec, _ = fleet_spec(FLAT)
    assert spec.scaling.in_flight_per_replica is None
    assert "in_flight_per_replica" not in spec_as_data(spec)["scaling"]


def test_the_recommendation_shows_the_targets_the_stack_is_written_with(cli: Cli) -> None:
    spec, _ = fleet_spec(OFFICE_HOURS)
    result, body = cli.json("recommend", OFFICE_HOURS, "--cloud", "aws", "--kind", "fleet")
    assert result.exit_code == 0, result.output
    assert body["chosen"]["scaling"] == {
        "signal": "alb_requests_per_target",
        "target": spec.scaling.target,
        "p99_latency_alarm_s": spec.scaling.p99_latency_alarm_s,
        "in_flight_per_replica": spec.scaling.in_flight_per_replica,
        "ttft_alarm_ms": spec.scaling.ttft_alarm_ms,
        "tpot_alarm_ms": spec.scaling.tpot_alarm_ms,
    }
    text = cli("recommend", OFFICE_HOURS, "--cloud", "aws", "--kind", "fleet").stdout
    assert f"requests in flight at {spec.scaling.in_flight_per_replica:g} per replica" in text
    flat = cli("recommend", FLAT, "--cloud", "aws", "--kind", "fleet").stdout
    assert "Scaling: target tracking keeps load-balancer requests at" in flat
    assert "in flight" not in flat


def test_the_kubernetes_recommendation_shows_in_flight_per_replica(cli: Cli) -> None:
    result, body = cli.json(
        "recommend", EXAMPLES / "chat-8b-kubernetes.yaml", "--kind", "kubernetes"
    )
    assert result.exit_code == 0, result.output
    scaling = body["chosen"]["scaling"]
    assert scaling["signal"] == "requests_in_flight_per_replica" and scaling["target"] > 0
    assert "in_flight_per_replica" not in scaling


# --- the synthesized fleet --------------------------------------------------------------------


@pytest.fixture(scope="module")
def specs() -> dict[str, DeploymentSpec]:
    return {"office": fleet_spec(OFFICE_HOURS)[0], "flat": fleet_spec(FLAT)[0]}


@pytest.fixture(scope="module")
def synthesized(
    specs: dict[str, DeploymentSpec], tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    return synthesize_specs(list(specs.values()), tmp_path_factory.mktemp("week"), emulated=True)


def cron_hours(recurrence: str) -> list[int]:
    """The hours of the week (Monday 00:00 first) a `0 H * * DAYS` recurrence fires at."""
    minute, hour, _, _, days = recurrence.split()
    assert minute == "0"
    numbers: set[int] = set()
    for part in days.split(","):
        first, _, last = part.partition("-")
        numbers |= set(range(int(first), int(last or first) + 1))
    return sorted(((number - 1) % 7) * 24 + int(hour) for number in numbers)


def replay(actions: dict[str, dict[str, Any]]) -> list[int]:
    """The group's minimum in each hour of the week when the actions have run for a week."""
    fired = {
        hour: action["min_size"]
        for action in actions.values()
        for hour in cron_hours(action["recurrence"])
    }
    assert fired, "no scheduled action"
    last = fired[max(fired)]
    minimum = []
    for hour in range(168):
        last = fired.get(hour, last)
        minimum.append(last)
    return minimum


def test_the_scheduled_actions_give_the_planners_week(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    spec = specs["office"]
    doc = synthesized[spec]
    actions = resources(doc, "aws_autoscaling_schedule")
    assert spec.hourly is not None
    assert len(actions) == 2  # peak at 09:00 and trough at 18:00, Monday to Friday
    assert replay(actions) == spec.hourly.counts("instances")
    group_key, group = only(doc, "aws_autoscaling_group")
    for action in actions.values():
        assert action["time_zone"] == spec.hourly.timezone == "Europe/Berlin"
        assert action["desired_capacity"] == action["min_size"]
        assert action["max_size"] == spec.capacity.max_size == group["max_size"]
        assert action["autoscaling_group_name"] == ref("aws_autoscaling_group", group_key, "name")
        assert action["scheduled_action_name"].startswith(f"{spec.stack_name}-")
    assert group["lifecycle"]["ignore_changes"] == ["desired_capacity", "min_size"]


def test_target_tracking_on_requests_in_flight_beside_requests_per_target(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    spec = specs["office"]
    doc = synthesized[spec]
    group_key, _ = only(doc, "aws_autoscaling_group")
    policies = {p["name"]: p for p in resources(doc, "aws_autoscaling_policy").values()}
    assert set(policies) == {
        f"{spec.stack_name}-requests-per-target",
        f"{spec.stack_name}-requests-in-flight",
    }
    tracking = policies[f"{spec.stack_name}-requests-in-flight"]["target_tracking_configuration"]
    assert tracking["target_value"] == spec.scaling.in_flight_per_replica
    group = ref("aws_autoscaling_group", group_key, "name")

    def replica_average(metric_id: str, name: str) -> dict[str, object]:
        return {
            "id": metric_id,
            "metric_stat": {
                "metric": {
                    "namespace": ENGINE_METRICS_NAMESPACE,
                    "metric_name": name,
                    "dimensions": [{"name": GROUP_DIMENSION, "value": group}],
                },
                "stat": "Average",
            },
            "return_data": False,
        }

    # The agent publishes running and waiting per replica; in flight is their sum.
    assert tracking["customized_metric_specification"] == {
        "metrics": [
            replica_average("running", RUNNING_METRIC),
            replica_average("waiting", WAITING_METRIC),
            {
                "id": IN_FLIGHT_METRIC.lower(),
                "expression": "running + waiting",
                "label": "requests in flight per replica",
                "return_data": True,
            },
        ]
    }


def test_a_flat_fleet_has_no_schedule_and_one_policy(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    doc = synthesized[specs["flat"]]
    assert resources(doc, "aws_autoscaling_schedule") == {}
    (policy,) = resources(doc, "aws_autoscaling_policy").values()
    assert policy["name"].endswith("-requests-per-target")
    _, group = only(doc, "aws_autoscaling_group")
    assert group["lifecycle"]["ignore_changes"] == ["desired_capacity"]


def test_more_changes_than_a_group_holds_is_one_sentence(
    specs: dict[str, DeploymentSpec], tmp_path: Path
) -> None:
    every_hour = week([hour % 7 + 1 for hour in range(168)])  # 168 distinct (hour, size) pairs
    assert len(size_changes(every_hour)) > MAX_SCHEDULED_ACTIONS
    spec = specs["office"]
    busy = msgspec.structs.replace(spec, hourly=every_hour)
    with pytest.raises(ScheduleError) as raised:
        synthesize_specs([busy], tmp_path, emulated=True)
    message = str(raised.value)
    assert f"more than the {MAX_SCHEDULED_ACTIONS} scheduled actions" in message
    assert "workload.traffic" in message and "\n" not in message
