"""Model deployments the SDK steps create after `terraform apply` (Vertex AI deployed models,
Azure ML online deployments). They are not Terraform resources, so no plan holds them, yet they are
most of the bill: when `infra cost` knows the deployment spec (a profile, or `infra plan`), they are
added to the priced resources as `infra_managed_deployment`, at the managed kind's own instance
prices over the range the SDK steps deploy (Vertex: min to max replicas, expected at the planned
count; Azure ML: the planned count, which managed deployments do not autoscale: each target's
`managed_replicas`). This module adds them to the plan;
`planner/cost/resources/managed/deployment.py` prices them."""

from __future__ import annotations

from planner.cost.plan_resources import PlannedInfrastructure, PlannedResource
from planner.deployment import DeploymentSpec
from providers import targets

MANAGED_DEPLOYMENT = "infra_managed_deployment"


def _replicas(spec: DeploymentSpec) -> str | None:
    target = targets.target(spec.cloud, spec.kind)
    return target.managed_replicas if target else None


def managed_deployment(spec: DeploymentSpec) -> PlannedResource:
    capacity = spec.capacity
    if _replicas(spec) == "autoscaled":
        counts = (max(capacity.min_size, 1), capacity.desired, max(capacity.max_size, 1))
    else:
        counts = (capacity.desired, capacity.desired, capacity.desired)
    return PlannedResource(
        address=f"{MANAGED_DEPLOYMENT}.{spec.kind}-{spec.stack_name}",
        type=MANAGED_DEPLOYMENT,
        values={
            "cloud": spec.cloud,
            "region": spec.region,
            "kind": spec.kind,
            "instance_type": spec.instance_type,
            "accelerator": spec.accelerator,
            "accelerator_count": spec.accelerators_per_instance,
            "instances": counts,
        },
    )


def with_managed_deployment(
    planned: PlannedInfrastructure, spec: DeploymentSpec
) -> PlannedInfrastructure:
    """The plan plus what the SDK steps will deploy, for the managed kinds."""
    if _replicas(spec) is None:
        return planned
    return PlannedInfrastructure((*planned.resources, managed_deployment(spec)), planned.regions)
