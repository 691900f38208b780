"""What a cut-off run left outside the state: which resources are the deployment's, where each
would be imported, and how they are listed and deleted on AWS (moto in this process). The same
against Terraform and the emulator end to end: tests/test_repair_local.py."""

from __future__ import annotations

import json
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import moto
import pytest

from modules.tag_keys import STACK_TAG
from orchestrator.leftovers import belonging, deployment_resources, place, state_resources
from planner.deployment import spec_from_recommendation
from planner.optimizer import Filters
from planner.service import recommend_for_profile
from providers.aws.deployment_resources import CloudResource, tagged_resources
from providers.aws.resource_removal import RemovalFailed, delete_resources
from providers.sdk_errors import CloudCallFailed
from tests.conftest import EXAMPLES
from tests.local_aws import put_alarm

STACK = "chat-8b-local"
TAGS = {"team": "assistant", "env": "local"}
UNIQUE = "20261202184804391700000001"  # what Terraform appends to a name_prefix
REGION = "us-east-2"


def resource(kind: str, id: str, name: str | None = None, **tags: str) -> CloudResource:
    return CloudResource(kind, id, name, {**TAGS, **tags})


def ids(resources: list[CloudResource]) -> set[str]:
    return {r.id for r in resources}


# ---------------------------------------------------------------------------------------------
# Whose is it


def test_the_stack_tag_decides_whatever_the_name() -> None:
    ours = resource("aws_vpc", "vpc-1", **{STACK_TAG: STACK})
    theirs = resource("aws_lb", "arn:lb/other", STACK, **{STACK_TAG: "other-local"})
    assert belonging([ours, theirs], STACK) == [ours]


def test_untagged_resources_count_by_the_names_the_stack_gives() -> None:
    """Made before the stack tag (or the autoscaling group, whose tags are its own list): the
    profile's tags found them, the name says whose they are. A VPC has no name to go by."""
    found = [
        resource("aws_autoscaling_group", f"{STACK}-fleet", f"{STACK}-fleet"),
        resource("aws_lb", "arn:lb/ours", STACK),
        resource("aws_launch_template", "lt-1", f"{STACK}-{UNIQUE}"),
        resource("aws_iam_role", f"{STACK}-{UNIQUE}", f"{STACK}-{UNIQUE}"),
        resource("aws_cloudwatch_metric_alarm", f"{STACK}-5xx-rate", f"{STACK}-5xx-rate"),
        # Another profile of the same team, whose name starts like this stack's:
        resource("aws_autoscaling_group", f"{STACK}-x-fleet", f"{STACK}-x-fleet"),
        resource("aws_launch_template", "lt-2", f"{STACK}-x-{UNIQUE}"),
        resource("aws_lb", "arn:lb/theirs", "chat-8b-local-x"),
        resource("aws_vpc", "vpc-2"),
    ]
    assert ids(belonging(found, STACK)) == {
        f"{STACK}-fleet",
        "arn:lb/ours",
        "lt-1",
        f"{STACK}-{UNIQUE}",
        f"{STACK}-5xx-rate",
    }


def test_listeners_go_with_their_load_balancer() -> None:
    found = [
        resource("aws_lb", "arn:lb/ours", STACK, **{STACK_TAG: STACK}),
        resource("aws_lb", "arn:lb/theirs", "other", **{STACK_TAG: "other"}),
        CloudResource("aws_lb_listener", "arn:listener/1", parent="arn:lb/ours"),
        CloudResource("aws_lb_listener", "arn:listener/2", parent="arn:lb/theirs"),
    ]
    assert ids(belonging(found, STACK)) == {"arn:lb/ours", "arn:listener/1"}


# ---------------------------------------------------------------------------------------------
# Where it would be imported


def test_a_leftover_goes_to_the_one_address_of_its_type_the_state_lacks() -> None:
    template = resource("aws_launch_template", "lt-1", f"{STACK}-{UNIQUE}")
    vpc = resource("aws_vpc", "vpc-1")
    held = {"vpc-1": "aws_vpc.network_vpc"}
    configured = {"aws_vpc.network_vpc": None, "aws_launch_template.lt": None, "aws_lb.alb": STACK}
    (leftover,) = place([template, vpc], held, configured)
    assert (leftover.resource, leftover.address) == (template, "aws_launch_template.lt")


