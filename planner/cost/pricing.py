"""`price_plan`: every planned resource priced with the toolkit's catalog, or listed as unpriced
with the reason. A resource's type is looked up in the registry of pricing rules
(`planner/cost/resources/`: one module per priced type, the free and usage-only types declared in
one place each)."""

from __future__ import annotations

import msgspec

from core.errors import InfraError
from planner.cost.commitment import COMMITTED, CREDIT_NAME, CommittedFleet, covered_hours
from planner.cost.context import FleetWeek, PricingContext, Unpriceable
from planner.cost.plan_resources import PlannedInfrastructure, PlannedResource
from planner.cost.report import CostReport, ResourceCost, TargetLoad, WeekCost
from planner.cost.resources.registry import (
    BILLED_ELSEWHERE,
    FREE_TYPES,
    PROVIDERS,
    RULES,
    provider_of,
)
from planner.cost.savings import HourPrices, Savings, StepWeeks, savings
from planner.cost.usage_file import UsageEstimates
from planner.optimizer import HOURS_PER_MONTH
from providers import targets
from providers.catalog import Catalog
from providers.price_freshness import stale_catalog_warning
from providers.service_prices import ServicePrices, load_service_prices

DEFAULT_PROVIDER = targets.clouds()[0].terraform_provider
"""The provider a plan without any cloud's resources is priced for: the first registered."""


class RegionUnknown(InfraError):
    pass


def _provider_of_plan(infrastructure: PlannedInfrastructure) -> str:
    """The provider whose cloud the plan deploys to: a known cloud's provider before any other,
    never one whose resources live in no cloud."""
    providers = {provider_of(r.type) for r in infrastructure.resources}
    providers -= {provider for provider, cloud in PROVIDERS.items() if cloud is None}
    known = sorted(providers & set(PROVIDERS))
    return known[0] if known else (sorted(providers)[0] if providers else DEFAULT_PROVIDER)


def _single_location(infrastructure: PlannedInfrastructure) -> str | None:
    """Azure names the region per resource (`location`), not in the provider: the one region
    every located resource shares, if there is one."""
    locations = {r.values.get("location") for r in infrastructure.resources} - {None}
    if len(locations) != 1:
        return None
    (location,) = locations
    return location if isinstance(location, str) and "${" not in location else None


def price_resource(resource: PlannedResource, context: PricingContext) -> ResourceCost:
    common = {"address": resource.address, "type": resource.type, "action": resource.action}
    provider = provider_of(resource.type)
    if provider not in PROVIDERS:
        reason = f"no price rules for the {provider} provider"
        return ResourceCost(**common, status="unpriced", reason=reason)
    if resource.type in FREE_TYPES:
        return ResourceCost(**common, status="free", reason="no charge")
    if resource.type in BILLED_ELSEWHERE:
        return ResourceCost(**common, status="free", reason=BILLED_ELSEWHERE[resource.type])
    rule = RULES.get(resource.type)
    if rule is None:
        return ResourceCost(**common, status="unpriced", reason="no price rule for this type")
    try:
        components = tuple(rule(resource, context))
    except Unpriceable as error:
        return ResourceCost(**common, status="unpriced", reason=str(error))
    if all(c.usage_based for c in components):
        return ResourceCost(
            **common,
            status="usage-based",
            reason="cost depends on traffic or data volume",
            components=components,
        )
    return ResourceCost(**common, status="priced", components=components)


