"""The network an Azure fleet lives in: a new virtual network with one subnet and a NAT gateway,
or the user's subnet; and the network security group on the instances.

Azure subnets span every zone of a region, so one subnet serves a zone-spread scale set. The
instances have no public IPs: a NAT gateway gives a new subnet its way out (images, weights, the
model hub). A user's own subnet is used as it is, with its own egress; nothing is attached to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktn_provider_azurerm.nat_gateway import NatGateway
from cdktn_provider_azurerm.nat_gateway_public_ip_association import (
    NatGatewayPublicIpAssociation,
)
from cdktn_provider_azurerm.network_security_group import NetworkSecurityGroup
from cdktn_provider_azurerm.network_security_rule import NetworkSecurityRule
from cdktn_provider_azurerm.public_ip import PublicIp
from cdktn_provider_azurerm.subnet import Subnet
from cdktn_provider_azurerm.subnet_nat_gateway_association import SubnetNatGatewayAssociation
from cdktn_provider_azurerm.subnet_network_security_group_association import (
    SubnetNetworkSecurityGroupAssociation,
)
from cdktn_provider_azurerm.virtual_network import VirtualNetwork
from constructs import Construct

from modules.azure.names import bounded_name

VNET_CIDR = "10.41.0.0/16"
SUBNET_CIDR = "10.41.0.0/20"
LOWEST_PRIORITY = 4096
"""The last custom rule: it closes what Azure's default rules open (AllowVnetInBound lets every
port in from the whole virtual network; AllowInternetOutBound lets everything out)."""


@dataclass(frozen=True, kw_only=True)
class ServingNetworkProps:
    name: str
    """(Required) The prefix of the new network's resource names (`<name>-vnet`, `<name>-nat`)."""
    resource_group_name: str
    """(Required) The resource group a new network lives in."""
    location: str
    """(Required) The Azure region of a new network."""
    existing_subnet_id: str | None = None
    """(Optional) The user's subnet, used as it is with its own egress; nothing is made or
    attached. Defaults to None: a new virtual network and subnet without default outbound
    access, whose only way out is a NAT gateway."""


class ServingNetwork(Construct):
    """A new virtual network and subnet with a NAT gateway, or the given subnet."""

    def __init__(self, scope: Construct, id: str, props: ServingNetworkProps) -> None:
        super().__init__(scope, id)
        self.created = props.existing_subnet_id is None
        if props.existing_subnet_id is not None:
            self.subnet_id = props.existing_subnet_id
            return
        network = VirtualNetwork(
            self,
            "vnet",
            name=bounded_name(f"{props.name}-vnet", 64),
            resource_group_name=props.resource_group_name,
            location=props.location,
            address_space=[VNET_CIDR],
        )
        subnet = Subnet(
            self,
            "subnet",
            name="serving",
            resource_group_name=props.resource_group_name,
            virtual_network_name=network.name,
            address_prefixes=[SUBNET_CIDR],
            # No implicit outbound address: egress goes through the NAT gateway only.
            default_outbound_access_enabled=False,
        )
        self.subnet_id = subnet.id
        address = PublicIp(
            self,
            "nat-address",
            name=bounded_name(f"{props.name}-nat", 80),
            resource_group_name=props.resource_group_name,
            location=props.location,
            allocation_method="Static",
            sku="Standard",
        )
        nat = NatGateway(
            self,
            "nat",
            name=bounded_name(f"{props.name}-nat", 80),
            resource_group_name=props.resource_group_name,
            location=props.location,
            sku_name="Standard",
        )
        NatGatewayPublicIpAssociation(
            self, "nat-address-association", nat_gateway_id=nat.id, public_ip_address_id=address.id
        )
        SubnetNatGatewayAssociation(
            self, "nat-association", subnet_id=subnet.id, nat_gateway_id=nat.id
        )

    def protect_subnet(self, security_group_id: str) -> None:
        """Attach the serving security group to a subnet this stack created (a user's subnet
        keeps its own; the instances' interfaces carry the group either way)."""
        if self.created:
            SubnetNetworkSecurityGroupAssociation(
                self,
                "security-group-association",
                subnet_id=self.subnet_id,
                network_security_group_id=security_group_id,
            )


@dataclass(frozen=True, kw_only=True)
class ServingSecurityGroupProps:
    name: str
    """(Required) The prefix of the group's name (`<name>-serving`, cut to 80 characters)."""
    resource_group_name: str
    """(Required) The resource group the security group lives in."""
    location: str
    """(Required) The security group's Azure region."""
    serving_port: int
    """(Required) The one port let in, over TCP."""
    ingress_cidrs: tuple[str, ...] = ()
    """(Optional) Address ranges outside the virtual network let in on the serving port.
    Defaults to none: only the load balancer's probes and the virtual network reach it."""


class ServingSecurityGroup(Construct):
    """Inbound: the serving port from the load balancer's probes (AzureLoadBalancer), from the
    virtual network and from the given ingress ranges; nothing else. Outbound: HTTPS to the
    internet (registries, the model hub, Key Vault, Storage); nothing else leaves the network.
    Azure's platform addresses (IMDS, DNS, 168.63.129.16) are not filtered by security groups."""

    def __init__(self, scope: Construct, id: str, props: ServingSecurityGroupProps) -> None:
        super().__init__(scope, id)
        self.group = NetworkSecurityGroup(
            self,
            "group",
            name=bounded_name(f"{props.name}-serving", 80),
            resource_group_name=props.resource_group_name,
            location=props.location,
        )
        sources = ["AzureLoadBalancer", "VirtualNetwork", *props.ingress_cidrs]
        for index, source in enumerate(sources):
            self._rule(
                f"in-{index}",
                name=f"serving-from-{index}",
                priority=100 + 10 * index,
                direction="Inbound",
                access="Allow",
                protocol="Tcp",
                source=source,
                destination="*",
                port=str(props.serving_port),
                resource_group_name=props.resource_group_name,
            )
        self._rule(
            "in-deny",
            name="deny-other-inbound",
            priority=LOWEST_PRIORITY,
            direction="Inbound",
            access="Deny",
            protocol="*",
            source="*",
            destination="*",
            port="*",
            resource_group_name=props.resource_group_name,
        )
        self._rule(
            "out-https",
            name="https-out",
            priority=100,
            direction="Outbound",
            access="Allow",
            protocol="Tcp",
            source="*",
            destination="Internet",
            port="443",
            resource_group_name=props.resource_group_name,
        )
        self._rule(
            "out-deny",
            name="deny-other-internet-out",
            priority=LOWEST_PRIORITY,
            direction="Outbound",
            access="Deny",
            protocol="*",
            source="*",
            destination="Internet",
            port="*",
            resource_group_name=props.resource_group_name,
        )

    def _rule(
        self,
        key: str,
        *,
        name: str,
        priority: int,
        direction: str,
        access: str,
        protocol: str,
        source: str,
        destination: str,
        port: str,
        resource_group_name: str,
    ) -> None:
        # Separate rule resources: an inline `security_rule` list is an attribute-as-block in
        # JSON, where Terraform wants every optional field of every rule spelled out.
        NetworkSecurityRule(
            self,
            key,
            name=name,
            network_security_group_name=self.group.name,
            resource_group_name=resource_group_name,
            priority=priority,
            direction=direction,
            access=access,
            protocol=protocol,
            source_address_prefix=source,
            source_port_range="*",
            destination_address_prefix=destination,
            destination_port_range=port,
        )
