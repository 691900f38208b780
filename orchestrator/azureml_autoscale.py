"""An Azure ML deployment's autoscale setting (Azure Monitor autoscale, applied by the SDK steps
with azure-mgmt-monitor): the planner's week as recurring profiles, and rules on the endpoint's
requests per minute for that deployment, per instance.

Schedules: one profile per recurring change of size (modules/week_schedule.py), starting at that
hour on those days in the traffic's time zone (its Windows name); a recurring profile runs until
the next one starts, so the week's changes alone cover it. A week of one size is one profile
without recurrence. Each profile's minimum and default are that hour's size, its maximum the
plan's.

Rules: out when the deployment's requests per minute and instance stay above the planner's target
(`spec.scaling.target`, what the recommendation shows) for 5 minutes; in when they stay below half
of it for 15 minutes, so one instance more or less does not flap. Azure scales out when any
scale-out rule fires and in only when every scale-in rule does ("Best practices for autoscale",
learn.microsoft.com/azure/azure-monitor/autoscale/autoscale-best-practices, retrieved 2026-12-03).
Azure ML publishes no engine queue or requests in flight, so request rate is the signal here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from core.errors import InfraError
from modules.azure.autoscale import (
    DAY_NAMES,
    MAX_PROFILES,
    SCALE_IN_FRACTION,
    SCALE_IN_WINDOW_MINUTES,
    SCALE_OUT_WINDOW_MINUTES,
    windows_zone,
)
from modules.week_schedule import size_changes
from providers.azure.azureml_api import AutoscaleSettings, ScaleProfileSettings, ScaleRuleSettings

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

REQUESTS_METRIC = "RequestsPerMinute"
"""The endpoint's requests per minute, with a `deployment` dimension ("Supported metrics for
Microsoft.MachineLearningServices/workspaces/onlineEndpoints", learn.microsoft.com/azure/
azure-monitor/reference/supported-metrics, retrieved 2026-12-03)."""


class AzureMlAutoscaleError(InfraError):
    pass


def autoscale_name(endpoint_name: str, deployment_name: str) -> str:
    return f"{endpoint_name}-{deployment_name}-autoscale"


def autoscale_settings(
    spec: DeploymentSpec, endpoint_name: str, deployment_name: str
) -> AutoscaleSettings:
    """The deployment's autoscale setting from the spec: its week and its request target."""
    capacity = spec.capacity
    changes = size_changes(spec.hourly)
    if len(changes) > MAX_PROFILES:
        raise AzureMlAutoscaleError(
            f"stack {spec.stack_name}: the traffic changes the endpoint's size {len(changes)} "
            f"times a week, more than the {MAX_PROFILES} profiles an Azure autoscale setting "
            "holds; smooth workload.traffic (fewer distinct hourly rates) or raise "
            "placement.min_replicas."
        )
    if changes and spec.hourly:
        zone = windows_zone(spec.hourly.timezone)
        profiles = tuple(
            ScaleProfileSettings(
                name=change.label,
                minimum=change.instances,
                default=change.instances,
                maximum=capacity.max_size,
                days=tuple(DAY_NAMES[day] for day in change.days),
                hour=change.hour,
                time_zone=zone,
            )
            for change in changes
        )
    else:
        profiles = (
            ScaleProfileSettings(
                name="plan",
                minimum=max(capacity.min_size, 1),
                default=capacity.desired,
                maximum=capacity.max_size,
            ),
        )
    # A new instance downloads and loads the model before it serves: the next action waits.
    cooldown = math.ceil(capacity.health_check_grace_s / 60)
    target = spec.scaling.target
    return AutoscaleSettings(
        name=autoscale_name(endpoint_name, deployment_name),
        endpoint_name=endpoint_name,
        deployment_name=deployment_name,
        profiles=profiles,
        rules=(
            ScaleRuleSettings(
                metric_name=REQUESTS_METRIC,
                threshold=target,
                operator="GreaterThan",
                direction="Increase",
                window_minutes=SCALE_OUT_WINDOW_MINUTES,
                cooldown_minutes=cooldown,
            ),
            ScaleRuleSettings(
                metric_name=REQUESTS_METRIC,
                threshold=round(target * SCALE_IN_FRACTION, 2),
                operator="LessThan",
                direction="Decrease",
                window_minutes=SCALE_IN_WINDOW_MINUTES,
                cooldown_minutes=cooldown,
            ),
        ),
        tags=dict(spec.tags),
    )
