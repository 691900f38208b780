"""The steps Terraform cannot do, for the targets that declare `endpoint_steps` (the managed
endpoint kinds whose model the SDK deploys: Vertex AI, Azure ML).

The deploy workflow calls `check` before planning, `after_apply` after a successful apply (and
when the plan has no changes, so a run that failed in these steps is finished by the next),
`live_status` from `infra status` and `before_destroy` before `terraform destroy`; `rollback` is
`infra rollback`. Each reads the Terraform outputs of the stack, builds the endpoint driver of the
target's module (orchestrator/vertex_endpoint.py, orchestrator/azureml_endpoint.py; SDKs imported
only then) and runs orchestrator/rollout.py over it with progress through `deployment.step`.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from core.errors import InfraError
from orchestrator.errors import NotDeployed
from orchestrator.rollout import Sleep, read_back, remove_everything, roll_back, roll_out
from providers import targets

if TYPE_CHECKING:
    from orchestrator.workflow import Deployment
    from planner.deployment import DeploymentSpec
    from providers.managed_endpoint import EndpointDriver

DriverFactory = Callable[["DeploymentSpec", Mapping[str, object]], "EndpointDriver"]
OutputsReader = Callable[["Deployment"], Mapping[str, object]]


class NoRollback(InfraError):
    pass


def _steps(spec: DeploymentSpec) -> ModuleType | None:
    """The target's endpoint steps module, or None when Terraform does everything."""
    target = targets.target(spec.cloud, spec.kind)
    if target is None or target.endpoint_steps is None:
        return None
    return importlib.import_module(target.endpoint_steps)


def handles(spec: DeploymentSpec) -> bool:
    target = targets.target(spec.cloud, spec.kind)
    return target is not None and target.endpoint_steps is not None


def check(deployment: Deployment) -> None:
    """Refuse, before anything is planned, what the SDK steps could not deploy."""
    spec = deployment.spec
    steps = _steps(spec)
    if steps is None:
        return
    if deployment.emulated:
        raise InfraError(
            f"the environment '{spec.env}' is the local emulated AWS, which has no {spec.kind} "
            "endpoints; deploy to a named environment (--env dev) with cloud credentials."
        )
    steps.check(spec)


def cloud_driver(spec: DeploymentSpec, outputs: Mapping[str, object]) -> EndpointDriver:
    """The real driver: the cloud's SDK behind its boundary, signed in from its standard chain."""
    steps = _steps(spec)
    assert steps is not None, "only targets with endpoint steps have a driver"
    return steps.driver(spec, outputs)


def after_apply(
    deployment: Deployment,
    outputs: Mapping[str, object],
    driver_for: DriverFactory | None = None,
    sleep: Sleep = time.sleep,
) -> dict[str, Any] | None:
    """Deploy the spec's serving configuration on the endpoint (a canary when another serves)."""
    if not handles(deployment.spec):
        return None
    driver = (driver_for or cloud_driver)(deployment.spec, outputs)
    return roll_out(driver, deployment.spec.canary, deployment.step, sleep)


def live_status(
    deployment: Deployment, outputs: Mapping[str, object], driver_for: DriverFactory | None = None
) -> dict[str, Any] | None:
    if not handles(deployment.spec) or not outputs:
        return None
    return read_back((driver_for or cloud_driver)(deployment.spec, outputs))


def before_destroy(
    deployment: Deployment, outputs: Mapping[str, object], driver_for: DriverFactory | None = None
) -> list[str] | None:
    """Remove what the SDK created, which Terraform cannot delete or does not know. Without
    outputs nothing was applied, so the SDK created nothing either."""
    if not handles(deployment.spec) or not outputs:
        return None
    driver = (driver_for or cloud_driver)(deployment.spec, outputs)
    return remove_everything(driver, deployment.step)


def terraform_outputs(deployment: Deployment) -> Mapping[str, object]:
    from orchestrator.workflow import init, outputs

    if not deployment.workspace.config_file.exists():
        raise NotDeployed(
            f"{deployment.spec.stack_name} has not been deployed from here "
            f"({deployment.workspace.root} does not exist); run `infra deploy` first."
        )
    init(deployment)
    return outputs(deployment)


def rollback(
    deployment: Deployment,
    read_outputs: OutputsReader | None = None,
    driver_for: DriverFactory | None = None,
) -> dict[str, Any]:
    """`infra rollback`: the traffic back to the revision that served before the canary."""
    from orchestrator import configured_canary

    spec = deployment.spec
    if configured_canary.handles(spec):
        return configured_canary.rollback(deployment)
    own_way = targets.kind(spec.kind).no_rollback
    if own_way is not None:
        raise NoRollback(own_way)
    if not handles(spec):
        raise NoRollback(
            f"a {spec.kind} deployment has no traffic split to shift back; re-deploy the "
            "previous profile to go back."
        )
    outputs = (read_outputs or terraform_outputs)(deployment)
    if not outputs:
        raise NotDeployed(
            f"{spec.stack_name} has no applied {spec.kind} stack; nothing to roll back."
        )
    return roll_back((driver_for or cloud_driver)(spec, outputs), deployment.step)