def test_a_name_the_configuration_declares_decides_among_several() -> None:
    """The cut-off alarm goes where its name is declared; a stray one of the stack has no place."""
    cut_off = resource("aws_cloudwatch_metric_alarm", f"{STACK}-5xx-rate", f"{STACK}-5xx-rate")
    stray = resource("aws_cloudwatch_metric_alarm", f"{STACK}-stray", f"{STACK}-stray")
    held = {f"{STACK}-p99-latency": "aws_cloudwatch_metric_alarm.latency"}
    configured = {
        "aws_cloudwatch_metric_alarm.errors": f"{STACK}-5xx-rate",
        "aws_cloudwatch_metric_alarm.latency": f"{STACK}-p99-latency",
    }
    placed = {
        leftover.resource.id: leftover for leftover in place([stray, cut_off], held, configured)
    }
    assert placed[cut_off.id].address == "aws_cloudwatch_metric_alarm.errors"
    assert (placed[stray.id].address, placed[stray.id].unplaced) == (
        None,
        "the configuration has no free aws_cloudwatch_metric_alarm address for it",
    )


def test_no_address_when_it_is_taken_or_not_the_only_one() -> None:
    template = resource("aws_launch_template", "lt-old", f"{STACK}-{UNIQUE}")
    subnets = [resource("aws_subnet", "subnet-a"), resource("aws_subnet", "subnet-b")]
    held = {"lt-new": "aws_launch_template.template"}
    configured = {
        "aws_launch_template.template": None,
        "aws_subnet.public-0": None,
        "aws_subnet.public-1": None,
    }
    placed = {
        leftover.resource.id: leftover for leftover in place([template, *subnets], held, configured)
    }
    assert {leftover.address for leftover in placed.values()} == {None}
    assert placed["lt-old"].unplaced == (
        "the configuration has no free aws_launch_template address for it"
    )
    assert placed["subnet-a"].unplaced == "2 of its type outside the state for 2 free addresses"


def test_the_state_maps_ids_and_arns_of_managed_resources_to_addresses() -> None:
    shown = {
        "values": {
            "root_module": {
                "resources": [
                    {
                        "address": "aws_lb.alb",
                        "mode": "managed",
                        "values": {"id": "arn:lb/1", "arn": "arn:lb/1"},
                    },
                    {"address": "data.aws_partition.p", "mode": "data", "values": {"id": "aws"}},
                ],
                "child_modules": [
                    {
                        "resources": [
                            {
                                "address": "module.n.aws_vpc.v",
                                "mode": "managed",
                                "values": {"id": "vpc-1"},
                            }
                        ]
                    }
                ],
            }
        }
    }
    assert state_resources(shown) == {"arn:lb/1": "aws_lb.alb", "vpc-1": "module.n.aws_vpc.v"}
    assert state_resources({"format_version": "1.0"}) == {}  # no state yet


# ---------------------------------------------------------------------------------------------
# Listing and deleting on AWS (moto, in this process)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with moto.mock_aws():
        clients: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in clients:
                clients[service] = boto3.client(service, region_name=REGION)
            return clients[service]

        yield client


def _tags(pairs: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in pairs.items()]


