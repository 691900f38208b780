"""The canary of `kind: kubernetes`, in the Terraform configuration (the kind's
`canary_in_configuration`): what a spec's pods run, whether a new revision can bake beside the
stable one, and the workload props with both tracks.

The orchestrator (orchestrator/configured_canary.py) sets the spec's `serving` section from the
applied state; every stack renders it through `with_tracks`:

- KServe in Serverless mode: the InferenceService's `canaryTrafficPercent` (KServe keeps the
  previous revision itself); after a rollback, the stable revision's predictor at 0%, which
  pins all traffic to the last revision rolled out.
- without KServe: the stable revision's Deployment and Service beside the canary's, weighted by
  the Gateway API HTTPRoute on `deploy.kubernetes.gateway`; after a rollback the stable revision
  alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from modules.kubernetes.weights import WeightsDownload
from modules.kubernetes.workload import GatewayRef, StableRevision, WorkloadProps
from planner.serving import ServingRevision
from providers import targets

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

WeightsFor = Callable[[str], WeightsDownload]
"""The cloud's copy of a weights location (modules/<cloud>/kubernetes_workload.py)."""


def revision_of(props: WorkloadProps) -> ServingRevision:
    """What the pods of `props` run (identity, replicas, placement and labels left out)."""
    return ServingRevision(
        engine=props.engine,
        image=props.image,
        args=list(props.args),
        env=dict(props.env),
        weights_uri=props.weights.uri if props.weights is not None else None,
        port=props.port,
        health_path=props.health_path,
        tensor_parallel=props.tensor_parallel,
    )


def serving_revision(spec: DeploymentSpec, emulated: bool) -> ServingRevision | None:
    """The revision `spec`'s pods run, None when its stack applies no workload (the emulator, a
    GKE stack without a project). Each stack class builds its props with `serving_props`."""
    target = targets.target(spec.cloud, spec.kind)
    assert target is not None
    props = targets.resolve(target.stack).serving_props(spec, emulated)
    return revision_of(props) if props is not None else None


def _shape(revision: ServingRevision) -> tuple[object, ...]:
    return (revision.engine, revision.port, revision.health_path, revision.tensor_parallel)


def refused_change(applied: DeploymentSpec, spec: DeploymentSpec) -> str | None:
    """Why `spec` cannot be applied over `applied` at all (a sentence), or None: KServe's webhook
    refuses to change an existing InferenceService's deployment mode, so the apply would fail
    half-way."""
    before, after = applied.kubernetes, spec.kubernetes
    if before.kserve and after.kserve and before.kserve_mode != after.kserve_mode:
        return (
            f"deploy.kubernetes.kserve_mode changes from {before.kserve_mode} to "
            f"{after.kserve_mode}, and KServe refuses to change an existing InferenceService's "
            f"mode; keep {before.kserve_mode}, or run `infra destroy` first and deploy again."
        )
    return None


def no_canary(spec: DeploymentSpec, stable: ServingRevision, emulated: bool) -> str | None:
    """Why `spec`'s revision cannot bake beside `stable` (a sentence's end), or None."""
    options = spec.kubernetes
    if options.kserve and options.kserve_mode != "serverless":
        return (
            "KServe's canaryTrafficPercent works in Serverless mode only "
            "(deploy.kubernetes.kserve_mode: serverless, chosen when the InferenceService is "
            "created: KServe refuses to change its mode)"
        )
    if not options.kserve and options.gateway is None:
        return (
            "without KServe, the canary's share is split by a Gateway API route, and "
            "deploy.kubernetes.gateway names no Gateway"
        )
    new = serving_revision(spec, emulated)
    if new is not None and _shape(new) != _shape(stable):
        return (
            "the engine, port, health path or tensor parallel degree changed, and both tracks "
            "(and a rollback to the stable one) are rendered with one pod shape"
        )
    return None


def with_tracks(
    props: WorkloadProps, spec: DeploymentSpec, weights_for: WeightsFor
) -> WorkloadProps:
    """`props` (the spec's own revision) with the spec's `serving` section: the stable revision
    beside it at the canary's share, or the stable revision alone after a rollback."""
    options = spec.kubernetes
    tracks = spec.serving
    props = dataclasses.replace(
        props,
        serverless=options.kserve and options.kserve_mode == "serverless",
        gateway=_gateway(options.gateway),
    )
    if tracks.stable is None:
        return props
    stable = tracks.stable
    weights = weights_for(stable.weights_uri) if stable.weights_uri else None
    if tracks.rolled_back:
        props = dataclasses.replace(
            props,
            image=stable.image,
            args=tuple(stable.args),
            env=dict(stable.env),
            weights=weights,
        )
        # KServe: a new revision of the stable content at 0%, all traffic pinned to the last one
        # rolled out (KServe's documented rollback), so Knative never routes to the canary.
        return dataclasses.replace(props, canary_percent=0) if props.kserve else props
    if props.kserve:  # KServe keeps the stable revision itself
        return dataclasses.replace(props, canary_percent=tracks.canary_percent)
    return dataclasses.replace(
        props,
        canary_percent=tracks.canary_percent,
        stable=StableRevision(
            image=stable.image, args=tuple(stable.args), weights=weights, env=dict(stable.env)
        ),
    )


def _gateway(reference: str | None) -> GatewayRef | None:
    """`deploy.kubernetes.gateway`, NAMESPACE/NAME (the profile checks its form)."""
    if reference is None:
        return None
    namespace, _, name = reference.partition("/")
    return GatewayRef(name=name, namespace=namespace)


def with_environment(props: WorkloadProps, env: dict[str, str]) -> WorkloadProps:
    """`env` added for every container of both tracks (the engines' and the downloads')."""

    def download(weights: WeightsDownload | None) -> WeightsDownload | None:
        return dataclasses.replace(weights, env={**weights.env, **env}) if weights else None

    stable = props.stable
    if stable is not None:
        stable = dataclasses.replace(
            stable, env={**stable.env, **env}, weights=download(stable.weights)
        )
    return dataclasses.replace(
        props, env={**props.env, **env}, weights=download(props.weights), stable=stable
    )


def autoscaler(spec: DeploymentSpec) -> str:
    """Who scales the serving pods, for the stacks' `kubernetes_workload` output."""
    options = spec.kubernetes
    return "Knative" if options.kserve and options.kserve_mode == "serverless" else "KEDA"
