"""The fleet's autoscale setting: the week's sizes as recurring profiles, and rules on new
connections per instance and, where the engine publishes them, requests in flight per replica.

Schedules: one profile per recurring change of size (modules/week_schedule.py), starting at that
hour on those days in the traffic's time zone (as its Windows name); a recurring profile has no end
and runs until the next one starts, so the week's changes alone cover it. A week of one size is one
profile without recurrence. Each profile's minimum and default are that hour's size (less the fixed
on-demand set's), its maximum the plan's: Azure raises the count to a higher minimum at once, and
reaches a lower one through the scale-in rules, one instance per cooldown.

Rules: Azure scales out when any scale-out rule fires and in only when every scale-in rule does
("Best practices for autoscale", learn.microsoft.com/azure/azure-monitor/autoscale/
autoscale-best-practices), as AWS's two target-tracking policies do.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktn_provider_azurerm.monitor_autoscale_setting import (
    MonitorAutoscaleSetting,
    MonitorAutoscaleSettingProfile,
    MonitorAutoscaleSettingProfileCapacity,
    MonitorAutoscaleSettingProfileRecurrence,
    MonitorAutoscaleSettingProfileRule,
    MonitorAutoscaleSettingProfileRuleMetricTrigger,
    MonitorAutoscaleSettingProfileRuleScaleAction,
)
from constructs import Construct

from core.errors import InfraError
from modules.azure.engine_metrics import IN_FLIGHT_METRIC, METRICS_NAMESPACE
from modules.azure.names import bounded_name
from modules.azure.scale_set import grace_minutes, iso_minutes
from modules.azure.windows_zones import WINDOWS_ZONES
from modules.week_schedule import SizeAt

SCALE_OUT_WINDOW_MINUTES = 5
SCALE_IN_WINDOW_MINUTES = 15
SCALE_IN_FRACTION = 0.5
"""Scale in below half the target, so one instance more or less does not flap."""
MAX_PROFILES = 20
"""Profiles per autoscale setting ("A maximum of 20 profiles can be specified", the
AutoscaleSetting profiles property, learn.microsoft.com/dotnet/api/
azure.resourcemanager.monitor.models.autoscalesettingpatch.profiles, retrieved 2026-12-03)."""
DAY_NAMES = {
    "mon": "Monday",
    "tue": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}


class AutoscaleError(InfraError):
    pass


def windows_zone(iana: str) -> str:
    """The Windows time zone name Azure autoscale's recurrence takes for an IANA zone."""
    zone = WINDOWS_ZONES.get(iana)
    if zone is None:
        raise AutoscaleError(
            f"the time zone {iana} has no Windows time zone in CLDR 41's mapping, which Azure "
            "autoscale's schedules need: set workload.traffic.timezone to a zone with the same "
            "clock that CLDR knows, such as Europe/Kiev for Europe/Kyiv."
        )
    return zone


def check_profiles(name: str, changes: tuple[SizeAt, ...]) -> None:
    if len(changes) > MAX_PROFILES:
        raise AutoscaleError(
            f"stack {name}: the traffic changes the fleet's size {len(changes)} times a week, "
            f"more than the {MAX_PROFILES} profiles an Azure autoscale setting holds; smooth "
            "workload.traffic (fewer distinct hourly rates) or raise placement.min_replicas."
        )


def recurrence(change: SizeAt, time_zone: str) -> MonitorAutoscaleSettingProfileRecurrence:
    """From the change's hour on its days, in `time_zone` (IANA), until the next profile."""
    return MonitorAutoscaleSettingProfileRecurrence(
        timezone=windows_zone(time_zone),
        days=[DAY_NAMES[day] for day in change.days],
        hours=[change.hour],
        minutes=[0],
    )


@dataclass(frozen=True, kw_only=True)
class ScheduledSizeProps:
    name: str
    """(Required) The prefix of the setting's name (`<name>-schedule`, cut to 80 characters)."""
    resource_group_name: str
    """(Required) The resource group the setting lives in."""
    location: str
    """(Required) The setting's Azure region."""
    scale_set_id: str
    """(Required) The scale set whose instance count follows the week."""
    changes: tuple[SizeAt, ...]
    """(Required) The week's recurring changes of the set's size (at least one)."""
    time_zone: str
    """(Required) The IANA time zone the changes' hours are in."""


class ScheduledSize(Construct):
    """A scale set of exactly the week's size at each hour: no rules, each profile's minimum,
    default and maximum the same, so Azure moves the count at the change."""

    def __init__(self, scope: Construct, id: str, props: ScheduledSizeProps) -> None:
        super().__init__(scope, id)
        check_profiles(props.name, props.changes)
        self.setting = MonitorAutoscaleSetting(
            self,
            "setting",
            name=bounded_name(f"{props.name}-schedule", 80),
            resource_group_name=props.resource_group_name,
            location=props.location,
            target_resource_id=props.scale_set_id,
            profile=[
                MonitorAutoscaleSettingProfile(
                    name=change.label,
                    capacity=MonitorAutoscaleSettingProfileCapacity(
                        minimum=change.instances,
                        default=change.instances,
                        maximum=change.instances,
                    ),
                    recurrence=recurrence(change, props.time_zone),
                )
                for change in props.changes
            ],
        )


