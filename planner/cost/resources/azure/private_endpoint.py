"""azurerm_private_endpoint: its hours, and the data it processes as usage-based."""

from __future__ import annotations

from planner.cost.context import PricingContext, UsageKey
from planner.cost.plan_resources import PlannedResource
from planner.cost.report import CostComponent

TYPES = ("azurerm_private_endpoint",)


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    return [
        context.service_component(
            "private_endpoint.hour", "private endpoint", context.month_hours()
        ),
        context.usage_component(
            "private_endpoint.data",
            "data processed",
            resource,
            keys=(
                UsageKey("monthly_inbound_data_processed_gb"),
                UsageKey("monthly_outbound_data_processed_gb"),
            ),
        ),
    ]
