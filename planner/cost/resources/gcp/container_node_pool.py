"""google_container_node_pool: a GKE node pool over its autoscaling range (minimum, expected =
its node count, maximum), or at its fixed size, at the catalog's price of its machine type (for
N1, with the GPUs its node config attaches): spot nodes at the spot price, the others at
on-demand, each the mean over the pool's zones. GKE counts nodes per zone (node_count,
min_node_count, max_node_count), unless the total_* limits are used. Boot disks scale with the
node count. The cluster management fee is billed through the cluster."""

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
from planner.cost.plan_resources import PlannedResource, blocks, first_block, flag, number, text
from planner.cost.report import CostComponent, Span
from planner.cost.resources.gcp.compute_region_instance_group_manager import (
    DISK_PRICE_ITEMS,
    GUEST_ACCELERATOR_NAMES,
)
from planner.cost.resources.gcp.container_cluster import is_zone

TYPES = ("google_container_node_pool",)


def _zones(resource: PlannedResource, context: PricingContext) -> list[str]:
    """The pool's zones: its node locations, else its cluster's, else its zonal location."""
    clusters = context.referenced(resource, "google_container_cluster")
    cluster = clusters[0].values if clusters else {}
    for source in (resource.values, cluster):
        zones = [z for z in source.get("node_locations") or [] if text(z)]
        if zones:
            return sorted(zones)
    for source in (resource.values, cluster):
        location = text(source.get("location"))
        if is_zone(location):
            return [location or ""]
    raise Unpriceable("its zones are not known from the plan (GKE counts nodes per zone)")


def _node_range(values: Mapping[str, Any], zone_count: int) -> Span:
    scaling = first_block(values.get("autoscaling"))
    size = number(values.get("node_count"))
    size = size if size is not None else number(values.get("initial_node_count"))
    total_low, total_high = (
        number(scaling.get(k)) for k in ("total_min_node_count", "total_max_node_count")
    )
    if total_low is not None and total_high is not None:
        expected = size * zone_count if size is not None else total_low
        return Span(total_low, min(max(expected, total_low), total_high), total_high)
    low, high = (number(scaling.get(k)) for k in ("min_node_count", "max_node_count"))
    if low is not None and high is not None:
        expected = size if size is not None else low
        per_zone = Span(low, min(max(expected, low), high), high)
    elif size is not None:
        per_zone = Span.fixed(size)
    else:
        raise Unpriceable("the pool's size is not known from the plan")
    return per_zone.scaled(zone_count)


def _accelerator(machine_type: str, config: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """The catalog's name and count of the GPUs an N1 node attaches; accelerator-optimized
    machines (A2, A3, G2, ...) are priced with theirs, whatever the node config repeats."""
    attached = blocks(config.get("guest_accelerator"))
    if not attached or not machine_type.startswith("n1-"):
        return None, None
    kind = text(attached[0].get("type")) or ""
    name = GUEST_ACCELERATOR_NAMES.get(kind)
    if name is None:
        raise Unpriceable(f"no catalog name for the {kind or 'unknown'} accelerator")
    count = number(attached[0].get("count"))
    return name, int(count) if count is not None else None


def _disks(config: Mapping[str, Any], nodes: Span, context: PricingContext) -> list[CostComponent]:
    size = number(config.get("disk_size_gb"))
    disk_type = text(config.get("disk_type"))
    if size is None or disk_type is None:
        return []
    item = DISK_PRICE_ITEMS.get(disk_type)
    if item is None:
        raise Unpriceable(f"no price rule for {disk_type} disks")
    label = f"boot disks ({disk_type}, {size:g} GB each)"
    return [context.service_component(item, label, nodes.scaled(size))]


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    config = first_block(resource.values.get("node_config"))
    machine_type = text(config.get("machine_type"))
    if machine_type is None:
        raise Unpriceable("the machine type is not known from the plan")
    accelerator, count = _accelerator(machine_type, config)
    zones = _zones(resource, context)
    offering = context.offering(
        "fleet", machine_type, accelerator=accelerator, accelerator_count=count
    )
    ondemand, spot, note = zone_prices(offering, zones)
    on_spot = flag(config.get("spot")) or flag(config.get("preemptible"))
    nodes = context.over_the_week(
        machine_type,
        _node_range(resource.values, len(zones)),
        "spot" if on_spot else "on_demand",
        pool=True,
    )
    notes = [note] if note else []
    if number(config.get("disk_size_gb")) is None or text(config.get("disk_type")) is None:
        notes.append("boot disks not included: their size or type is not known from the plan")
    gpus = f", {count or 1}x {accelerator}" if accelerator else ""
    return [
        instance_hours(
            f"nodes ({machine_type}{gpus})",
            on_spot=on_spot,
            unit_price=spot if on_spot else ondemand,
            ondemand=ondemand,
            hours=nodes.scaled(context.hours_per_month),
            note="; ".join(notes) or None,
            retrieved=spot_retrieved(offering, zones),
        ),
        *_disks(config, nodes, context),
    ]
