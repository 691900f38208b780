"""infra_managed_deployment: what the SDK steps deploy after apply (Vertex AI deployed models,
Azure ML online deployments), at the managed kind's own instance price over the replicas they
deploy (`planner.cost.managed` adds it to the plan when the deployment spec is known)."""

from __future__ import annotations

from planner.cost.context import PricingContext, zone_prices
from planner.cost.managed import MANAGED_DEPLOYMENT
from planner.cost.plan_resources import PlannedResource
from planner.cost.report import CostComponent, Span

TYPES = (MANAGED_DEPLOYMENT,)


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    values = resource.values
    offering = context.offering(
        values["kind"],
        values["instance_type"],
        accelerator=values["accelerator"],
        accelerator_count=values["accelerator_count"],
        cloud=values["cloud"],
        region=values["region"],
    )
    ondemand, _, _ = zone_prices(offering, [])
    low, expected, high = values["instances"]
    return [
        CostComponent(
            name=f"{offering.kind} instances ({offering.instance_type}), deployed by the SDK steps",
            unit="hours",
            unit_price=round(ondemand, 6),
            quantity=context.over_the_week(
                values["instance_type"], Span(low, expected, high)
            ).scaled(context.hours_per_month),
            category="compute (on-demand)",
        )
    ]
