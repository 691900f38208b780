"""End to end through the CLI: a SageMaker endpoint with a challenger variant and data capture,
deployed with real Terraform to the local emulated AWS; a second plan is empty; a change of
traffic split goes through a new endpoint configuration and UpdateEndpoint; destroy leaves
nothing. The tests of this module share one deployment and run in order; the last one deploys
its own endpoint with its state in an (emulated) S3 bucket."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modules.aws.sagemaker import has_local_storage
from orchestrator.decisions import recommend_for_env
from planner.optimizer import Candidate, Filters
from tests.conftest import EXAMPLES
from tests.local_aws import Run, boto, the_error

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(
        shutil.which("terraform") is None and shutil.which("tofu") is None,
        reason="needs terraform or tofu on the PATH",
    ),
]
PROFILE = "chat-sm.yaml"
SAGEMAKER_OPTIONS = {
    "data_capture": {"s3_uri": "s3://capture-bucket/chat", "sample_percent": 5},
    "traffic_shift": {"mode": "linear", "step_percent": 25, "wait_s": 300},
}


SAGEMAKER_BUDGET = 30_000
"""Room for the endpoint, its challenger and their services, whatever the example's budget."""


REGION = "us-east-1"
"""The region with the most SageMaker price rows, so that a challenger type is feasible beside
the primary."""


OFFICE_HOURS = {
    "timezone": "Europe/Berlin",
    "peak_hours": "09:00-18:00",
    "days": "weekdays",
    "trough_rps": 1,
}
"""The endpoint follows an office-hours week: its primary variant gets scheduled actions."""


def chat_in_one_region() -> dict[str, Any]:
    profile = yaml.safe_load((EXAMPLES / "chat-8b.yaml").read_text())
    profile["placement"]["regions"] = [REGION]
    profile["workload"]["traffic"] = dict(OFFICE_HOURS)
    return profile


def primary_and_challenger(workdir: Path) -> tuple[Candidate, Candidate]:
    """The endpoint the local environment chooses, and another instance type the optimizer finds
    feasible beside it (same region, same tensor parallel degree), as a challenger must be."""
    (workdir / PROFILE).write_text(yaml.safe_dump(chat_in_one_region(), sort_keys=False))
    recommendation = recommend_for_env(
        workdir / PROFILE, "local", Filters(kinds=frozenset({"sagemaker"}))
    )
    primary = recommendation.chosen
    challenger = next(
        c
        for c in recommendation.candidates
        if c.offering.region == primary.offering.region
        and c.tensor_parallel == primary.tensor_parallel
        and c.offering.instance_type != primary.offering.instance_type
    )
    return primary, challenger


def write_profile(workdir: Path, challenger_weight: int) -> None:
    _, challenger = primary_and_challenger(workdir)
    profile = chat_in_one_region()
    profile["name"] = "chat-sm"
    options = {
        **SAGEMAKER_OPTIONS,
        "challenger": {
            "instance_type": challenger.offering.instance_type,
            "weight_percent": challenger_weight,
        },
    }
    profile["deploy"] = {"model_s3_uri": "s3://models-bucket/llama/8b", "sagemaker": options}
    profile["budget"] = {"monthly_usd": SAGEMAKER_BUDGET}
    (workdir / PROFILE).write_text(yaml.safe_dump(profile, sort_keys=False))


