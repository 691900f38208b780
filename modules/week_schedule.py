"""The planner's hourly sizes as recurring size changes: what a cloud's scheduled scaling (ASG
scheduled actions, MIG scaling schedules, VMSS autoscale profiles) sets, whatever the cloud.

One change per hour of the day and size: the same change on several days (09:00 on weekdays)
is one recurrence over those days. A change at mon 00:00 that only restates Sunday night's size
is the week's wrap, not a change, and gets none; a week of one size gets none at all (the group's
own size covers it).
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.hourly import HourlySizes
from planner.traffic import WEEKDAYS

CRON_DAY = {day: (index + 1) % 7 for index, day in enumerate(WEEKDAYS)}
"""Day-of-week numbers of a Unix cron expression: Sunday is 0, Monday 1."""


@dataclass(frozen=True)
class SizeAt:
    """From `hour`:00 on `days` (until the next change), the group runs `instances`."""

    hour: int
    days: tuple[str, ...]
    """Weekday names (planner.traffic.WEEKDAYS), in the week's order."""
    instances: int

    @property
    def cron(self) -> str:
        """`0 9 * * 1-5`: the change's Unix cron recurrence (minute hour day month weekday)."""
        return f"0 {self.hour} * * {cron_days(self.days)}"

    @property
    def label(self) -> str:
        """`0900-mon-fri` (a run of days), `0900-mon_wed` (days apart): names the change among
        the group's actions."""
        if _consecutive(self.days):
            first, last = self.days[0], self.days[-1]
            span = first if first == last else f"{first}-{last}"
        else:
            span = "_".join(self.days)
        return f"{self.hour:02d}00-{span}"


def size_changes(hourly: HourlySizes | None, share: str = "instances") -> list[SizeAt]:
    """The recurring changes of the week's sizes, in order of the hour of the day and then the
    first day; none for a flat fleet (no hourly sizes, or one size all week). `share`: all the
    instances, or the `on_demand` or `spot` ones only (a cloud that keeps them in two groups)."""
    if hourly is None:
        return []
    per_hour = hourly.counts(share)
    grouped: dict[tuple[int, int], list[str]] = {}
    for hour, instances in enumerate(per_hour):
        if per_hour[hour - 1] == instances:  # hour 0 compares with Sunday 23:00: the wrap
            continue
        grouped.setdefault((hour % 24, instances), []).append(WEEKDAYS[hour // 24])
    return sorted(
        (SizeAt(hour=hour, days=tuple(days), instances=n) for (hour, n), days in grouped.items()),
        key=lambda change: (change.hour, WEEKDAYS.index(change.days[0]), change.instances),
    )


def cron_days(days: tuple[str, ...]) -> str:
    """`1-5` for Monday to Friday, `0,6` for the weekend: runs of consecutive cron days as
    ranges."""
    numbers = sorted(CRON_DAY[day] for day in days)
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ",".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


def _consecutive(days: tuple[str, ...]) -> bool:
    indexes = [WEEKDAYS.index(day) for day in days]
    return indexes == list(range(indexes[0], indexes[0] + len(indexes)))


@dataclass(frozen=True)
class SizeWindow:
    """From `hour`:00 on `days`, for `hours` hours, the fleet runs `instances`: a window with a
    start and an end, what a scaler that is active between two cron times (KEDA's cron scaler)
    sets."""

    hour: int
    days: tuple[str, ...]
    """The days the window starts on (planner.traffic.WEEKDAYS), in the week's order."""
    hours: int
    instances: int

    @property
    def start_cron(self) -> str:
        """The window's start, a Unix cron recurrence."""
        return f"0 {self.hour} * * {cron_days(self.days)}"

    @property
    def end_cron(self) -> str:
        """The window's end, on the day it falls on (a window may run past midnight)."""
        end = self.hour + self.hours
        shift = end // 24
        days = tuple(WEEKDAYS[(WEEKDAYS.index(day) + shift) % 7] for day in self.days)
        return f"0 {end % 24} * * {cron_days(days)}"


def size_windows(hourly: HourlySizes | None) -> list[SizeWindow]:
    """The week as windows of one size each: every maximal run of hours at one size (running
    over Sunday night into Monday when it does), runs of the same start hour, length and size on
    several days as one window over those days. None for a flat fleet. Runs never overlap, so
    at any hour exactly one window is open."""
    if hourly is None:
        return []
    per_hour = hourly.counts("instances")
    starts = [hour for hour in range(len(per_hour)) if per_hour[hour - 1] != per_hour[hour]]
    grouped: dict[tuple[int, int, int], list[str]] = {}
    for index, start in enumerate(starts):
        end = starts[(index + 1) % len(starts)]
        length = (end - start) % len(per_hour)
        key = (start % 24, length, per_hour[start])
        grouped.setdefault(key, []).append(WEEKDAYS[start // 24])
    return sorted(
        (
            SizeWindow(hour=hour, days=tuple(days), hours=length, instances=n)
            for (hour, length, n), days in grouped.items()
        ),
        key=lambda window: (window.hour, WEEKDAYS.index(window.days[0]), window.instances),
    )
