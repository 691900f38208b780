"""The AWS resources of the kinds the toolkit provisions that carry given tags, in one region.

`infra repair` and the check after `infra destroy` (orchestrator/leftovers.py) compare them with
the Terraform state. Each is reported as its Terraform resource type and the ID Terraform records
for it (and imports it by), so the comparison needs no per-type translation there.

Sources: the Resource Groups Tagging API for load balancers, target groups, CloudWatch alarms, log
groups, KMS keys (those scheduled for deletion are gone: a destroyed key waits out its window in
that state) and SageMaker models, endpoint configurations and endpoints (one paginated call); the
services' own
describe calls, filtered by tag, for the EC2 network, launch templates and autoscaling groups
(their state is visible there: a NAT gateway deleted an hour ago is not a leftover); the
listeners of every load balancer found; IAM roles and instance profiles by name prefix (IAM has
no tag filter), then their tags; with `eks`, the region's EKS clusters and their node groups
(EKS has no tag filter either) and the account's IAM OIDC providers, then their tags. Instances
are not listed: their autoscaling group or node group owns them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

ClientFactory = Callable[[str], Any]
"""service name -> a boto3 client in the deployment's region (IAM is global)."""

TAGGING_API_TYPES = {
    "elasticloadbalancing:loadbalancer": "aws_lb",
    "elasticloadbalancing:targetgroup": "aws_lb_target_group",
    "cloudwatch:alarm": "aws_cloudwatch_metric_alarm",
    # The whole service: AWS names the type `logs:log-group`, moto `logs:loggroup`; only log
    # group ARNs are read (_from_arn).
    "logs": "aws_cloudwatch_log_group",
    "kms:key": "aws_kms_key",
    "sagemaker:model": "aws_sagemaker_model",
    "sagemaker:endpoint-config": "aws_sagemaker_endpoint_configuration",
    "sagemaker:endpoint": "aws_sagemaker_endpoint",
}
GONE_NAT_STATES = frozenset({"deleted", "failed"})
GONE_KEY_STATES = frozenset({"PendingDeletion", "PendingReplicaDeletion"})


@dataclass(frozen=True)
class CloudResource:
    type: str
    """The Terraform resource type, e.g. `aws_lb`."""
    id: str
    """What Terraform records as the resource's `id`, and what `terraform import` takes."""
    name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    parent: str | None = None
    """For a listener, the ID of its load balancer (listeners belong to whoever owns it)."""

    def label(self) -> str:
        shown = self.name if self.name and self.name != self.id else self.id
        return f"{self.type} {shown}"


def tagged_resources(
    client: ClientFactory, tags: Mapping[str, str], *, iam_name_prefix: str, eks: bool = False
) -> list[CloudResource]:
    """Every resource of the listed kinds carrying all of `tags`, plus the listeners of the load
    balancers among them; IAM roles and instance profiles only where the name starts with
    `iam_name_prefix`; EKS clusters and node groups only with `eks` (a deployment that makes
    none needs no EKS permission to be listed)."""
    found = [
        *_from_tagging_api(client("resourcegroupstaggingapi"), tags),
        *_ec2_resources(client("ec2"), tags),
        *_autoscaling_groups(client("autoscaling"), tags),
        *_iam_resources(client("iam"), tags, iam_name_prefix),
        *(_eks_resources(client("eks"), tags) if eks else ()),
        *(_oidc_providers(client("iam"), tags) if eks else ()),
    ]
    found = _without_deleted_keys(client, found)
    balancers = [resource.id for resource in found if resource.type == "aws_lb"]
    return found + _listeners(client("elbv2"), balancers)


def _pairs(tags: Mapping[str, str]) -> dict[str, str]:
    return {str(key): str(value) for key, value in tags.items()}


def _as_dict(entries: list[dict[str, str]] | None) -> dict[str, str]:
    return {entry["Key"]: entry["Value"] for entry in entries or []}


