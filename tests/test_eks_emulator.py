"""The local emulator's EKS, as the provider sees it (providers/local/server.py complete_eks):
a real moto server process on a free loopback port, driven with boto3."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from providers.aws.eks_versions import standard_support_ends
from providers.local import emulator


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """boto3 clients on an emulator of this module's own, stopped afterwards."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INFRA_HOME", str(tmp_path_factory.mktemp("home")))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        endpoint = emulator.start(port).endpoint
        assert endpoint is not None
        for name, value in emulator.aws_environment(endpoint).items():
            patch.setenv(name, value)
        yield {name: boto3.client(name) for name in ("eks", "ec2")}
        emulator.stop()


def cluster_in_default_vpc(aws: dict[str, Any], name: str, **extra: Any) -> dict[str, Any]:
    subnets = [s["SubnetId"] for s in aws["ec2"].describe_subnets()["Subnets"]][:2]
    return aws["eks"].create_cluster(
        name=name,
        roleArn="arn:aws:iam::123456789012:role/cluster",
        resourcesVpcConfig={"subnetIds": subnets, "endpointPrivateAccess": True},
        version="1.33",
        **extra,
    )["cluster"]


def test_clusters_get_their_own_issuer_security_group_and_access_config(
    aws: dict[str, Any],
) -> None:
    first = cluster_in_default_vpc(
        aws,
        "first",
        accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True},
    )
    second = cluster_in_default_vpc(aws, "second")
    issuers = {c["identity"]["oidc"]["issuer"] for c in (first, second)}
    assert len(issuers) == 2
    assert first["accessConfig"]["authenticationMode"] == "API"
    assert second["accessConfig"]["authenticationMode"] == "CONFIG_MAP"  # EKS's default
    network = aws["eks"].describe_cluster(name="first")["cluster"]["resourcesVpcConfig"]
    (group,) = aws["ec2"].describe_security_groups(GroupIds=[network["clusterSecurityGroupId"]])[
        "SecurityGroups"
    ]
    assert group["VpcId"] == network["vpcId"] and group["GroupName"].startswith("eks-cluster-sg-")
    (members,) = group["IpPermissions"]
    assert members["UserIdGroupPairs"][0]["GroupId"] == group["GroupId"]
    assert (network["endpointPrivateAccess"], network["endpointPublicAccess"]) == (True, True)

    aws["eks"].delete_cluster(name="first")
    with pytest.raises(aws["ec2"].exceptions.ClientError, match=r"InvalidGroup\.NotFound"):
        aws["ec2"].describe_security_groups(GroupIds=[group["GroupId"]])


def test_a_cluster_made_without_a_version_runs_the_newest_of_the_calendar(
    aws: dict[str, Any],
) -> None:
    """As EKS uses its current default; moto's own (1.19) would be priced at the extended rate."""
    subnets = [s["SubnetId"] for s in aws["ec2"].describe_subnets()["Subnets"]][:2]
    made = aws["eks"].create_cluster(
        name="unversioned",
        roleArn="arn:aws:iam::123456789012:role/cluster",
        resourcesVpcConfig={"subnetIds": subnets},
    )["cluster"]
    newest = max(standard_support_ends())
    assert made["version"] == f"{newest[0]}.{newest[1]}"
    aws["eks"].delete_cluster(name="unversioned")


def test_node_groups_read_back_as_created_and_updates_complete(aws: dict[str, Any]) -> None:
    cluster = cluster_in_default_vpc(aws, "gpu")
    template = aws["ec2"].create_launch_template(
        LaunchTemplateName="nodes",
        LaunchTemplateData={"MetadataOptions": {"HttpTokens": "required"}},
    )["LaunchTemplate"]
    eks = aws["eks"]
    eks.create_nodegroup(
        clusterName="gpu",
        nodegroupName="spot",
        nodeRole="arn:aws:iam::123456789012:role/node",
        subnets=cluster["resourcesVpcConfig"]["subnetIds"],
        launchTemplate={"id": template["LaunchTemplateId"], "version": "1"},
        capacityType="SPOT",
        updateConfig={"maxUnavailable": 1},
    )
    group = eks.describe_nodegroup(clusterName="gpu", nodegroupName="spot")["nodegroup"]
    assert "remoteAccess" not in group and "diskSize" not in group
    assert group["updateConfig"] == {"maxUnavailable": 1}
    assert group["version"] == "1.33"

    resized = eks.update_nodegroup_config(
        clusterName="gpu", nodegroupName="spot", scalingConfig={"maxSize": 6}
    )["update"]
    described = eks.describe_update(name="gpu", updateId=resized["id"], nodegroupName="spot")
    assert described["update"]["status"] == "Successful"

    moved = eks.update_nodegroup_version(
        clusterName="gpu",
        nodegroupName="spot",
        launchTemplate={"id": template["LaunchTemplateId"], "version": "2"},
    )["update"]
    assert eks.describe_update(name="gpu", updateId=moved["id"])["update"]["type"] == (
        "VersionUpdate"
    )
    group = eks.describe_nodegroup(clusterName="gpu", nodegroupName="spot")["nodegroup"]
    assert group["launchTemplate"]["version"] == "2"

    with pytest.raises(eks.exceptions.ResourceNotFoundException, match="No update found"):
        eks.describe_update(name="gpu", updateId="00000000-0000-0000-0000-000000000000")
    with pytest.raises(eks.exceptions.ResourceNotFoundException, match="No node group found"):
        eks.update_nodegroup_version(clusterName="gpu", nodegroupName="absent")
