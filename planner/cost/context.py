"""What a pricing rule may look at: the other planned resources, the catalogs and the load."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from core.errors import InfraError
from planner.cost.plan_resources import PlannedInfrastructure, PlannedResource
from planner.cost.report import CostComponent, Span, TargetLoad
from planner.cost.savings import StepWeeks
from planner.cost.usage_file import UsageEstimates
from planner.hourly import HourlySizes
from providers.catalog import Catalog, Offering
from providers.service_prices import ServicePrices

CATEGORIES = {
    "ebs": "storage",
    "s3": "storage",
    "elb": "network",
    "vpc": "network",
    "kms": "keys",
    "cloudwatch": "monitoring",
    "load_balancer": "network",
    "nat_gateway": "network",
    "public_ip": "network",
    "private_endpoint": "network",
    "key_vault": "keys",
    "log_analytics": "monitoring",
    "monitor": "monitoring",
    "monitoring": "monitoring",
    "nat": "network",
    "lb": "network",
    "eks": "control plane",
    "gke": "control plane",
    "aks": "control plane",
}
"""Service price item prefix → the cost category it belongs to."""


def category_of(item: str) -> str:
    if item.endswith(".storage"):
        return "storage"
    if item.startswith("sagemaker.hosting.data"):
        return "network"
    return CATEGORIES.get(item.split(".", 1)[0], "other")


class Unpriceable(InfraError):
    """Raised by a rule when a resource this toolkit knows cannot be priced (its instance type is
    not in the catalog, say); the resource is then listed as unpriced with this sentence."""


def zone_prices(offering: Offering, zones: list[str]) -> tuple[float, float, str | None]:
    """Mean on-demand and mean spot price over the zones a group may use, as the catalog names
    them (AWS zone IDs, GCP zone names; a zone without a spot offer carries its spot share at
    on-demand), and a note when the plan does not name them (then every listed zone counts)."""
    listed = [z for z in offering.ondemand_zones if z.ondemand_usd is not None]
    chosen = [z for z in listed if z.zone in zones] if zones else []
    note = None
    if not chosen:
        chosen = listed
        if len(listed) > 1:
            note = f"zones not known from the plan: mean over the {len(listed)} listed zones"
    if not chosen:
        raise Unpriceable(f"{offering.instance_type} has no on-demand price in {offering.region}")
    ondemand = sum(z.ondemand_usd or 0.0 for z in chosen) / len(chosen)
    spot = sum(
        (z.spot_usd if z.spot_usd is not None else z.ondemand_usd) or 0.0 for z in chosen
    ) / len(chosen)
    return ondemand, spot, note


def spot_retrieved(offering: Offering, zones: list[str]) -> str | None:
    """The date of the oldest spot price `zone_prices` averages for these zones (every listed
    zone when the plan names none), or None when none of them has a usable spot price."""
    listed = [z for z in offering.ondemand_zones if z.ondemand_usd is not None]
    chosen = [z for z in listed if z.zone in zones] if zones else []
    dates = [z.retrieved for z in chosen or listed if z.spot_usd is not None and z.retrieved]
    return min(dates, default=None)


def instance_hours(
    label: str,
    *,
    on_spot: bool,
    unit_price: float,
    ondemand: float,
    hours: Span,
    note: str | None,
    retrieved: str | None,
) -> CostComponent:
    """The compute line of instances priced by the hour, on spot or on-demand; a spot line
    keeps its on-demand price (for the spot savings) and its own price's date."""
    return CostComponent(
        name=f"{'spot' if on_spot else 'on-demand'} {label}",
        unit="hours",
        unit_price=round(unit_price, 6),
        quantity=hours,
        ondemand_unit_price=round(ondemand, 6) if on_spot else None,
        category="compute (spot)" if on_spot else "compute (on-demand)",
        note=note,
        price_retrieved=retrieved if on_spot else None,
    )


def weekly_span(counts: list[int] | list[float], maximum: float) -> Span:
    """(quietest hour, mean over the week, `maximum`), the mean never above the maximum."""
    average = sum(counts) / len(counts)
    return Span(min(counts), average, max(maximum, average))


def with_note(component: CostComponent, note: str | None) -> CostComponent:
    """The component with `note` added after the one it has (a stand-in region's, say)."""
    notes = [text for text in (component.note, note) if text]
    return msgspec.structs.replace(component, note="; ".join(notes) or None)


Share = Literal["instances", "on_demand", "spot"]


@dataclass(frozen=True)
class FleetWeek:
    """The deployment's fleet hour by hour (its spec's `hourly`) and its size at the peak
    (`capacity.desired`, `capacity.on_demand_base`)."""

    hourly: HourlySizes
    instance_type: str
    desired: int
    on_demand: int
    steps: StepWeeks | None = None
    """The same fleet before the schedule and scale to zero, for the savings (None: a spec
    without its decision, whose sizing cannot be retraced)."""

    def counts(
        self, instance_type: str, group_size: float | None, share: Share
    ) -> list[int] | None:
        """The group's size in each hour when it is the fleet's `share` (its instance type and
        its expected size are that share's at the peak); None for any other group (a challenger
        variant, a cluster's system pool). A node pool has no expected size to tell (its planned
        count is its quietest hour's, 0 when the environment scales to zero): `group_size` None
        matches it by its instance type and share alone."""
        if instance_type != self.instance_type:
            return None
        peak = {
            "instances": self.desired,
            "on_demand": self.on_demand,
            "spot": self.desired - self.on_demand,
        }[share]
        sized = group_size is None or group_size == peak
        return self.hourly.counts(share) if sized and peak > 0 else None


