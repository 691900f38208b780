"""The catalog's hourly prices of an Azure VM size in the pricing region, shared by the rules of
the resources that run VMs (scale sets, AKS node pools). The catalog prices Azure per region, so
there are no zones to average over. A VM size that is no GPU offering (an AKS system pool's) is
priced from the services price list instead (`vm.<size>.hour`, providers/azure), on-demand only.
A helper of those rules, not a rule itself."""

from __future__ import annotations

from typing import NamedTuple

from planner.cost.context import PricingContext, Unpriceable
from providers.azure import vm_hour_item


class VmPrices(NamedTuple):
    ondemand: float
    spot: float | None
    """None when the catalog has no usable spot price for the size here."""
    spot_note: str | None
    """Why there is no spot price, when the catalog says."""
    spot_retrieved: str | None
    note: str | None = None
    """Set when the price stands in for the region's (the reference region's list price)."""


def vm_prices(context: PricingContext, sku: str) -> VmPrices:
    try:
        offering = context.offering("fleet", sku)
    except Unpriceable:
        listed = context.prices.find(vm_hour_item(sku), context.region)
        if listed is None:
            raise
        return VmPrices(listed.usd_per_unit, None, None, None, listed.note)
    zones = offering.ondemand_zones
    if not zones:
        raise Unpriceable(f"{sku} has no on-demand price in {context.region}")
    ondemand = sum(z.ondemand_usd or 0.0 for z in zones) / len(zones)
    spot = [z.spot_usd for z in zones if z.spot_usd is not None]
    notes = [z.spot_note for z in zones if z.spot_usd is None and z.spot_note]
    dates = [z.retrieved for z in zones if z.spot_usd is not None and z.retrieved]
    return VmPrices(
        ondemand,
        sum(spot) / len(spot) if spot else None,
        notes[0] if notes else None,
        min(dates, default=None),
    )


def spot_fallback_note(prices: VmPrices, sku: str, region: str) -> str:
    why = f" ({prices.spot_note})" if prices.spot_note else ""
    return f"no spot price for {sku} in {region}{why}: priced at on-demand"