@dataclass(frozen=True, kw_only=True)
class FleetAutoscaleProps:
    name: str
    """(Required) The prefix of the setting's name (`<name>-autoscale`, cut to 80 characters)."""
    resource_group_name: str
    """(Required) The resource group the setting lives in."""
    location: str
    """(Required) The setting's Azure region."""
    scale_set_id: str
    """(Required) The scale set whose instance count is moved (and whose custom metrics the
    in-flight rules read)."""
    load_balancer_id: str
    """(Required) The load balancer whose new connections (SYNCount) are counted."""
    minimum: int
    """(Required) The fewest instances the setting scales the set in to, in a flat week."""
    default: int
    """(Required) The count Azure falls back to when the metric cannot be read, in a flat week."""
    maximum: int
    """(Required) The most instances the setting scales the set out to."""
    target_per_minute: float
    """(Required) Requests (here: new connections) per instance and minute to keep to."""
    health_check_grace_s: int
    """(Required) A new instance's boot time; it is the cooldown after each scaling action
    (rounded up to minutes), so a new instance serves before the next one is counted."""
    changes: tuple[SizeAt, ...] = ()
    """(Optional) The week's recurring changes of the fleet's size (week_schedule.size_changes),
    each one profile. Defaults to none: one profile all week."""
    time_zone: str = "Etc/UTC"
    """(Optional) The IANA time zone the changes' hours are in. Defaults to Etc/UTC."""
    in_flight_per_replica: float | None = None
    """(Optional) Requests in flight per replica to keep to (the instances publish
    RequestsInFlight). Defaults to None: new connections alone."""


class FleetAutoscale(Construct):
    """New connections per instance: an Azure load balancer works at layer 4 and counts no
    requests; the nearest metric is SYNCount, new TCP connections at the frontend, divided by the
    scale set's instance count. Each request of a client without keep-alive is one connection, so
    the thresholds are the spec's target over the window; clients that reuse connections scale
    later, which the in-flight rules (when given) make up for."""

    def __init__(self, scope: Construct, id: str, props: FleetAutoscaleProps) -> None:
        super().__init__(scope, id)
        check_profiles(props.name, props.changes)
        rules = self._rules(props)
        if props.changes:
            profile = [
                MonitorAutoscaleSettingProfile(
                    name=change.label,
                    capacity=MonitorAutoscaleSettingProfileCapacity(
                        minimum=change.instances,
                        default=change.instances,
                        maximum=props.maximum,
                    ),
                    recurrence=recurrence(change, props.time_zone),
                    rule=rules,
                )
                for change in props.changes
            ]
        else:
            profile = [
                MonitorAutoscaleSettingProfile(
                    name="requests-per-instance",
                    capacity=MonitorAutoscaleSettingProfileCapacity(
                        minimum=props.minimum, default=props.default, maximum=props.maximum
                    ),
                    rule=rules,
                )
            ]
        self.setting = MonitorAutoscaleSetting(
            self,
            "setting",
            name=bounded_name(f"{props.name}-autoscale", 80),
            resource_group_name=props.resource_group_name,
            location=props.location,
            target_resource_id=props.scale_set_id,
            profile=profile,
        )

    @staticmethod
    def _rules(props: FleetAutoscaleProps) -> list[MonitorAutoscaleSettingProfileRule]:
        cooldown = iso_minutes(grace_minutes(props.health_check_grace_s))

        def rule(trigger: dict[str, object], window: int, out: bool, threshold: float):
            return MonitorAutoscaleSettingProfileRule(
                metric_trigger=MonitorAutoscaleSettingProfileRuleMetricTrigger(
                    time_grain="PT1M",
                    time_window=iso_minutes(window),
                    operator="GreaterThan" if out else "LessThan",
                    threshold=round(threshold, 2),
                    **trigger,  # type: ignore[arg-type]
                ),
                scale_action=MonitorAutoscaleSettingProfileRuleScaleAction(
                    direction="Increase" if out else "Decrease",
                    type="ChangeCount",
                    value=1,
                    cooldown=cooldown,
                ),
            )

        connections = {
            "metric_name": "SYNCount",
            "metric_namespace": "Microsoft.Network/loadBalancers",
            "metric_resource_id": props.load_balancer_id,
            "statistic": "Average",
            "time_aggregation": "Total",
            "divide_by_instance_count": True,
        }
        target = props.target_per_minute
        rules = [
            rule(connections, SCALE_OUT_WINDOW_MINUTES, True, target * SCALE_OUT_WINDOW_MINUTES),
            rule(
                connections,
                SCALE_IN_WINDOW_MINUTES,
                False,
                target * SCALE_IN_WINDOW_MINUTES * SCALE_IN_FRACTION,
            ),
        ]
        if props.in_flight_per_replica is not None:
            # Each replica's value is one sample a minute: Average is per replica.
            in_flight = {
                "metric_name": IN_FLIGHT_METRIC,
                "metric_namespace": METRICS_NAMESPACE,
                "metric_resource_id": props.scale_set_id,
                "statistic": "Average",
                "time_aggregation": "Average",
            }
            per_replica = props.in_flight_per_replica
            rules += [
                rule(in_flight, SCALE_OUT_WINDOW_MINUTES, True, per_replica),
                rule(in_flight, SCALE_IN_WINDOW_MINUTES, False, per_replica * SCALE_IN_FRACTION),
            ]
        return rules
