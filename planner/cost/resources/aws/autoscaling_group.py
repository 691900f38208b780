"""aws_autoscaling_group: priced over its whole range (minimum, expected = desired, maximum),
with the on-demand base and the spot share above it priced separately: on-demand capacity at the
first instance type (the group's `prioritized` on-demand order), spot capacity at the mean spot
price over every instance type and zone the group may use (`price-capacity-optimized` spreads over
those pools). Its launch template's volumes and detailed monitoring scale with the instance count
(the template itself is billed through the group)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from planner.cost.context import (
    PricingContext,
    Unpriceable,
    spot_retrieved,
    weekly_span,
    zone_prices,
)
from planner.cost.plan_resources import PlannedResource, blocks, first_block, flag, number, text
from planner.cost.report import CostComponent, Span
from planner.cost.resources.aws.volumes import volume_components

TYPES = ("aws_autoscaling_group",)

DETAILED_MONITORING_METRICS = 7
"""EC2 detailed monitoring is billed as seven custom metrics per instance."""


def subnet_zone_ids(resource: PlannedResource, context: PricingContext) -> list[str]:
    """Zone IDs of the subnets the group launches into, when the plan names them."""
    found = []
    for subnet in context.referenced(resource, "aws_subnet"):
        zone = text(subnet.values.get("availability_zone_id"))
        if zone:
            found.append(zone)
    return sorted(set(found))


def _split(count: float, base: float, percent_above: float) -> tuple[float, float]:
    """(on-demand, spot) instances for a group of `count`: the base on on-demand, then the
    on-demand percentage of the rest, rounded up in favour of on-demand."""
    on_demand = min(count, base)
    above = count - on_demand
    on_demand += math.ceil(above * percent_above / 100 - 1e-9)
    return on_demand, count - on_demand


def launch_template_of(resource: PlannedResource, context: PricingContext) -> Mapping[str, Any]:
    templates = context.referenced(resource, "aws_launch_template")
    return templates[0].values if templates else {}


def _monitoring_component(
    template: Mapping[str, Any], instances: Span, context: PricingContext
) -> list[CostComponent]:
    if not flag(first_block(template.get("monitoring")).get("enabled")):
        return []
    return [
        context.service_component(
            "cloudwatch.metric",
            "detailed monitoring (7 metrics per instance)",
            instances.scaled(DETAILED_MONITORING_METRICS),
        )
    ]


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    values = resource.values
    template = launch_template_of(resource, context)
    policy = first_block(values.get("mixed_instances_policy"))
    distribution = first_block(policy.get("instances_distribution"))
    overrides = [
        override["instance_type"]
        for override in blocks(first_block(policy.get("launch_template")).get("override"))
        if text(override.get("instance_type"))
    ]
    types = overrides or [t for t in [text(template.get("instance_type"))] if t]
    if not types:
        raise Unpriceable("the instance type is not known from the plan")
    minimum = number(values.get("min_size")) or 0
    maximum = number(values.get("max_size")) or minimum
    desired = number(values.get("desired_capacity"))
    expected = desired if desired is not None else minimum
    if policy:
        base = number(distribution.get("on_demand_base_capacity")) or 0.0
        percent = number(distribution.get("on_demand_percentage_above_base_capacity"))
        percent = 100.0 if percent is None else percent
    else:  # a plain launch template: all on-demand
        base, percent = math.inf, 100.0

    zones = subnet_zone_ids(resource, context)
    ondemand_price, _, note = zone_prices(context.offering("fleet", types[0]), zones)
    spot_prices = [zone_prices(context.offering("fleet", t), zones)[1] for t in types]
    spot_price = sum(spot_prices) / len(spot_prices)
    spot_dates = [spot_retrieved(context.offering("fleet", t), zones) for t in types]

    splits = [_split(count, base, percent) for count in (minimum, expected, maximum)]
    on_demand = Span(*(od for od, _ in splits))
    spot = Span(*(sp for _, sp in splits))
    week = context.week_counts(types[0], expected)
    if week is not None:  # the group follows the week: each hour split as the group splits it
        hourly = [_split(count, base, percent) for count in week]
        on_demand = weekly_span([od for od, _ in hourly], on_demand.max)
        spot = weekly_span([sp for _, sp in hourly], spot.max)
    hours = context.hours_per_month
    components = [
        CostComponent(
            name=f"on-demand instances ({types[0]})",
            unit="hours",
            unit_price=round(ondemand_price, 6),
            quantity=on_demand.scaled(hours),
            category="compute (on-demand)",
            note=note,
        )
    ]
    if spot.max > 0:
        also = f" (mean over {', '.join(types)})" if len(types) > 1 else ""
        components.append(
            CostComponent(
                name=f"spot instances ({types[0]}){also}",
                unit="hours",
                unit_price=round(spot_price, 6),
                quantity=spot.scaled(hours),
                ondemand_unit_price=round(ondemand_price, 6),
                category="compute (spot)",
                note=note,
                price_retrieved=min((d for d in spot_dates if d), default=None),
            )
        )
    instances = context.over_the_week(types[0], Span(minimum, expected, maximum))
    components += volume_components(
        blocks(template.get("block_device_mappings")), instances, context
    )
    components += _monitoring_component(template, instances, context)
    return components
