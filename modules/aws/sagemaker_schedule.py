"""A SageMaker variant follows the week: one recurring Application Auto Scaling scheduled action
per change of the planner's hourly size (modules/week_schedule.py), in the traffic's time zone.
Each action sets the hour's size as the variant's minimum and keeps the plan's maximum, so target
tracking still scales out above the schedule and never in below it (Application Auto Scaling
scales out to a new minimum when the action runs)."""

from __future__ import annotations

from dataclasses import dataclass

from cdktn_provider_aws.appautoscaling_scheduled_action import (
    AppautoscalingScheduledAction,
    AppautoscalingScheduledActionScalableTargetAction,
)
from constructs import Construct

from core.errors import InfraError
from modules.week_schedule import SizeAt, cron_days

MAX_SCHEDULED_ACTIONS = 200
"""Scheduled actions per scalable target, a quota AWS does not raise ("Quotas for Application
Auto Scaling", docs.aws.amazon.com/autoscaling/application/userguide/
application-auto-scaling-quotas.html, retrieved 2026-12-03)."""
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
"""Day-of-week names of Application Auto Scaling's cron, by Unix cron number (Sunday 0)."""


class VariantScheduleError(InfraError):
    pass


def application_cron(change: SizeAt) -> str:
    """`cron(0 9 ? * MON-FRI *)`: Application Auto Scaling's six-field cron (minutes hours
    day-of-month month day-of-week year, `?` for the day of the month when the days of the week
    are given; "Schedule recurring scaling actions using Application Auto Scaling",
    docs.aws.amazon.com/autoscaling/application/userguide/scheduled-scaling-using-cron-expressions.html,
    retrieved 2026-12-03). Days by name, Sunday first, so a run never wraps the week."""
    numbers = cron_days(change.days)
    names = ",".join(
        "-".join(DAY_NAMES[int(bound)] for bound in run.split("-")) for run in numbers.split(",")
    )
    return f"cron(0 {change.hour} ? * {names} *)"


@dataclass(frozen=True, kw_only=True)
class VariantScheduleProps:
    """The changes of size a variant follows over the week."""

    name: str
    """Starts each action's name: `<name>-<hhmm>-<days>`. Required."""
    resource_id: str
    """The scalable target's resource ID, `endpoint/<endpoint>/variant/<variant>`. Required."""
    scalable_dimension: str
    """The scalable target's dimension (sagemaker:variant:DesiredInstanceCount). Required."""
    changes: tuple[SizeAt, ...]
    """The week's recurring changes (modules.week_schedule.size_changes). Required."""
    time_zone: str
    """The IANA time zone the recurrences are read in. Required."""
    max_instances: int
    """The variant's maximum, kept by every action. Required."""


class VariantSchedule(Construct):
    def __init__(self, scope: Construct, id: str, props: VariantScheduleProps) -> None:
        super().__init__(scope, id)
        if len(props.changes) > MAX_SCHEDULED_ACTIONS:
            raise VariantScheduleError(
                f"stack {props.name}: the traffic changes the endpoint's size "
                f"{len(props.changes)} times a week, more than the {MAX_SCHEDULED_ACTIONS} "
                "scheduled actions a SageMaker variant holds; smooth workload.traffic (fewer "
                "distinct hourly rates) or raise placement.min_replicas."
            )
        self.actions = [
            AppautoscalingScheduledAction(
                self,
                change.label,
                name=f"{props.name}-{change.label}",
                service_namespace="sagemaker",
                resource_id=props.resource_id,
                scalable_dimension=props.scalable_dimension,
                schedule=application_cron(change),
                timezone=props.time_zone,
                scalable_target_action=AppautoscalingScheduledActionScalableTargetAction(
                    min_capacity=str(change.instances),
                    max_capacity=str(props.max_instances),
                ),
            )
            for change in props.changes
        ]
