"""Cost-allocation tags on every taggable resource of a stack, as a CDK Terrain aspect.

The tags come from the profile (team, cost-center, env, ...); a resource's own tags win over them.
A required tag that is missing stops the build before anything is synthesized, so an untagged
fleet never reaches a plan.

Every taggable resource also gets `infra:stack` = the stack's name (`<profile name>-<env>`):
profiles of one team share their cost tags, and for a resource that a cut-off apply left outside
the state nothing else says which deployment made it (orchestrator/leftovers.py looks for it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jsii
from cdktn import Aspects, IAspect, TerraformResource, TerraformStack
from constructs import IConstruct

from core.errors import InfraError
from modules.tag_keys import STACK_TAG


class MissingTagsError(InfraError):
    pass


def check_tags(tags: Mapping[str, str], required: Sequence[str], where: str) -> None:
    missing = [key for key in required if not str(tags.get(key, "")).strip()]
    if missing:
        raise MissingTagsError(
            f"{where}: the cost-allocation tag{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} {'are' if len(missing) > 1 else 'is'} required; "
            "add them under `tags:` in the profile."
        )


@jsii.implements(IAspect)
class CostAllocationTags:
    def __init__(self, tags: Mapping[str, str]) -> None:
        self.tags = dict(tags)

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, TerraformResource) and hasattr(type(node), "tags_input"):
            own = node.tags_input or {}
            node.tags = {**self.tags, **own}  # type: ignore[attr-defined]


def apply_cost_allocation_tags(
    scope: IConstruct, tags: Mapping[str, str], required: Sequence[str], where: str
) -> None:
    check_tags(tags, required, where)
    stack = TerraformStack.of(scope).node.id
    Aspects.of(scope).add(CostAllocationTags({**tags, STACK_TAG: stack}))
