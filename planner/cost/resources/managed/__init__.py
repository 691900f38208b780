"""Pricing rules for what no Terraform plan holds but the SDK steps create after apply."""

from __future__ import annotations

from planner.cost.context import Rule
from planner.cost.resources.managed import deployment
from planner.cost.resources.table import rules_of

RULES: dict[str, Rule] = rules_of(deployment)
