"""azurerm_kubernetes_cluster_node_pool: an AKS node pool over its autoscaling range (minimum,
expected = its node count, maximum), or at its node count, at the catalog's price of its VM size:
a Spot pool at the spot price, a Regular one at on-demand (vm_prices.py). Its OS disks are not
priced (their tier depends on the size AKS picks for the VM), and the line says so. The cluster
management fee is billed through the cluster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planner.cost.context import PricingContext, Unpriceable, instance_hours
from planner.cost.plan_resources import PlannedResource, flag, number, text
from planner.cost.report import CostComponent, Span
from planner.cost.resources.azure.vm_prices import spot_fallback_note, vm_prices

TYPES = ("azurerm_kubernetes_cluster_node_pool",)

OS_DISKS = "OS disks not included"


def node_range(pool: Mapping[str, Any]) -> Span:
    """(min, expected, max) nodes of a pool (or a cluster's default pool): the autoscaler's
    range when it is on (`auto_scaling_enabled`, `enable_auto_scaling` before azurerm 4), else
    its node count."""
    count = number(pool.get("node_count"))
    autoscaled = flag(pool.get("auto_scaling_enabled")) or flag(pool.get("enable_auto_scaling"))
    low, high = number(pool.get("min_count")), number(pool.get("max_count"))
    if autoscaled and low is not None and high is not None:
        expected = count if count is not None else low
        return Span(low, min(max(expected, low), high), high)
    if count is None:
        raise Unpriceable("the node count is not known from the plan")
    return Span.fixed(count)


def pool_component(
    pool: Mapping[str, Any], context: PricingContext, *, label: str, on_spot: bool
) -> CostComponent:
    """The compute line of a pool's VMs."""
    sku = text(pool.get("vm_size"))
    if sku is None:
        raise Unpriceable("the VM size is not known from the plan")
    nodes = context.over_the_week(
        sku, node_range(pool), "spot" if on_spot else "on_demand", pool=True
    )
    prices = vm_prices(context, sku)
    notes = [OS_DISKS, *([prices.note] if prices.note else [])]
    if on_spot and prices.spot is None:
        notes.append(spot_fallback_note(prices, sku, context.region))
    spot_priced = on_spot and prices.spot is not None
    return instance_hours(
        f"{label} ({sku})",
        on_spot=on_spot,
        unit_price=prices.spot if spot_priced and prices.spot is not None else prices.ondemand,
        ondemand=prices.ondemand,
        hours=nodes.scaled(context.hours_per_month),
        note="; ".join(notes),
        retrieved=prices.spot_retrieved if spot_priced else None,
    )


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    on_spot = text(resource.values.get("priority")) == "Spot"
    return [pool_component(resource.values, context, label="nodes", on_spot=on_spot)]
