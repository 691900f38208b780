"""What a Terraform state was applied with, so no other configuration ever runs over it.

Every stack outputs `infra_deployment`: the DeploymentSpec it was synthesized from, as JSON. The
output lives in the state itself, so a fresh CI checkout with a remote backend reads it as well
as the machine that applied. A copy is also written beside a local state before each apply
(`deployed.json`): an apply cut off before Terraform saved its outputs still leaves a record,
and a state that had resources and is now empty is noticed instead of planned over.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import msgspec

from core.errors import InfraError
from core.files import write_atomically
from orchestrator.workspace import Workspace
from planner.deployment import RECORD_OUTPUT, DeploymentSpec

RECORD_FILE = "deployed.json"


class StateMismatch(InfraError):
    """The state belongs to another deployment, or was emptied behind the toolkit's back."""


@dataclass(frozen=True)
class AppliedState:
    """What the state holds now, and the spec it was applied with (None: unknown or empty)."""

    resources: int
    spec: DeploymentSpec | None

    @property
    def empty(self) -> bool:
        return self.resources == 0


def spec_from_output(outputs: dict[str, object]) -> DeploymentSpec | None:
    raw = outputs.get(RECORD_OUTPUT)
    if not isinstance(raw, str):
        return None
    try:
        return msgspec.convert(json.loads(raw), DeploymentSpec)
    except (ValueError, msgspec.ValidationError):
        return None


def _record_path(workspace: Workspace) -> Path:
    return workspace.root / RECORD_FILE


def read_record(workspace: Workspace) -> tuple[DeploymentSpec | None, int | None]:
    """The local record: the spec last applied from here and the resources it left (None while
    an apply had not finished)."""
    try:
        data = json.loads(_record_path(workspace).read_text())
        return msgspec.convert(data["spec"], DeploymentSpec), data.get("resources")
    except (OSError, ValueError, KeyError, TypeError, msgspec.ValidationError):
        return None, None


def write_record(workspace: Workspace, spec: DeploymentSpec, resources: int | None) -> None:
    document = {"spec": msgspec.to_builtins(spec), "resources": resources}
    write_atomically(_record_path(workspace), json.dumps(document, indent=2))


def forget_record(workspace: Workspace) -> None:
    _record_path(workspace).unlink(missing_ok=True)


def check_state_belongs(
    desired: DeploymentSpec, applied: AppliedState, workspace: Workspace, state_where: str
) -> None:
    """Refuse a state that is another deployment's, or that was emptied after an apply."""
    _, resources = read_record(workspace)
    if applied.empty and resources:
        raise StateMismatch(
            f"the state ({state_where}) is empty, but {resources} resources were applied from "
            f"here ({workspace.root / RECORD_FILE}): the state was lost or emptied. Restore it "
            "(terraform.tfstate.backup beside a local state, or the S3 object's previous version) "
            f"before planning; if the resources are really gone, delete {RECORD_FILE}."
        )
    spec = applied.spec
    if (
        spec is not None
        and spec.deployment_id
        and desired.deployment_id
        and spec.deployment_id != desired.deployment_id
    ):
        raise StateMismatch(
            f"the state ({state_where}) holds deployment {spec.stack_name}, not "
            f"{desired.stack_name}: two profiles named '{desired.name}' share it. Give one of "
            "them another name, or its environment another state backend key_prefix."
        )


def describe_target(spec: DeploymentSpec) -> str:
    return (
        f"{spec.cloud}/{spec.kind} in {spec.region} ({spec.capacity.desired}× {spec.instance_type})"
    )
