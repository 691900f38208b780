"""google_compute_forwarding_rule / google_compute_global_forwarding_rule: a load balancer is
billed through its forwarding rules (hours) and the data they process (usage-based)."""

from __future__ import annotations

from planner.cost.context import PricingContext, UsageKey
from planner.cost.plan_resources import PlannedResource
from planner.cost.report import CostComponent

TYPES = ("google_compute_forwarding_rule", "google_compute_global_forwarding_rule")


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    return [
        context.service_component(
            "lb.forwarding_rule.hour", "forwarding rule", context.month_hours()
        ),
        context.usage_component(
            "lb.forwarding_rule.ingress",
            "data processed",
            resource,
            keys=(UsageKey("monthly_ingress_data_gb"),),
        ),
    ]
