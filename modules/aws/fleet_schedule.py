"""The fleet follows the week: one recurring scheduled action per change of the planner's
hourly size (modules/week_schedule.py), in the traffic's time zone. Each action sets the hour's
size as the group's minimum and desired capacity and keeps the plan's maximum, so target tracking
still scales out above the schedule and never in below it."""

from __future__ import annotations

from dataclasses import dataclass

from cdktn_provider_aws.autoscaling_schedule import AutoscalingSchedule
from constructs import Construct

from core.errors import InfraError
from modules.week_schedule import SizeAt

MAX_SCHEDULED_ACTIONS = 125
"""Scheduled actions per Auto Scaling group, a quota AWS does not raise ("Quotas for Auto Scaling
resources and groups", docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-quotas.html,
retrieved 2026-12-03)."""


class ScheduleError(InfraError):
    pass


@dataclass(frozen=True, kw_only=True)
class FleetScheduleProps:
    """The changes of size a group follows over the week."""

    name: str
    """Starts each action's name: `<name>-<hhmm>-<days>`. Required."""
    group_name: str
    """The Auto Scaling group the actions resize. Required."""
    changes: tuple[SizeAt, ...]
    """The week's recurring changes (modules.week_schedule.size_changes). Required."""
    time_zone: str
    """The IANA time zone the recurrences are read in. Required."""
    max_size: int
    """The group's maximum, kept by every action. Required."""


class FleetSchedule(Construct):
    def __init__(self, scope: Construct, id: str, props: FleetScheduleProps) -> None:
        super().__init__(scope, id)
        if len(props.changes) > MAX_SCHEDULED_ACTIONS:
            raise ScheduleError(
                f"stack {props.name}: the traffic changes the fleet's size {len(props.changes)} "
                f"times a week, more than the {MAX_SCHEDULED_ACTIONS} scheduled actions an "
                "Auto Scaling group holds; smooth workload.traffic (fewer distinct hourly "
                "rates) or raise placement.min_replicas."
            )
        self.actions = [
            AutoscalingSchedule(
                self,
                change.label,
                scheduled_action_name=f"{props.name}-{change.label}",
                autoscaling_group_name=props.group_name,
                recurrence=change.cron,
                time_zone=props.time_zone,
                min_size=change.instances,
                desired_capacity=change.instances,
                max_size=props.max_size,
            )
            for change in props.changes
        ]