def build_fleet(client: Any, stack: str) -> dict[str, str]:
    """What AwsGpuFleetStack makes, tagged as it tags them; returns the IDs by kind."""
    tags = {**TAGS, STACK_TAG: stack}
    spec = [{"ResourceType": "vpc", "Tags": _tags(tags)}]
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16", TagSpecifications=spec)["Vpc"]["VpcId"]

    def tagged(kind: str) -> list[dict[str, Any]]:
        return [{"ResourceType": kind, "Tags": _tags(tags)}]

    subnets = [
        ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=f"10.40.{16 * i}.0/20",
            AvailabilityZone=f"{REGION}{zone}",
            TagSpecifications=tagged("subnet"),
        )["Subnet"]["SubnetId"]
        for i, zone in enumerate("ab")
    ]
    gateway = ec2.create_internet_gateway(TagSpecifications=tagged("internet-gateway"))
    gateway_id = gateway["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=gateway_id, VpcId=vpc)
    table = ec2.create_route_table(VpcId=vpc, TagSpecifications=tagged("route-table"))
    table_id = table["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnets[0])
    address = ec2.allocate_address(Domain="vpc", TagSpecifications=tagged("elastic-ip"))
    nat = ec2.create_nat_gateway(
        SubnetId=subnets[0],
        AllocationId=address["AllocationId"],
        TagSpecifications=tagged("natgateway"),
    )["NatGateway"]["NatGatewayId"]
    balancer_group, instance_group = (
        ec2.create_security_group(
            GroupName=f"{stack}-{role}",
            Description=role,
            VpcId=vpc,
            TagSpecifications=tagged("security-group"),
        )["GroupId"]
        for role in ("lb", "instances")
    )
    ec2.authorize_security_group_ingress(
        GroupId=instance_group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8000,
                "ToPort": 8000,
                "UserIdGroupPairs": [{"GroupId": balancer_group}],
            }
        ],
    )
    template = ec2.create_launch_template(
        LaunchTemplateName=f"{stack}-{UNIQUE}",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "g6.xlarge"},
        TagSpecifications=tagged("launch-template"),
    )["LaunchTemplate"]["LaunchTemplateId"]
    elbv2 = client("elbv2")
    balancer = elbv2.create_load_balancer(
        Name=stack[:32],
        Subnets=subnets,
        SecurityGroups=[balancer_group],
        Scheme="internal",
        Tags=_tags(tags),
    )["LoadBalancers"][0]["LoadBalancerArn"]
    targets = elbv2.create_target_group(
        Name=f"srv-{UNIQUE[:18]}{len(stack)}",
        Protocol="HTTP",
        Port=8000,
        VpcId=vpc,
        Tags=_tags(tags),
    )["TargetGroups"][0]["TargetGroupArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=balancer,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": targets}],
    )["Listeners"][0]["ListenerArn"]
    client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=f"{stack}-fleet",
        MinSize=0,
        MaxSize=2,
        LaunchTemplate={"LaunchTemplateId": template},
        VPCZoneIdentifier=",".join(subnets),
        TargetGroupARNs=[targets],
        Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in TAGS.items()],
    )
    iam = client("iam")
    role = f"{stack[:32]}-{UNIQUE}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}", Tags=_tags(tags))
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    iam.put_role_policy(RoleName=role, PolicyName="inline", PolicyDocument=document)
    profile = f"{stack[:32]}-{UNIQUE[:-1]}2"
    iam.create_instance_profile(InstanceProfileName=profile, Tags=_tags(tags))
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    alarm = f"{stack}-5xx-rate"
    put_alarm(client("cloudwatch"), alarm, tags)
    return {
        "aws_vpc": vpc,
        "aws_subnet": " ".join(subnets),
        "aws_internet_gateway": gateway_id,
        "aws_route_table": table_id,
        "aws_eip": address["AllocationId"],
        "aws_nat_gateway": nat,
        "aws_security_group": f"{balancer_group} {instance_group}",
        "aws_launch_template": template,
        "aws_lb": balancer,
        "aws_lb_target_group": targets,
        "aws_lb_listener": listener,
        "aws_autoscaling_group": f"{stack}-fleet",
        "aws_iam_role": role,
        "aws_iam_instance_profile": profile,
        "aws_cloudwatch_metric_alarm": alarm,
    }


def listed(client: Any, stack: str) -> dict[str, str]:
    """What the orchestrator lists for `stack`: by its tag, and by the profile's tags."""
    found = tagged_resources(client, {STACK_TAG: stack}, iam_name_prefix=f"{stack[:32]}-")
    found += tagged_resources(client, TAGS, iam_name_prefix=f"{stack[:32]}-")
    by_kind: dict[str, list[str]] = {}
    for item in belonging(found, stack):
        by_kind.setdefault(item.type, []).append(item.id)
    return {kind: " ".join(sorted(found_ids)) for kind, found_ids in by_kind.items()}


def test_every_kind_the_fleet_makes_is_listed_and_nothing_of_another_stack(aws: Any) -> None:
    made = build_fleet(aws, STACK)
    build_fleet(aws, "other-local")  # same team tags, same region
    expected = {kind: " ".join(sorted(value.split())) for kind, value in made.items()}
    assert listed(aws, STACK) == expected


