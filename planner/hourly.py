"""Fleet sizes hour by hour: what each of the 168 hours of the week asks of a candidate, and what
the week costs.

Each hour is sized like the peak is today: its rate times (1 + headroom) over what an instance
carries at the targets, never fewer than placement.min_replicas (unless the environment scales
to zero and the hour has nothing to serve, or is outside its schedule). The on-demand part stays
the peak's on-demand base, as a group's `on_demand_base_capacity` does when it shrinks: an hour
with fewer instances than the base runs them all on-demand, spot carries what is above it. (The
base counts held commitments of the instance type: planner/commitment.py held_on_demand.)
A month is 730/168 of the week; its minimum and maximum are the cheapest and the dearest hour for
730 hours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import msgspec
from msgspec import Meta

from planner.traffic import HOURS_PER_WEEK, WEEKDAYS, hour_label, parse_schedule, traffic_rates

if TYPE_CHECKING:
    from planner.profile import Profile

HOURS_PER_MONTH = 730
HourOfWeek = Annotated[
    str,
    Meta(
        pattern=r"^(mon|tue|wed|thu|fri|sat|sun) ([01][0-9]|2[0-3]):00\Z",
        description="a day and an hour such as mon 09:00",
    ),
]
Count = Annotated[int, Meta(ge=0, le=100_000)]
Usd = Annotated[float, Meta(ge=0)]


class SizeChange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """From `at` on (until the next change), the fleet runs `instances`, `on_demand_instances`
    of them on-demand."""

    at: HourOfWeek
    instances: Count
    on_demand_instances: Count


class HourlySizes(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The fleet over the week in `timezone` (the first change is at mon 00:00), and what the
    month costs with it. Carried by the decision and the spec, so schedules can follow it."""

    timezone: str
    changes: Annotated[list[SizeChange], Meta(min_length=1, max_length=HOURS_PER_WEEK)]
    expected_monthly_usd: Usd
    """The sum over the 168 hours, times 730/168."""
    min_monthly_usd: Usd
    """The cheapest hour, for 730 hours."""
    max_monthly_usd: Usd
    """The dearest hour, for 730 hours."""
    flat_monthly_usd: Usd
    """The fleet sized for the peak around the clock (what it cost without the traffic)."""

    def __post_init__(self) -> None:
        if self.changes[0].at != "mon 00:00":
            raise ValueError("the first change is at mon 00:00")
        hours = [_hour_of(change.at) for change in self.changes]
        if hours != sorted(set(hours)):
            raise ValueError("the changes are in order of the week, one per hour at most")
        if any(c.on_demand_instances > c.instances for c in self.changes):
            raise ValueError("on_demand_instances cannot exceed instances")

    def per_hour(self) -> list[tuple[int, int]]:
        """(instances, on-demand instances) for each of the 168 hours."""
        sizes: list[tuple[int, int]] = []
        for index, change in enumerate(self.changes):
            end = (
                _hour_of(self.changes[index + 1].at)
                if index + 1 < len(self.changes)
                else HOURS_PER_WEEK
            )
            sizes += [(change.instances, change.on_demand_instances)] * (end - len(sizes))
        return sizes

    def counts(self, share: str) -> list[int]:
        """`instances`, `on_demand` or `spot` instances for each hour."""
        pick = {
            "instances": lambda n, od: n,
            "on_demand": lambda n, od: od,
            "spot": lambda n, od: n - od,
        }[share]
        return [pick(n, od) for n, od in self.per_hour()]

    @property
    def saving_monthly_usd(self) -> float:
        return round(self.flat_monthly_usd - self.expected_monthly_usd, 2)


def _hour_of(label: str) -> int:
    day, clock = label.split()
    return WEEKDAYS.index(day) * 24 + int(clock[:2])


def compact(sizes: list[tuple[int, int]]) -> list[SizeChange]:
    """The 168 sizes as the hours where they change."""
    changes: list[SizeChange] = []
    for hour, (instances, on_demand) in enumerate(sizes):
        if changes and (changes[-1].instances, changes[-1].on_demand_instances) == (
            instances,
            on_demand,
        ):
            continue
        changes.append(
            SizeChange(at=hour_label(hour), instances=instances, on_demand_instances=on_demand)
        )
    return changes


