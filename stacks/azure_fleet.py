"""AzureGpuFleetStack: a GPU fleet of scale sets behind an internal Standard load balancer, built
from a DeploymentSpec alone."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from cdktn import TerraformOutput, TerraformStack
from constructs import Construct

from modules.azure.autoscale import (
    FleetAutoscale,
    FleetAutoscaleProps,
    ScheduledSize,
    ScheduledSizeProps,
)
from modules.azure.dashboard import ServingDashboard, ServingDashboardProps
from modules.azure.drain import notification_minutes
from modules.azure.engine_metrics import publishes_engine_gauges
from modules.azure.fleet_alerts import FleetAlerts, FleetAlertsProps
from modules.azure.identity import (
    METRICS_PUBLISHER,
    Grant,
    ServingIdentity,
    ServingIdentityProps,
    serving_grants,
)
from modules.azure.load_balancer import ServingLoadBalancer, ServingLoadBalancerProps
from modules.azure.network import (
    ServingNetwork,
    ServingNetworkProps,
    ServingSecurityGroup,
    ServingSecurityGroupProps,
)
from modules.azure.resource_group import ResourceGroupProps, StackResourceGroup
from modules.azure.scale_set import GpuScaleSet, GpuScaleSetProps, scale_set_zones
from modules.azure.spec_checks import check_fleet
from modules.user_data import render_user_data
from modules.week_schedule import size_changes
from planner.deployment import DeploymentSpec
from stacks.common import configure_azure_stack


class AzureGpuFleetStack(TerraformStack):
    def __init__(
        self,
        scope: Construct,
        spec: DeploymentSpec,
        *,
        state_dir: Path,
        emulated: bool = False,
    ) -> None:
        super().__init__(scope, spec.stack_name)
        check_fleet(spec)
        custom_data = render_user_data(spec)
        configure_azure_stack(self, spec, state_dir, emulated=emulated)
        name, location = spec.stack_name, spec.region
        group = StackResourceGroup(
            self,
            "resource-group",
            ResourceGroupProps(
                name=name, location=location, existing_name=spec.azure.resource_group
            ),
        ).name
        placed = {"resource_group_name": group, "location": location}
        subnet_ids = spec.network.subnet_ids  # one at most (check_fleet)

        network = ServingNetwork(
            self,
            "network",
            ServingNetworkProps(
                name=name, existing_subnet_id=subnet_ids[0] if subnet_ids else None, **placed
            ),
        )
        security = ServingSecurityGroup(
            self,
            "security",
            ServingSecurityGroupProps(
                name=name,
                serving_port=spec.runtime.port,
                ingress_cidrs=tuple(spec.network.ingress_cidrs),
                **placed,
            ),
        )
        network.protect_subnet(security.group.id)
        identity = ServingIdentity(
            self,
            "identity",
            ServingIdentityProps(
                name=f"{name}-serving", grants=serving_grants(spec.azure), **placed
            ),
        )
        balancer = ServingLoadBalancer(
            self,
            "load-balancer",
            ServingLoadBalancerProps(
                name=name,
                subnet_id=network.subnet_id,
                port=spec.runtime.port,
                health_path=spec.runtime.health_path,
                **placed,
            ),
        )
        scale_set = partial(
            GpuScaleSetProps,
            instance_type=spec.instance_type,
            os_disk_size_gib=spec.root_volume_gib,
            health_check_grace_s=spec.capacity.health_check_grace_s,
            zones=scale_set_zones(spec.zones),
            encryption_at_host=spec.azure.encryption_at_host,
            admin_ssh_public_key=spec.azure.admin_ssh_public_key,
            subnet_id=network.subnet_id,
            security_group_id=security.group.id,
            backend_pool_id=balancer.backend_pool.id,
            health_probe_id=balancer.probe.id,
            identity_id=identity.identity.id,
            custom_data=custom_data,
            **placed,
        )
        capacity = spec.capacity
        spot = capacity.spot_percentage_above_base == 100 and capacity.max_size > (
            capacity.on_demand_base
        )
        base = capacity.on_demand_base if spot else 0
        # Regular instances drain before they go (modules/azure/drain.py); Spot ones cannot.
        notice = notification_minutes(spec)
        hourly = spec.hourly
        zone = hourly.timezone if hourly else "Etc/UTC"
        # With a spot set beside it, each set follows its own share of the week's sizes.
        on_demand_changes = tuple(size_changes(hourly, "on_demand")) if base else ()
        fleet_sets, settings = [], []
        if base:
            # The on-demand base: regular instances that spot never replaces, of the plan's
            # on-demand count at each hour when the fleet follows the week, else fixed.
            on_demand = GpuScaleSet(
                self,
                "on-demand",
                scale_set(
                    name=f"{name}-od",
                    instances=base,
                    autoscaled=bool(on_demand_changes),
                    termination_notification_minutes=notice,
                ),
            )
            fleet_sets.append(on_demand)
            if on_demand_changes:
                settings.append(
                    ScheduledSize(
                        self,
                        "on-demand-schedule",
                        ScheduledSizeProps(
                            name=f"{name}-od",
                            scale_set_id=on_demand.scale_set.id,
                            changes=on_demand_changes,
                            time_zone=zone,
                            **placed,
                        ),
                    ).setting
                )
        scaled = GpuScaleSet(
            self,
            "fleet",
            scale_set(
                name=f"{name}-spot" if spot else name,
                priority="Spot" if spot else "Regular",
                instances=capacity.desired - base,
                autoscaled=True,
                termination_notification_minutes=None if spot else notice,
            ),
        )
        fleet_sets.append(scaled)
        for index, fleet_set in enumerate(fleet_sets):
            identity.grant(Grant(f"metrics-{index}", METRICS_PUBLISHER, fleet_set.scale_set.id))
        autoscale = FleetAutoscale(
            self,
            "autoscale",
            FleetAutoscaleProps(
                name=name,
                scale_set_id=scaled.scale_set.id,
                load_balancer_id=balancer.load_balancer.id,
                minimum=max(capacity.min_size - base, 0),
                default=capacity.desired - base,
                maximum=capacity.max_size - base,
                target_per_minute=spec.scaling.target,
                health_check_grace_s=capacity.health_check_grace_s,
                changes=tuple(size_changes(hourly, "spot" if base else "instances")),
                time_zone=zone,
                in_flight_per_replica=spec.scaling.in_flight_per_replica
                if publishes_engine_gauges(spec)
                else None,
                **placed,
            ),
        )
        settings.append(autoscale.setting)
        # The planned queue: as many waiting as a replica's batch holds.
        waiting = float(spec.runtime.max_batch) if publishes_engine_gauges(spec) else None
        set_ids = tuple(fleet_set.scale_set.id for fleet_set in fleet_sets)
        FleetAlerts(
            self,
            "alerts",
            FleetAlertsProps(
                name=name,
                resource_group_name=group,
                scale_set_ids=set_ids,
                load_balancer_id=balancer.load_balancer.id,
                waiting_per_replica=waiting,
                action_group_id=spec.alerts_action_group_id,
            ),
        )
        ServingDashboard(
            self,
            "dashboard",
            ServingDashboardProps(
                name=name,
                scale_set_ids=set_ids,
                autoscale_setting_ids=tuple(setting.id for setting in settings),
                load_balancer_id=balancer.load_balancer.id,
                waiting_per_replica=waiting,
                in_flight_per_replica=spec.scaling.in_flight_per_replica if waiting else None,
                **placed,
            ),
        )
        TerraformOutput(
            self,
            "endpoint_url",
            value=f"http://{balancer.address}",
            description="Where the fleet serves: the internal load balancer's address",
        )
        TerraformOutput(self, "resource_group_name", value=group)
        TerraformOutput(self, "scale_set_name", value=scaled.scale_set.name)
        TerraformOutput(self, "subnet_id", value=network.subnet_id)
