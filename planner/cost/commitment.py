"""The decision's commitments on the bill: a line of their own beside the priced resources.

Commitments are billing, not infrastructure, so no Terraform resource carries them. The report
adds one `commitment.<kind>` line: the bought commitments' charge (every hour of the month) and,
as a credit, the on-demand instance-hours held and bought commitments cover (their on-demand
price, hour by hour of the week). Held commitments are sunk: their own charge is stated in the
note and left out of the totals, as the planner left it out of its ranking.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.commitment import CommitmentPlan
from planner.cost.report import CostComponent, ResourceCost, Span, cents

COMMITTED = "compute (committed)"
"""The category of what commitments cost (the cost-by-component chart, the split)."""
ON_DEMAND = "compute (on-demand)"
SPOT = "compute (spot)"
CREDIT_NAME = "on-demand hours covered by commitments"


@dataclass(frozen=True)
class CommittedFleet:
    """A decision's commitment plan and the fleet's on-demand instances in each hour."""

    plan: CommitmentPlan
    on_demand: list[int]

    def resource(self, hours_per_month: int) -> ResourceCost:
        return commitment_resource(self.plan, self.on_demand, hours_per_month)


def covered_hours(plan: CommitmentPlan, on_demand: list[int]) -> list[int]:
    """The on-demand instances commitments cover in each hour."""
    return [committed for committed, _ in plan.split(on_demand)]


def commitment_resource(
    plan: CommitmentPlan, on_demand: list[int], hours_per_month: int
) -> ResourceCost:
    """The commitment line for a fleet running `on_demand[h]` on-demand instances each hour."""
    covered = covered_hours(plan, on_demand)
    per_month = hours_per_month
    mean = sum(covered) / len(covered)
    held = (
        f"{plan.held_instances} held (sunk: ${plan.held_monthly_usd:,.2f}/month, not in the totals)"
        if plan.held_instances and plan.held_monthly_usd is not None
        else f"{plan.held_instances} held (sunk, not in the totals)"
    )
    components = []
    if plan.buy_instances and plan.rate_usd_per_hour is not None:
        components.append(
            CostComponent(
                name=f"{plan.kind} {plan.term} no upfront ({plan.instance_type})",
                unit="instance-hours",
                unit_price=plan.rate_usd_per_hour,
                quantity=Span.fixed(plan.buy_instances * per_month),
                category=COMMITTED,
                note=f"{plan.buy_instances} bought, billed every hour whether used or not",
            )
        )
    components.append(
        CostComponent(
            name=CREDIT_NAME,
            unit="instance-hours",
            unit_price=-plan.ondemand_usd_per_hour,
            quantity=Span(min(covered) * per_month, mean * per_month, max(covered) * per_month),
            category=ON_DEMAND,
            note=f"{held} and {plan.buy_instances} bought cover up to "
            f"{plan.committed_instances} on-demand instances an hour",
        )
    )
    return ResourceCost(
        address=f"commitment.{plan.kind}",
        type="commitment",
        status="priced",
        components=tuple(components),
    )


def split(resources: tuple[ResourceCost, ...]) -> dict[str, Span]:
    """The month's compute by how it is bought: committed, on-demand (less what commitments
    cover) and spot."""
    spans: dict[str, Span] = {}
    for name, category in (("committed", COMMITTED), ("on_demand", ON_DEMAND), ("spot", SPOT)):
        parts = [c.monthly_usd for r in resources for c in r.components if c.category == category]
        spans[name] = Span(
            cents(sum(p.min for p in parts)),
            cents(sum(p.expected for p in parts)),
            cents(sum(p.max for p in parts)),
        )
    return spans