def test_delete_removes_everything_in_dependency_order(aws: Any) -> None:
    made = build_fleet(aws, STACK)
    kept = build_fleet(aws, "other-local")
    found = belonging(
        tagged_resources(aws, {STACK_TAG: STACK}, iam_name_prefix=f"{STACK}-")
        + tagged_resources(aws, TAGS, iam_name_prefix=f"{STACK}-"),
        STACK,
    )
    assert len(found) == sum(len(value.split()) for value in made.values())
    deleted = delete_resources(aws, found, sleep=lambda seconds: None, timeout_s=1)
    assert {item.id for item in deleted} == {item.id for item in found}
    assert listed(aws, STACK) == {}
    assert listed(aws, "other-local") == {
        kind: " ".join(sorted(value.split())) for kind, value in kept.items()
    }


def test_a_refused_deletion_is_one_sentence_that_counts_what_went_before(aws: Any) -> None:
    """The VPC still holds subnets nobody asked to delete: AWS refuses for as long as it is
    retried (here not at all), and the run stops with what it had done."""
    made = build_fleet(aws, STACK)
    group = CloudResource("aws_autoscaling_group", made["aws_autoscaling_group"])
    vpc = CloudResource("aws_vpc", made["aws_vpc"])
    with pytest.raises(RemovalFailed) as raised:
        delete_resources(aws, [vpc, group], sleep=lambda seconds: None, timeout_s=0)
    message = str(raised.value)
    assert message.startswith(
        f"deleting aws_vpc {made['aws_vpc']}: AWS answered DependencyViolation"
    )
    assert message.endswith("(1 deleted before it); fix that and run the same command again.")
    assert "\n" not in message
    assert listed(aws, STACK)["aws_vpc"] == made["aws_vpc"]
    assert "aws_autoscaling_group" not in listed(aws, STACK)


# ---------------------------------------------------------------------------------------------
# Errors


def test_repair_of_another_cloud_is_refused_before_anything_runs(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(EXAMPLES / "chat-8b.yaml", tmp_path / "chat-8b.yaml")
    monkeypatch.chdir(tmp_path)
    result = cli("repair", "chat-8b.yaml", "--env", "dev", "--cloud", "gcp")
    assert result.exit_code == 1
    assert re.fullmatch(
        r"error: chat-8b-dev-[0-9a-f]{4} is on gcp; finding resources outside the state works "
        r"for AWS deployments only\.",
        result.stderr.splitlines()[-1],
    )
    assert not (tmp_path / ".infra").exists()


def test_an_unreachable_aws_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    filters = Filters(clouds=frozenset({"aws"}), kinds=frozenset({"fleet"}))
    recommendation = recommend_for_profile(EXAMPLES / "chat-8b.yaml", filters)
    spec = spec_from_recommendation(recommendation.profile, recommendation, "local")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens once the probe is closed
    environ = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
    }
    with pytest.raises(CloudCallFailed) as raised:
        deployment_resources(spec, environ)
    message = str(raised.value)
    assert message.startswith(
        f"listing the resources of chat-8b-local in {spec.region}: Could not connect to the "
        f'endpoint URL: "http://127.0.0.1:{closed}/"'
    )
    assert "\n" not in message and message.endswith(".")


