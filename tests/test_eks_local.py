"""The EKS constructs with real Terraform on the local emulated AWS, in one configuration: a new
private cluster with its two GPU node groups and serving role, and node pools with their serving
role in an existing cluster (made here with boto3). Applied, it reads back as configured; a second
plan is empty; a pool is resized in place; destroy leaves nothing but the existing cluster, as
it was. The tests share the deployment and run in order."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.eks_stack import (
    CLUSTER,
    MODEL_S3_URI,
    NAMESPACE,
    SERVICE_ACCOUNT,
    EksTestOptions,
    synthesize_eks_stack,
)
from tests.local_aws import boto

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(
        shutil.which("terraform") is None and shutil.which("tofu") is None,
        reason="needs terraform or tofu on the PATH",
    ),
]
NODE_POLICIES = {
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEKS_CNI_Policy",
}


@dataclass
class Terraform:
    directory: Path
    environment: dict[str, str]

    def __call__(self, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        binary = shutil.which("terraform") or shutil.which("tofu")
        assert binary is not None
        result = subprocess.run(
            [binary, *args, "-no-color"],
            cwd=self.directory,
            env=self.environment,
            capture_output=True,
            text=True,
        )
        assert result.returncode in ok, result.stdout[-4000:] + result.stderr
        return result

    def outputs(self) -> dict[str, str]:
        raw = json.loads(self("output", "-json").stdout)
        return {name: body["value"] for name, body in raw.items()}


def terraform_for(stack_dir: Path, workdir: Path) -> Terraform:
    from providers.local.emulator import aws_environment, ensure_running

    environment = {
        **os.environ,
        **aws_environment(ensure_running()),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
    }
    mirror = os.environ.get("INFRA_PROVIDER_MIRROR")
    if mirror:
        config = workdir / "terraform.rc"
        config.write_text(
            f'provider_installation {{\n  filesystem_mirror {{ path = "{mirror}" }}\n}}\n'
        )
        environment["TF_CLI_CONFIG_FILE"] = str(config)
    terraform = Terraform(stack_dir, environment)
    terraform("init")
    return terraform


EXISTING = "platform"


@dataclass
class Deployment:
    terraform: Terraform
    options: EksTestOptions
    provider_arn: str
    """The IAM OIDC provider of the existing cluster, made outside the stack."""
    destroyed: bool = False


def existing_cluster(subnets: list[str]) -> str:
    """A cluster made outside the toolkit, with an IAM OIDC provider for its issuer, as eksctl or
    a platform team would leave it; returns the provider's ARN."""
    role = boto("iam").create_role(RoleName=f"{EXISTING}-cluster", AssumeRolePolicyDocument="{}")
    cluster = boto("eks").create_cluster(
        name=EXISTING, roleArn=role["Role"]["Arn"], resourcesVpcConfig={"subnetIds": subnets}
    )["cluster"]
    return boto("iam").create_open_id_connect_provider(
        Url=cluster["identity"]["oidc"]["issuer"], ClientIDList=["sts.amazonaws.com"]
    )["OpenIDConnectProviderArn"]


