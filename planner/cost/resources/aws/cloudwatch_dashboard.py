"""aws_cloudwatch_dashboard: a flat monthly fee per dashboard (an account's first three are free,
which a per-deployment price cannot know, so the fee is counted)."""

from __future__ import annotations

from planner.cost.context import PricingContext
from planner.cost.plan_resources import PlannedResource
from planner.cost.report import CostComponent, Span

TYPES = ("aws_cloudwatch_dashboard",)


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    return [context.service_component("cloudwatch.dashboard", "dashboard", Span.fixed(1))]
