"""google_compute_security_policy: Cloud Armor bills per policy, rule and request, and the
catalog has no row for it yet, so the policy is listed as unpriced with that reason."""

from __future__ import annotations

from planner.cost.context import PricingContext, Unpriceable
from planner.cost.plan_resources import PlannedResource
from planner.cost.report import CostComponent

TYPES = ("google_compute_security_policy",)


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    raise Unpriceable("no Cloud Armor price in the catalog (per policy, rule and request)")
