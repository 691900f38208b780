"""GcpGpuFleetStack: a GPU fleet on Compute Engine behind a load balancer, built from a
DeploymentSpec alone (the GCP counterpart of AwsGpuFleetStack). The stack translates the spec into
each construct's props; the constructs never see the spec, and every security setting the stack
does not set keeps its secure default."""

from __future__ import annotations

from pathlib import Path

from cdktn import TerraformOutput, TerraformStack
from constructs import Construct

from modules.gcp.alert_policies import ServingAlertPolicies, ServingAlertPoliciesProps
from modules.gcp.dashboard import ServingDashboard, ServingDashboardProps
from modules.gcp.drain import connection_draining_s
from modules.gcp.engine_metrics import (
    in_flight_per_instance,
    keeps_tpot,
    keeps_ttft,
    scrape_job,
    scrapes_engine,
)
from modules.gcp.firewall import LoadBalancerFirewall, LoadBalancerFirewallProps
from modules.gcp.fleet_queries import FleetQueries
from modules.gcp.instance_group import (
    ServingInstanceGroup,
    ServingInstanceGroupProps,
    base_instance_name,
    group_plans,
)
from modules.gcp.instance_template import GpuInstanceTemplate, GpuInstanceTemplateProps
from modules.gcp.load_balancer import (
    ServingHealthCheck,
    ServingHealthCheckProps,
    ServingLoadBalancer,
    ServingLoadBalancerProps,
    load_balancer_name,
)
from modules.gcp.network import ServingNetwork, ServingNetworkProps
from modules.gcp.service_account import ServingServiceAccount, ServingServiceAccountProps
from modules.gcp.spec_checks import check_gcp_spec
from modules.user_data import render_user_data
from planner.deployment import DeploymentSpec
from providers.gcp.labels import gcp_labels
from stacks.common import configure_gcp_stack


def endpoint_url(spec: DeploymentSpec, address: str) -> str:
    """HTTP at the internal address; HTTPS at the first managed domain (the address itself
    matches no certificate, but it is all there is for a certificate named by the profile)."""
    network = spec.network
    if not network.public:
        return f"http://{address}"
    return f"https://{(network.certificate_domains or [address])[0]}"


