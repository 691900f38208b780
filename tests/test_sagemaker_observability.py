"""A SageMaker endpoint's own metrics (modules/aws/sagemaker_observability.py): the dashboard
draws SageMaker's invocation, latency, concurrency and GPU metrics per variant with the thresholds
on them, and the alarms take their thresholds from the profile's target and the plan, notify
deploy.alerts, and never roll a deployment back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modules.aws.engine_alarms import GPU_MEMORY_ALARM_PERCENT, SUSTAINED_MINUTES
from planner.deployment import DeploymentSpec, ScalingSpec
from planner.profile import Challenger, SagemakerOptions
from tests.stack_json import Synthesized, only, resources, synthesize_specs
from tests.test_sagemaker_stack import make_spec

TOPIC = "arn:aws:sns:us-east-1:123456789012:serving-alerts"
WATCHED = make_spec(
    "watched",
    scaling=ScalingSpec(
        signal="invocations_per_instance",
        target=120.5,
        p99_latency_alarm_s=30.0,
        latency_target_ms_p95=20_000,
    ),
    alerts_topic_arn=TOPIC,
    sagemaker=SagemakerOptions(
        challenger=Challenger(instance_type="ml.g6.48xlarge", weight_percent=10)
    ),
)
PLAIN = make_spec("plain")  # no e2e target, no topic
NEURON = make_spec(
    "neuron",
    instance_type="ml.inf2.24xlarge",
    accelerator="Inferentia2",
    accelerators_per_instance=6,
    runtime={"tensor_parallel": 2, "max_batch": 8},
)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    specs = [WATCHED, PLAIN, NEURON]
    return synthesize_specs(specs, tmp_path_factory.mktemp("observability"), emulated=False)


def alarms(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        body["alarm_name"]: body for body in resources(doc, "aws_cloudwatch_metric_alarm").values()
    }


def widgets(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    _, dashboard = only(doc, "aws_cloudwatch_dashboard")
    body = json.loads(dashboard["dashboard_body"])
    return {widget["properties"]["title"]: widget["properties"] for widget in body["widgets"]}


def test_alarms_take_the_profiles_target_and_the_plan_and_notify(
    synthesized: Synthesized,
) -> None:
    found = alarms(synthesized[WATCHED])
    name = WATCHED.stack_name
    dimensions = {"EndpointName": name, "VariantName": "primary"}
    latency = found[f"{name}-primary-latency-target"]
    assert latency["metric_name"] == "ModelLatency" and latency["namespace"] == "AWS/SageMaker"
    assert latency["extended_statistic"] == "p95" and latency["dimensions"] == dimensions
    assert latency["threshold"] == 20_000 * 1000  # the target's ms in ModelLatency's µs
    waiting = found[f"{name}-primary-requests-waiting"]
    assert waiting["metric_name"] == "ConcurrentRequestsPerModel"
    assert waiting["threshold"] == 2 * WATCHED.runtime.max_batch  # batch + planned queue
    memory = found[f"{name}-primary-gpu-memory"]
    assert memory["namespace"] == "/aws/sagemaker/Endpoints"
    assert memory["metric_name"] == "GPUMemoryUtilization"
    assert memory["threshold"] == GPU_MEMORY_ALARM_PERCENT * WATCHED.accelerators_per_instance
    for alarm in (latency, waiting, memory):
        assert alarm["evaluation_periods"] == SUSTAINED_MINUTES and alarm["period"] == 60
        assert alarm["alarm_actions"] == [TOPIC] and alarm["ok_actions"] == [TOPIC]
        assert alarm["treat_missing_data"] == "notBreaching"
    # the challenger runs another instance type: its GPU count is not the spec's
    assert f"{name}-challenger-latency-target" in found
    assert f"{name}-challenger-gpu-memory" not in found


def test_observability_alarms_do_not_roll_back(synthesized: Synthesized) -> None:
    doc = synthesized[WATCHED]
    _, endpoint = only(doc, "aws_sagemaker_endpoint")
    rollback = endpoint["deployment_config"]["auto_rollback_configuration"]["alarms"]
    assert all(
        "latency-target" not in a["alarm_name"] and "gpu-memory" not in a["alarm_name"]
        for a in rollback
    )


def test_without_target_topic_or_gpus_the_alarms_left_are_the_plans(
    synthesized: Synthesized,
) -> None:
    plain = alarms(synthesized[PLAIN])
    assert not any(name.endswith("-latency-target") for name in plain)
    assert all("alarm_actions" not in alarm for alarm in plain.values())
    neuron = alarms(synthesized[NEURON])
    assert not any(name.endswith("-gpu-memory") for name in neuron)
    assert neuron[f"{NEURON.stack_name}-primary-requests-waiting"]["threshold"] == 16
    assert not any(title.startswith("GPUs") for title in widgets(synthesized[NEURON]))


def test_dashboard_draws_each_variant_with_its_thresholds(synthesized: Synthesized) -> None:
    drawn = widgets(synthesized[WATCHED])
    assert set(drawn) == {
        "Invocations and 5xx per minute",
        "Model latency (µs)",
        "Requests in the container per instance",
        "GPUs, summed over 4 per instance (%)",
    }
    latency = drawn["Model latency (µs)"]
    assert {line[5] for line in latency["metrics"]} == {"primary", "challenger"}
    assert {line[6]["stat"] for line in latency["metrics"]} == {"p50", "p95", "p99"}
    marks = {mark["label"]: mark["value"] for mark in latency["annotations"]["horizontal"]}
    assert marks == {"p99 alarm": 30.0 * 1_000_000, "p95 target": 20_000 * 1000}
    concurrency = drawn["Requests in the container per instance"]
    assert concurrency["annotations"]["horizontal"][0]["value"] == 2 * WATCHED.runtime.max_batch
    gpus = drawn["GPUs, summed over 4 per instance (%)"]
    assert {line[5] for line in gpus["metrics"]} == {"primary"}
    assert all(widget["region"] == "us-east-1" for widget in drawn.values())


def test_the_target_reaches_the_spec_of_a_managed_endpoint_only() -> None:
    """planner/deployment.py: the e2e target is carried where the platform measures whole
    requests (invocations_per_instance), and left out of the record otherwise."""
    from planner.deployment import spec_as_data

    assert spec_as_data(WATCHED)["scaling"]["latency_target_ms_p95"] == 20_000
    assert "latency_target_ms_p95" not in spec_as_data(PLAIN)["scaling"]


def test_a_spec_with_the_target_round_trips() -> None:
    import msgspec

    data = msgspec.json.encode(WATCHED)
    assert msgspec.json.decode(data, type=DeploymentSpec) == WATCHED
