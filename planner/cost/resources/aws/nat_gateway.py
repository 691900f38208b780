"""aws_nat_gateway: its hours, and the data it processes as usage-based."""

from __future__ import annotations

from planner.cost.context import PricingContext, UsageKey
from planner.cost.plan_resources import PlannedResource
from planner.cost.report import CostComponent

TYPES = ("aws_nat_gateway",)


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    return [
        context.service_component("vpc.nat_gateway.hour", "NAT gateway", context.month_hours()),
        context.usage_component(
            "vpc.nat_gateway.data",
            "data processed",
            resource,
            keys=(UsageKey("monthly_data_processed_gb"),),
        ),
    ]
