"""Committing the always-on part of a fleet: how many instances to commit, and what it saves.

A commitment (reserved instance, savings plan, committed-use discount, reservation) is paid for
every hour of its term at `rate`, whether an instance runs or not, and covers one on-demand
instance in each hour it runs. Spot instances are never committed. The k-th committed instance
saves the on-demand price in every hour the fleet runs at least k on-demand instances beyond what
is already held, and costs the rate in every hour; so committing pays off up to the largest k whose
hours times the on-demand price exceed the week's hours times the rate. The always-on baseline
(the fewest on-demand instances in any hour) always pays off when the rate is below on-demand.

Instances the user already holds a commitment for are sunk: their instance-hours cost nothing
more, and their own monthly charge is reported beside the plan, not added to it. So the fleet runs
them first: the on-demand part of each hour is at least as many instances as are held (of the
candidate's instance type and region), and only the rest runs on spot.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from planner.hourly import HOURS_PER_MONTH
from planner.traffic import HOURS_PER_WEEK

Usd = Annotated[float, Meta(ge=0)]
Count = Annotated[int, Meta(ge=0, le=100_000)]


class CommitmentPlan(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The commitment of one candidate: what is held, what to buy, and the month with them."""

    kind: str
    term: str
    rate_usd_per_hour: Usd | None
    """The sourced rate per committed instance-hour; None: no rate for this instance type and
    region, so nothing can be bought (held instances still cover their hours)."""
    rate_source: str | None = None
    instance_type: str
    ondemand_usd_per_hour: Usd
    """The on-demand price the plan was made with (what a covered instance-hour saves)."""
    held_instances: Count = 0
    held_monthly_usd: Usd | None = None
    """What the held commitments cost a month (sunk: not part of the plan's figures)."""
    buy_instances: Count = 0
    committed_monthly_usd: Usd = 0.0
    """The bought commitments' own charge: buy_instances x rate x 730."""
    on_demand_monthly_usd: Usd
    """The on-demand instance-hours neither held nor bought commitments cover."""
    uncommitted_monthly_usd: Usd
    """Every on-demand instance-hour at the on-demand price (no commitment at all)."""
    saving_monthly_usd: Usd = 0.0
    """What buying saves against buying nothing (with what is held)."""
    held_saving_monthly_usd: Usd = 0.0
    """The on-demand instance-hours the held commitments cover, at the on-demand price."""

    @property
    def committed_instances(self) -> int:
        return self.held_instances + self.buy_instances

    @property
    def delta_monthly_usd(self) -> float:
        """What the commitments change in the month's on-demand part (negative: a saving)."""
        return round(
            self.committed_monthly_usd + self.on_demand_monthly_usd - self.uncommitted_monthly_usd,
            2,
        )

    def split(self, on_demand: list[int]) -> list[tuple[int, int]]:
        """(committed, on-demand) instances of each hour, from its on-demand instances."""
        return [
            (min(self.committed_instances, n), max(n - self.committed_instances, 0))
            for n in on_demand
        ]


def held_on_demand(on_demand: int, instances: int, held: int) -> int:
    """The on-demand instances of a fleet of `instances` whose planned on-demand base is
    `on_demand`, when `held` of its instance type are already paid for: held capacity runs first
    (free at the margin), so spot carries only what is above both."""
    return max(on_demand, min(instances, held))


def _monthly(weekly_usd: float) -> float:
    return round(weekly_usd * HOURS_PER_MONTH / HOURS_PER_WEEK, 2)


def best_count(on_demand: list[int], ondemand_usd: float, rate_usd: float) -> int:
    """The count of instances to commit that makes the week cheapest (the fewest on a tie)."""
    hours = len(on_demand)
    count = 0
    while True:
        running = sum(1 for n in on_demand if n > count)
        if running * ondemand_usd <= hours * rate_usd:
            return count
        count += 1


def plan_commitment(
    *,
    instance_type: str,
    kind: str,
    term: str,
    on_demand: list[int],
    ondemand_usd: float,
    rate_usd: float | None,
    rate_source: str | None,
    held: int,
    held_rate_usd: float | None,
    may_buy: bool,
) -> CommitmentPlan:
    """The plan for a fleet running `on_demand[h]` on-demand instances in each hour of the week."""
    if len(on_demand) != HOURS_PER_WEEK:
        raise ValueError("on_demand has one count per hour of the week")
    beyond_held = [max(n - held, 0) for n in on_demand]
    buy = 0
    if may_buy and rate_usd is not None:
        buy = best_count(beyond_held, ondemand_usd, rate_usd)
    uncommitted = sum(on_demand) * ondemand_usd
    after_held = sum(beyond_held) * ondemand_usd
    remaining = sum(max(n - buy, 0) for n in beyond_held) * ondemand_usd
    committed = buy * (rate_usd or 0.0) * HOURS_PER_WEEK
    return CommitmentPlan(
        kind=kind,
        term=term,
        rate_usd_per_hour=rate_usd,
        rate_source=rate_source,
        instance_type=instance_type,
        ondemand_usd_per_hour=ondemand_usd,
        held_instances=held,
        held_monthly_usd=(
            round(held * held_rate_usd * HOURS_PER_MONTH, 2) if held_rate_usd is not None else None
        ),
        buy_instances=buy,
        committed_monthly_usd=_monthly(committed),
        on_demand_monthly_usd=_monthly(remaining),
        uncommitted_monthly_usd=_monthly(uncommitted),
        saving_monthly_usd=_monthly(after_held - remaining - committed),
        held_saving_monthly_usd=_monthly(uncommitted - after_held),
    )
