"""azurerm_public_ip: a static public IP by the hour, at its SKU's price (Standard unless set)."""

from __future__ import annotations

from planner.cost.context import PricingContext
from planner.cost.plan_resources import PlannedResource, text
from planner.cost.report import CostComponent

TYPES = ("azurerm_public_ip",)


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    sku = (text(resource.values.get("sku")) or "Standard").lower()
    return [
        context.service_component(
            f"public_ip.{sku}.static.hour", f"{sku} static public IP", context.month_hours()
        )
    ]
