"""The load balancer in front of the fleet, and the health check its groups share.

Internal by default: a regional internal Application Load Balancer, its forwarding rule an
internal address of the fleet's subnet on port 80 (HTTP), reachable from inside the VPC only (no
global access). With `deploy.network.public`: a global external Application Load Balancer serving
HTTPS only (modules/gcp/https_frontend.py: HTTP is redirected), whose backend service carries a
Cloud Armor policy admitting `deploy.network.ingress_cidrs` only (everything else gets 403). An
Application Load Balancer, not a passthrough one, because the autoscaler can follow only an
Application Load Balancer's serving capacity, and because its proxies keep the instances'
firewall down to Google's own ranges.

Each group is a backend in RATE mode: an instance's capacity is `max_rate_per_instance`, set so
that the autoscaler's UTILIZATION_TARGET of it is the spec's requests per instance (scaling.target
is per minute). Requests are spread by least outstanding requests, and the backend timeout is long
enough for a streamed completion. A removed instance gets no new requests and `draining_s` to
finish its open ones before its group deletes it (connection draining, modules/gcp/drain.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cdktn_provider_google.compute_backend_service import (
    ComputeBackendService,
    ComputeBackendServiceBackend,
)
from cdktn_provider_google.compute_forwarding_rule import ComputeForwardingRule
from cdktn_provider_google.compute_global_forwarding_rule import ComputeGlobalForwardingRule
from cdktn_provider_google.compute_health_check import (
    ComputeHealthCheck,
    ComputeHealthCheckHttpHealthCheck,
)
from cdktn_provider_google.compute_region_backend_service import (
    ComputeRegionBackendService,
    ComputeRegionBackendServiceBackend,
)
from cdktn_provider_google.compute_region_health_check import (
    ComputeRegionHealthCheck,
    ComputeRegionHealthCheckHttpHealthCheck,
)
from cdktn_provider_google.compute_region_target_http_proxy import ComputeRegionTargetHttpProxy
from cdktn_provider_google.compute_region_url_map import ComputeRegionUrlMap
from cdktn_provider_google.compute_security_policy import (
    ComputeSecurityPolicy,
    ComputeSecurityPolicyRule,
    ComputeSecurityPolicyRuleMatch,
    ComputeSecurityPolicyRuleMatchConfig,
)
from cdktn_provider_google.compute_subnetwork import ComputeSubnetwork
from cdktn_provider_google.compute_url_map import ComputeUrlMap
from constructs import Construct

from modules.gcp.https_frontend import PublicHttpsFrontend, PublicHttpsFrontendProps
from modules.gcp.instance_group import SERVING_PORT_NAME, UTILIZATION_TARGET
from modules.gcp.naming import gcp_name

LISTENER_PORT = 80
BACKEND_TIMEOUT_S = 600
"""A long completion streams for minutes; the Application Load Balancer's default is 30 s."""
DRAINING_S = 300
"""Connection draining when no drain deadline is given (a backend service takes 0 to 3600 s)."""
DRAINING_RANGE_S = (0, 3600)
ARMOR_RANGES_PER_RULE = 10
"""Cloud Armor matches at most ten source ranges per rule."""
ARMOR_DEFAULT_PRIORITY = 2147483647


def max_rate_per_instance(requests_per_minute: float) -> float:
    """The capacity per instance whose UTILIZATION_TARGET share is the spec's target."""
    return round(requests_per_minute / 60 / UTILIZATION_TARGET, 3)


@dataclass(frozen=True, kw_only=True)
class ServingHealthCheckProps:
    """The runtime's health check."""

    stack_name: str
    """The stack the check belongs to: its name. Required."""
    region: str
    """The region of a regional check. Required."""
    port: int
    """The serving port the check calls. Required."""
    path: str
    """The runtime's health path. Required."""
    regional: bool = True
    """A regional check, for the internal load balancer; False: a global one, for the external
    load balancer. Default: regional."""


