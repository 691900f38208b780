"""The canary of a kind whose canary is in its Terraform configuration (the Kind's
`canary_in_configuration`): `infra deploy` applies the new serving revision beside the stable one,
bakes, and applies it alone; `infra rollback` during the bake applies the stable one alone.

The stable revision reaches the stack through the spec's `serving` section
(planner/serving.py), set here from the applied state and never from the profile; it is
recorded in the state with the rest of the spec, so:

- a deploy cut off during the bake is continued by the next deploy of the same revision, which
  promotes it;
- `infra rollback` (from another terminal or CI job, while the deploy bakes) finds the stable
  revision in the state and applies it alone; the waiting deploy reads the state after the bake,
  as orchestrator/rollout.py reads the endpoint's revisions, and stops without promoting.

Without a way to split the traffic (the kind's module says why) the new revision replaces the
pods in one apply, and the deploy says so.
"""

from __future__ import annotations

import hashlib
import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import ModuleType
from typing import TYPE_CHECKING, Any

import msgspec

from core.errors import InfraError
from orchestrator.rollout import CanaryRolledBack, NothingToRollBack, Sleep
from planner.serving import ServingRevision, ServingTracks
from providers import targets

if TYPE_CHECKING:
    from orchestrator.workflow import Deployment, PlanSummary
    from planner.deployment import DeploymentSpec

Confirm = Callable[["PlanSummary"], bool]
DeployOnce = Callable[["Deployment", Confirm, bool], dict[str, Any]]
"""workflow.deploy of one configuration: (deployment, confirm, record the decision)."""


class RefusedChange(InfraError):
    """The new configuration cannot be applied over the one the state holds."""


_deciding: ContextVar[bool] = ContextVar("configured_canary_deciding", default=False)
"""Set while this module applies its configurations through workflow.deploy, which calls back
into `deploy`: each of them is applied as it is."""


def _module(spec: DeploymentSpec) -> ModuleType | None:
    dotted = targets.kind(spec.kind).canary_in_configuration
    return importlib.import_module(dotted) if dotted else None


def handles(spec: DeploymentSpec) -> bool:
    return targets.kind(spec.kind).canary_in_configuration is not None


def revision_label(revision: ServingRevision) -> str:
    """`rev-<12 hex>`: a digest of what the pods run, as the managed endpoints name theirs."""
    digest = hashlib.sha256(msgspec.json.encode(revision)).hexdigest()[:12]
    return f"rev-{digest}"


@contextmanager
def _applying() -> Iterator[None]:
    token = _deciding.set(True)
    try:
        yield
    finally:
        _deciding.reset(token)


def _with_tracks(spec: DeploymentSpec, tracks: ServingTracks) -> DeploymentSpec:
    return msgspec.structs.replace(spec, serving=tracks)


def canary_spec(spec: DeploymentSpec, stable: ServingRevision) -> DeploymentSpec:
    """`spec`'s revision baking beside `stable` at the profile's `deploy.canary.percent`."""
    return _with_tracks(spec, ServingTracks(stable=stable, canary_percent=spec.canary.percent))


