"""aws_instance: one instance for the month, on-demand or spot (its `instance_market_options`),
at the mean price over the zones the catalog lists, with its root volume."""

from __future__ import annotations

from planner.cost.context import (
    PricingContext,
    Unpriceable,
    instance_hours,
    spot_retrieved,
    zone_prices,
)
from planner.cost.plan_resources import PlannedResource, blocks, first_block, text
from planner.cost.report import CostComponent, Span
from planner.cost.resources.aws.volumes import volume_components

TYPES = ("aws_instance",)


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    values = resource.values
    instance_type = text(values.get("instance_type"))
    if instance_type is None:
        raise Unpriceable("the instance type is not known from the plan")
    market = first_block(values.get("instance_market_options"))
    offering = context.offering("fleet", instance_type)
    ondemand, spot, note = zone_prices(offering, [])
    on_spot = text(market.get("market_type")) == "spot"
    one = Span.fixed(1)
    components = [
        instance_hours(
            f"instance ({instance_type})",
            on_spot=on_spot,
            unit_price=spot if on_spot else ondemand,
            ondemand=ondemand,
            hours=one.scaled(context.hours_per_month),
            note=note,
            retrieved=spot_retrieved(offering, []),
        )
    ]
    components += volume_components(blocks(values.get("root_block_device")), one, context)
    return components
