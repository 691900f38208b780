"""Resources of providers that create nothing in a cloud account, so nothing billable: the
hashicorp/random values some stacks name things with (e.g. the suffix of a KMS key ring name)."""

from __future__ import annotations

from collections.abc import Callable

from planner.cost.context import PricingContext
from planner.cost.plan_resources import PlannedResource
from planner.cost.report import CostComponent

FREE_TYPES = frozenset({"random_id"})
BILLED_ELSEWHERE: dict[str, str] = {}
RULES: dict[str, Callable[[PlannedResource, PricingContext], list[CostComponent]]] = {}