@dataclass(frozen=True)
class PricingContext:
    infrastructure: PlannedInfrastructure
    cloud: str
    region: str
    catalog: Catalog
    prices: ServicePrices
    load: TargetLoad | None
    hours_per_month: int
    week: FleetWeek | None = None
    """The fleet over the week, when its size follows the traffic (or a schedule)."""
    usage: UsageEstimates | None = None
    """The usage file's traffic-driven quantities (`infra cost --usage-file`), if one was given."""
    followed: list[str] = field(default_factory=list)
    """The instance types of the groups priced hour by hour (none: `week` matched no group)."""

    def week_counts(
        self, instance_type: str, group_size: float | None, share: Share = "instances"
    ) -> list[int] | None:
        """The group's size in each of the 168 hours, if it follows the week."""
        counts = self.week.counts(instance_type, group_size, share) if self.week else None
        if counts is not None:
            self.followed.append(instance_type)
        return counts

    def over_the_week(
        self, instance_type: str, instances: Span, share: Share = "instances", *, pool: bool = False
    ) -> Span:
        """Instances of a group over a month: its (min, expected, max) as planned, or when the
        group follows the week, the quietest hour's, the mean over the 168 hours, and its max.
        A node `pool` is the fleet's share whatever its planned count (FleetWeek.counts)."""
        counts = self.week_counts(instance_type, None if pool else instances.expected, share)
        if counts is None:
            return instances
        return weekly_span(counts, instances.max)

    def referenced(self, resource: PlannedResource, resource_type: str) -> list[PlannedResource]:
        known = self.infrastructure.by_address
        return [
            known[address]
            for address in sorted(resource.references)
            if address in known and known[address].type == resource_type
        ]

    def referring(self, resource: PlannedResource, resource_type: str) -> list[PlannedResource]:
        """Resources of `resource_type` that refer to `resource`."""
        return [
            other
            for other in self.infrastructure.resources
            if other.type == resource_type and resource.address in other.references
        ]

    def offering(
        self,
        kind: str,
        instance_type: str,
        *,
        accelerator: str | None = None,
        accelerator_count: int | None = None,
        cloud: str | None = None,
        region: str | None = None,
    ) -> Offering:
        """The catalog's offering of `instance_type`; the accelerator narrows it where one type
        name comes with several (GCP N1 with a T4 or a V100). Cloud and region default to the
        plan's."""
        cloud, region = cloud or self.cloud, region or self.region
        for candidate in self.catalog.offerings:
            if (
                candidate.cloud == cloud
                and candidate.kind == kind
                and candidate.region == region
                and candidate.instance_type == instance_type
                and (accelerator is None or candidate.accelerator.lower() == accelerator.lower())
                and (accelerator_count is None or candidate.accelerator_count == accelerator_count)
            ):
                return candidate
        raise Unpriceable(f"{instance_type} has no {kind} price for {region} in the catalog")

    def month_hours(self) -> Span:
        """The quantity of something billed by the hour and always on: a month of hours."""
        return Span.fixed(self.hours_per_month)

    def usage_value(self, resource: PlannedResource, key: str) -> float | None:
        """The usage file's `key` for `resource` (its own entry, else its type's default)."""
        if self.usage is None:
            return None
        return self.usage.value(resource.address, resource.type, key)

    def usage_component(
        self,
        item: str,
        name: str,
        resource: PlannedResource | None = None,
        *,
        keys: tuple[UsageKey, ...] = (),
        quantity: float | None = None,
        basis: str | None = None,
    ) -> CostComponent:
        """A traffic-driven charge. Priced when the usage file gives its quantity (the sum of
        the `keys` it has, each in the price's unit; or `quantity`, worked out by the rule and
        explained by `basis`); otherwise listed with its unit price and never counted."""
        given = [
            (usage_key, value)
            for usage_key in keys
            if resource is not None
            and (value := self.usage_value(resource, usage_key.key)) is not None
        ]
        if given and quantity is None:
            quantity = sum(
                value * usage_key.scale * (self.hours_per_month if usage_key.hourly else 1)
                for usage_key, value in given
            )
            basis = ", ".join(f"{usage_key.key} {value:g}" for usage_key, value in given)
        if quantity is None:
            return self.service_component(item, name, Span.fixed(0), usage_based=True)
        component = self.service_component(item, name, Span.fixed(quantity), usage_based=True)
        if component.unit_price is None:
            return component
        return msgspec.structs.replace(
            with_note(component, f"from the usage file: {basis}"),
            usage_based=False,
            from_usage_file=True,
        )

    def service_component(
        self, item: str, name: str, quantity: Span, *, usage_based: bool = False
    ) -> CostComponent:
        """A component priced from the service price list. A missing fixed price makes the
        resource unpriceable; a missing usage price only leaves that component without one."""
        price = self.prices.find(item, self.region)
        if price is None and usage_based:
            return CostComponent(
                name=name,
                unit="",
                unit_price=None,
                usage_based=True,
                category=category_of(item),
                note=f"no {item} price in the catalog",
            )
        if price is None:
            raise Unpriceable(f"no {item} price for {self.region} in the catalog")
        return CostComponent(
            name=name,
            unit=price.unit,
            unit_price=price.usd_per_unit,
            quantity=quantity,
            usage_based=usage_based,
            category=category_of(item),
            note=price.note,
        )


@dataclass(frozen=True)
class UsageKey:
    """A usage file key a charge is billed by, and how it becomes the price's unit."""

    key: str
    scale: float = 1.0
    """Price units per unit of the key (1/10,000 for a price per 10k requests)."""
    hourly: bool = False
    """The key is a level held all month (VMs using a NAT): times the month's hours."""


Rule = Callable[[PlannedResource, PricingContext], list[CostComponent]]
"""A pricing rule: the components one planned resource is billed for, or `Unpriceable`."""
