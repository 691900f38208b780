"""A cloud's table of pricing rules, built from its rule modules: resource type → rule."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from planner.cost.context import Rule


def combine(*tables: Mapping[str, Rule]) -> dict[str, Rule]:
    """One table from several; a type two tables price is a programming error, not a choice."""
    rules: dict[str, Rule] = {}
    for table in tables:
        for resource_type, rule in table.items():
            if resource_type in rules:
                raise ValueError(f"{resource_type} has two pricing rules")
            rules[resource_type] = rule
    return rules


def rules_of(*modules: ModuleType) -> dict[str, Rule]:
    """The table of rule modules that each export `TYPES` and `price`."""
    return combine(*({t: module.price for t in module.TYPES} for module in modules))