class ServingHealthCheck(Construct):
    """The runtime's health path on the serving port: the load balancer's check and the groups'
    auto-healing. Regional for the internal load balancer, global for the external one."""

    def __init__(self, scope: Construct, id: str, props: ServingHealthCheckProps) -> None:
        super().__init__(scope, id)
        stack_name, port, path = props.stack_name, props.port, props.path
        common = {
            "name": gcp_name(stack_name, "health"),
            "check_interval_sec": 10,
            "timeout_sec": 5,
            "healthy_threshold": 2,
            "unhealthy_threshold": 3,
        }
        if props.regional:
            self.check: ComputeHealthCheck | ComputeRegionHealthCheck = ComputeRegionHealthCheck(
                self,
                "check",
                region=props.region,
                http_health_check=ComputeRegionHealthCheckHttpHealthCheck(
                    port=port, request_path=path
                ),
                **common,
            )
        else:
            self.check = ComputeHealthCheck(
                self,
                "check",
                http_health_check=ComputeHealthCheckHttpHealthCheck(port=port, request_path=path),
                **common,
            )
        self.id = self.check.id


def armor_rules(ingress_cidrs: Sequence[str]) -> list[ComputeSecurityPolicyRule]:
    """Allow the listed ranges (ten per rule), deny everything else."""
    chunks = [
        list(ingress_cidrs[start : start + ARMOR_RANGES_PER_RULE])
        for start in range(0, len(ingress_cidrs), ARMOR_RANGES_PER_RULE)
    ]
    rules = [
        ComputeSecurityPolicyRule(
            action="allow",
            priority=1000 + index,
            description="ingress_cidrs from the profile",
            match=ComputeSecurityPolicyRuleMatch(
                versioned_expr="SRC_IPS_V1",
                config=ComputeSecurityPolicyRuleMatchConfig(src_ip_ranges=chunk),
            ),
        )
        for index, chunk in enumerate(chunks)
    ]
    rules.append(
        ComputeSecurityPolicyRule(
            action="deny(403)",
            priority=ARMOR_DEFAULT_PRIORITY,
            description="everyone else",
            match=ComputeSecurityPolicyRuleMatch(
                versioned_expr="SRC_IPS_V1",
                config=ComputeSecurityPolicyRuleMatchConfig(src_ip_ranges=["*"]),
            ),
        )
    )
    return rules


@dataclass(frozen=True, kw_only=True)
class ServingLoadBalancerProps:
    """The load balancer in front of the fleet: internal unless asked otherwise, and open to no
    client range unless given one."""

    stack_name: str
    """The stack the load balancer belongs to: its resources' names. Required."""
    region: str
    """The region of the internal load balancer. Required."""
    network: str
    """Self link of the fleet's VPC, where the internal forwarding rule lives. Required."""
    subnetwork: str
    """Self link of the fleet's subnet, which the internal address is taken from. Required."""
    health_check_id: str
    """The health check of the backends. Required."""
    instance_groups: tuple[str, ...]
    """The managed instance groups, one backend each. Required."""
    requests_per_minute: float
    """Requests per minute an instance is meant to serve (scaling.target): the backends'
    capacity and so the autoscalers' target. Required."""
    public: bool = False
    """A global external Application Load Balancer serving HTTPS. Default: an internal one,
    reachable from inside the VPC only."""
    ingress_cidrs: tuple[str, ...] = ()
    """Client ranges Cloud Armor admits to a public load balancer; everyone else gets 403.
    Default: none, so a public load balancer admits nobody."""
    certificate_domains: tuple[str, ...] = ()
    """Domains of a Google-managed certificate for a public load balancer. Default: none."""
    certificate_name: str | None = None
    """An SSL certificate of the project for a public load balancer. Default: none."""
    proxy_only_subnet: ComputeSubnetwork | None = None
    """The proxy-only subnet this stack creates for the internal load balancer, which the
    forwarding rule waits for. Default: none (a public one, or the user's own subnet)."""
    draining_s: int = DRAINING_S
    """Seconds a removed instance gets to finish its requests, with no new ones, before the group
    deletes it (the backend service's connection draining, modules/gcp/drain.py). Default:
    DRAINING_S."""
    global_access: bool = False
    """Whether clients in other regions of the VPC reach the internal load balancer. Default:
    the load balancer's region only."""