def _carries(actual: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(actual.get(key) == value for key, value in wanted.items())


def _pages(client: Any, operation: str, key: str, **arguments: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**arguments):
        yield from page.get(key, [])


def _from_tagging_api(tagging: Any, tags: Mapping[str, str]) -> Iterator[CloudResource]:
    filters = [{"Key": key, "Values": [value]} for key, value in _pairs(tags).items()]
    for mapping in _pages(
        tagging,
        "get_resources",
        "ResourceTagMappingList",
        TagFilters=filters,
        ResourceTypeFilters=list(TAGGING_API_TYPES),
    ):
        resource = _from_arn(mapping["ResourceARN"], _as_dict(mapping.get("Tags")))
        if resource is not None:
            yield resource


def _from_arn(arn: str, tags: dict[str, str]) -> CloudResource | None:
    """arn:aws:<service>:<region>:<account>:<resource>, read as Terraform records it."""
    service, resource = arn.split(":", 5)[2], arn.split(":", 5)[5]
    if service == "elasticloadbalancing":
        kind, _, rest = resource.partition("/")
        if kind == "loadbalancer":  # loadbalancer/app/<name>/<id>
            return CloudResource("aws_lb", arn, rest.split("/")[1], tags)
        if kind == "targetgroup":  # targetgroup/<name>/<id>
            return CloudResource("aws_lb_target_group", arn, rest.split("/")[0], tags)
        return None
    if service == "cloudwatch" and resource.startswith("alarm:"):
        name = resource.removeprefix("alarm:")
        return CloudResource("aws_cloudwatch_metric_alarm", name, name, tags)
    if service == "logs" and resource.startswith("log-group:"):
        name = resource.removeprefix("log-group:").removesuffix(":*")
        return CloudResource("aws_cloudwatch_log_group", name, name, tags)
    if service == "kms" and resource.startswith("key/"):
        return CloudResource("aws_kms_key", resource.removeprefix("key/"), None, tags)
    if service == "sagemaker":
        kind, _, name = resource.partition("/")
        terraform_type = TAGGING_API_TYPES.get(f"sagemaker:{kind}")
        return CloudResource(terraform_type, name, name, tags) if terraform_type else None
    return None


def _ec2_resources(ec2: Any, tags: Mapping[str, str]) -> Iterator[CloudResource]:
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in _pairs(tags).items()]
    for vpc in _pages(ec2, "describe_vpcs", "Vpcs", Filters=filters):
        yield CloudResource("aws_vpc", vpc["VpcId"], None, _as_dict(vpc.get("Tags")))
    for subnet in _pages(ec2, "describe_subnets", "Subnets", Filters=filters):
        yield CloudResource("aws_subnet", subnet["SubnetId"], None, _as_dict(subnet.get("Tags")))
    for group in _pages(ec2, "describe_security_groups", "SecurityGroups", Filters=filters):
        if group["GroupName"] != "default":  # adopted, not created: it goes with its VPC
            yield CloudResource(
                "aws_security_group",
                group["GroupId"],
                group["GroupName"],
                _as_dict(group.get("Tags")),
            )
    for gateway in _pages(ec2, "describe_internet_gateways", "InternetGateways", Filters=filters):
        yield CloudResource(
            "aws_internet_gateway",
            gateway["InternetGatewayId"],
            None,
            _as_dict(gateway.get("Tags")),
        )
    for table in _pages(ec2, "describe_route_tables", "RouteTables", Filters=filters):
        if not any(association.get("Main") for association in table.get("Associations", [])):
            yield CloudResource(
                "aws_route_table", table["RouteTableId"], None, _as_dict(table.get("Tags"))
            )
    for nat in _pages(ec2, "describe_nat_gateways", "NatGateways", Filter=filters):
        if nat["State"] not in GONE_NAT_STATES:
            yield CloudResource(
                "aws_nat_gateway", nat["NatGatewayId"], None, _as_dict(nat.get("Tags"))
            )
    for address in ec2.describe_addresses(Filters=filters).get("Addresses", []):
        yield CloudResource(
            "aws_eip",
            address["AllocationId"],
            address.get("PublicIp"),
            _as_dict(address.get("Tags")),
        )
    for template in _pages(ec2, "describe_launch_templates", "LaunchTemplates", Filters=filters):
        yield CloudResource(
            "aws_launch_template",
            template["LaunchTemplateId"],
            template["LaunchTemplateName"],
            _as_dict(template.get("Tags")),
        )


