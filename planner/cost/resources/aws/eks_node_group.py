"""aws_eks_node_group: a managed node group over its scaling range (minimum, desired, maximum),
at the catalog's price of its instance type: ON_DEMAND capacity at the first listed type (EKS
launches on-demand nodes in the listed order), SPOT capacity at the mean spot price over every
listed type and the zones of its subnets (EKS spreads spot nodes over those pools with
price-capacity-optimized). The instance type comes from its launch template when the group lists
none; that template's volumes scale with the node count (without one, EKS's default root volume
is left out, and the line says so). The control plane is billed through its cluster."""

from __future__ import annotations

from planner.cost.context import (
    PricingContext,
    Unpriceable,
    instance_hours,
    spot_retrieved,
    zone_prices,
)
from planner.cost.plan_resources import PlannedResource, blocks, first_block, number, text
from planner.cost.report import CostComponent, Span
from planner.cost.resources.aws.autoscaling_group import launch_template_of, subnet_zone_ids
from planner.cost.resources.aws.volumes import volume_components

TYPES = ("aws_eks_node_group",)


def _node_range(resource: PlannedResource) -> Span:
    scaling = first_block(resource.values.get("scaling_config"))
    desired = number(scaling.get("desired_size"))
    low = number(scaling.get("min_size"))
    high = number(scaling.get("max_size"))
    if desired is None and low is None:
        raise Unpriceable("the node group's size is not known from the plan")
    low = low if low is not None else desired
    expected = desired if desired is not None else low
    high = high if high is not None else max(low or 0, expected or 0)
    return Span(low or 0.0, expected or 0.0, high)


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    values = resource.values
    template = launch_template_of(resource, context)
    types = [t for t in values.get("instance_types") or [] if text(t)]
    types = types or [t for t in [text(template.get("instance_type"))] if t]
    if not types:
        raise Unpriceable("the instance type is not known from the plan")
    on_spot = text(values.get("capacity_type")) == "SPOT"
    nodes = context.over_the_week(
        types[0], _node_range(resource), "spot" if on_spot else "on_demand", pool=True
    )
    mappings = blocks(template.get("block_device_mappings"))
    zones = subnet_zone_ids(resource, context)
    offerings = [context.offering("fleet", t) for t in types]
    ondemand, _, note = zone_prices(offerings[0], zones)
    notes = [note] if note else []
    if not mappings:
        notes.append("root volumes not included: no launch template names them")
    if on_spot:
        spot = sum(zone_prices(o, zones)[1] for o in offerings) / len(offerings)
        retrieved = min((d for o in offerings if (d := spot_retrieved(o, zones))), default=None)
        if len(types) > 1:
            notes.append(f"spot price: mean over {', '.join(types)}")
    else:
        spot, retrieved = ondemand, None
        if len(types) > 1:
            notes.append(f"on-demand nodes priced as {types[0]}, the first of {', '.join(types)}")
    components = [
        instance_hours(
            f"nodes ({types[0]})",
            on_spot=on_spot,
            unit_price=spot if on_spot else ondemand,
            ondemand=ondemand,
            hours=nodes.scaled(context.hours_per_month),
            note="; ".join(notes) or None,
            retrieved=retrieved,
        )
    ]
    return components + volume_components(mappings, nodes, context)