@pytest.fixture(scope="module")
def deployed(infra_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    workdir = tmp_path_factory.mktemp("sagemaker-project")
    write_profile(workdir, challenger_weight=20)
    run = Run(workdir)
    result, body = run.json("deploy", PROFILE, "--kind", "sagemaker", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert body["changed"] is True
    locked = yaml.safe_load((workdir / "chat-sm.lock.yaml").read_text())["environments"]["local"]
    run.resource_name = f"chat-sm-local-{locked['deployment_id']}"
    assert body["outputs"]["endpoint_name"] == run.resource_name
    yield run
    run("destroy", PROFILE, "--kind", "sagemaker", "--auto-approve")


def weights(endpoint_config: str) -> dict[str, float]:
    config = boto("sagemaker").describe_endpoint_config(EndpointConfigName=endpoint_config)
    return {v["VariantName"]: v["InitialVariantWeight"] for v in config["ProductionVariants"]}


def test_deploy_created_the_endpoint(deployed: Run) -> None:
    sagemaker = boto("sagemaker")
    endpoint = sagemaker.describe_endpoint(EndpointName=deployed.resource_name)
    assert endpoint["EndpointStatus"] == "InService"
    assert weights(endpoint["EndpointConfigName"]) == {"primary": 80, "challenger": 20}
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    assert config["DataCaptureConfig"]["DestinationS3Uri"] == "s3://capture-bucket/chat"
    # SageMaker refuses a volume key for types with local NVMe (encrypted by the instance);
    # without one, the stack's key encrypts the volume.
    variants = config["ProductionVariants"]
    if any(has_local_storage(v["InstanceType"]) for v in variants):
        assert "KmsKeyId" not in config
    else:
        assert config["KmsKeyId"]
    (model,) = sagemaker.list_models()["Models"]
    assert sagemaker.describe_model(ModelName=model["ModelName"])["EnableNetworkIsolation"]
    targets = boto("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker"
    )["ScalableTargets"]
    assert sorted(t["ResourceId"] for t in targets) == [
        f"endpoint/{deployed.resource_name}/variant/challenger",
        f"endpoint/{deployed.resource_name}/variant/primary",
    ]
    alarms = boto("cloudwatch").describe_alarms()["MetricAlarms"]
    prefix = f"{deployed.resource_name}-"
    names = {
        a["AlarmName"].removeprefix(prefix) for a in alarms if a["AlarmName"].startswith(prefix)
    }
    variants = ("primary", "challenger")
    # the rollback alarms, and the queue alarm of each variant that only notifies
    # (modules/aws/sagemaker_observability.py; no GPU or latency-target alarm on this profile)
    assert names == {
        f"{variant}-{alarm}"
        for variant in variants
        for alarm in ("5xx-rate", "p99-latency", "requests-waiting")
    }


def test_the_primary_follows_the_week_and_tracks_concurrent_requests(deployed: Run) -> None:
    autoscaling = boto("application-autoscaling")
    primary = f"endpoint/{deployed.resource_name}/variant/primary"
    actions = autoscaling.describe_scheduled_actions(ServiceNamespace="sagemaker")[
        "ScheduledActions"
    ]
    assert {a["ResourceId"] for a in actions} == {primary}
    assert sorted(a["Schedule"] for a in actions) == [
        "cron(0 18 ? * MON-FRI *)",
        "cron(0 9 ? * MON-FRI *)",
    ]
    assert {a["Timezone"] for a in actions} == {OFFICE_HOURS["timezone"]}
    minimum = {a["Schedule"]: int(a["ScalableTargetAction"]["MinCapacity"]) for a in actions}
    assert minimum["cron(0 9 ? * MON-FRI *)"] > minimum["cron(0 18 ? * MON-FRI *)"] >= 1
    policies = autoscaling.describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=primary
    )["ScalingPolicies"]
    metrics = {
        p["PolicyName"]: p["TargetTrackingScalingPolicyConfiguration"][
            "PredefinedMetricSpecification"
        ]["PredefinedMetricType"]
        for p in policies
    }
    assert metrics == {
        "primary-invocations-per-instance": "SageMakerVariantInvocationsPerInstance",
        "primary-concurrent-requests-per-model": (
            "SageMakerVariantConcurrentRequestsPerModelHighResolution"
        ),
    }


def test_second_plan_shows_no_changes(deployed: Run) -> None:
    result, body = deployed.json("plan", PROFILE, "--kind", "sagemaker", "--skip-check")
    assert result.exit_code == 0, result.output
    assert body["changes"] is False


def test_status_reports_the_endpoint(deployed: Run) -> None:
    result, body = deployed.json("status", PROFILE, "--kind", "sagemaker")
    assert result.exit_code == 0, result.output
    assert body["kind"] == "sagemaker"
    assert body["outputs"]["invoke_url"].endswith(
        f"/endpoints/{deployed.resource_name}/invocations"
    )


def test_a_new_traffic_split_updates_the_endpoint_in_place(deployed: Run) -> None:
    before = boto("sagemaker").describe_endpoint(EndpointName=deployed.resource_name)[
        "EndpointConfigName"
    ]
    write_profile(deployed.workdir, challenger_weight=35)
    result, body = deployed.json(
        "deploy", PROFILE, "--kind", "sagemaker", "--auto-approve", "--skip-check"
    )
    assert result.exit_code == 0, result.output
    actions = {r["address"].split(".")[0]: r["action"] for r in body["plan"]["resources"]}
    assert actions == {
        "aws_sagemaker_endpoint_configuration": "replace",
        "aws_sagemaker_endpoint": "update",
    }
    after = boto("sagemaker").describe_endpoint(EndpointName=deployed.resource_name)[
        "EndpointConfigName"
    ]
    assert after != before
    assert weights(after) == {"primary": 65, "challenger": 35}
    configs = boto("sagemaker").list_endpoint_configs()["EndpointConfigs"]
    assert [c["EndpointConfigName"] for c in configs] == [after]  # the old one is gone
    result, body = deployed.json("plan", PROFILE, "--kind", "sagemaker", "--skip-check")
    assert (result.exit_code, body["changes"]) == (0, False), result.output


def test_destroy_leaves_nothing(deployed: Run) -> None:
    result, body = deployed.json("destroy", PROFILE, "--kind", "sagemaker", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert body["destroyed"] >= 15
    sagemaker = boto("sagemaker")
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert sagemaker.list_models()["Models"] == []
    autoscaling = boto("application-autoscaling")
    assert (
        autoscaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    )
    assert (
        autoscaling.describe_scheduled_actions(ServiceNamespace="sagemaker")["ScheduledActions"]
        == []
    )
    assert [
        k for k in boto("kms").list_aliases()["Aliases"] if deployed.resource_name in k["AliasName"]
    ] == []
    roles = boto("iam").list_roles()["Roles"]
    assert [r for r in roles if r["RoleName"].startswith(deployed.resource_name)] == []


def test_state_in_s3_with_its_lock_file(infra_home: Path, tmp_path: Path) -> None:
    """An environment with an S3 backend keeps its state in the (emulated) bucket, takes the
    native lock file, and a lock held by another run is one sentence naming the holder."""
    profile = yaml.safe_load((EXAMPLES / "chat-8b.yaml").read_text())
    profile["name"] = "chat-s3"
    profile["budget"] = {"monthly_usd": SAGEMAKER_BUDGET}
    profile["deploy"] = {
        "environments": {"local": {"backend": {"s3_bucket": "tf-state", "key_prefix": "team"}}}
    }
    (tmp_path / "s3.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    run = Run(tmp_path)
    target = ("s3.yaml", "--kind", "sagemaker")
    from providers.local.emulator import ensure_running

    ensure_running()
    s3 = boto("s3")
    s3.create_bucket(Bucket="tf-state")
    result = run("deploy", *target, "--auto-approve", "--skip-check")
    assert result.exit_code == 0, result.output
    key = "team/chat-s3/local/terraform.tfstate"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="tf-state")["Contents"]]
    assert keys == [key]  # the lock file is gone once the apply is done
    workspace = tmp_path / ".infra" / "chat-s3" / "local"
    assert not (workspace / "terraform.tfstate").exists()
    # Terraform's own data directory records which backend is in use, not the state.
    backend = json.loads((workspace / "tf-data" / "terraform.tfstate").read_text())["backend"]
    assert backend["type"] == "s3" and backend["config"]["use_lockfile"] is True
    lock = {"ID": "held-by-test", "Operation": "OperationTypeApply", "Who": "ci@runner-7"}
    s3.put_object(Bucket="tf-state", Key=f"{key}.tflock", Body=json.dumps(lock))
    result = run("plan", *target, "--skip-check")
    assert result.exit_code == 1
    line = the_error(result)
    assert "locked by ci@runner-7" in line and "force-unlock held-by-test" in line
    s3.delete_object(Bucket="tf-state", Key=f"{key}.tflock")
    assert run("plan", *target, "--skip-check").exit_code == 0
    result = run("destroy", *target, "--auto-approve")
    assert result.exit_code == 0, result.output
    assert boto("sagemaker").list_endpoints()["Endpoints"] == []
