"""Model deployments the SDK steps create after `terraform apply` (Vertex AI deployed models,
Azure ML online deployments). They are not Terraform resources, so no plan holds them, yet they are
most of the bill: when `infra cost` knows the deployment spec (a profile, or `infra plan`), they are
added to the priced resources as `infra_managed_deployment`, at the managed kind's own instance
prices over the range the SDK steps deploy (Vertex: min to max replicas, expected at the planned
count; Azure ML: the planned count, which managed deployments do not autoscale)."""

from __future__ import annotations

from collections.abc import Callable

from planner.cost.context import PricingContext, Unpriceable
from planner.cost.plan_resources import PlannedInfrastructure, PlannedResource
from planner.cost.report import CostComponent, Span
from planner.deployment import DeploymentSpec

MANAGED_DEPLOYMENT = "infra_managed_deployment"
MANAGED_KINDS = frozenset({"vertex", "azureml"})

FREE_TYPES: frozenset[str] = frozenset()
BILLED_ELSEWHERE: dict[str, str] = {}


def managed_deployment(spec: DeploymentSpec) -> PlannedResource:
    capacity = spec.capacity
    if spec.kind == "vertex":
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
    if spec.kind not in MANAGED_KINDS:
        return planned
    return PlannedInfrastructure((*planned.resources, managed_deployment(spec)), planned.regions)


def price_managed_deployment(
    resource: PlannedResource, context: PricingContext
) -> list[CostComponent]:
    values = resource.values
    kind, instance_type, region = values["kind"], values["instance_type"], values["region"]
    accelerator = str(values["accelerator"]).lower()
    found = [
        o
        for o in context.catalog.offerings
        if o.cloud == values["cloud"]
        and o.kind == kind
        and o.region == region
        and o.instance_type == instance_type
        and o.accelerator.lower() == accelerator
        and o.accelerator_count == values["accelerator_count"]
    ]
    prices = [z.ondemand_usd for o in found for z in o.zones if z.ondemand_usd is not None]
    if not prices:
        raise Unpriceable(
            f"{instance_type} has no {kind} price for {context.region} in the catalog"
        )
    low, expected, high = values["instances"]
    return [
        CostComponent(
            name=f"{kind} instances ({instance_type}), deployed by the SDK steps",
            unit="hours",
            unit_price=round(min(prices), 6),
            quantity=Span(low, expected, high).scaled(context.hours_per_month),
            category="compute (on-demand)",
        )
    ]


RULES: dict[str, Callable[[PlannedResource, PricingContext], list[CostComponent]]] = {
    MANAGED_DEPLOYMENT: price_managed_deployment
}