def _autoscaling_groups(autoscaling: Any, tags: Mapping[str, str]) -> Iterator[CloudResource]:
    filters = [{"Name": f"tag:{key}", "Values": [value]} for key, value in _pairs(tags).items()]
    for group in _pages(
        autoscaling, "describe_auto_scaling_groups", "AutoScalingGroups", Filters=filters
    ):
        name = group["AutoScalingGroupName"]
        yield CloudResource("aws_autoscaling_group", name, name, _as_dict(group.get("Tags")))


def _iam_resources(iam: Any, tags: Mapping[str, str], prefix: str) -> Iterator[CloudResource]:
    wanted = _pairs(tags)
    for role in _pages(iam, "list_roles", "Roles"):
        name = role["RoleName"]
        if name.startswith(prefix):
            carried = _as_dict(iam.list_role_tags(RoleName=name)["Tags"])
            if _carries(carried, wanted):
                yield CloudResource("aws_iam_role", name, name, carried)
    for profile in _pages(iam, "list_instance_profiles", "InstanceProfiles"):
        name = profile["InstanceProfileName"]
        if name.startswith(prefix):
            # ListInstanceProfiles leaves the tags out on AWS; GetInstanceProfile has them.
            detail = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
            carried = _as_dict(detail.get("Tags"))
            if _carries(carried, wanted):
                yield CloudResource("aws_iam_instance_profile", name, name, carried)


def _eks_resources(eks: Any, tags: Mapping[str, str]) -> Iterator[CloudResource]:
    """Clusters by name, node groups as `cluster:group` (Terraform's IDs), each with its
    cluster as parent: a node group in another stack's cluster is still listed."""
    wanted = _pairs(tags)
    for cluster in _pages(eks, "list_clusters", "clusters"):
        carried = eks.describe_cluster(name=cluster)["cluster"].get("tags") or {}
        if _carries(carried, wanted):
            yield CloudResource("aws_eks_cluster", cluster, cluster, carried)
        for group in _pages(eks, "list_nodegroups", "nodegroups", clusterName=cluster):
            detail = eks.describe_nodegroup(clusterName=cluster, nodegroupName=group)
            carried = detail["nodegroup"].get("tags") or {}
            if _carries(carried, wanted):
                yield CloudResource(
                    "aws_eks_node_group", f"{cluster}:{group}", group, carried, parent=cluster
                )


def _oidc_providers(iam: Any, tags: Mapping[str, str]) -> Iterator[CloudResource]:
    """The IAM OIDC providers of EKS clusters' issuers (workload identity), by their ARN."""
    wanted = _pairs(tags)
    for provider in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []):
        arn = provider["Arn"]
        listed = iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)
        carried = _as_dict(listed.get("Tags"))
        if _carries(carried, wanted):
            yield CloudResource(
                "aws_iam_openid_connect_provider", arn, arn.split("/", 1)[-1], carried
            )


def _without_deleted_keys(client: ClientFactory, found: list[CloudResource]) -> list[CloudResource]:
    """KMS keys scheduled for deletion are gone for the deployment (the tagging API still lists
    them until their window ends); only asked when keys were found."""
    keys = [resource for resource in found if resource.type == "aws_kms_key"]
    if not keys:
        return found
    kms = client("kms")
    gone = {
        key.id
        for key in keys
        if kms.describe_key(KeyId=key.id)["KeyMetadata"]["KeyState"] in GONE_KEY_STATES
    }
    return [r for r in found if not (r.type == "aws_kms_key" and r.id in gone)]


def _listeners(elbv2: Any, balancer_arns: list[str]) -> list[CloudResource]:
    return [
        CloudResource("aws_lb_listener", listener["ListenerArn"], None, {}, parent=arn)
        for arn in balancer_arns
        for listener in _pages(elbv2, "describe_listeners", "Listeners", LoadBalancerArn=arn)
    ]
