"""aws_kms_key: a customer managed key a month, and its requests as usage-based."""

from __future__ import annotations

from planner.cost.context import PricingContext, UsageKey
from planner.cost.plan_resources import PlannedResource
from planner.cost.report import CostComponent, Span

TYPES = ("aws_kms_key",)


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    return [
        context.service_component("kms.key.month", "customer managed key", Span.fixed(1)),
        context.usage_component(
            "kms.requests", "requests", resource, keys=(UsageKey("monthly_requests", 1e-4),)
        ),
    ]
