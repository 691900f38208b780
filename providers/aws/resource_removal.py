"""Delete AWS resources that no Terraform state holds, dependents before what they depend on.

What a resource needs removed first goes with it: a role leaves its instance profiles and loses
its policies, an address is disassociated, a route table loses its subnet associations, an
internet gateway is detached, and every security group being deleted loses its rules before the
first of them goes (groups of one stack refer to each other). Deletions AWS finishes in the
background (EKS node group and cluster, autoscaling group, load balancer, NAT gateway, SageMaker
endpoint) are waited for, and
a network resource still held by something going away is retried until `timeout_s`.

The first failure stops the run with one sentence naming what was deleted before it; the next run
lists again and goes on from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from core.errors import InfraError
from providers.aws.deployment_resources import ClientFactory, CloudResource
from providers.aws.sdk_calls import aws_call, error_code

Sleep = Callable[[float], None]
POLL_S = 5.0
DEFAULT_TIMEOUT_S = 900.0
KEY_DELETION_WINDOW_DAYS = 30
"""The stacks' own window (modules/aws/eks_cluster.py, modules/aws/sagemaker.py), AWS's default."""
RETRIED_CODES = frozenset({"DependencyViolation", "ResourceInUse", "ResourceInUseException"})
GONE_CODES = frozenset(
    {
        "InvalidVpcID.NotFound",
        "InvalidSubnetID.NotFound",
        "InvalidGroup.NotFound",
        "InvalidInternetGatewayID.NotFound",
        "InvalidRouteTableID.NotFound",
        "InvalidAllocationID.NotFound",
        "NatGatewayNotFound",
        "InvalidLaunchTemplateId.NotFound",
        "LoadBalancerNotFound",
        "TargetGroupNotFound",
        "ListenerNotFound",
        "NoSuchEntity",
        "ResourceNotFound",
    }
)
"""Already gone: what the run set out to do is done."""


class RemovalFailed(InfraError):
    pass


@dataclass
class _Removal:
    client: ClientFactory
    sleep: Sleep
    timeout_s: float

    def wait_until(self, gone: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while not gone():
            if time.monotonic() > deadline:
                raise RemovalFailed(
                    f"{what} was still being deleted after {self.timeout_s:g} s; run the same "
                    "command again to check on it."
                )
            self.sleep(POLL_S)

    def retrying(self, call: Callable[[], Any]) -> None:
        """Call until what holds the resource lets it go (ENIs of a load balancer outlive it)."""
        from botocore.exceptions import ClientError

        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                call()
                return
            except ClientError as error:
                if error_code(error) not in RETRIED_CODES or time.monotonic() > deadline:
                    raise
            self.sleep(POLL_S)


def delete_resources(
    client: ClientFactory,
    resources: Sequence[CloudResource],
    *,
    sleep: Sleep = time.sleep,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> list[CloudResource]:
    """Delete `resources` in dependency order; returns them in the order they were deleted."""
    from botocore.exceptions import ClientError

    removal = _Removal(client, sleep, timeout_s)
    ordered = sorted(resources, key=lambda resource: ORDER.index(resource.type))
    deleted: list[CloudResource] = []
    groups = [resource for resource in ordered if resource.type == "aws_security_group"]
    with _stops_with(deleted, "the rules of the security groups"):
        _revoke_rules(client("ec2"), groups)
    for resource in ordered:
        with _stops_with(deleted, resource.label()):
            try:
                DELETERS[resource.type](removal, resource)
            except ClientError as error:
                if error_code(error) not in GONE_CODES:
                    raise
        deleted.append(resource)
    return deleted


@contextmanager
def _stops_with(deleted: list[CloudResource], what: str) -> Iterator[None]:
    """AWS errors as one sentence that also says what was already deleted."""
    try:
        with aws_call(f"deleting {what}"):
            yield
    except InfraError as failure:
        done = f"{len(deleted)} deleted before it" if deleted else "nothing deleted"
        raise RemovalFailed(
            f"{str(failure).rstrip('.')} ({done}); fix that and run the same command again."
        ) from None


def _revoke_rules(ec2: Any, groups: Sequence[CloudResource]) -> None:
    if not groups:
        return
    described = ec2.describe_security_groups(GroupIds=[group.id for group in groups])
    for group in described["SecurityGroups"]:
        if group.get("IpPermissions"):
            ec2.revoke_security_group_ingress(
                GroupId=group["GroupId"], IpPermissions=group["IpPermissions"]
            )
        if group.get("IpPermissionsEgress"):
            ec2.revoke_security_group_egress(
                GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"]
            )


def _autoscaling_group(removal: _Removal, resource: CloudResource) -> None:
    autoscaling = removal.client("autoscaling")
    autoscaling.delete_auto_scaling_group(AutoScalingGroupName=resource.id, ForceDelete=True)

    def gone() -> bool:
        groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[resource.id])
        return not groups["AutoScalingGroups"]

    removal.wait_until(gone, resource.label())


def _node_group(removal: _Removal, resource: CloudResource) -> None:
    eks = removal.client("eks")
    cluster, _, group = resource.id.partition(":")
    eks.delete_nodegroup(clusterName=cluster, nodegroupName=group)

    def gone() -> bool:
        return group not in eks.list_nodegroups(clusterName=cluster)["nodegroups"]

    removal.wait_until(gone, resource.label())


def _eks_cluster(removal: _Removal, resource: CloudResource) -> None:
    eks = removal.client("eks")
    eks.delete_cluster(name=resource.id)

    def gone() -> bool:
        return resource.id not in eks.list_clusters()["clusters"]

    removal.wait_until(gone, resource.label())


def _alarm(removal: _Removal, resource: CloudResource) -> None:
    removal.client("cloudwatch").delete_alarms(AlarmNames=[resource.id])


def _sagemaker_endpoint(removal: _Removal, resource: CloudResource) -> None:
    from botocore.exceptions import ClientError

    sagemaker = removal.client("sagemaker")
    sagemaker.delete_endpoint(EndpointName=resource.id)

    def gone() -> bool:
        try:
            sagemaker.describe_endpoint(EndpointName=resource.id)
        except ClientError:  # ValidationException: "Could not find endpoint"
            return True
        return False

    removal.wait_until(gone, resource.label())


def _sagemaker_endpoint_configuration(removal: _Removal, resource: CloudResource) -> None:
    removal.client("sagemaker").delete_endpoint_config(EndpointConfigName=resource.id)


def _sagemaker_model(removal: _Removal, resource: CloudResource) -> None:
    removal.client("sagemaker").delete_model(ModelName=resource.id)


def _listener(removal: _Removal, resource: CloudResource) -> None:
    removal.client("elbv2").delete_listener(ListenerArn=resource.id)


def _load_balancer(removal: _Removal, resource: CloudResource) -> None:
    from botocore.exceptions import ClientError

    elbv2 = removal.client("elbv2")
    elbv2.delete_load_balancer(LoadBalancerArn=resource.id)

    def gone() -> bool:
        try:
            elbv2.describe_load_balancers(LoadBalancerArns=[resource.id])
        except ClientError as error:
            if error_code(error) == "LoadBalancerNotFound":
                return True
            raise
        return False

    removal.wait_until(gone, resource.label())


def _target_group(removal: _Removal, resource: CloudResource) -> None:
    removal.retrying(
        lambda: removal.client("elbv2").delete_target_group(TargetGroupArn=resource.id)
    )


def _launch_template(removal: _Removal, resource: CloudResource) -> None:
    removal.client("ec2").delete_launch_template(LaunchTemplateId=resource.id)


def _instance_profile(removal: _Removal, resource: CloudResource) -> None:
    iam = removal.client("iam")
    profile = iam.get_instance_profile(InstanceProfileName=resource.id)["InstanceProfile"]
    for role in profile.get("Roles", []):
        iam.remove_role_from_instance_profile(
            InstanceProfileName=resource.id, RoleName=role["RoleName"]
        )
    iam.delete_instance_profile(InstanceProfileName=resource.id)


def _role(removal: _Removal, resource: CloudResource) -> None:
    iam = removal.client("iam")
    for profile in iam.list_instance_profiles_for_role(RoleName=resource.id)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(
            InstanceProfileName=profile["InstanceProfileName"], RoleName=resource.id
        )
    for policy in iam.list_attached_role_policies(RoleName=resource.id)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=resource.id, PolicyArn=policy["PolicyArn"])
    for name in iam.list_role_policies(RoleName=resource.id)["PolicyNames"]:
        iam.delete_role_policy(RoleName=resource.id, PolicyName=name)
    iam.delete_role(RoleName=resource.id)


def _nat_gateway(removal: _Removal, resource: CloudResource) -> None:
    ec2 = removal.client("ec2")
    ec2.delete_nat_gateway(NatGatewayId=resource.id)

    def gone() -> bool:
        gateways = ec2.describe_nat_gateways(NatGatewayIds=[resource.id])["NatGateways"]
        return all(gateway["State"] == "deleted" for gateway in gateways)

    removal.wait_until(gone, resource.label())


def _address(removal: _Removal, resource: CloudResource) -> None:
    ec2 = removal.client("ec2")
    for address in ec2.describe_addresses(AllocationIds=[resource.id])["Addresses"]:
        if address.get("AssociationId"):
            ec2.disassociate_address(AssociationId=address["AssociationId"])
    removal.retrying(lambda: ec2.release_address(AllocationId=resource.id))


def _security_group(removal: _Removal, resource: CloudResource) -> None:
    removal.retrying(lambda: removal.client("ec2").delete_security_group(GroupId=resource.id))


def _route_table(removal: _Removal, resource: CloudResource) -> None:
    ec2 = removal.client("ec2")
    (table,) = ec2.describe_route_tables(RouteTableIds=[resource.id])["RouteTables"]
    for association in table.get("Associations", []):
        if not association.get("Main"):
            ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    ec2.delete_route_table(RouteTableId=resource.id)


def _subnet(removal: _Removal, resource: CloudResource) -> None:
    removal.retrying(lambda: removal.client("ec2").delete_subnet(SubnetId=resource.id))


def _internet_gateway(removal: _Removal, resource: CloudResource) -> None:
    ec2 = removal.client("ec2")
    (gateway,) = ec2.describe_internet_gateways(InternetGatewayIds=[resource.id])[
        "InternetGateways"
    ]
    for attachment in gateway.get("Attachments", []):
        removal.retrying(
            lambda vpc=attachment["VpcId"]: ec2.detach_internet_gateway(
                InternetGatewayId=resource.id, VpcId=vpc
            )
        )
    ec2.delete_internet_gateway(InternetGatewayId=resource.id)


def _vpc(removal: _Removal, resource: CloudResource) -> None:
    removal.retrying(lambda: removal.client("ec2").delete_vpc(VpcId=resource.id))


def _log_group(removal: _Removal, resource: CloudResource) -> None:
    removal.client("logs").delete_log_group(logGroupName=resource.id)


def _oidc_provider(removal: _Removal, resource: CloudResource) -> None:
    removal.client("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=resource.id)


def _kms_key(removal: _Removal, resource: CloudResource) -> None:
    """Scheduled, as Terraform destroys a key: AWS deletes it after the window, during which
    `aws kms cancel-key-deletion` still brings it back."""
    removal.client("kms").schedule_key_deletion(
        KeyId=resource.id, PendingWindowInDays=KEY_DELETION_WINDOW_DAYS
    )


DELETERS: dict[str, Callable[[_Removal, CloudResource], None]] = {
    "aws_eks_node_group": _node_group,
    "aws_eks_cluster": _eks_cluster,
    "aws_cloudwatch_log_group": _log_group,
    "aws_autoscaling_group": _autoscaling_group,
    "aws_cloudwatch_metric_alarm": _alarm,
    "aws_sagemaker_endpoint": _sagemaker_endpoint,
    "aws_sagemaker_endpoint_configuration": _sagemaker_endpoint_configuration,
    "aws_sagemaker_model": _sagemaker_model,
    "aws_lb_listener": _listener,
    "aws_lb": _load_balancer,
    "aws_lb_target_group": _target_group,
    "aws_launch_template": _launch_template,
    "aws_iam_instance_profile": _instance_profile,
    "aws_iam_role": _role,
    "aws_iam_openid_connect_provider": _oidc_provider,
    "aws_nat_gateway": _nat_gateway,
    "aws_eip": _address,
    "aws_security_group": _security_group,
    "aws_route_table": _route_table,
    "aws_subnet": _subnet,
    "aws_internet_gateway": _internet_gateway,
    "aws_vpc": _vpc,
    "aws_kms_key": _kms_key,
}
ORDER = list(DELETERS)
"""Dependents first: the order above is the order of deletion."""
