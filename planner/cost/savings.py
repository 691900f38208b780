"""What each mechanism saves against a flat fleet (the fleet at its peak size every hour).

The steps go from the flat fleet to the expected month in a fixed order: (1) following the
traffic's shape, (2) the environment's schedule, (3) scale to zero, (4) commitments. Each step's
saving is the difference of two costed weeks, the week before the step and the week with it, so
each is measured after the steps before it and together they add up exactly to flat - expected
(to the cent: every costed week is rounded to the cent before the differences are taken).

Why this order: any order would add up (the steps telescope); the order decides which mechanism
is credited with the hours two of them both remove. This one follows how the fleet is built: the
traffic shape sizes every hour, the schedule replaces the hours it does not serve, scale to zero
removes the replicas the quiet and off-schedule hours would still keep, and commitments price the
on-demand instance-hours that remain. So the schedule is credited with only what the traffic
shape would still run in its off hours, scale to zero with only what the schedule still keeps,
and a commitment never with hours the schedule switches off.

Spot is not a step: every costed week prices its on-demand and spot instances at their own
prices, and the report states the spot saving on its own line, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import msgspec

from planner.hourly import HOURS_PER_MONTH, WeekDemand
from planner.traffic import HOURS_PER_WEEK
from providers import targets

if TYPE_CHECKING:
    from planner.decision import Decision
    from planner.optimizer import Candidate, Recommendation
    from planner.profile import Profile

MECHANISMS = ("traffic", "schedule", "scale_to_zero", "commitments")
"""The steps from the flat fleet to the expected month, in the order they are measured."""

Sizes = list[tuple[int, int]]
"""(instances, on-demand instances) for each hour of the week."""


class SavingStep(msgspec.Struct, frozen=True, kw_only=True):
    """One mechanism's part of flat - expected."""

    mechanism: str
    """One of MECHANISMS."""
    used: bool
    """Whether the profile (or its environment) uses the mechanism; one not used saves 0."""
    monthly_usd: float
    """What the step takes off the month (negative: what it adds, e.g. an environment that
    keeps more replicas outside its schedule than the traffic there needs)."""


class Savings(msgspec.Struct, frozen=True, kw_only=True):
    """The month from the flat fleet to the expected cost, one step per mechanism."""

    flat_monthly_usd: float
    expected_monthly_usd: float
    steps: tuple[SavingStep, ...]

    def monthly_usd(self) -> dict[str, float]:
        """Mechanism → its saving a month (0 for one not used)."""
        return {step.mechanism: step.monthly_usd for step in self.steps}

    @property
    def not_used(self) -> list[str]:
        return [step.mechanism for step in self.steps if not step.used]


def savings_fields(savings: Savings | None) -> dict[str, object]:
    """The JSON fields (`infra cost --json`, `infra recommend --json`): `savings_monthly_usd`,
    each mechanism's saving and the flat and expected months they go between, and
    `savings_not_used`, the mechanisms not used (each saves 0); both null without a week."""
    if savings is None:
        return {"savings_monthly_usd": None, "savings_not_used": None}
    return {
        "savings_monthly_usd": {
            **savings.monthly_usd(),
            "flat": savings.flat_monthly_usd,
            "expected": savings.expected_monthly_usd,
        },
        "savings_not_used": savings.not_used,
    }


@dataclass(frozen=True)
class StepWeeks:
    """The decision's fleet hour by hour as each mechanism is added: the flat fleet, then
    following the traffic's shape, then the schedule, then scale to zero (the decision's own
    hours). A mechanism not used leaves the week as the step before it (so it saves exactly 0)."""

    flat: Sizes
    traffic: Sizes
    """Following the traffic's shape only: every hour served, none scaled to zero."""
    schedule: Sizes
    """And the environment's schedule: the hours it does not serve at the replicas it keeps
    there without scale to zero (`off_schedule_replicas`, else `placement.min_replicas`)."""
    hours: Sizes
    """And scale to zero: the decision's week."""
    used: frozenset[str]
    """The mechanisms among traffic, schedule and scale to zero the profile uses."""

    def weeks(self) -> list[Sizes]:
        return [self.flat, self.traffic, self.schedule, self.hours]


@dataclass(frozen=True)
class PeakFleet:
    """A fleet as the planner sized its week (planner/optimizer.py `_week_sizes`): its size at
    the peak, what an instance carries, and the hours it was given."""

    cloud: str
    kind: str
    instances: int
    on_demand: int
    replicas_per_instance: int
    per_instance_rps: float
    hours: Sizes

    @classmethod
    def of_decision(cls, decision: Decision) -> PeakFleet | None:
        """A recorded decision's fleet (the capacity is rounded to 1/1000 req/s, far finer
        than an instance); None when it is flat or records no capacity."""
        if decision.hourly is None or decision.predicted is None:
            return None
        return cls(
            cloud=decision.cloud,
            kind=decision.kind,
            instances=decision.instances,
            on_demand=decision.on_demand_instances,
            replicas_per_instance=decision.replicas_per_instance,
            per_instance_rps=decision.predicted.capacity_requests_per_s / decision.instances,
            hours=decision.hourly.per_hour(),
        )