def test_eks_clusters_and_node_groups_are_listed_for_kubernetes_only_and_deleted_groups_first(
    aws: Any,
) -> None:
    """A kubernetes deployment's cluster and its node groups, also in a platform cluster that
    is not the deployment's (listed by the team's tags, kept), next to another stack's group."""
    eks = aws("eks")
    role = "arn:aws:iam::123456789012:role/eks"
    ours = {**TAGS, STACK_TAG: STACK}
    network = {"subnetIds": ["subnet-1", "subnet-2"]}
    eks.create_cluster(name="platform", roleArn=role, resourcesVpcConfig=network, tags=TAGS)
    eks.create_cluster(name=STACK, roleArn=role, resourcesVpcConfig=network, tags=ours)
    group = f"{STACK}-spot-{UNIQUE}"
    for cluster in ("platform", STACK):
        eks.create_nodegroup(
            clusterName=cluster, nodegroupName=group, nodeRole=role, subnets=["subnet-1"], tags=ours
        )
    eks.create_nodegroup(
        clusterName="platform",
        nodegroupName="other-local-spot",
        nodeRole=role,
        subnets=["subnet-1"],
        tags={**TAGS, STACK_TAG: "other-local"},
    )

    def found(listing_eks: bool) -> list[CloudResource]:
        prefix = f"{STACK[:32]}-"
        return belonging(
            tagged_resources(aws, {STACK_TAG: STACK}, iam_name_prefix=prefix, eks=listing_eks)
            + tagged_resources(aws, TAGS, iam_name_prefix=prefix, eks=listing_eks),
            STACK,
        )

    assert found(False) == []
    mine = found(True)
    assert sorted((r.type, r.id) for r in mine) == [
        ("aws_eks_cluster", STACK),
        ("aws_eks_node_group", f"{STACK}:{group}"),
        ("aws_eks_node_group", f"platform:{group}"),
    ]
    deleted = delete_resources(aws, mine, sleep=lambda seconds: None, timeout_s=1)
    assert [r.type for r in deleted] == ["aws_eks_node_group"] * 2 + ["aws_eks_cluster"]
    assert eks.list_clusters()["clusters"] == ["platform"]
    assert eks.list_nodegroups(clusterName="platform")["nodegroups"] == ["other-local-spot"]


def test_keys_log_groups_and_oidc_providers_are_listed_and_a_scheduled_key_is_gone(
    aws: Any,
) -> None:
    """What an EKS cluster (and a SageMaker endpoint) of the deployment leaves besides itself:
    its secrets key, its control-plane log group and its IAM OIDC provider; another stack's are
    kept, and a key already scheduled for deletion (as Terraform destroys one) is not a leftover."""
    ours = {**TAGS, STACK_TAG: STACK}
    theirs = {**TAGS, STACK_TAG: "other-local"}
    kms, logs, iam = aws("kms"), aws("logs"), aws("iam")
    key, other_key, destroyed_key = (
        kms.create_key(Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()])["KeyMetadata"][
            "KeyId"
        ]
        for tags in (ours, theirs, ours)
    )
    kms.schedule_key_deletion(KeyId=destroyed_key, PendingWindowInDays=7)
    group = f"/aws/eks/{STACK}/cluster"
    logs.create_log_group(logGroupName=group, tags=ours)
    logs.create_log_group(logGroupName="/aws/eks/other-local/cluster", tags=theirs)
    issuer = "oidc.eks.us-east-2.amazonaws.com/id/0123456789ABCDEF"
    provider = iam.create_open_id_connect_provider(
        Url=f"https://{issuer}", ClientIDList=["sts.amazonaws.com"], Tags=_tags(ours)
    )["OpenIDConnectProviderArn"]
    iam.create_open_id_connect_provider(
        Url="https://oidc.eks.us-east-2.amazonaws.com/id/FEDCBA9876543210",
        ClientIDList=["sts.amazonaws.com"],
        Tags=_tags(theirs),
    )

    def found(listing_eks: bool) -> list[tuple[str, str]]:
        prefix = f"{STACK[:32]}-"
        return sorted(
            (r.type, r.id)
            for r in belonging(
                tagged_resources(aws, {STACK_TAG: STACK}, iam_name_prefix=prefix, eks=listing_eks),
                STACK,
            )
        )

    assert found(False) == [("aws_cloudwatch_log_group", group), ("aws_kms_key", key)]
    mine = found(True)
    assert mine == [
        ("aws_cloudwatch_log_group", group),
        ("aws_iam_openid_connect_provider", provider),
        ("aws_kms_key", key),
    ]
    resources = belonging(
        tagged_resources(aws, {STACK_TAG: STACK}, iam_name_prefix=f"{STACK[:32]}-", eks=True),
        STACK,
    )
    deleted = delete_resources(aws, resources, sleep=lambda seconds: None, timeout_s=1)
    assert [r.type for r in deleted] == [
        "aws_cloudwatch_log_group",
        "aws_iam_openid_connect_provider",
        "aws_kms_key",
    ]
    assert found(True) == []
    assert kms.describe_key(KeyId=other_key)["KeyMetadata"]["KeyState"] == "Enabled"
    assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == [
        "/aws/eks/other-local/cluster"
    ]
    assert len(iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]) == 1
