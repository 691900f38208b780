"""google_compute_region_instance_group_manager: a managed instance group over its autoscaler's
range (minimum, expected = the group's target size, maximum), or at its fixed size: a spot group
at the catalog's spot price and a standard one at the on-demand price of its machine type (for
N1, with the GPUs the template attaches), each the mean over the group's zones (a zone without a
spot offer counts at on-demand). Boot disks scale with the instance count. The instance template
is billed through the group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planner.cost.context import (
    PricingContext,
    Unpriceable,
    instance_hours,
    spot_retrieved,
    zone_prices,
)
from planner.cost.plan_resources import PlannedResource, blocks, first_block, number, text
from planner.cost.report import CostComponent, Span

TYPES = ("google_compute_region_instance_group_manager",)

GUEST_ACCELERATOR_NAMES = {
    "nvidia-tesla-t4": "T4",
    "nvidia-tesla-v100": "V100",
    "nvidia-tesla-p100": "P100",
    "nvidia-tesla-p4": "P4",
}
"""Compute Engine's accelerator types of N1 machines → the catalog's accelerator names."""
DISK_PRICE_ITEMS = {"pd-balanced": "pd.balanced.storage", "pd-ssd": "pd.ssd.storage"}


def _group_range(resource: PlannedResource, context: PricingContext) -> Span:
    """(min, expected, max) instances: the autoscaler's range around the target size."""
    size = number(resource.values.get("target_size"))
    autoscalers = context.referring(resource, "google_compute_region_autoscaler")
    policy = first_block(autoscalers[0].values.get("autoscaling_policy")) if autoscalers else {}
    low, high = number(policy.get("min_replicas")), number(policy.get("max_replicas"))
    if low is None or high is None:
        if size is None:
            raise Unpriceable("the group's size is not known from the plan")
        return Span.fixed(size)
    expected = size if size is not None else low
    return Span(low, min(max(expected, low), high), high)


def _disks(
    template: Mapping[str, Any], instances: Span, context: PricingContext
) -> list[CostComponent]:
    components = []
    for disk in blocks(template.get("disk")):
        size = number(disk.get("disk_size_gb"))
        disk_type = text(disk.get("disk_type")) or "pd-standard"
        if size is None:
            continue
        item = DISK_PRICE_ITEMS.get(disk_type)
        if item is None:
            raise Unpriceable(f"no price rule for {disk_type} disks")
        components.append(
            context.service_component(
                item, f"boot disks ({disk_type}, {size:g} GB each)", instances.scaled(size)
            )
        )
    return components


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    templates = context.referenced(resource, "google_compute_instance_template")
    if not templates:
        raise Unpriceable("its instance template is not part of the plan")
    template = templates[0].values
    machine_type = text(template.get("machine_type"))
    if machine_type is None:
        raise Unpriceable("the machine type is not known from the plan")
    accelerators = blocks(template.get("guest_accelerator"))
    accelerator = (
        GUEST_ACCELERATOR_NAMES.get(text(accelerators[0].get("type")) or "")
        if accelerators
        else None
    )
    if accelerators and accelerator is None:
        raise Unpriceable(f"no catalog name for the {accelerators[0].get('type')} accelerator")
    zones = [z for z in resource.values.get("distribution_policy_zones") or [] if text(z)]
    offering = context.offering("fleet", machine_type, accelerator=accelerator)
    ondemand, spot, note = zone_prices(offering, zones)
    scheduling = first_block(template.get("scheduling"))
    on_spot = text(scheduling.get("provisioning_model")) == "SPOT"
    instances = context.over_the_week(
        machine_type, _group_range(resource, context), "spot" if on_spot else "on_demand"
    )
    gpus = f", {accelerator}" if accelerator else ""
    components = [
        instance_hours(
            f"instances ({machine_type}{gpus})",
            on_spot=on_spot,
            unit_price=spot if on_spot else ondemand,
            ondemand=ondemand,
            hours=instances.scaled(context.hours_per_month),
            note=note,
            retrieved=spot_retrieved(offering, zones),
        )
    ]
    return components + _disks(template, instances, context)
