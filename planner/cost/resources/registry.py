"""Every resource type the cost report knows, in one registry: the providers it prices, each
priced type's rule, and the types that are free or billed elsewhere. A new priced type is one
rule module listed in its cloud's table; nothing here names a resource type."""

from __future__ import annotations

from collections.abc import Mapping

from planner.cost.context import Rule
from planner.cost.resources import managed, usage
from planner.cost.resources.free import BILLED_ELSEWHERE, FREE_TYPES
from planner.cost.resources.table import combine
from providers import targets

__all__ = ["BILLED_ELSEWHERE", "FREE_TYPES", "PROVIDERS", "RULES", "provider_of"]


def provider_of(resource_type: str) -> str:
    return resource_type.split("_", 1)[0]


_CLOUD_PROVIDERS = {cloud.terraform_provider: cloud.name for cloud in targets.clouds()}
PROVIDERS: Mapping[str, str | None] = {
    **_CLOUD_PROVIDERS,
    "random": None,
    "infra": None,
    **{name: None for kind in targets.kinds() for name in kind.terraform_providers},
}
"""Provider name (a resource type's prefix) → the catalog's name of its cloud (each cloud's
declaration names its provider); None for providers whose resources live in no cloud (they never
decide which cloud a plan is for), a kind's own among them (hashicorp/kubernetes)."""

RULES: Mapping[str, Rule] = combine(
    *(targets.resolve(cloud.pricing_rules) for cloud in targets.clouds()),
    managed.RULES,
    usage.RULES,
)
"""Priced resource type → its rule: each cloud's table (its `pricing_rules`), then the rules of
what the SDK steps deploy and of usage-driven charges."""