def deploy(
    deployment: Deployment,
    confirm: Confirm,
    deploy_once: DeployOnce,
    sleep: Sleep | None = None,
) -> dict[str, Any] | None:
    """Roll the spec's revision out as a canary when another serves; None when the spec is to be
    applied as it is (no other revision serves, a move, the orchestrator's own configuration).
    `sleep` is the bake's seam (tests do not wait)."""
    from orchestrator import workflow

    spec = deployment.spec
    module = _module(spec)
    if module is None or _deciding.get() or spec.serving != ServingTracks():
        return None
    applied = workflow.applied_state(deployment).spec
    if applied is None or applied.target != spec.target:
        return None
    refusal = module.refused_change(applied, spec)
    if refusal is not None:
        raise RefusedChange(refusal)
    new = module.serving_revision(spec, deployment.emulated)
    tracks = applied.serving
    serving = tracks.stable or module.serving_revision(applied, deployment.emulated)
    if new is None or serving is None or new == serving:
        return None
    label = revision_label(new)
    if tracks.baking and module.serving_revision(applied, deployment.emulated) == new:
        with _applying():
            result = deploy_once(deployment, confirm, True)
        note = f"promoted {label}, whose canary a cut-off deploy left baking"
        return {**result, "canary": {"revision": label, "actions": [note]}}
    reason = module.no_canary(spec, serving, deployment.emulated)
    if reason is not None:
        with _applying():
            result = deploy_once(deployment, confirm, True)
        note = f"no canary: {reason}; {label} replaced {revision_label(serving)} in one apply"
        return {**result, "canary": {"revision": label, "actions": [note]}}
    return _bake_and_promote(deployment, confirm, deploy_once, serving, sleep or time.sleep)


def _bake_and_promote(
    deployment: Deployment,
    confirm: Confirm,
    deploy_once: DeployOnce,
    stable: ServingRevision,
    sleep: Sleep,
) -> dict[str, Any]:
    from orchestrator import workflow

    spec = deployment.spec
    canary = spec.canary
    new, old = revision_label_of(deployment), revision_label(stable)
    baking = deployment.with_spec(canary_spec(spec, stable))
    tracks = baking.spec.serving
    with _applying():
        first = deploy_once(baking, confirm, True)
    if first.get("cancelled"):
        return first
    actions = [f"{new} took {canary.percent}% of the traffic beside {old}"]
    with deployment.step(f"bake {new} for {canary.bake_s} s"):
        sleep(canary.bake_s)
    now = workflow.applied_state(deployment.with_spec(spec)).spec
    if now is None or now.serving != tracks:
        raise CanaryRolledBack(
            f"{new} was rolled back while it baked on {spec.stack_name}; nothing was promoted "
            f"({old} serves all of the traffic)."
        )
    with _applying():  # approved with the canary's plan: the deploy was asked for both
        promoted = deploy_once(deployment.with_spec(spec), lambda summary: True, False)
    actions.append(f"promoted {new} to all of the traffic, replacing {old}")
    return {
        **promoted,
        "changed": True,
        "plan": first["plan"],
        "promotion_plan": promoted["plan"],
        "canary": {"revision": new, "stable": old, "actions": actions},
    }


def revision_label_of(deployment: Deployment) -> str:
    module = _module(deployment.spec)
    assert module is not None
    revision = module.serving_revision(deployment.spec, deployment.emulated)
    return revision_label(revision) if revision is not None else "the new revision"


def rollback(deployment: Deployment) -> dict[str, Any]:
    """`infra rollback`: during a bake, the stable revision alone (the canary removed), applied
    with the configuration the state holds. Not under the deploy's run lock: the deploy holds it
    while it bakes, and finds the rollback in the state when it wakes."""
    from orchestrator import workflow

    applied = workflow.applied_state(deployment).spec
    tracks = applied.serving if applied is not None else ServingTracks()
    if applied is None or not tracks.baking or tracks.stable is None:
        raise NothingToRollBack(
            f"nothing to roll back: no canary is baking on {deployment.spec.stack_name} (its "
            "state serves one revision); re-deploy the previous profile to go back."
        )
    rolled_back = _with_tracks(applied, ServingTracks(stable=tracks.stable, canary_percent=0))
    target = deployment.with_spec(rolled_back)
    canary = revision_label_of(deployment.with_spec(applied))
    with _applying():
        result = workflow.deploy(target, lambda summary: True)
    stable = revision_label(tracks.stable)
    return {
        "endpoint": applied.stack_name,
        "rolled_back": canary,
        "serving": stable,
        "traffic": {stable: 100},
        "changed": result.get("changed", False),
        "plan": result.get("plan"),
    }