def step_weeks(profile: Profile, demand: WeekDemand, fleet: PeakFleet) -> StepWeeks:
    """The weeks before each mechanism for `fleet`, sized from `demand` (the week its hours were
    sized for) as the planner sized them: the same per-instance capacity and limits."""
    settings = profile.deploy.environments.get(demand.environment) if demand.environment else None
    kept = settings.off_schedule_replicas if settings else None
    without_zero = replace(
        demand,
        scale_to_zero=False,
        off_replicas=profile.placement.min_replicas if kept is None else kept,
    )
    target = targets.target(fleet.cloud, fleet.kind)

    def sizes(week: WeekDemand) -> Sizes:
        return week.sizes(
            headroom=profile.targets.headroom,
            per_instance_rps=fleet.per_instance_rps,
            replicas_per_instance=fleet.replicas_per_instance,
            min_replicas=profile.placement.min_replicas,
            peak_instances=fleet.instances,
            peak_on_demand=fleet.on_demand,
            scales_to_zero=targets.kind(fleet.kind).scales_to_zero,
            spot_floor=target.spot_floor if target else 0,
        )

    used = frozenset(
        name
        for name, on in (
            ("traffic", profile.workload.traffic is not None),
            ("schedule", demand.serving is not None),
            ("scale_to_zero", demand.scale_to_zero),
        )
        if on
    )
    flat = [(fleet.instances, fleet.on_demand)] * HOURS_PER_WEEK
    schedule = sizes(without_zero) if "scale_to_zero" in used else fleet.hours
    traffic = sizes(replace(without_zero, serving=None)) if "schedule" in used else schedule
    return StepWeeks(
        flat=flat,
        traffic=traffic if "traffic" in used else flat,
        schedule=schedule,
        hours=fleet.hours,
        used=used,
    )


@dataclass(frozen=True)
class HourPrices:
    """What an hour of the week costs: each on-demand and spot instance at the month's mean
    price per instance-hour, plus what is the same every hour."""

    on_demand_usd: float
    spot_usd: float
    other_usd: float

    def monthly(self, sizes: Sizes) -> float:
        """The month of a fleet of `sizes`, without commitments, to the cent."""
        week = sum(od * self.on_demand_usd + (n - od) * self.spot_usd for n, od in sizes)
        return round(week * HOURS_PER_MONTH / HOURS_PER_WEEK + self.other_usd * HOURS_PER_MONTH, 2)


def savings(
    weeks: StepWeeks, prices: HourPrices, *, expected_monthly_usd: float, committed: bool
) -> Savings:
    """The steps from the flat fleet to `expected_monthly_usd` (the report's figure, with any
    commitments), each the difference of two costed weeks."""
    months = [prices.monthly(sizes) for sizes in weeks.weeks()] + [expected_monthly_usd]
    used = weeks.used | ({"commitments"} if committed else set())
    steps = tuple(
        SavingStep(
            mechanism=name,
            used=name in used,
            monthly_usd=round(before - after + 0.0, 2),
        )
        for name, before, after in zip(MECHANISMS, months[:-1], months[1:], strict=True)
    )
    return Savings(
        flat_monthly_usd=months[0], expected_monthly_usd=expected_monthly_usd, steps=steps
    )


def candidate_savings(recommendation: Recommendation, candidate: Candidate) -> Savings | None:
    """The steps for a candidate of `infra recommend`, at its own prices (the instance prices it
    was ranked with; its cluster's fixed part every hour); None when its fleet is flat."""
    if recommendation.week is None or candidate.hours is None:
        return None
    fleet = PeakFleet(
        cloud=candidate.offering.cloud,
        kind=candidate.offering.kind,
        instances=candidate.instances,
        on_demand=candidate.on_demand_instances,
        replicas_per_instance=candidate.replicas_per_instance,
        per_instance_rps=candidate.replicas_per_instance * candidate.replica.requests_per_s,
        hours=list(candidate.hours),
    )
    prices = HourPrices(
        on_demand_usd=candidate.ondemand_usd,
        spot_usd=candidate.spot_or_ondemand_usd,
        other_usd=candidate.fixed_usd,
    )
    return savings(
        step_weeks(recommendation.profile, recommendation.week, fleet),
        prices,
        expected_monthly_usd=round(candidate.expected_monthly_usd, 2),
        committed=candidate.commitment is not None,
    )
