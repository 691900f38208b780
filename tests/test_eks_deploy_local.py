"""`kind: kubernetes` on EKS end to end through the CLI: `infra deploy --kind kubernetes` with
real Terraform on the local emulated AWS creates a private cluster, its GPU node groups and the
serving workload's IAM role (the emulator has no Kubernetes API, so no workload); a second plan
is empty, `infra status` reads the state, and `infra destroy` leaves nothing of the deployment.
The tests share the deployment and run in order."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.kubernetes_common import DEPLOYMENT_LABEL
from tests.conftest import EXAMPLES
from tests.local_aws import Run, boto

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(
        shutil.which("terraform") is None and shutil.which("tofu") is None,
        reason="needs terraform or tofu on the PATH",
    ),
]
PROFILE = "chat-8b-kubernetes.yaml"
TARGET = ("--kind", "kubernetes")


@pytest.fixture(scope="module")
def deployed(infra_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The example on a cluster the toolkit creates (the emulator has no existing one)."""
    workdir = tmp_path_factory.mktemp("project")
    profile = yaml.safe_load((EXAMPLES / PROFILE).read_text())
    profile["deploy"]["kubernetes"] = {"create_cluster": True}
    (workdir / PROFILE).write_text(yaml.safe_dump(profile))
    run = Run(workdir)
    result, body = run.json("deploy", PROFILE, *TARGET, "--auto-approve")
    assert result.exit_code == 0, result.output
    assert body["changed"] is True
    run.resource_name = body["outputs"]["cluster_name"]
    run.region = body["decision"]["region"]
    run.outputs = body["outputs"]  # type: ignore[attr-defined]
    yield run
    run("destroy", PROFILE, "--auto-approve")


def node_groups(run: Run) -> dict[str, dict[str, Any]]:
    eks = boto("eks", run.region)
    return {
        key: eks.describe_nodegroup(
            clusterName=run.resource_name,
            nodegroupName=run.outputs[f"node_group_{key}"],  # type: ignore[attr-defined]
        )["nodegroup"]
        for key in ("on_demand", "spot")
    }


def test_deploy_made_a_private_cluster_with_gpu_node_groups_and_no_workload(
    deployed: Run,
) -> None:
    cluster = boto("eks", deployed.region).describe_cluster(name=deployed.resource_name)["cluster"]
    network = cluster["resourcesVpcConfig"]
    assert (network["endpointPrivateAccess"], network["endpointPublicAccess"]) == (True, False)
    assert cluster["encryptionConfig"][0]["resources"] == ["secrets"]
    outputs = deployed.outputs  # type: ignore[attr-defined]
    assert outputs["kubernetes_workload"].startswith(
        "not applied: the local emulated AWS has no Kubernetes API"
    )
    groups = node_groups(deployed)
    assert {k: g["capacityType"] for k, g in groups.items()} == {
        "on_demand": "ON_DEMAND",
        "spot": "SPOT",
    }
    for group in groups.values():
        assert group["amiType"] == "AL2023_x86_64_NVIDIA"
        assert group["labels"][DEPLOYMENT_LABEL] == deployed.resource_name
        assert set(group["subnets"]) <= set(network["subnetIds"])
    role = outputs["serving_role_arn"].rsplit("/", 1)[1]
    (statement,) = boto("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    host = cluster["identity"]["oidc"]["issuer"].removeprefix("https://")
    account = f"system:serviceaccount:serving:{deployed.resource_name}-serving"
    assert statement["Condition"]["StringEquals"][f"{host}:sub"] == account


def test_second_plan_is_empty(deployed: Run) -> None:
    result, body = deployed.json("plan", PROFILE, "--skip-check")
    assert result.exit_code == 0, result.output
    assert body["changes"] is False


def test_status_reports_the_state(deployed: Run) -> None:
    result, body = deployed.json("status", PROFILE)
    assert result.exit_code == 0, result.output
    assert body["outputs"]["cluster_name"] == deployed.resource_name
    assert body["resources"] > 20
    assert body["expected_monthly_usd"] > 0


def test_destroy_leaves_nothing_of_ours(deployed: Run) -> None:
    result, body = deployed.json("destroy", PROFILE, "--auto-approve")
    assert result.exit_code == 0, result.output
    assert body["destroyed"] > 20
    eks, ec2 = boto("eks", deployed.region), boto("ec2", deployed.region)
    assert eks.list_clusters()["clusters"] == []
    templates = ec2.describe_launch_templates()["LaunchTemplates"]
    assert [t["LaunchTemplateName"] for t in templates] == []
    roles = [r["RoleName"] for r in boto("iam").list_roles()["Roles"]]
    assert [r for r in roles if r.startswith(deployed.resource_name[:32])] == []
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:infra:stack", "Values": ["*"]}])["Vpcs"]
    assert vpcs == []