@pytest.fixture(scope="module")
def deployed(infra_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One configuration: a new cluster in two subnets of the default VPC (ServingNetwork given
    subnets: the new-VPC path is the fleet's, tested end to end there) and pools into an
    existing cluster in two others."""
    from providers.local.emulator import ensure_running

    ensure_running()
    subnets = [
        s["SubnetId"] for s in boto("ec2").describe_subnets()["Subnets"] if s["DefaultForAz"]
    ]
    provider_arn = existing_cluster(subnets[2:4])
    options = EksTestOptions(
        network_subnet_ids=tuple(subnets[:2]),
        existing_cluster=EXISTING,
        existing_subnet_ids=tuple(subnets[2:4]),
    )
    workdir = tmp_path_factory.mktemp("eks")
    stack_dir = synthesize_eks_stack(workdir / "out", options, emulated=True)
    deployment = Deployment(terraform_for(stack_dir, workdir), options, provider_arn)
    deployment.terraform("apply", "-auto-approve")
    yield deployment
    if not deployment.destroyed:
        deployment.terraform("destroy", "-auto-approve")


def test_the_new_cluster_is_private_encrypted_and_logged(deployed: Deployment) -> None:
    cluster = boto("eks").describe_cluster(name=CLUSTER)["cluster"]
    network = cluster["resourcesVpcConfig"]
    assert (network["endpointPrivateAccess"], network["endpointPublicAccess"]) == (True, False)
    (encryption,) = cluster["encryptionConfig"]
    assert encryption["resources"] == ["secrets"]
    kms = boto("kms")
    key = kms.describe_key(KeyId=encryption["provider"]["keyArn"])["KeyMetadata"]
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"]
    enabled = [s for s in cluster["logging"]["clusterLogging"] if s["enabled"]]
    assert [len(s["types"]) for s in enabled] == [5]
    assert cluster["accessConfig"]["authenticationMode"] == "API"
    role = cluster["roleArn"].rsplit("/", 1)[1]
    attached = boto("iam").list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AmazonEKSClusterPolicy"]


def node_groups(deployed: Deployment, part: str, cluster: str) -> dict[str, dict[str, Any]]:
    outputs = deployed.terraform.outputs()
    return {
        capacity: boto("eks").describe_nodegroup(
            clusterName=cluster, nodegroupName=outputs[f"{part}_node_group_{key}"]
        )["nodegroup"]
        for capacity, key in (("ON_DEMAND", "on_demand"), ("SPOT", "spot"))
    }


def test_the_node_groups_are_spot_and_on_demand_gpu_pools(deployed: Deployment) -> None:
    groups = node_groups(deployed, "new", CLUSTER)
    for capacity, group in groups.items():
        assert group["capacityType"] == capacity
        assert group["amiType"] == "AL2023_x86_64_NVIDIA"
        assert group["taints"] == [
            {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
        ]
        assert group["labels"] == {"infra/node-pool": f"{CLUSTER}-gpu"}
        assert "remoteAccess" not in group
    assert groups["ON_DEMAND"]["scalingConfig"] == {"minSize": 1, "maxSize": 2, "desiredSize": 1}
    assert groups["SPOT"]["scalingConfig"] == {"minSize": 0, "maxSize": 4, "desiredSize": 1}
    role = groups["SPOT"]["nodeRole"].rsplit("/", 1)[1]
    iam = boto("iam")
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert {p["PolicyName"] for p in attached} == NODE_POLICIES
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []
    template_id = groups["SPOT"]["launchTemplate"]["id"]
    (version,) = boto("ec2").describe_launch_template_versions(LaunchTemplateId=template_id)[
        "LaunchTemplateVersions"
    ]
    data = version["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["MetadataOptions"]["HttpPutResponseHopLimit"] == 1
    (disk,) = data["BlockDeviceMappings"]
    assert disk["Ebs"]["Encrypted"] and disk["Ebs"]["VolumeType"] == "gp3"
    (interface,) = data["NetworkInterfaces"]
    assert interface["AssociatePublicIpAddress"] is False
    cluster = boto("eks").describe_cluster(name=CLUSTER)["cluster"]
    assert interface["Groups"] == [cluster["resourcesVpcConfig"]["clusterSecurityGroupId"]]
    assert "ImageId" not in data and not data.get("UserData")  # EKS gives AMI and bootstrap


def test_only_the_service_account_can_read_only_the_model(deployed: Deployment) -> None:
    role = deployed.terraform.outputs()["new_serving_role_arn"].rsplit("/", 1)[1]
    iam = boto("iam")
    (statement,) = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]["Statement"]
    issuer = boto("eks").describe_cluster(name=CLUSTER)["cluster"]["identity"]["oidc"]["issuer"]
    host = issuer.removeprefix("https://")
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(f":oidc-provider/{host}")
    assert statement["Condition"] == {
        "StringEquals": {
            f"{host}:sub": f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}",
            f"{host}:aud": "sts.amazonaws.com",
        }
    }
    (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    policy = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    bucket, _, prefix = MODEL_S3_URI.removeprefix("s3://").partition("/")
    assert [s["Resource"] for s in policy["Statement"]] == [
        f"arn:aws:s3:::{bucket}",
        f"arn:aws:s3:::{bucket}/{prefix}/*",
    ]
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []


def test_pools_join_the_existing_cluster_through_its_own_oidc_provider(
    deployed: Deployment,
) -> None:
    groups = node_groups(deployed, "existing", EXISTING)
    assert sorted(g["capacityType"] for g in groups.values()) == ["ON_DEMAND", "SPOT"]
    given = set(deployed.options.existing_subnet_ids)
    assert [set(g["subnets"]) for g in groups.values()] == [given, given]
    role = deployed.terraform.outputs()["existing_serving_role_arn"].rsplit("/", 1)[1]
    (statement,) = boto("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    assert statement["Principal"]["Federated"] == deployed.provider_arn


def test_second_plan_is_empty(deployed: Deployment) -> None:
    assert deployed.terraform("plan", "-detailed-exitcode").returncode == 0


def test_a_pool_is_resized_in_place(deployed: Deployment) -> None:
    """UpdateNodegroupConfig, then the provider waits on DescribeUpdate (added to moto)."""
    resized = replace(deployed.options, spot=(0, 1, 6))
    synthesize_eks_stack(deployed.terraform.directory.parent.parent, resized, emulated=True)
    result = deployed.terraform("apply", "-auto-approve")
    assert "0 added, 2 changed, 0 destroyed" in result.stdout
    groups = node_groups(deployed, "new", CLUSTER)
    assert groups["SPOT"]["scalingConfig"]["maxSize"] == 6
    assert deployed.terraform("plan", "-detailed-exitcode").returncode == 0


def test_destroy_leaves_nothing_but_the_existing_cluster(deployed: Deployment) -> None:
    deployed.terraform("destroy", "-auto-approve")
    deployed.destroyed = True
    eks, ec2, iam = boto("eks"), boto("ec2"), boto("iam")
    assert eks.list_clusters()["clusters"] == [EXISTING]
    assert eks.describe_cluster(name=EXISTING)["cluster"]["status"] == "ACTIVE"
    assert eks.list_nodegroups(clusterName=EXISTING)["nodegroups"] == []
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []
    cluster_groups = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [f"eks-cluster-sg-{CLUSTER}-*"]}]
    )
    assert cluster_groups["SecurityGroups"] == []
    providers = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert [p["Arn"] for p in providers] == [deployed.provider_arn]
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == [f"{EXISTING}-cluster"]
    assert boto("logs").describe_log_groups(logGroupNamePrefix="/aws/eks/")["logGroups"] == []
    kms = boto("kms")
    states = {
        kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"]
        for k in kms.list_keys()["Keys"]
    }
    assert states == {"PendingDeletion"}