@dataclass(frozen=True)
class WeekDemand:
    """What each hour of the week asks of a fleet, in `timezone`."""

    timezone: str
    rates: tuple[float, ...]
    """Requests per second in each hour (Monday 00:00 first)."""
    serving: frozenset[int] | None
    """The hours the environment's schedule serves; None: every hour."""
    off_replicas: int
    """Replicas outside the schedule."""
    scale_to_zero: bool
    environment: str | None = None
    """The environment whose schedule and scale to zero these are (None: the profile's own)."""

    @property
    def served_rps(self) -> float:
        """The mean rate over the week of the requests served (none outside the schedule)."""
        served = [
            rate
            for hour, rate in enumerate(self.rates)
            if self.serving is None or hour in self.serving
        ]
        return sum(served) / HOURS_PER_WEEK

    def sizes(
        self,
        *,
        headroom: float,
        per_instance_rps: float,
        replicas_per_instance: int,
        min_replicas: int,
        peak_instances: int,
        peak_on_demand: int,
        scales_to_zero: bool = True,
        spot_floor: int = 0,
    ) -> list[tuple[int, int]]:
        """(instances, on-demand instances) for each hour of a candidate sized
        `peak_instances` (`peak_on_demand` of them on-demand) at the peak; a kind that cannot
        scale to zero keeps one instance in an hour that would have none, and a candidate on
        spot keeps at least `spot_floor` spot instances every hour (`Target.spot_floor`)."""
        fewest = math.ceil(min_replicas / replicas_per_instance)
        off = math.ceil(self.off_replicas / replicas_per_instance)
        sizes = []
        for hour, rate in enumerate(self.rates):
            if self.serving is not None and hour not in self.serving:
                instances = off
            else:
                least = 0 if self.scale_to_zero and rate == 0 else fewest
                needed = math.ceil(rate * (1 + headroom) / per_instance_rps - 1e-9)
                instances = max(least, needed)
            instances = min(instances, peak_instances)
            if not scales_to_zero:
                instances = max(instances, 1)
            on_demand = min(instances, peak_on_demand)
            if peak_instances > peak_on_demand:
                instances = max(instances, on_demand + min(spot_floor, peak_instances - on_demand))
            sizes.append((instances, on_demand))
        return sizes


def week_demand(profile: Profile, environment: str | None) -> WeekDemand | None:
    """The week `environment` (or the profile without one) serves; None when every hour is the
    peak (no traffic shape, no schedule, no scale to zero): sized and priced flat, as always."""
    traffic = profile.workload.traffic
    settings = profile.deploy.environments.get(environment) if environment else None
    schedule = parse_schedule(settings.schedule) if settings and settings.schedule else None
    scale_to_zero = bool(settings and settings.scale_to_zero)
    if traffic is None and schedule is None and not scale_to_zero:
        return None
    peak = profile.workload.requests_per_second
    rates = traffic_rates(peak, traffic) if traffic else (peak,) * HOURS_PER_WEEK
    zone = traffic.timezone if traffic else (schedule.timezone if schedule else None)
    off = settings.off_schedule_replicas if settings else None
    if off is None:
        off = 0 if scale_to_zero else profile.placement.min_replicas
    return WeekDemand(
        timezone=zone or "UTC",
        rates=rates,
        serving=schedule.hours if schedule else None,
        off_replicas=off,
        scale_to_zero=scale_to_zero,
        environment=environment,
    )


def week_costs(
    sizes: list[tuple[int, int]], ondemand_usd: float, spot_usd: float, fixed_usd: float
) -> list[float]:
    """What each hour costs: on-demand and spot instances at their prices, plus the fixed part
    (a created cluster's control plane and system pool stay when the fleet is at zero)."""
    return [od * ondemand_usd + (n - od) * spot_usd + fixed_usd for n, od in sizes]


def hourly_sizes(
    timezone: str, sizes: list[tuple[int, int]], costs: list[float], flat_hourly_usd: float
) -> HourlySizes:
    return HourlySizes(
        timezone=timezone,
        changes=compact(sizes),
        expected_monthly_usd=round(sum(costs) * HOURS_PER_MONTH / HOURS_PER_WEEK, 2),
        min_monthly_usd=round(min(costs) * HOURS_PER_MONTH, 2),
        max_monthly_usd=round(max(costs) * HOURS_PER_MONTH, 2),
        flat_monthly_usd=round(flat_hourly_usd * HOURS_PER_MONTH, 2),
    )
