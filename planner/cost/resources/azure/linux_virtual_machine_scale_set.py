"""azurerm_linux_virtual_machine_scale_set: priced over its autoscale range (minimum, default,
maximum) when an autoscale setting targets it, else at its instance count; a Spot set at the
catalog's spot price of its SKU, a Regular set at the on-demand price (vm_prices.py). Its OS
disks are priced when the service price list has their Premium SSD tier; otherwise the
instances' line says which disks it leaves out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from planner.cost.context import PricingContext, Unpriceable, instance_hours
from planner.cost.plan_resources import PlannedResource, first_block, number, text
from planner.cost.report import CostComponent, Span
from planner.cost.resources.azure.vm_prices import spot_fallback_note, vm_prices

TYPES = ("azurerm_linux_virtual_machine_scale_set",)

PREMIUM_SSD_TIERS = (
    (4, 32),
    (6, 64),
    (10, 128),
    (15, 256),
    (20, 512),
    (30, 1024),
    (40, 2048),
    (50, 4096),
    (60, 8192),
    (70, 16384),
    (80, 32767),
)
"""Premium SSD managed disks bill by tier (P<n>, the smallest holding the size), not per GB."""


def _instance_range(resource: PlannedResource, context: PricingContext) -> Span:
    """(min, expected, max) instances: the autoscale setting's range, else the fixed count. A
    setting that follows the week has a profile per change of size: its range is the lowest
    minimum, the highest default (the peak's size) and the highest maximum."""
    for setting in context.referring(resource, "azurerm_monitor_autoscale_setting"):
        spans = []
        for profile in setting.values.get("profile") or []:
            capacity = first_block(profile.get("capacity"))
            low, default, high = (
                number(capacity.get(k)) for k in ("minimum", "default", "maximum")
            )
            if low is not None and default is not None and high is not None:
                spans.append((low, default, high))
        if spans:
            lows, defaults, highs = zip(*spans, strict=True)
            return Span(min(lows), max(defaults), max(highs))
    count = number(resource.values.get("instances"))
    if count is None:
        raise Unpriceable("the instance count is not known from the plan")
    return Span.fixed(count)


def _premium_tier(size_gb: float) -> str:
    for tier, limit in PREMIUM_SSD_TIERS:
        if size_gb <= limit:
            return f"p{tier}"
    raise Unpriceable(f"no Premium SSD tier holds {size_gb:g} GB")


def _os_disk(
    values: Mapping[str, Any], instances: Span, context: PricingContext
) -> CostComponent | str | None:
    """The OS disks' component, or a note saying why they are left out."""
    disk = first_block(values.get("os_disk"))
    size = number(disk.get("disk_size_gb"))
    kind = text(disk.get("storage_account_type"))
    if size is None or kind is None:
        return "OS disks not included: their size or type is not known from the plan"
    if kind not in ("Premium_LRS", "Premium_ZRS"):
        return f"OS disks not included: no price rule for {kind} disks"
    tier = _premium_tier(size)
    item = f"managed_disk.premium_ssd.{tier}.storage"
    try:
        return context.service_component(
            item, f"OS disks (Premium SSD {tier.upper()}, {size:g} GB each)", instances
        )
    except Unpriceable as error:
        return f"OS disks (Premium SSD {tier.upper()}) not included: {error}"


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    values = resource.values
    sku = text(values.get("sku"))
    if sku is None:
        raise Unpriceable("the VM size is not known from the plan")
    prices = vm_prices(context, sku)
    on_spot = text(values.get("priority")) == "Spot"
    instances = context.over_the_week(
        sku, _instance_range(resource, context), "spot" if on_spot else "on_demand"
    )
    disk = _os_disk(values, instances, context)
    notes = [disk] if isinstance(disk, str) else []
    if on_spot and prices.spot is None:
        notes.append(spot_fallback_note(prices, sku, context.region))
    unit_price = prices.spot if on_spot and prices.spot is not None else prices.ondemand
    components = [
        instance_hours(
            f"instances ({sku})",
            on_spot=on_spot,
            unit_price=unit_price,
            ondemand=prices.ondemand,
            hours=instances.scaled(context.hours_per_month),
            note="; ".join(notes) or None,
            retrieved=prices.spot_retrieved if prices.spot is not None else None,
        )
    ]
    if isinstance(disk, CostComponent):
        components.append(disk)
    return components
