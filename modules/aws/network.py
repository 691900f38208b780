"""The network a fleet lives in: a new VPC over the fleet's zones, or the user's subnets."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cdktn import Fn, Token
from cdktn_provider_aws.data_aws_availability_zones import DataAwsAvailabilityZones
from cdktn_provider_aws.data_aws_subnet import DataAwsSubnet
from cdktn_provider_aws.data_aws_vpc import DataAwsVpc
from cdktn_provider_aws.default_security_group import DefaultSecurityGroup
from cdktn_provider_aws.eip import Eip
from cdktn_provider_aws.internet_gateway import InternetGateway
from cdktn_provider_aws.nat_gateway import NatGateway
from cdktn_provider_aws.route import Route
from cdktn_provider_aws.route_table import RouteTable
from cdktn_provider_aws.route_table_association import RouteTableAssociation
from cdktn_provider_aws.subnet import Subnet
from cdktn_provider_aws.vpc import Vpc
from constructs import Construct

VPC_CIDR = "10.40.0.0/16"
MIN_ZONES = 2


@dataclass(frozen=True, kw_only=True)
class ServingNetworkProps:
    """A new VPC over the fleet's zones, or the caller's subnets as they are."""

    zone_ids: tuple[str, ...] = ()
    """AWS zone IDs (use1-az1) the fleet was priced in; its instances run there only. Default
    none: any two available zones."""
    existing_subnet_ids: tuple[str, ...] = ()
    """The caller's subnets for the load balancer and the instances; with them nothing is
    created. Default none: a new VPC."""
    existing_vpc_id: str | None = None
    """The VPC of those subnets. Default None: the first subnet's."""


class ServingNetwork(Construct):
    """Private subnets for the instances in at least two zones; public subnets only to hold the
    NAT gateway (instances pull images and weights) and, when asked, a public load balancer.
    The subnets it creates assign no public addresses.

    With `existing_subnet_ids` the caller's subnets are used as they are and nothing is created.
    Zones are AWS zone IDs (use1-az1), stable across accounts, unlike names.
    """

    def __init__(self, scope: Construct, id: str, props: ServingNetworkProps) -> None:
        super().__init__(scope, id)
        if props.existing_subnet_ids:
            self._use_existing(props.existing_subnet_ids, props.existing_vpc_id)
            return
        self.vpc = Vpc(
            self,
            "vpc",
            cidr_block=VPC_CIDR,
            enable_dns_hostnames=True,
            enable_dns_support=True,
        )
        self.vpc_id = self.vpc.id
        self.vpc_cidr = VPC_CIDR
        # Every VPC comes with a default group that lets its members talk to each other and out
        # anywhere. Nothing here uses it: adopt it with no rules, so anything placed in it by
        # mistake has no network at all. (A user's own VPC is never touched.)
        DefaultSecurityGroup(
            self, "default-security-group", vpc_id=self.vpc.id, ingress=[], egress=[]
        )
        zones = self._zones(list(props.zone_ids))
        priced = len(props.zone_ids) or len(zones)
        blocks = list(ipaddress.ip_network(VPC_CIDR).subnets(new_prefix=20))
        gateway = InternetGateway(self, "igw", vpc_id=self.vpc.id)
        public_routes = RouteTable(self, "public-routes", vpc_id=self.vpc.id)
        Route(
            self,
            "public-default",
            route_table_id=public_routes.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
        )
        self.public_subnet_ids: list[str] = []
        self.private_subnet_ids: list[str] = []
        private_routes = RouteTable(self, "private-routes", vpc_id=self.vpc.id)
        for index, zone in enumerate(zones):
            public = Subnet(
                self,
                f"public-{index}",
                vpc_id=self.vpc.id,
                cidr_block=str(blocks[index]),
                map_public_ip_on_launch=False,
                **zone,
            )
            RouteTableAssociation(
                self, f"public-{index}-routes", subnet_id=public.id, route_table_id=public_routes.id
            )
            private = Subnet(
                self,
                f"private-{index}",
                vpc_id=self.vpc.id,
                cidr_block=str(blocks[8 + index]),
                map_public_ip_on_launch=False,
                **zone,
            )
            RouteTableAssociation(
                self,
                f"private-{index}-routes",
                subnet_id=private.id,
                route_table_id=private_routes.id,
            )
            self.public_subnet_ids.append(public.id)
            self.private_subnet_ids.append(private.id)
        # The fleet runs only where it was priced; the load balancer spans every subnet.
        self.fleet_subnet_ids = self.private_subnet_ids[:priced]
        # One NAT gateway: a zone outage cuts egress, not serving, and it saves ~33 USD/month
        # per extra zone. Weights and images are pulled at boot only.
        address = Eip(self, "nat-address", domain="vpc")
        nat = NatGateway(
            self,
            "nat",
            allocation_id=address.id,
            subnet_id=self.public_subnet_ids[0],
            depends_on=[gateway],
        )
        Route(
            self,
            "private-default",
            route_table_id=private_routes.id,
            destination_cidr_block="0.0.0.0/0",
            nat_gateway_id=nat.id,
        )

    def _zones(self, zone_ids: list[str]) -> list[dict[str, str]]:
        """The zones the spot price was computed over come first, by ID; the load balancer
        needs two, so fewer are topped up with other available zones."""
        zones = [{"availability_zone_id": zone} for zone in zone_ids]
        if len(zones) >= MIN_ZONES:
            return zones
        available = DataAwsAvailabilityZones(
            self, "zones", state="available", exclude_zone_ids=zone_ids or None
        )
        missing = range(MIN_ZONES - len(zones))
        return zones + [
            {"availability_zone": Token.as_string(Fn.element(available.names, index))}
            for index in missing
        ]

    def _use_existing(self, subnet_ids: tuple[str, ...], vpc_id: str | None) -> None:
        first = DataAwsSubnet(self, "given-subnet", id=subnet_ids[0])
        vpc = DataAwsVpc(self, "given-vpc", id=vpc_id or first.vpc_id)
        self.vpc_id = vpc.id
        self.vpc_cidr = vpc.cidr_block
        self.private_subnet_ids = list(subnet_ids)
        self.public_subnet_ids = list(subnet_ids)
        self.fleet_subnet_ids = list(subnet_ids)
