"""The only ingress the instances get: the serving port from Google's load balancer.

Google Front Ends (the external Application Load Balancer's proxies) and every health check probe
come from 130.211.0.0/22 and 35.191.0.0/16; the internal Application Load Balancer's Envoy proxies
come from the region's proxy-only subnet. The rule targets the fleet's service account, so it
applies to the serving instances and nothing else in the network. VPC networks deny all other
ingress by default, and the instances have no external IP: no SSH, no other port.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktn_provider_google.compute_firewall import ComputeFirewall, ComputeFirewallAllow
from constructs import Construct

from modules.gcp.naming import gcp_name

GOOGLE_LOAD_BALANCER_RANGES = ("130.211.0.0/22", "35.191.0.0/16")
"""Health check probes and Google Front End proxies (cloud.google.com/load-balancing/docs/
firewall-rules)."""


@dataclass(frozen=True, kw_only=True)
class LoadBalancerFirewallProps:
    """The one ingress rule of the fleet's instances."""

    stack_name: str
    """The stack the rule belongs to: its name. Required."""
    project: str
    """The project of the network (a Shared VPC host project, or the deployment's). Required."""
    network: str
    """Self link of the fleet's VPC. Required."""
    port: int
    """The serving port, the only one opened. Required."""
    service_account_email: str
    """The fleet's service account: the rule applies to its instances only. Required."""
    proxy_only_cidr: str | None = None
    """The internal load balancer's proxy-only subnet, admitted besides Google's load balancer
    and health check ranges. Default: none (the external load balancer's proxies are in
    Google's ranges)."""


class LoadBalancerFirewall(Construct):
    def __init__(self, scope: Construct, id: str, props: LoadBalancerFirewallProps) -> None:
        super().__init__(scope, id)
        sources = [*GOOGLE_LOAD_BALANCER_RANGES]
        if props.proxy_only_cidr:
            sources.append(props.proxy_only_cidr)
        self.rule = ComputeFirewall(
            self,
            "serving-port",
            name=gcp_name(props.stack_name, "allow-load-balancer"),
            project=props.project,
            network=props.network,
            description="The serving port from the load balancer and its health checks only",
            direction="INGRESS",
            priority=1000,
            allow=[ComputeFirewallAllow(protocol="tcp", ports=[str(props.port)])],
            source_ranges=sources,
            target_service_accounts=[props.service_account_email],
        )
