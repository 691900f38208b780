"""A Standard load balancer in front of the scale sets: internal, a private address in the
serving subnet, with an HTTP health probe on the health path that also drives the scale sets'
automatic repairs. Never public: it works at layer 4 and cannot terminate TLS, so a public HTTPS
endpoint is an Application Gateway or Front Door in front of it (modules/azure/spec_checks.py)."""

from __future__ import annotations

from dataclasses import dataclass

from cdktn_provider_azurerm.lb import Lb, LbFrontendIpConfiguration
from cdktn_provider_azurerm.lb_backend_address_pool import LbBackendAddressPool
from cdktn_provider_azurerm.lb_probe import LbProbe
from cdktn_provider_azurerm.lb_rule import LbRule
from constructs import Construct

from modules.azure.names import bounded_name

FRONTEND = "serving"
LISTENER_PORT = 80
"""Clients inside the network call HTTP on port 80, as on AWS; the rule forwards to the serving
port."""
IDLE_TIMEOUT_MINUTES = 5
"""Long generations stream for minutes; Azure's default of 4 would cut them sooner."""
PROBE_INTERVAL_S = 15
PROBE_THRESHOLD = 2


@dataclass(frozen=True, kw_only=True)
class ServingLoadBalancerProps:
    """No field makes the load balancer public: its one frontend is a private address in
    `subnet_id` (see the module docstring)."""

    name: str
    """(Required) The prefix of the load balancer's name (`<name>-lb`, cut to 80 characters)."""
    resource_group_name: str
    """(Required) The resource group the load balancer lives in."""
    location: str
    """(Required) The load balancer's Azure region."""
    subnet_id: str
    """(Required) The subnet whose private address the frontend takes."""
    port: int
    """(Required) The serving port on the instances, probed and forwarded to."""
    health_path: str
    """(Required) The HTTP path the probe calls; a non-200 answer marks an instance down."""


class ServingLoadBalancer(Construct):
    def __init__(self, scope: Construct, id: str, props: ServingLoadBalancerProps) -> None:
        super().__init__(scope, id)
        frontend = LbFrontendIpConfiguration(
            name=FRONTEND, subnet_id=props.subnet_id, private_ip_address_allocation="Dynamic"
        )
        self.load_balancer = Lb(
            self,
            "lb",
            name=bounded_name(f"{props.name}-lb", 80),
            resource_group_name=props.resource_group_name,
            location=props.location,
            sku="Standard",
            frontend_ip_configuration=[frontend],
        )
        self.address = self.load_balancer.frontend_ip_configuration.get(0).private_ip_address
        self.backend_pool = LbBackendAddressPool(
            self, "backend", name="serving", loadbalancer_id=self.load_balancer.id
        )
        self.probe = LbProbe(
            self,
            "health",
            name="health",
            loadbalancer_id=self.load_balancer.id,
            protocol="Http",
            port=props.port,
            request_path=props.health_path,
            interval_in_seconds=PROBE_INTERVAL_S,
            probe_threshold=PROBE_THRESHOLD,
        )
        LbRule(
            self,
            "http",
            name="http",
            loadbalancer_id=self.load_balancer.id,
            frontend_ip_configuration_name=FRONTEND,
            protocol="Tcp",
            frontend_port=LISTENER_PORT,
            backend_port=props.port,
            backend_address_pool_ids=[self.backend_pool.id],
            probe_id=self.probe.id,
            idle_timeout_in_minutes=IDLE_TIMEOUT_MINUTES,
            tcp_reset_enabled=True,
            # Outbound traffic leaves through the NAT gateway (or the user's egress), not here.
            disable_outbound_snat=True,
        )
