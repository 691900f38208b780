"""The fleet's managed instance groups: an on-demand base and the autoscaled rest.

A managed instance group is all spot or all standard, so the AWS group's on-demand base becomes a
group of its own: `capacity.on_demand_base` standard instances at a fixed size, and a spot group
autoscaled over the rest of the plan's range. Without spot the whole fleet is one standard
group autoscaled over [min_size, max_size].

An autoscaled group starts at its share of the plan's desired size; Terraform then leaves its
size to the autoscaler (as with the AWS group's desired capacity). Both are regional groups over
the spec's zones (the ones the spot price was computed over), with the BALANCED target shape: they
take the zones that have capacity while spreading as evenly as they can, which GPU stockouts make
the right trade for serving; that shape needs proactive redistribution off. Updates replace
instances surging one per zone, never taking one away first. Auto-healing recreates an instance
whose health check fails, after the grace a model load needs.

The autoscaler follows the load balancer's serving capacity, the GCP counterpart of AWS's target
tracking on requests per target: each instance's capacity is `max_rate_per_instance` (see
load_balancer.py), and the autoscaler keeps the group at UTILIZATION_TARGET of it, i.e. at the
spec's requests per instance. An autoscaled spot group keeps at least one instance: with none, the
load balancer has no capacity to send it traffic and its autoscaler would never see load.

A fleet that follows the week (the spec's hourly sizes) splits each hour as the planner does: the
on-demand base group runs the hour's on-demand instances, the spot group the rest. Each group's
autoscaler floor is the week's smallest size for it, and scaling schedules (fleet_schedule.py)
hold it at the hour's size; the base group, fixed otherwise, gets an autoscaler of its own when
its size changes over the week (at most its base, at least the quietest hour's). Such a fleet also
scales on the engines' requests in flight per instance (engine_metrics.py) beside the load
balancer: Compute Engine takes the larger of the two recommendations.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktn import TerraformResourceLifecycle
from cdktn_provider_google.compute_region_autoscaler import (
    ComputeRegionAutoscaler,
    ComputeRegionAutoscalerAutoscalingPolicy,
    ComputeRegionAutoscalerAutoscalingPolicyLoadBalancingUtilization,
    ComputeRegionAutoscalerAutoscalingPolicyMetric,
    ComputeRegionAutoscalerAutoscalingPolicyScalingSchedules,
)
from cdktn_provider_google.compute_region_instance_group_manager import (
    ComputeRegionInstanceGroupManager,
    ComputeRegionInstanceGroupManagerAutoHealingPolicies,
    ComputeRegionInstanceGroupManagerNamedPort,
    ComputeRegionInstanceGroupManagerUpdatePolicy,
    ComputeRegionInstanceGroupManagerVersion,
)
from constructs import Construct

from modules.gcp.engine_metrics import IN_FLIGHT_METRIC_TYPE
from modules.gcp.fleet_schedule import SizeWindow, checked_windows, size_windows
from modules.gcp.naming import gcp_name
from planner.deployment import CapacitySpec
from planner.hourly import HourlySizes

UTILIZATION_TARGET = 0.8
SERVING_PORT_NAME = "http"
MAX_AUTOHEALING_DELAY_S = 3600


@dataclass(frozen=True)
class GroupPlan:
    """One managed instance group: its role, provisioning, the size it starts at and its range
    (fixed, or autoscaled)."""

    role: str
    spot: bool
    size: int
    min_size: int
    max_size: int
    autoscaled: bool
    windows: tuple[SizeWindow, ...] = ()
    """The week's sizes above `min_size` (fleet_schedule.py); none for a flat fleet."""


def group_plans(capacity: CapacitySpec, hourly: HourlySizes | None = None) -> list[GroupPlan]:
    """How the spec's capacity splits into groups, and how each follows the week when the spec
    has hourly sizes (see the module docstring)."""
    uses_spot = (
        capacity.spot_percentage_above_base > 0 and capacity.max_size > capacity.on_demand_base
    )
    if not uses_spot:
        low = capacity.min_size
        if hourly:
            low = min(low, *hourly.counts("instances"))
        return [
            _following(
                GroupPlan("on-demand", False, capacity.desired, low, capacity.max_size, True),
                hourly.counts("instances") if hourly else None,
            )
        ]
    plans = []
    base = capacity.on_demand_base
    if base:
        base_hours = hourly.counts("on_demand") if hourly else [base]
        fewest = min(min(base_hours), base)
        plans.append(
            _following(
                GroupPlan("on-demand-base", False, base, fewest, base, fewest < base),
                base_hours if fewest < base else None,
            )
        )
    low, high = max(capacity.min_size - base, 1), capacity.max_size - base
    if hourly:
        low = max(min(low, *hourly.counts("spot")), 1)
    size = min(max(capacity.desired - base, low), high)
    plans.append(
        _following(
            GroupPlan("spot", True, size, low, high, True),
            hourly.counts("spot") if hourly else None,
        )
    )
    return plans


def base_instance_name(stack_name: str, role: str) -> str:
    """What a group's VMs are named after: `<base>-<4 characters>`."""
    return gcp_name(stack_name, role, limit=58)


