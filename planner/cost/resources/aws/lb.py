"""aws_lb / aws_alb: an application or network load balancer's hours, and its capacity units
(LCU, NLCU), which follow traffic: priced from the usage file's Infracost keys when it has them,
else listed with their price.

A capacity unit is the most used of four dimensions each hour; AWS's sizes of one unit
(https://aws.amazon.com/elasticloadbalancing/pricing/, "LCU details" and "NLCU details"):
an ALB unit is 25 new connections per second, 3,000 active connections per minute, 1 GB
processed per hour, or 1,000 rule evaluations per second; an NLB (TCP) unit is 800 new flows per
second, 100,000 active flows, or 1 GB per hour. Infracost divides new connections by 100 for
both; the divisors here are AWS's own."""

from __future__ import annotations

from planner.cost.context import PricingContext, Unpriceable
from planner.cost.plan_resources import PlannedResource, text
from planner.cost.report import CostComponent

TYPES = ("aws_lb", "aws_alb")

UNIT_SIZES = {
    "application": {
        "new_connections": 25.0,
        "active_connections": 3000.0,
        "processed_bytes_gb": 1.0,
        "rule_evaluations": 1000.0,
    },
    "network": {
        "new_connections": 800.0,
        "active_connections": 100_000.0,
        "processed_bytes_gb": 1.0,
    },
}
"""Load balancer type → usage key (a rate averaged over the month) → its amount in one unit."""


def _capacity_units(
    resource: PlannedResource, context: PricingContext, kind: str
) -> tuple[float, str] | None:
    """The month's mean capacity units from the usage file, and how (None without usage)."""
    given = {
        key: value
        for key in UNIT_SIZES[kind]
        if (value := context.usage_value(resource, key)) is not None
    }
    if not given:
        return None
    units = max(value / UNIT_SIZES[kind][key] for key, value in given.items())
    basis = ", ".join(f"{key} {value:g}" for key, value in given.items())
    return units, f"{basis} → {units:g} units an hour"


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    kind = text(resource.values.get("load_balancer_type")) or "application"
    if kind not in UNIT_SIZES:
        raise Unpriceable(f"no price rule for {kind} load balancers")
    capacity_unit = "lcu" if kind == "application" else "nlcu"
    units = _capacity_units(resource, context, kind)
    return [
        context.service_component(
            f"elb.{kind}.hour", f"{kind} load balancer", context.month_hours()
        ),
        context.usage_component(
            f"elb.{kind}.{capacity_unit}",
            "capacity units (by traffic)",
            quantity=units[0] * context.hours_per_month if units else None,
            basis=units[1] if units else None,
        ),
    ]