def price_plan(
    infrastructure: PlannedInfrastructure,
    catalog: Catalog,
    *,
    source: str,
    region: str | None = None,
    load: TargetLoad | None = None,
    budget_monthly_usd: float | None = None,
    service_prices: ServicePrices | None = None,
    week: FleetWeek | None = None,
    usage: UsageEstimates | None = None,
    commitment: CommittedFleet | None = None,
) -> CostReport:
    """Price a plan or configuration. `region` overrides what the provider configuration says
    (a plan whose region comes from the environment does not record it); `usage` prices the
    traffic-driven charges it gives quantities for, and what it gives that nothing read is
    named in the notes."""
    provider = _provider_of_plan(infrastructure)
    cloud = PROVIDERS.get(provider) or provider
    region = region or infrastructure.regions.get(provider) or _single_location(infrastructure)
    if region is None:
        raise RegionUnknown(
            f"{source} does not say which {cloud} region it deploys to (the provider takes it "
            "from the environment); pass --region."
        )
    prices = service_prices or load_service_prices(cloud)
    context = PricingContext(
        infrastructure=infrastructure,
        cloud=cloud,
        region=region,
        catalog=catalog,
        prices=prices,
        load=load,
        hours_per_month=HOURS_PER_MONTH,
        week=week,
        usage=usage,
    )
    resources = tuple(
        sorted(
            (price_resource(resource, context) for resource in infrastructure.resources),
            key=lambda r: r.address,
        )
    )
    if commitment is not None:
        resources = (*resources, commitment.resource(HOURS_PER_MONTH))
    stale = stale_catalog_warning(catalog, [cloud])
    unfollowed = (
        [
            f"no group in the plan is the decision's fleet ({week.desired}× {week.instance_type} "
            "at the peak): priced at the groups' bounds, not hour by hour"
        ]
        if week and not context.followed
        else []
    )
    unused = (
        usage.unused(
            {r.address for r in infrastructure.resources},
            {r.type for r in infrastructure.resources},
        )
        if usage
        else []
    )
    week_cost = _week_cost(resources, week, commitment) if week and context.followed else None
    report = CostReport(
        source=source,
        cloud=cloud,
        region=region,
        resources=resources,
        catalog_date=max(catalog.date, prices.date) if prices.rows else catalog.date,
        hours_per_month=HOURS_PER_MONTH,
        load=load,
        budget_monthly_usd=budget_monthly_usd,
        notes=((stale,) if stale else ()) + tuple(unused) + tuple(unfollowed),
        week=week_cost[0] if week_cost else None,
        commitment=commitment.plan if commitment else None,
    )
    if week is None or week.steps is None or week_cost is None:
        return report
    return msgspec.structs.replace(report, savings=_savings(report, week.steps, week_cost[1]))


def _savings(report: CostReport, steps: StepWeeks, prices: HourPrices) -> Savings:
    """What the traffic shape, the schedule, scale to zero and commitments each save, from the
    report's flat fleet to its expected month."""
    return savings(
        steps,
        prices,
        expected_monthly_usd=report.monthly_usd.expected,
        committed=report.commitment is not None,
    )


def _week_cost(
    resources: tuple[ResourceCost, ...], week: FleetWeek, commitment: CommittedFleet | None
) -> tuple[WeekCost, HourPrices]:
    """The report's expected month by hour of the week (see WeekCost), and the prices of an
    hour it is made with (for other weeks of the same fleet: flat, and the savings' steps)."""
    on_demand = week.hourly.counts("on_demand")
    spot = week.hourly.counts("spot")
    covered = covered_hours(commitment.plan, on_demand) if commitment else [0] * len(on_demand)
    components = [c for r in resources for c in r.components if c.name != CREDIT_NAME]
    compute = {
        share: sum(c.monthly_usd.expected for c in components if c.category == category)
        for share, category in (("on_demand", "compute (on-demand)"), ("spot", "compute (spot)"))
    }
    month_per_week = HOURS_PER_MONTH / len(on_demand)

    def per_hour(counts: list[int], monthly: float) -> tuple[float, ...]:
        instance_hours = sum(counts) * month_per_week
        price = monthly / instance_hours if instance_hours else 0.0
        return tuple(count * price for count in counts)

    od_usd, spot_usd = per_hour(on_demand, compute["on_demand"]), per_hour(spot, compute["spot"])
    od_price = sum(od_usd) / sum(on_demand) if sum(on_demand) else 0.0
    billed = tuple(price - n * od_price for price, n in zip(od_usd, covered, strict=True))
    committed_hourly = (
        sum(c.monthly_usd.expected for c in components if c.category == COMMITTED) / HOURS_PER_MONTH
    )
    committed_usd = (committed_hourly,) * len(on_demand) if commitment else ()
    other = (
        sum(r.monthly_usd.expected for r in resources)
        - (sum(billed) + sum(spot_usd)) * month_per_week
        - committed_hourly * HOURS_PER_MONTH
    ) / HOURS_PER_MONTH
    prices = HourPrices(
        on_demand_usd=od_price,
        spot_usd=sum(spot_usd) / sum(spot) if sum(spot) else 0.0,
        other_usd=other,
    )
    flat = prices.monthly([(week.desired, week.on_demand)] * len(on_demand))
    cost = WeekCost(
        timezone=week.hourly.timezone,
        on_demand_instances=tuple(on_demand),
        spot_instances=tuple(spot),
        on_demand_usd=billed,
        spot_usd=spot_usd,
        committed_instances=tuple(covered) if commitment else (),
        committed_usd=committed_usd,
        other_usd_per_hour=other,
        flat_monthly_usd=flat,
    )
    return cost, prices
