"""A SageMaker endpoint follows the week (issue 14): Application Auto Scaling scheduled actions
from the planner's hourly sizes, and target tracking on concurrent requests per model beside
invocations per instance. The week the actions give is replayed hour by hour from their cron
expressions, independently of modules/week_schedule.py's grouping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cdktn import App, TerraformStack

from modules.aws.sagemaker import CONCURRENCY_METRIC
from modules.aws.sagemaker_schedule import (
    MAX_SCHEDULED_ACTIONS,
    VariantSchedule,
    VariantScheduleError,
    VariantScheduleProps,
    application_cron,
)
from modules.week_schedule import SizeAt
from planner.deployment import DeploymentSpec
from tests.conftest import EXAMPLES, Cli
from tests.decided import decided_spec
from tests.stack_json import Synthesized, only, ref, resources, synthesize_specs

OFFICE_HOURS = EXAMPLES / "chat-8b-office-hours.yaml"
FLAT = EXAMPLES / "chat-8b.yaml"
DAYS = {"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}
"""Application Auto Scaling's day names in its order (Sunday first)."""


def sagemaker_spec(path: Path, env: str = "prod") -> DeploymentSpec:
    return decided_spec(path, "aws", "sagemaker", env)


@pytest.fixture(scope="module")
def specs() -> dict[str, DeploymentSpec]:
    return {"office": sagemaker_spec(OFFICE_HOURS), "flat": sagemaker_spec(FLAT)}


@pytest.fixture(scope="module")
def synthesized(
    specs: dict[str, DeploymentSpec], tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    return synthesize_specs(list(specs.values()), tmp_path_factory.mktemp("sm-week"), emulated=True)


def schedule_hours(schedule: str) -> list[int]:
    """The hours of the week (Monday 00:00 first) a `cron(0 H ? * DAYS *)` fires at."""
    assert schedule.startswith("cron(") and schedule.endswith(")")
    minute, hour, day_of_month, month, days, year = schedule[5:-1].split()
    assert (minute, day_of_month, month, year) == ("0", "?", "*", "*")
    found: set[int] = set()
    for part in days.split(","):
        first, _, last = part.partition("-")
        found |= set(range(DAYS[first], DAYS[last or first] + 1))
    return sorted((day - 1) % 7 * 24 + int(hour) for day in found)  # Monday first


def replay(actions: dict[str, dict[str, Any]]) -> list[int]:
    """The variant's minimum in each hour of the week when the actions have run for a week."""
    fired = {
        hour: int(action["scalable_target_action"]["min_capacity"])
        for action in actions.values()
        for hour in schedule_hours(action["schedule"])
    }
    assert fired, "no scheduled action"
    last = fired[max(fired)]
    minimum = []
    for hour in range(168):
        last = fired.get(hour, last)
        minimum.append(last)
    return minimum


# --- the cron expression ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (("mon", "tue", "wed", "thu", "fri"), "cron(0 9 ? * MON-FRI *)"),
        (("sat", "sun"), "cron(0 9 ? * SUN,SAT *)"),
        (("mon", "wed", "fri"), "cron(0 9 ? * MON,WED,FRI *)"),
        (("mon", "tue", "sat", "sun"), "cron(0 9 ? * SUN-TUE,SAT *)"),
    ],
)
def test_application_auto_scaling_cron(days: tuple[str, ...], expected: str) -> None:
    change = SizeAt(hour=9, days=days, instances=3)
    assert application_cron(change) == expected
    assert schedule_hours(expected) == sorted(
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].index(day) * 24 + 9 for day in days
    )


# --- the synthesized endpoint -----------------------------------------------------------------


