"""The only ingress the instances get: the serving port from Google's load balancer.

Google Front Ends (the external Application Load Balancer's proxies) and every health check probe
come from 130.211.0.0/22 and 35.191.0.0/16; the internal Application Load Balancer's Envoy proxies
come from the region's proxy-only subnet. The rule targets the fleet's service account, so it
applies to the serving instances and nothing else in the network. VPC networks deny all other
ingress by default, and the instances have no external IP: no SSH, no other port.
"""

from __future__ import annotations

from cdktn_provider_google.compute_firewall import ComputeFirewall, ComputeFirewallAllow
from constructs import Construct

from modules.gcp.naming import gcp_name

GOOGLE_LOAD_BALANCER_RANGES = ("130.211.0.0/22", "35.191.0.0/16")
"""Health check probes and Google Front End proxies (cloud.google.com/load-balancing/docs/
firewall-rules)."""


class LoadBalancerFirewall(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        stack_name: str,
        project: str,
        network: str,
        port: int,
        proxy_only_cidr: str | None,
        service_account_email: str,
    ) -> None:
        super().__init__(scope, id)
        sources = [*GOOGLE_LOAD_BALANCER_RANGES]
        if proxy_only_cidr:
            sources.append(proxy_only_cidr)
        self.rule = ComputeFirewall(
            self,
            "serving-port",
            name=gcp_name(stack_name, "allow-load-balancer"),
            project=project,
            network=network,
            description="The serving port from the load balancer and its health checks only",
            direction="INGRESS",
            priority=1000,
            allow=[ComputeFirewallAllow(protocol="tcp", ports=[str(port)])],
            source_ranges=sources,
            target_service_accounts=[service_account_email],
        )
