"""`infra status` with the last hour's measured figures beside the planned ones: the AWS fleet's
CloudWatch reader (orchestrator/aws_fleet_metrics.py) against the local emulator seeded with
put_metric_data, the CLI's status through CliRunner (the state's reads faked, CloudWatch real),
and CloudWatch out of reach as one line."""

from __future__ import annotations

import re
import shutil
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import orchestrator.workflow
from modules.aws.engine_metrics import (
    ENGINE_METRICS_NAMESPACE,
    GPU_UTILIZATION_METRIC,
    GROUP_DIMENSION,
    RUNNING_METRIC,
    WAITING_METRIC,
)
from modules.aws.latency_exporter import TPOT_METRIC, TTFT_METRIC
from orchestrator.aws_fleet_metrics import measured
from orchestrator.observed import FIGURES, measured_beside_predicted
from providers import targets
from providers.local import emulator
from tests import test_fleet_stack as fleet
from tests.conftest import EXAMPLES
from tests.local_aws import Run

GROUP = "chat-8b-local-fleet"
BALANCER = "app/chat-8b-local/50dc6c495c0c9188"
TARGET_GROUP = "targetgroup/chat-8b-local/73e2d6bc24d8a067"
OUTPUTS = {
    "autoscaling_group_name": GROUP,
    "load_balancer_arn_suffix": BALANCER,
    "target_group_arn_suffix": TARGET_GROUP,
    "endpoint_url": "http://internal-chat-8b-local.example",
}
SPEC = fleet.make_spec("chat-8b", env="local")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed(endpoint: str, region: str) -> None:
    """Ten minutes of the fleet's metrics in the last hour, alternating between two values."""
    import boto3

    client = boto3.client(
        "cloudwatch",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    minutes = [now - timedelta(minutes=m) for m in range(2, 12)]
    group = [{"Name": GROUP_DIMENSION, "Value": GROUP}]
    per_minute = {
        RUNNING_METRIC: (3.0, 5.0),
        WAITING_METRIC: (0.0, 1.0),
        TTFT_METRIC: (400.0, 500.0),
        TPOT_METRIC: (20.0, 30.0),
        GPU_UTILIZATION_METRIC: (60.0, 80.0),
    }
    data = [
        {"MetricName": metric, "Dimensions": group, "Timestamp": minute, "Value": pair[i % 2]}
        for metric, pair in per_minute.items()
        for i, minute in enumerate(minutes)
    ]
    for start in range(0, len(data), 20):
        client.put_metric_data(Namespace=ENGINE_METRICS_NAMESPACE, MetricData=data[start:][:20])
    balancer = [
        {"Name": "LoadBalancer", "Value": BALANCER},
        {"Name": "TargetGroup", "Value": TARGET_GROUP},
    ]
    client.put_metric_data(
        Namespace="AWS/ApplicationELB",
        MetricData=[
            {"MetricName": "RequestCount", "Dimensions": balancer, "Timestamp": m, "Value": 720.0}
            for m in minutes
        ],
    )


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An emulator of this module's own (the one `--env local` finds), seeded with an hour of
    the fleet's metrics; yields the environment that points boto3 at it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INFRA_HOME", str(tmp_path_factory.mktemp("home")))
        patch.setattr(emulator, "DEFAULT_PORT", _free_port())
        environ = emulator.aws_environment(emulator.ensure_running())
        for region in (SPEC.region, "us-east-2"):  # the spec's; chat-8b's decision
            seed(environ["AWS_ENDPOINT_URL"], region)
        yield {**environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
        emulator.stop()


def test_the_fleets_target_names_the_cloudwatch_reader() -> None:
    target = targets.target(SPEC.cloud, SPEC.kind)
    assert target is not None
    assert targets.resolve(target.metrics_reader or "") is measured


def test_the_last_hour_is_read_from_cloudwatch(aws: dict[str, str]) -> None:
    figures = measured(SPEC, OUTPUTS, aws)
    assert figures == {
        "requests_per_s": pytest.approx(10 * 720 / 3600),
        "requests_in_flight_per_replica": pytest.approx(4.0 + 0.5),
        "ttft_ms_p95": pytest.approx(450.0),
        "tpot_ms": pytest.approx(25.0),
        "gpu_utilization_percent": pytest.approx(70.0),
    }


def test_a_group_without_data_reads_as_none(aws: dict[str, str]) -> None:
    quiet = {**OUTPUTS, "autoscaling_group_name": "elsewhere-fleet"}
    quiet.pop("load_balancer_arn_suffix")
    assert measured(SPEC, quiet, aws) == dict.fromkeys(FIGURES)


def test_cloudwatch_out_of_reach_is_one_sentence() -> None:
    environ = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{_free_port()}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    found = measured_beside_predicted(SPEC, OUTPUTS, lambda: environ, None)
    assert found is not None and list(found) == ["unavailable"]
    line = found["unavailable"]
    assert line.startswith("reading chat-8b-local's metrics from CloudWatch: ")
    assert "\n" not in line and "Traceback" not in line


def test_targets_without_a_reader_show_nothing() -> None:
    sagemaker = fleet.make_spec("chat-8b", kind="sagemaker")
    assert measured_beside_predicted(sagemaker, OUTPUTS, lambda: {}, None) is None
    assert measured_beside_predicted(SPEC, {}, lambda: {}, None) is None


@pytest.fixture
def deployed_here(aws: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """A project whose `--env local` state reads as applied (the reads Terraform would answer
    faked), CloudWatch on the emulator for real."""
    shutil.copy(EXAMPLES / "chat-8b.yaml", tmp_path / "chat-8b.yaml")
    state = tmp_path / ".infra" / "chat-8b" / "local" / "terraform.tfstate"
    state.parent.mkdir(parents=True)
    state.write_text("{}")
    monkeypatch.setattr(
        orchestrator.workflow,
        "applied_state",
        lambda _: orchestrator.workflow.AppliedState(40, None),
    )
    monkeypatch.setattr(orchestrator.workflow, "outputs", lambda _: dict(OUTPUTS))
    return Run(tmp_path)


def test_status_shows_the_measured_figures_beside_the_planned(deployed_here: Run) -> None:
    result, body = deployed_here.json("status", "chat-8b.yaml", "--env", "local")
    assert result.exit_code == 0, result.output
    assert "figures" in body["measured"], body["measured"]
    figures: dict[str, Any] = body["measured"]["figures"]
    assert body["measured"]["window"] == "1h"
    assert list(figures) == list(FIGURES)
    assert figures["ttft_ms_p95"]["measured"] == pytest.approx(450.0)
    assert figures["requests_per_s"]["measured"] == pytest.approx(2.0)
    predicted = body["decision"] and figures["ttft_ms_p95"]["predicted"]
    assert predicted is not None and predicted > 0
    assert figures["requests_in_flight_per_replica"]["predicted"] > 0
    assert figures["gpu_utilization_percent"]["predicted"] is None
    human = deployed_here("status", "chat-8b.yaml", "--env", "local")
    assert human.exit_code == 0, human.output
    assert "last hour, measured (planned):" in human.stdout
    assert "time to first token p95 (ms)" in human.stdout and "450.00" in human.stdout


def test_status_goes_on_when_cloudwatch_is_out_of_reach(
    deployed_here: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from providers.aws import sdk_calls

    real = sdk_calls.client_factory
    unreachable = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setattr(
        sdk_calls,
        "client_factory",
        lambda environ, region, **kw: real(
            {**environ, "AWS_ENDPOINT_URL": unreachable}, region, **kw
        ),
    )
    result = deployed_here("status", "chat-8b.yaml", "--env", "local")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    (line,) = [text for text in lines if text.startswith("measured figures")]
    assert re.match(
        r"measured figures unavailable: reading chat-8b-local-\w+'s metrics from CloudWatch: "
        r"Could not connect to the endpoint URL",
        line,
    )
    assert "Traceback" not in result.output
