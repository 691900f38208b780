"""azurerm_lb: a Standard load balancer bills its rule hours (the first five rules together) and
the data it processes (usage-based); its rules are billed through it. Basic ones are unpriced."""

from __future__ import annotations

from planner.cost.context import PricingContext, Unpriceable, UsageKey
from planner.cost.plan_resources import PlannedResource, text
from planner.cost.report import CostComponent

TYPES = ("azurerm_lb",)


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    sku = text(resource.values.get("sku")) or "Basic"
    if sku != "Standard":
        raise Unpriceable(f"no price rule for {sku} load balancers")
    rules = len(context.referring(resource, "azurerm_lb_rule"))
    return [
        context.service_component(
            "load_balancer.standard.rules.hour",
            f"Standard load balancer ({rules} rule{'s' if rules != 1 else ''}, first 5 billed "
            "together)",
            context.month_hours(),
        ),
        context.usage_component(
            "load_balancer.standard.data",
            "data processed",
            resource,
            keys=(UsageKey("monthly_data_processed_gb"),),
        ),
    ]