def _following(plan: GroupPlan, per_hour: list[int] | None) -> GroupPlan:
    """`plan` with the windows that keep it at each hour's size (within its range)."""
    if not per_hour or not plan.autoscaled:
        return plan
    sizes = [min(max(n, plan.min_size), plan.max_size) for n in per_hour]
    windows = checked_windows(plan.role, size_windows(sizes, plan.min_size))
    return GroupPlan(
        plan.role, plan.spot, plan.size, plan.min_size, plan.max_size, True, tuple(windows)
    )


@dataclass(frozen=True, kw_only=True)
class ServingInstanceGroupProps:
    """One managed instance group of the fleet and, when its plan is autoscaled, its
    autoscaler."""

    stack_name: str
    """The stack the group belongs to: its name and its instances' names. Required."""
    plan: GroupPlan
    """Its role, provisioning, starting size and range (group_plans). Required."""
    region: str
    """The region of the regional group. Required."""
    instance_template_id: str
    """The instance template its instances are made from. Required."""
    port: int
    """The serving port, named for the load balancer's backend service. Required."""
    health_check_id: str
    """The health check that auto-healing recreates failing instances by. Required."""
    health_check_grace_s: int
    """How long a new instance has to load its model before auto-healing and the autoscaler
    judge it (auto-healing's delay is capped at an hour). Required."""
    zones: tuple[str, ...] = ()
    """The zones the group spreads over (the ones the spot price was computed over), with one
    surge instance per zone on update. Default: none named, so Compute Engine's own choice of
    zones and surge."""
    time_zone: str = "UTC"
    """The IANA time zone the plan's scaling schedules are read in. Default: UTC."""
    in_flight_per_instance: float | None = None
    """Requests in flight (running plus waiting) per instance the autoscaler also keeps the group
    at, on the gauge each instance publishes (engine_metrics.py). Default: none, the load
    balancer's serving capacity alone."""


class ServingInstanceGroup(Construct):
    def __init__(self, scope: Construct, id: str, props: ServingInstanceGroupProps) -> None:
        super().__init__(scope, id)
        plan, zones, grace_s = props.plan, list(props.zones), props.health_check_grace_s
        name = gcp_name(props.stack_name, plan.role)
        self.plan = plan
        self.group = ComputeRegionInstanceGroupManager(
            self,
            "group",
            name=name,
            base_instance_name=base_instance_name(props.stack_name, plan.role),
            region=props.region,
            distribution_policy_zones=zones or None,
            distribution_policy_target_shape="BALANCED",
            version=[
                ComputeRegionInstanceGroupManagerVersion(
                    name=plan.role, instance_template=props.instance_template_id
                )
            ],
            target_size=plan.size,
            named_port=[
                ComputeRegionInstanceGroupManagerNamedPort(name=SERVING_PORT_NAME, port=props.port)
            ],
            auto_healing_policies=ComputeRegionInstanceGroupManagerAutoHealingPolicies(
                health_check=props.health_check_id,
                initial_delay_sec=min(grace_s, MAX_AUTOHEALING_DELAY_S),
            ),
            update_policy=ComputeRegionInstanceGroupManagerUpdatePolicy(
                type="PROACTIVE",
                minimal_action="REPLACE",
                replacement_method="SUBSTITUTE",
                instance_redistribution_type="NONE",
                max_unavailable_fixed=0,
                **({"max_surge_fixed": len(zones)} if zones else {}),
            ),
            wait_for_instances=False,
            # The autoscaler moves an autoscaled group's size; a re-plan must not undo it.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["target_size"])
            if plan.autoscaled
            else None,
        )
        self.autoscaler: ComputeRegionAutoscaler | None = None
        if plan.autoscaled:
            self.autoscaler = ComputeRegionAutoscaler(
                self,
                "autoscaler",
                name=name,
                region=props.region,
                target=self.group.id,
                autoscaling_policy=ComputeRegionAutoscalerAutoscalingPolicy(
                    min_replicas=plan.min_size,
                    max_replicas=plan.max_size,
                    # How long a new instance takes before its load means anything.
                    cooldown_period=grace_s,
                    mode="ON",
                    load_balancing_utilization=ComputeRegionAutoscalerAutoscalingPolicyLoadBalancingUtilization(
                        target=UTILIZATION_TARGET
                    ),
                    metric=[
                        ComputeRegionAutoscalerAutoscalingPolicyMetric(
                            name=IN_FLIGHT_METRIC_TYPE,
                            type="GAUGE",
                            target=props.in_flight_per_instance,
                        )
                    ]
                    if props.in_flight_per_instance
                    else None,
                    scaling_schedules=[
                        ComputeRegionAutoscalerAutoscalingPolicyScalingSchedules(
                            name=window.name,
                            schedule=window.cron,
                            time_zone=props.time_zone,
                            duration_sec=window.duration_sec,
                            min_required_replicas=window.instances,
                            description=f"{plan.role}: {window.instances} instance(s) from "
                            f"{window.hour:02d}:00 for {window.hours} h",
                        )
                        for window in plan.windows
                    ]
                    or None,
                ),
            )