def load_balancer_name(stack_name: str) -> str:
    """The name of the load balancer's backend service, URL map, proxy and forwarding rule."""
    return gcp_name(stack_name, "lb")


class ServingLoadBalancer(Construct):
    """`address`: the forwarding rule's IP; `backend_service`: the service the groups sit in."""

    def __init__(self, scope: Construct, id: str, props: ServingLoadBalancerProps) -> None:
        super().__init__(scope, id)
        stack_name, region = props.stack_name, props.region
        if not DRAINING_RANGE_S[0] <= props.draining_s <= DRAINING_RANGE_S[1]:
            raise ValueError(
                f"a backend service's connection draining is {DRAINING_RANGE_S[0]}-"
                f"{DRAINING_RANGE_S[1]} seconds, not {props.draining_s}"
            )
        instance_groups, proxy_only_subnet = props.instance_groups, props.proxy_only_subnet
        rate = max_rate_per_instance(props.requests_per_minute)
        name = load_balancer_name(stack_name)
        common = {
            "name": name,
            "protocol": "HTTP",
            "port_name": SERVING_PORT_NAME,
            "timeout_sec": BACKEND_TIMEOUT_S,
            "connection_draining_timeout_sec": props.draining_s,
            "locality_lb_policy": "LEAST_REQUEST",
            "health_checks": [props.health_check_id],
        }
        if props.public:
            self.security_policy: ComputeSecurityPolicy | None = ComputeSecurityPolicy(
                self,
                "armor",
                name=gcp_name(stack_name, "ingress"),
                description="Only the profile's ingress_cidrs reach the fleet",
                type="CLOUD_ARMOR",
                rule=armor_rules(props.ingress_cidrs),
            )
            self.backend_service: ComputeBackendService | ComputeRegionBackendService = (
                ComputeBackendService(
                    self,
                    "backend",
                    load_balancing_scheme="EXTERNAL_MANAGED",
                    security_policy=self.security_policy.id,
                    backend=[
                        ComputeBackendServiceBackend(
                            group=group,
                            balancing_mode="RATE",
                            max_rate_per_instance=rate,
                            capacity_scaler=1,
                        )
                        for group in instance_groups
                    ],
                    **common,
                )
            )
            url_map = ComputeUrlMap(
                self, "url-map", name=name, default_service=self.backend_service.id
            )
            frontend = PublicHttpsFrontend(
                self,
                "https",
                PublicHttpsFrontendProps(
                    stack_name=stack_name,
                    url_map_id=url_map.id,
                    certificate_domains=props.certificate_domains,
                    certificate_name=props.certificate_name,
                ),
            )
            self.forwarding_rule: ComputeGlobalForwardingRule | ComputeForwardingRule = (
                frontend.https_rule
            )
        else:
            self.security_policy = None
            self.backend_service = ComputeRegionBackendService(
                self,
                "backend",
                region=region,
                load_balancing_scheme="INTERNAL_MANAGED",
                backend=[
                    ComputeRegionBackendServiceBackend(
                        group=group,
                        balancing_mode="RATE",
                        max_rate_per_instance=rate,
                        capacity_scaler=1,
                    )
                    for group in instance_groups
                ],
                **common,
            )
            url_map = ComputeRegionUrlMap(
                self, "url-map", name=name, region=region, default_service=self.backend_service.id
            )
            proxy = ComputeRegionTargetHttpProxy(
                self, "proxy", name=name, region=region, url_map=url_map.id
            )
            self.forwarding_rule = ComputeForwardingRule(
                self,
                "forwarding-rule",
                name=name,
                region=region,
                load_balancing_scheme="INTERNAL_MANAGED",
                ip_protocol="TCP",
                port_range=str(LISTENER_PORT),
                network=props.network,
                subnetwork=props.subnetwork,
                allow_global_access=props.global_access,
                target=proxy.id,
                # The proxies need the region's proxy-only subnet before the rule exists.
                depends_on=[proxy_only_subnet] if proxy_only_subnet else None,
            )
        self.address = self.forwarding_rule.ip_address
