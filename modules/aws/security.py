"""Security groups: the load balancer takes traffic only from the CIDRs it is given (the fleet
stack gives the VPC's own range unless the profile lists others, so nothing is public unless
asked), on port 80 and, with a certificate, on
443 (port 80 then only redirects to it); instances take traffic only from the load balancer, on
the serving port."""

from __future__ import annotations

from dataclasses import dataclass

from cdktn_provider_aws.data_aws_subnet import DataAwsSubnet
from cdktn_provider_aws.security_group import SecurityGroup
from cdktn_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktn_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

LISTENER_PORT = 80
HTTPS_PORT = 443


@dataclass(frozen=True, kw_only=True)
class ServingSecurityGroupsProps:
    """The load balancer's and the instances' groups. Nothing reaches the load balancer but the
    networks listed, and the instances take only the load balancer's traffic."""

    vpc_id: str
    """The VPC both groups live in. Required."""
    serving_port: int
    """The instances' serving port, the only one the load balancer reaches them on. Required."""
    ingress_cidrs: tuple[str, ...] = ()
    """IPv4 networks allowed to reach the load balancer's listeners. Default: none, so no
    ingress at all until a caller names one."""
    https: bool = False
    """Whether the load balancer also listens on 443 (it has a certificate); port 80 then only
    redirects. Default False: port 80 alone."""


class ServingSecurityGroups(Construct):
    def __init__(self, scope: Construct, id: str, props: ServingSecurityGroupsProps) -> None:
        super().__init__(scope, id)
        self.load_balancer = SecurityGroup(
            self,
            "load-balancer",
            vpc_id=props.vpc_id,
            # Kept as it was before HTTPS: a new description would replace the group, which
            # the load balancer still uses while the old one is deleted.
            description="Serving load balancer: HTTP from the allowed CIDRs only",
        )
        # (construct id prefix, port, description); the HTTP rules keep the ids they had before
        # HTTPS, so adding a certificate changes them in place.
        listeners = [
            (
                "load-balancer-in",
                LISTENER_PORT,
                "HTTP (redirected to HTTPS) from an allowed network"
                if props.https
                else "HTTP from an allowed network",
            )
        ]
        if props.https:
            listeners.append(
                ("load-balancer-https-in", HTTPS_PORT, "HTTPS from an allowed network")
            )
        for prefix, port, description in listeners:
            for index, cidr in enumerate(props.ingress_cidrs):
                VpcSecurityGroupIngressRule(
                    self,
                    f"{prefix}-{index}",
                    security_group_id=self.load_balancer.id,
                    cidr_ipv4=cidr,
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    description=description,
                )
        self.instances = SecurityGroup(
            self,
            "instances",
            vpc_id=props.vpc_id,
            description="Serving instances: the serving port from the load balancer only",
        )
        VpcSecurityGroupEgressRule(
            self,
            "load-balancer-to-instances",
            security_group_id=self.load_balancer.id,
            referenced_security_group_id=self.instances.id,
            ip_protocol="tcp",
            from_port=props.serving_port,
            to_port=props.serving_port,
            description="Forward to the serving port",
        )
        VpcSecurityGroupIngressRule(
            self,
            "instances-from-load-balancer",
            security_group_id=self.instances.id,
            referenced_security_group_id=self.load_balancer.id,
            ip_protocol="tcp",
            from_port=props.serving_port,
            to_port=props.serving_port,
            description="Serving port from the load balancer",
        )
        # Instances pull container images and weights (HTTPS) and reach SSM and CloudWatch.
        VpcSecurityGroupEgressRule(
            self,
            "instances-https-out",
            security_group_id=self.instances.id,
            cidr_ipv4="0.0.0.0/0",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="HTTPS to registries, S3, SSM and CloudWatch",
        )


@dataclass(frozen=True, kw_only=True)
class EndpointSecurityGroupProps:
    """A SageMaker endpoint's group: no ingress, HTTPS out."""

    subnet_id: str
    """One of the endpoint's subnets; the group is made in its VPC. Required."""


class EndpointSecurityGroup(Construct):
    """A SageMaker endpoint's network interfaces in the user's subnets: no ingress (invocations
    arrive through the SageMaker API, not the VPC), HTTPS out for the image, weights and logs."""

    def __init__(self, scope: Construct, id: str, props: EndpointSecurityGroupProps) -> None:
        super().__init__(scope, id)
        subnet = DataAwsSubnet(self, "subnet", id=props.subnet_id)
        self.group = SecurityGroup(
            self,
            "group",
            vpc_id=subnet.vpc_id,
            description="SageMaker endpoint: no ingress, HTTPS out",
        )
        VpcSecurityGroupEgressRule(
            self,
            "https-out",
            security_group_id=self.group.id,
            cidr_ipv4="0.0.0.0/0",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="HTTPS to ECR, S3, the model hub and CloudWatch",
        )
