"""aws_lb / aws_alb: an application or network load balancer's hours, and its capacity units
(LCU, NLCU) as usage-based: they follow traffic the plan cannot tell."""

from __future__ import annotations

from planner.cost.context import PricingContext, Unpriceable
from planner.cost.plan_resources import PlannedResource, text
from planner.cost.report import CostComponent

TYPES = ("aws_lb", "aws_alb")


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    kind = text(resource.values.get("load_balancer_type")) or "application"
    if kind not in ("application", "network"):
        raise Unpriceable(f"no price rule for {kind} load balancers")
    capacity_unit = "lcu" if kind == "application" else "nlcu"
    return [
        context.service_component(
            f"elb.{kind}.hour", f"{kind} load balancer", context.month_hours()
        ),
        context.usage_component(f"elb.{kind}.{capacity_unit}", "capacity units (by traffic)"),
    ]
