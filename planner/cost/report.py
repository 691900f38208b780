"""The cost of a plan: resources, their priced components, totals and the unit economics.

Amounts are rounded to the cent where they are made (each component), and every total is the
sum of the rounded parts, so a reader adding up a table gets the total it shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import msgspec

from planner.commitment import CommitmentPlan
from planner.cost.savings import Savings, savings_fields
from providers.price_freshness import age_days

SCHEMA = "infra-cost/1"
Status = Literal["priced", "free", "usage-based", "unpriced"]


def cents(value: float) -> float:
    return round(value + 0.0, 2)


class Span(msgspec.Struct, frozen=True):
    """A monthly figure at the group's minimum size, its expected size and its maximum."""

    min: float
    expected: float
    max: float

    @classmethod
    def fixed(cls, value: float) -> Span:
        return cls(value, value, value)

    def __add__(self, other: Span) -> Span:
        return Span(
            cents(self.min + other.min),
            cents(self.expected + other.expected),
            cents(self.max + other.max),
        )

    def scaled(self, factor: float) -> Span:
        return Span(self.min * factor, self.expected * factor, self.max * factor)


ZERO = Span(0.0, 0.0, 0.0)


def total(spans: Iterable[Span]) -> Span:
    """The sum of rounded parts, rounded again so float noise never shows."""
    result = ZERO
    for span in spans:
        result = result + span
    return result


class CostComponent(msgspec.Struct, frozen=True, kw_only=True):
    """One billed dimension of a resource: a unit price times a monthly quantity.

    `unit_price` None with `usage_based` means the price per unit is known but the quantity
    depends on traffic the plan cannot tell; such a component adds nothing to the totals and
    says so."""

    name: str
    unit: str
    unit_price: float | None
    quantity: Span = ZERO
    usage_based: bool = False
    ondemand_unit_price: float | None = None
    """For spot capacity: the on-demand price of the same unit, for the savings figure."""
    category: str = "other"
    """What the money buys, for the cost-by-component chart: compute (on-demand), compute
    (spot), storage, network, monitoring, keys, control plane."""
    note: str | None = None
    price_retrieved: str | None = None
    """For spot capacity: the date of the oldest catalog spot price in `unit_price`."""
    from_usage_file: bool = False
    """A traffic-driven charge priced with the usage file's quantity (then counted)."""

    @property
    def monthly_usd(self) -> Span:
        if self.unit_price is None or self.usage_based:
            return ZERO
        q = self.quantity
        p = self.unit_price
        return Span(cents(q.min * p), cents(q.expected * p), cents(q.max * p))

    @property
    def all_on_demand_monthly_usd(self) -> float:
        price = self.ondemand_unit_price if self.ondemand_unit_price is not None else None
        if price is None:
            return self.monthly_usd.expected
        return cents(self.quantity.expected * price)


class ResourceCost(msgspec.Struct, frozen=True, kw_only=True):
    address: str
    type: str
    action: str = "create"
    status: Status
    reason: str | None = None
    components: tuple[CostComponent, ...] = ()

    @property
    def priced(self) -> bool:
        return self.status in ("priced", "free")

    @property
    def monthly_usd(self) -> Span:
        return total(component.monthly_usd for component in self.components)

    @property
    def main_component(self) -> CostComponent | None:
        return next((c for c in self.components if not c.usage_based), None)


class TargetLoad(msgspec.Struct, frozen=True):
    """The profile's target load, for cost per request and per output token."""

    requests_per_s: float
    output_tokens_per_request: float | None


class WeekCost(msgspec.Struct, frozen=True, kw_only=True):
    """The fleet and what it costs by hour of the week (Monday 00:00 first, in `timezone`).

    The compute cost of an hour is its instances at the month's mean compute price per
    instance-hour (on-demand and spot apart); everything else (storage, network, control plane)
    is the same every hour. Summed over the 168 hours times 730/168, it is the expected month."""

    timezone: str
    on_demand_instances: tuple[int, ...]
    spot_instances: tuple[int, ...]
    on_demand_usd: tuple[float, ...]
    spot_usd: tuple[float, ...]
    other_usd_per_hour: float
    flat_monthly_usd: float
    """The same deployment with the fleet at its peak size every hour."""
    committed_instances: tuple[int, ...] = ()
    """Of the on-demand instances, those commitments cover (empty: no commitment); their hours
    are out of `on_demand_usd`."""
    committed_usd: tuple[float, ...] = ()
    """What bought commitments cost each hour (the same every hour)."""

    def hour_usd(self, hour: int) -> float:
        committed = self.committed_usd[hour] if self.committed_usd else 0.0
        return self.on_demand_usd[hour] + self.spot_usd[hour] + committed + self.other_usd_per_hour