class GcpGpuFleetStack(TerraformStack):
    def __init__(
        self,
        scope: Construct,
        spec: DeploymentSpec,
        *,
        state_dir: Path,
        emulated: bool = False,
    ) -> None:
        check_gcp_spec(spec)
        startup_script = render_user_data(spec)
        super().__init__(scope, spec.stack_name)
        project = configure_gcp_stack(self, spec, state_dir, emulated=emulated)
        name, public = spec.stack_name, spec.network.public

        network = ServingNetwork(
            self,
            "network",
            ServingNetworkProps(
                stack_name=name,
                project=project,
                region=spec.region,
                subnet_ids=tuple(spec.network.subnet_ids),
                internal_load_balancer=not public,
            ),
        )
        identity = ServingServiceAccount(
            self,
            "service-account",
            ServingServiceAccountProps(
                stack_name=name,
                project=project,
                purpose="GPU fleet instances",
                image=spec.runtime.image,
                hf_token_secret=spec.gcp.hf_token_secret,
                model_gcs_uri=spec.gcp.model_gcs_uri,
            ),
        )
        LoadBalancerFirewall(
            self,
            "firewall",
            LoadBalancerFirewallProps(
                stack_name=name,
                project=network.subnetwork_project,
                network=network.network,
                port=spec.runtime.port,
                proxy_only_cidr=network.proxy_only_cidr,
                service_account_email=identity.email,
            ),
        )
        health = ServingHealthCheck(
            self,
            "health-check",
            ServingHealthCheckProps(
                stack_name=name,
                region=spec.region,
                regional=not public,
                port=spec.runtime.port,
                path=spec.runtime.health_path,
            ),
        )
        labels = gcp_labels(spec.tags)
        groups = []
        for plan in group_plans(spec.capacity, spec.hourly):
            template = GpuInstanceTemplate(
                self,
                f"template-{plan.role}",
                GpuInstanceTemplateProps(
                    stack_name=name,
                    machine_type=spec.instance_type,
                    accelerator=spec.accelerator,
                    accelerators_per_instance=spec.accelerators_per_instance,
                    engine=spec.runtime.engine,
                    boot_disk_gib=spec.root_volume_gib,
                    startup_script=startup_script,
                    subnetwork=network.subnetwork,
                    subnetwork_project=network.subnetwork_project,
                    service_account_email=identity.email,
                    labels=labels,
                    spot=plan.spot,
                ),
            )
            groups.append(
                ServingInstanceGroup(
                    self,
                    f"group-{plan.role}",
                    ServingInstanceGroupProps(
                        stack_name=name,
                        plan=plan,
                        region=spec.region,
                        instance_template_id=template.template.id,
                        port=spec.runtime.port,
                        health_check_id=health.id,
                        health_check_grace_s=spec.capacity.health_check_grace_s,
                        zones=tuple(spec.zones),
                        time_zone=spec.hourly.timezone if spec.hourly else "UTC",
                        in_flight_per_instance=in_flight_per_instance(spec),
                    ),
                )
            )
        balancer = ServingLoadBalancer(
            self,
            "load-balancer",
            ServingLoadBalancerProps(
                stack_name=name,
                region=spec.region,
                network=network.network,
                subnetwork=network.subnetwork,
                health_check_id=health.id,
                instance_groups=tuple(group.group.instance_group for group in groups),
                requests_per_minute=spec.scaling.target,
                public=public,
                ingress_cidrs=tuple(spec.network.ingress_cidrs),
                certificate_domains=tuple(spec.network.certificate_domains),
                certificate_name=spec.network.certificate_name,
                proxy_only_subnet=network.proxy_only_subnet,
                draining_s=connection_draining_s(spec),
            ),
        )
        self._observe(spec, tuple(group.plan.role for group in groups))
        TerraformOutput(
            self,
            "endpoint_url",
            value=endpoint_url(spec, balancer.address),
            description="Where the fleet serves (inside the VPC unless the profile made it "
            "public); a public one answers HTTPS for its certificate's domains, whose DNS must "
            "point at the load balancer's address",
        )
        TerraformOutput(
            self,
            "instance_group_names",
            value=[group.group.name for group in groups],
        )
        TerraformOutput(self, "backend_service", value=balancer.backend_service.id)
        TerraformOutput(self, "network_self_link", value=network.network)
        TerraformOutput(self, "service_account_email", value=identity.email)

    def _observe(self, spec: DeploymentSpec, roles: tuple[str, ...]) -> None:
        """The fleet's alert policies and dashboard, from the profile's targets and the plan."""
        name = spec.stack_name
        queries = FleetQueries(
            job=scrape_job(name),
            instance_prefixes=tuple(base_instance_name(name, role) for role in roles),
            url_map=load_balancer_name(name),
            public=spec.network.public,
        )
        # The planned queue: a replica holds up to max_batch requests in its running batch; as
        # many again waiting means arrivals outpace what the fleet was sized for.
        waiting = float(spec.runtime.max_batch) if scrapes_engine(spec) else None
        ttft, tpot = keeps_ttft(spec), keeps_tpot(spec)
        ttft_ms, tpot_ms = spec.targets.ttft_ms_p95, spec.targets.tpot_ms
        ttft_s = ttft_ms / 1000 if ttft and ttft_ms is not None else None
        tpot_s = tpot_ms / 1000 if tpot and tpot_ms is not None else None
        channel = spec.alerts.notification_channel
        ServingAlertPolicies(
            self,
            "alert-policies",
            ServingAlertPoliciesProps(
                name=name,
                queries=queries,
                waiting_per_replica=waiting,
                ttft_s_p95=ttft_s,
                tpot_s=tpot_s,
                notification_channels=(channel,) if channel else (),
            ),
        )
        ServingDashboard(
            self,
            "dashboard",
            ServingDashboardProps(
                name=name,
                queries=queries,
                groups=tuple((role, base_instance_name(name, role)) for role in roles),
                waiting_per_replica=waiting,
                ttft_s_p95=ttft_s,
                tpot_s=tpot_s,
                ttft=ttft,
                tpot=tpot,
            ),
        )
