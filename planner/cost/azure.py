"""Pricing rules for Azure (azurerm) resources: what each billed resource type costs per month.

A scale set is priced over its autoscale range (minimum, default, maximum) when an autoscale
setting targets it, else at its instance count; a Spot set at the catalog's spot price of its
SKU, a Regular set at the on-demand price. The catalog prices Azure per region, so there are no
zones to average over. Services around the VMs (load balancer rules, NAT gateway, public IPs,
private endpoints, OS disks) are priced from providers/azure/data/services.csv when it has a row
for them; without one the resource is unpriced with that reason, and a scale set says which of
its disks it leaves out. Azure ML online deployments are created by the SDK after apply, so their
instances are not in the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from planner.cost.context import PricingContext, Unpriceable
from planner.cost.plan_resources import PlannedResource, first_block, number
from planner.cost.report import CostComponent, Span

Rule = Callable[[PlannedResource, PricingContext], list[CostComponent]]

FREE_TYPES = frozenset(
    {
        "azurerm_resource_group",
        "azurerm_virtual_network",
        "azurerm_subnet",
        "azurerm_subnet_network_security_group_association",
        "azurerm_subnet_nat_gateway_association",
        "azurerm_nat_gateway_public_ip_association",
        "azurerm_network_security_group",
        "azurerm_network_security_rule",
        "azurerm_user_assigned_identity",
        "azurerm_role_assignment",
        "azurerm_lb_backend_address_pool",
        "azurerm_lb_probe",
        "azurerm_monitor_autoscale_setting",
    }
)
"""Resources Azure does not bill for themselves."""

BILLED_ELSEWHERE = {
    "azurerm_lb_rule": "billed through the load balancer's rule hours",
    "azurerm_application_insights": "billed through its Log Analytics workspace (ingestion)",
    "azurerm_machine_learning_workspace": (
        "no charge for the workspace; the online endpoint's instances are created by the Azure "
        "ML SDK after apply (priced as infra_managed_deployment when the deployment spec is known)"
    ),
}

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


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and "${" not in value else None


def _prices(
    context: PricingContext, sku: str
) -> tuple[float, float | None, str | None, str | None]:
    """On-demand and spot price per hour of `sku` in the context's region, the catalog's note
    when it has no usable spot price, and the date of the spot price."""
    offering = context.offering("fleet", sku)
    zones = offering.ondemand_zones
    if not zones:
        raise Unpriceable(f"{sku} has no on-demand price in {context.region}")
    ondemand = sum(z.ondemand_usd or 0.0 for z in zones) / len(zones)
    spot = [z.spot_usd for z in zones if z.spot_usd is not None]
    notes = [z.spot_note for z in zones if z.spot_usd is None and z.spot_note]
    dates = [z.retrieved for z in zones if z.spot_usd is not None and z.retrieved]
    return (
        ondemand,
        sum(spot) / len(spot) if spot else None,
        notes[0] if notes else None,
        min(dates, default=None),
    )


def _instance_range(resource: PlannedResource, context: PricingContext) -> Span:
    """(min, expected, max) instances: the autoscale setting's range, else the fixed count."""
    for setting in context.referring(resource, "azurerm_monitor_autoscale_setting"):
        capacity = first_block(first_block(setting.values.get("profile")).get("capacity"))
        low, default, high = (number(capacity.get(k)) for k in ("minimum", "default", "maximum"))
        if low is not None and default is not None and high is not None:
            return Span(low, default, high)
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
    kind = _text(disk.get("storage_account_type"))
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


def scale_set(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    values = resource.values
    sku = _text(values.get("sku"))
    if sku is None:
        raise Unpriceable("the VM size is not known from the plan")
    instances = _instance_range(resource, context)
    ondemand, spot_price, spot_note, spot_date = _prices(context, sku)
    on_spot = _text(values.get("priority")) == "Spot"
    disk = _os_disk(values, instances, context)
    notes = [disk] if isinstance(disk, str) else []
    if on_spot and spot_price is None:
        why = f" ({spot_note})" if spot_note else ""
        notes.append(f"no spot price for {sku} in {context.region}{why}: priced at on-demand")
    price = spot_price if on_spot and spot_price is not None else ondemand
    components = [
        CostComponent(
            name=f"{'spot' if on_spot else 'on-demand'} instances ({sku})",
            unit="hours",
            unit_price=round(price, 6),
            quantity=instances.scaled(context.hours_per_month),
            ondemand_unit_price=round(ondemand, 6) if on_spot else None,
            category="compute (spot)" if on_spot else "compute (on-demand)",
            note="; ".join(notes) or None,
            price_retrieved=spot_date if on_spot and spot_price is not None else None,
        )
    ]
    if isinstance(disk, CostComponent):
        components.append(disk)
    return components


def _hours(context: PricingContext) -> Span:
    return Span.fixed(context.hours_per_month)


def load_balancer(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    sku = _text(resource.values.get("sku")) or "Basic"
    if sku != "Standard":
        raise Unpriceable(f"no price rule for {sku} load balancers")
    rules = len(context.referring(resource, "azurerm_lb_rule"))
    return [
        context.service_component(
            "load_balancer.standard.rules.hour",
            f"Standard load balancer ({rules} rule{'s' if rules != 1 else ''}, first 5 billed "
            "together)",
            _hours(context),
        ),
        context.service_component(
            "load_balancer.standard.data", "data processed", Span.fixed(0), usage_based=True
        ),
    ]


def nat_gateway(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    return [
        context.service_component("nat_gateway.hour", "NAT gateway", _hours(context)),
        context.service_component(
            "nat_gateway.data", "data processed", Span.fixed(0), usage_based=True
        ),
    ]


def public_ip(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    sku = (_text(resource.values.get("sku")) or "Standard").lower()
    return [
        context.service_component(
            f"public_ip.{sku}.static.hour", f"{sku} static public IP", _hours(context)
        )
    ]


def private_endpoint(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    return [
        context.service_component("private_endpoint.hour", "private endpoint", _hours(context)),
        context.service_component(
            "private_endpoint.data", "data processed", Span.fixed(0), usage_based=True
        ),
    ]


def _usage(item: str, name: str) -> Rule:
    def rule(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
        return [context.service_component(item, name, Span.fixed(0), usage_based=True)]

    return rule


RULES: dict[str, Rule] = {
    "azurerm_linux_virtual_machine_scale_set": scale_set,
    "azurerm_lb": load_balancer,
    "azurerm_nat_gateway": nat_gateway,
    "azurerm_public_ip": public_ip,
    "azurerm_private_endpoint": private_endpoint,
    "azurerm_log_analytics_workspace": _usage("log_analytics.ingestion", "log ingestion"),
    "azurerm_key_vault": _usage("key_vault.operations", "secret and key operations"),
    "azurerm_storage_account": _usage("blob.hot_lrs.storage", "storage (hot, LRS)"),
}