class CostReport(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    cloud: str
    region: str | None
    resources: tuple[ResourceCost, ...]
    catalog_date: str
    hours_per_month: int
    load: TargetLoad | None = None
    budget_monthly_usd: float | None = None
    notes: tuple[str, ...] = ()
    week: WeekCost | None = None
    """By hour of the week, when the fleet follows the traffic (or a schedule)."""
    commitment: CommitmentPlan | None = None
    """The decision's commitments (the `commitment.<kind>` line prices them)."""
    savings: Savings | None = None
    """What the traffic shape, the schedule, scale to zero and commitments each save against
    the flat fleet (with `week`, when the decision's hours are known)."""

    @property
    def monthly_usd(self) -> Span:
        return total(resource.monthly_usd for resource in self.resources)

    @property
    def all_on_demand_monthly_usd(self) -> float:
        return cents(sum(c.all_on_demand_monthly_usd for r in self.resources for c in r.components))

    @property
    def spot_savings_monthly_usd(self) -> float:
        return cents(self.all_on_demand_monthly_usd - self.monthly_usd.expected)

    @property
    def spot_prices_retrieved(self) -> str | None:
        """The date of the oldest spot price the report uses, None when it prices no spot."""
        dates = [c.price_retrieved for r in self.resources for c in r.components]
        return min((d for d in dates if d), default=None)

    @property
    def unpriced(self) -> list[ResourceCost]:
        return [r for r in self.resources if not r.priced]

    @property
    def over_budget_usd(self) -> float | None:
        if self.budget_monthly_usd is None:
            return None
        return cents(max(0.0, self.monthly_usd.expected - self.budget_monthly_usd))

    def _per_second_requests(self) -> float | None:
        return self.load.requests_per_s if self.load else None

    @property
    def usd_per_thousand_requests(self) -> float | None:
        rps = self._per_second_requests()
        if not rps:
            return None
        requests = rps * 3600 * self.hours_per_month
        return round(self.monthly_usd.expected / requests * 1000, 6)

    @property
    def usd_per_million_output_tokens(self) -> float | None:
        if self.load is None or not self.load.output_tokens_per_request:
            return None
        tokens = (
            self.load.requests_per_s
            * self.load.output_tokens_per_request
            * 3600
            * self.hours_per_month
        )
        return round(self.monthly_usd.expected / tokens * 1e6, 4)

    def to_dict(self) -> dict[str, object]:
        """The documented JSON schema (README, "Cost JSON")."""
        return {
            "schema": SCHEMA,
            "currency": "USD",
            "source": self.source,
            "cloud": self.cloud,
            "region": self.region,
            "hours_per_month": self.hours_per_month,
            "catalog_date": self.catalog_date,
            "monthly_usd": msgspec.to_builtins(self.monthly_usd),
            "all_on_demand_monthly_usd": self.all_on_demand_monthly_usd,
            "spot_savings_monthly_usd": self.spot_savings_monthly_usd,
            "spot_prices_retrieved": self.spot_prices_retrieved,
            "spot_price_age_days": (
                age_days(self.spot_prices_retrieved) if self.spot_prices_retrieved else None
            ),
            "usd_per_million_output_tokens": self.usd_per_million_output_tokens,
            "usd_per_thousand_requests": self.usd_per_thousand_requests,
            "target_load": msgspec.to_builtins(self.load) if self.load else None,
            "budget_monthly_usd": self.budget_monthly_usd,
            "over_budget_usd": self.over_budget_usd,
            "resources": [_resource_dict(r) for r in self.resources],
            "unpriced": [r.address for r in self.unpriced],
            "notes": list(self.notes),
            "week": _week_dict(self.week),
            "monthly_split_usd": {
                name: msgspec.to_builtins(span) for name, span in self.split().items()
            },
            "commitment": msgspec.to_builtins(self.commitment) if self.commitment else None,
            **savings_fields(self.savings),
        }

    def split(self) -> dict[str, Span]:
        """Compute by how it is bought: committed, on-demand, spot (min, expected, max)."""
        from planner.cost.commitment import split

        return split(self.resources)


def _week_dict(week: WeekCost | None) -> dict[str, object] | None:
    if week is None:
        return None
    return {
        "timezone": week.timezone,
        "flat_monthly_usd": week.flat_monthly_usd,
        "hours": [
            {
                "on_demand_instances": week.on_demand_instances[hour],
                "spot_instances": week.spot_instances[hour],
                "usd": round(week.hour_usd(hour), 4),
                **(
                    {
                        "committed_instances": week.committed_instances[hour],
                        "committed_usd": round(week.committed_usd[hour], 4),
                    }
                    if week.committed_instances
                    else {}
                ),
            }
            for hour in range(len(week.on_demand_instances))
        ],
    }


def _resource_dict(resource: ResourceCost) -> dict[str, object]:
    main = resource.main_component
    monthly = resource.monthly_usd
    return {
        "address": resource.address,
        "type": resource.type,
        "action": resource.action,
        "priced": resource.priced,
        "status": resource.status,
        "reason": resource.reason,
        "monthly_usd": monthly.expected if resource.priced else None,
        "monthly_usd_min": monthly.min if resource.priced else None,
        "monthly_usd_max": monthly.max if resource.priced else None,
        "unit_price": main.unit_price if main else None,
        "unit": main.unit if main else None,
        "quantity": main.quantity.expected if main else None,
        "components": [
            {
                "name": c.name,
                "unit": c.unit,
                "unit_price": c.unit_price,
                "quantity": msgspec.to_builtins(c.quantity),
                "monthly_usd": msgspec.to_builtins(c.monthly_usd),
                "usage_based": c.usage_based,
                "from_usage_file": c.from_usage_file,
                "category": c.category,
                "note": c.note,
                "price_retrieved": c.price_retrieved,
                "price_age_days": age_days(c.price_retrieved) if c.price_retrieved else None,
            }
            for c in resource.components
        ],
    }
