"""The serving tracks of a deployment whose canary is in its Terraform configuration (a kind
declaring `canary_in_configuration`): the revision that keeps serving beside the spec's own while
a canary bakes.

The section is set by the orchestrator from the applied state (orchestrator/configured_canary.py),
never from the profile (the profile's `deploy:` has no such field), and is recorded in the state
with the rest of the spec: a deploy cut off during the bake is continued by the next one, and
`infra rollback` finds the stable revision there.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

ServingEngine = Literal["vllm", "tgi", "triton"]


class _Spec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class ServingRevision(_Spec, kw_only=True):
    """What the pods run, as the stack renders it: image, engine, arguments (the model and the
    engine's flags), environment and where the weights come from. Replica counts, node pools
    and tags are not part of it: changing them is no new revision."""

    engine: ServingEngine
    image: str
    args: list[str]
    env: dict[str, str] = {}
    weights_uri: str | None = None
    """The cloud store the init container copies the weights from; None: the engine fetches
    the hub model."""
    port: Annotated[int, Meta(ge=1, le=65535)]
    health_path: str
    tensor_parallel: Annotated[int, Meta(ge=1)]


class ServingTracks(_Spec, kw_only=True):
    """Default (no stable revision): the spec's revision serves alone."""

    stable: ServingRevision | None = None
    """The revision that served before the spec's, kept beside it."""
    canary_percent: Annotated[int, Meta(ge=0, le=99)] = 0
    """The share of requests the spec's revision takes beside `stable`: 1-99 while the canary
    bakes; 0 after `infra rollback`, when `stable` serves alone."""

    @property
    def baking(self) -> bool:
        """A canary takes part of the traffic."""
        return self.stable is not None and self.canary_percent > 0

    @property
    def rolled_back(self) -> bool:
        return self.stable is not None and self.canary_percent == 0