def test_the_scheduled_actions_give_the_planners_week(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    spec = specs["office"]
    doc = synthesized[spec]
    actions = resources(doc, "aws_appautoscaling_scheduled_action")
    assert spec.hourly is not None
    assert len(actions) == 2  # peak at 09:00 and trough at 18:00, Monday to Friday
    assert replay(actions) == spec.hourly.counts("instances")
    assert min(spec.hourly.counts("instances")) >= 1  # a variant keeps one instance
    target_key, target = only(doc, "aws_appautoscaling_target")
    for action in actions.values():
        assert action["timezone"] == spec.hourly.timezone == "Europe/Berlin"
        assert action["service_namespace"] == "sagemaker"
        assert action["resource_id"] == ref("aws_appautoscaling_target", target_key, "resource_id")
        assert action["scalable_dimension"] == ref(
            "aws_appautoscaling_target", target_key, "scalable_dimension"
        )
        assert action["scalable_target_action"]["max_capacity"] == str(spec.capacity.max_size)
        assert action["name"].endswith(("-mon-fri",))
    # The actions move the minimum; a re-plan must not undo them.
    assert target["lifecycle"]["ignore_changes"] == ["min_capacity"]
    assert target["max_capacity"] == spec.capacity.max_size


def test_concurrent_requests_per_model_beside_invocations(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    for spec in specs.values():
        doc = synthesized[spec]
        policies = {
            p["name"]: p["target_tracking_scaling_policy_configuration"]
            for p in resources(doc, "aws_appautoscaling_policy").values()
        }
        assert set(policies) == {
            "primary-invocations-per-instance",
            "primary-concurrent-requests-per-model",
        }
        concurrency = policies["primary-concurrent-requests-per-model"]
        assert spec.scaling.in_flight_per_replica is not None
        assert concurrency["target_value"] == (
            spec.scaling.in_flight_per_replica * spec.runtime.replicas_per_instance
        )
        assert (
            concurrency["predefined_metric_specification"]
            == {
                "predefined_metric_type": "SageMakerVariantConcurrentRequestsPerModelHighResolution"
            }
            == {"predefined_metric_type": CONCURRENCY_METRIC}
        )
        invocations = policies["primary-invocations-per-instance"]
        assert invocations["target_value"] == spec.scaling.target


def test_a_flat_endpoint_has_no_schedule_and_keeps_its_minimum(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    doc = synthesized[specs["flat"]]
    assert resources(doc, "aws_appautoscaling_scheduled_action") == {}
    _, target = only(doc, "aws_appautoscaling_target")
    assert "lifecycle" not in target


def test_more_changes_than_a_variant_holds_is_one_sentence(tmp_path: Path) -> None:
    too_many = [SizeAt(hour=h % 24, days=("mon",), instances=h + 1) for h in range(201)]
    stack = TerraformStack(App(outdir=str(tmp_path / "out")), "too-many")
    with pytest.raises(VariantScheduleError) as raised:
        VariantSchedule(
            stack,
            "schedule",
            VariantScheduleProps(
                name="chat-prod-primary",
                resource_id="endpoint/chat-prod/variant/primary",
                scalable_dimension="sagemaker:variant:DesiredInstanceCount",
                changes=tuple(too_many),
                time_zone="Europe/Berlin",
                max_instances=300,
            ),
        )
    message = str(raised.value)
    assert f"201 times a week, more than the {MAX_SCHEDULED_ACTIONS} scheduled actions" in message
    assert message.count(". ") == 0 and "\n" not in message


# --- what the recommendation shows ------------------------------------------------------------


@pytest.mark.parametrize("path", [OFFICE_HOURS, FLAT], ids=["office", "flat"])
def test_the_recommendation_shows_the_targets_the_endpoint_is_written_with(
    cli: Cli, path: Path
) -> None:
    spec = sagemaker_spec(path)
    result, body = cli.json("recommend", path, "--cloud", "aws", "--kind", "sagemaker")
    assert result.exit_code == 0, result.output
    assert body["chosen"]["scaling"] == {
        "signal": "invocations_per_instance",
        "target": spec.scaling.target,
        "p99_latency_alarm_s": spec.scaling.p99_latency_alarm_s,
        "in_flight_per_replica": spec.scaling.in_flight_per_replica,
        "ttft_alarm_ms": spec.scaling.ttft_alarm_ms,
        "tpot_alarm_ms": spec.scaling.tpot_alarm_ms,
    }
    text = cli("recommend", path, "--cloud", "aws", "--kind", "sagemaker").stdout
    assert f"requests in flight at {spec.scaling.in_flight_per_replica:g} per replica" in text
