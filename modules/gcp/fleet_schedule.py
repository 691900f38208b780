"""A managed instance group follows the week: autoscaler scaling schedules from the planner's hourly
sizes.

A Compute Engine scaling schedule is not a step change (AWS's scheduled action) but a window: from
each start its cron gives, for `duration_sec`, the autoscaler recommends at least
`min_required_replicas`; windows that overlap take the largest, and outside every window the
autoscaler's own `min_replicas` holds. So the week becomes one window per run of hours at one size
above the group's floor (the week's smallest size), and runs that start at the same hour, last as
long and ask as many instances on several days are one window recurring on those days. The load
signals still scale the group out above a window, never in below it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InfraError
from modules.week_schedule import cron_days
from planner.traffic import HOURS_PER_WEEK, WEEKDAYS

MAX_SCALING_SCHEDULES = 128
"""Scaling schedules per managed instance group ("Scaling based on schedules", Limitations,
cloud.google.com/compute/docs/autoscaler/scaling-schedules, retrieved 2026-12-03)."""
SECONDS_PER_HOUR = 3600


class ScalingScheduleError(InfraError):
    pass


@dataclass(frozen=True)
class SizeWindow:
    """From `hour`:00 on each of `days`, for `hours` hours, at least `instances` instances."""

    hour: int
    days: tuple[str, ...]
    """Weekday names (planner.traffic.WEEKDAYS) the window starts on, in the week's order."""
    hours: int
    instances: int

    @property
    def cron(self) -> str:
        """`0 9 * * 1-5`: the window's starts as a cron recurrence."""
        return f"0 {self.hour} * * {cron_days(self.days)}"

    @property
    def duration_sec(self) -> int:
        return self.hours * SECONDS_PER_HOUR

    @property
    def name(self) -> str:
        """`at-0900-mon-to-fri` (a run of days) or `at-0900-mon-wed` (days apart): unique among a
        group's schedules (one size per hour) and a valid RFC 1035 name."""
        indexes = [WEEKDAYS.index(day) for day in self.days]
        run = indexes == list(range(indexes[0], indexes[0] + len(indexes)))
        if run and len(self.days) > 1:
            span = f"{self.days[0]}-to-{self.days[-1]}"
        else:
            span = "-".join(self.days)
        return f"at-{self.hour:02d}00-{span}"


def size_windows(per_hour: list[int], floor: int) -> list[SizeWindow]:
    """The windows that hold `per_hour` (the 168 hours' sizes from Monday 00:00) above `floor`, in
    order of the hour of the day and then the first day. A run across Sunday midnight is one
    window starting on Sunday; a week of one size needs none."""
    if len(per_hour) != HOURS_PER_WEEK:
        raise ValueError(f"a week has {HOURS_PER_WEEK} hours, not {len(per_hour)}")
    starts = [h for h in range(HOURS_PER_WEEK) if per_hour[h] != per_hour[h - 1]]
    grouped: dict[tuple[int, int, int], list[str]] = {}
    for index, start in enumerate(starts):
        end = starts[(index + 1) % len(starts)]
        length = (end - start) % HOURS_PER_WEEK or HOURS_PER_WEEK
        size = per_hour[start]
        if size > floor:
            grouped.setdefault((start % 24, length, size), []).append(WEEKDAYS[start // 24])
    windows = [
        SizeWindow(hour=hour, days=tuple(sorted(days, key=WEEKDAYS.index)), hours=n, instances=k)
        for (hour, n, k), days in grouped.items()
    ]
    return sorted(windows, key=lambda w: (w.hour, WEEKDAYS.index(w.days[0]), w.instances))


def checked_windows(group: str, windows: list[SizeWindow]) -> list[SizeWindow]:
    """`windows`, or a one-sentence refusal when they are more than a group holds."""
    if len(windows) > MAX_SCALING_SCHEDULES:
        raise ScalingScheduleError(
            f"instance group {group}: the traffic needs {len(windows)} scaling schedules a week, "
            f"more than the {MAX_SCALING_SCHEDULES} a Compute Engine autoscaler holds; smooth "
            "workload.traffic (fewer distinct hourly rates) or raise placement.min_replicas."
        )
    return windows
