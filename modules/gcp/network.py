"""The network a GCP fleet lives in: a new VPC with one regional subnet, or the user's subnet.

A new network gets a subnet for the instances (Private Google Access on, so Artifact Registry and
Cloud Storage are reached without the NAT), Cloud NAT so instances without external IPs can pull
public images and weights, and, for an internal load balancer, the region's proxy-only subnet its
Envoy proxies send from. A regional subnet spans every zone of the region, so one serves the whole
fleet.

An existing network is named by its subnet in `deploy.network.subnet_ids`: either a name in the
deployment's project and region, or `projects/P/regions/R/subnetworks/NAME` (a Shared VPC host
project included). An internal load balancer also needs that VPC's proxy-only subnet in the
region, listed second: there can be only one per VPC and region, so the stack uses it rather than
creating one. Nothing is created in an existing network except the firewall rule for the load
balancer (egress stays the network's own business, as on AWS).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cdktn import Token
from cdktn_provider_google.compute_network import ComputeNetwork
from cdktn_provider_google.compute_router import ComputeRouter
from cdktn_provider_google.compute_router_nat import (
    ComputeRouterNat,
    ComputeRouterNatLogConfig,
    ComputeRouterNatSubnetwork,
)
from cdktn_provider_google.compute_subnetwork import ComputeSubnetwork
from cdktn_provider_google.data_google_compute_subnetwork import DataGoogleComputeSubnetwork
from constructs import Construct

from core.errors import InfraError
from modules.gcp.naming import gcp_name

SUBNET_CIDR = "10.40.0.0/20"
PROXY_ONLY_CIDR = "10.40.16.0/23"
"""The proxy-only subnet of a regional internal Application Load Balancer (/23: Google's size)."""
_SUBNET_PATH = re.compile(
    r"^projects/(?P<project>[^/]+)/regions/(?P<region>[^/]+)/subnetworks/(?P<name>[^/]+)$"
)
_SUBNET_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


class NetworkError(InfraError):
    pass


@dataclass(frozen=True)
class SubnetReference:
    project: str
    region: str
    name: str


def parse_subnet(value: str, *, project: str, region: str, where: str) -> SubnetReference:
    """A subnet named in the profile: a bare name (the deployment's project and region) or its
    full path. A subnet of another region cannot hold the fleet."""
    path = _SUBNET_PATH.match(value)
    if path:
        reference = SubnetReference(path["project"], path["region"], path["name"])
    elif _SUBNET_NAME.match(value):
        reference = SubnetReference(project, region, value)
    else:
        raise NetworkError(
            f"{where}: deploy.network.subnet_ids entry {value!r} is not a GCP subnet; give its "
            "name or projects/PROJECT/regions/REGION/subnetworks/NAME."
        )
    if reference.region != region:
        raise NetworkError(
            f"{where}: subnet {reference.name} is in {reference.region}, but the deployment is in "
            f"{region}; name a subnet of {region}."
        )
    return reference


@dataclass(frozen=True, kw_only=True)
class ServingNetworkProps:
    """Where the fleet lives: a network of its own unless the profile names subnets."""

    stack_name: str
    """The stack the network belongs to: its resources' names. Required."""
    project: str
    """The deployment's project, which a subnet named without its path is in. Required."""
    region: str
    """The fleet's region. Required."""
    subnet_ids: tuple[str, ...] = ()
    """The user's subnets (deploy.network.subnet_ids): the fleet's and, for an internal load
    balancer, the proxy-only one. Default: none, so a new VPC with Cloud NAT."""
    internal_load_balancer: bool = True
    """Whether the fleet sits behind the internal load balancer, which needs a proxy-only
    subnet. Default: yes, as the load balancer is internal unless asked otherwise."""


class ServingNetwork(Construct):
    """`network` (self link), `subnetwork` (self link), `subnetwork_project`, `proxy_only_cidr`
    (None unless an internal load balancer needs one) of a new or the user's network."""

    def __init__(self, scope: Construct, id: str, props: ServingNetworkProps) -> None:
        super().__init__(scope, id)
        stack_name, project, region = props.stack_name, props.project, props.region
        internal_load_balancer = props.internal_load_balancer
        where = f"stack {stack_name}"
        if props.subnet_ids:
            self._use_existing(
                list(props.subnet_ids), project, region, internal_load_balancer, where
            )
            return
        self.created = True
        self.vpc = ComputeNetwork(
            self,
            "vpc",
            name=gcp_name(stack_name, "net"),
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
        )
        self.subnet = ComputeSubnetwork(
            self,
            "subnet",
            name=gcp_name(stack_name, "serving"),
            network=self.vpc.id,
            region=region,
            ip_cidr_range=SUBNET_CIDR,
            private_ip_google_access=True,
        )
        self.network = self.vpc.self_link
        self.subnetwork = self.subnet.self_link
        self.subnetwork_project = project
        self.proxy_only_cidr: str | None = None
        self.proxy_only_subnet: ComputeSubnetwork | None = None
        if internal_load_balancer:
            self.proxy_only_subnet = ComputeSubnetwork(
                self,
                "proxy-only",
                name=gcp_name(stack_name, "proxy-only"),
                network=self.vpc.id,
                region=region,
                ip_cidr_range=PROXY_ONLY_CIDR,
                purpose="REGIONAL_MANAGED_PROXY",
                role="ACTIVE",
            )
            self.proxy_only_cidr = PROXY_ONLY_CIDR
        router = ComputeRouter(
            self, "router", name=gcp_name(stack_name, "router"), network=self.vpc.id, region=region
        )
        # Egress for image and weight pulls at boot; the instances have no external IP.
        ComputeRouterNat(
            self,
            "nat",
            name=gcp_name(stack_name, "nat"),
            router=router.name,
            region=region,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetwork=[
                ComputeRouterNatSubnetwork(
                    name=self.subnet.id, source_ip_ranges_to_nat=["ALL_IP_RANGES"]
                )
            ],
            log_config=ComputeRouterNatLogConfig(enable=True, filter="ERRORS_ONLY"),
        )

    def _use_existing(
        self,
        subnet_ids: list[str],
        project: str,
        region: str,
        internal_load_balancer: bool,
        where: str,
    ) -> None:
        wanted = 2 if internal_load_balancer else 1
        if len(subnet_ids) != wanted:
            raise NetworkError(
                f"{where}: deploy.network.subnet_ids lists {len(subnet_ids)} subnet(s); on GCP "
                + (
                    "an internal load balancer needs the fleet's subnet and, second, the "
                    "region's proxy-only subnet of the same VPC."
                    if internal_load_balancer
                    else "a public load balancer needs exactly one: the fleet's regional subnet."
                )
            )
        references = [
            parse_subnet(value, project=project, region=region, where=where) for value in subnet_ids
        ]
        found = [
            DataGoogleComputeSubnetwork(
                self,
                f"given-subnet-{index}",
                project=reference.project,
                region=reference.region,
                name=reference.name,
            )
            for index, reference in enumerate(references)
        ]
        self.created = False
        self.network = found[0].network
        self.subnetwork = found[0].self_link
        self.subnetwork_project = references[0].project
        self.proxy_only_subnet = None
        self.proxy_only_cidr = (
            Token.as_string(found[1].ip_cidr_range) if internal_load_balancer else None
        )
