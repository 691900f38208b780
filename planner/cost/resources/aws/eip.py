"""aws_eip: a public IPv4 address, billed by the hour whether attached or not."""

from __future__ import annotations

from planner.cost.context import PricingContext
from planner.cost.plan_resources import PlannedResource
from planner.cost.report import CostComponent

TYPES = ("aws_eip",)


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    return [
        context.service_component(
            "vpc.public_ipv4.hour", "public IPv4 address", context.month_hours()
        )
    ]
