"""azurerm_kubernetes_cluster: AKS cluster management by the cluster-hour at its pricing tier
(`sku_tier`: Free, Standard or Premium, each a price row; Free's is zero), and the VMs of its
default node pool (the system pool), as node pools are priced (vm_prices.py: a non-GPU size such
as the toolkit's Standard_D4s_v5 from the service prices; OS disks not included). A default pool
whose VM size is priced nowhere is left out, and the line says so; node pools of their own are
priced as azurerm_kubernetes_cluster_node_pool."""

from __future__ import annotations

from planner.cost.context import PricingContext, Unpriceable, with_note
from planner.cost.plan_resources import PlannedResource, first_block, text
from planner.cost.report import CostComponent
from planner.cost.resources.azure.kubernetes_cluster_node_pool import pool_component

TYPES = ("azurerm_kubernetes_cluster",)

TIER_ITEMS = {
    "Free": "aks.free.hour",
    "Standard": "aks.standard.hour",
    "Premium": "aks.premium.hour",
}
"""`sku_tier` (Free when not set) → its price item."""


def _management(resource: PlannedResource, context: PricingContext) -> CostComponent:
    tier = text(resource.values.get("sku_tier")) or "Free"
    item = TIER_ITEMS.get(tier)
    if item is None:
        raise Unpriceable(f"no price rule for the {tier} tier")
    return context.service_component(
        item, f"cluster management ({tier} tier)", context.month_hours()
    )


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    components = [_management(resource, context)]
    pool = first_block(resource.values.get("default_node_pool"))
    try:
        components.append(pool_component(pool, context, label="default node pool", on_spot=False))
    except Unpriceable as error:
        components[0] = with_note(components[0], f"default node pool not included: {error}")
    return components
