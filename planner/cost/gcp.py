"""Pricing rules for Google Cloud (google) resources: what each billed resource type costs.

A managed instance group is priced over its autoscaler's range (minimum, expected = the group's
target size, maximum), or at its fixed size: a spot group at the catalog's spot price and a
standard one at the on-demand price of its machine type (for N1, with the GPUs the template
attaches), each the mean over the group's zones (a zone without a spot offer counts at
on-demand). Boot disks scale with the instance count. Forwarding rules, Cloud NAT and KMS keys
are priced from providers/gcp/data/services.csv; traffic-driven charges (data processed, key
operations, key versions that rotation accumulates) are listed as usage-based. A Vertex AI
endpoint costs nothing itself: its deployed models are created by the SDK steps after apply and
are not in the plan. Without a price row (Cloud Armor, Hyperdisk) a resource is unpriced with
that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from planner.cost.context import PricingContext, Unpriceable, spot_retrieved, zone_prices
from planner.cost.plan_resources import PlannedResource, blocks, first_block, number
from planner.cost.report import CostComponent, Span

Rule = Callable[[PlannedResource, PricingContext], list[CostComponent]]

GUEST_ACCELERATOR_NAMES = {
    "nvidia-tesla-t4": "T4",
    "nvidia-tesla-v100": "V100",
    "nvidia-tesla-p100": "P100",
    "nvidia-tesla-p4": "P4",
}
"""Compute Engine's accelerator types of N1 machines → the catalog's accelerator names."""
DISK_PRICE_ITEMS = {"pd-balanced": "pd.balanced.storage", "pd-ssd": "pd.ssd.storage"}

FREE_TYPES = frozenset(
    {
        "google_compute_network",
        "google_compute_subnetwork",
        "google_compute_router",
        "google_compute_firewall",
        "google_compute_health_check",
        "google_compute_region_health_check",
        "google_compute_region_autoscaler",
        "google_compute_backend_service",
        "google_compute_region_backend_service",
        "google_compute_url_map",
        "google_compute_region_url_map",
        "google_compute_target_http_proxy",
        "google_compute_target_https_proxy",
        "google_compute_region_target_http_proxy",
        "google_compute_ssl_policy",
        "google_compute_managed_ssl_certificate",
        "google_service_account",
        "google_project_iam_member",
        "google_secret_manager_secret_iam_member",
        "google_storage_bucket_iam_member",
        "google_artifact_registry_repository_iam_member",
        "google_kms_key_ring",
        "google_kms_crypto_key_iam_member",
    }
)
"""Resources Google Cloud does not bill for themselves (load balancing is billed through its
forwarding rules and the data they process; Google-managed certificates are free)."""

BILLED_ELSEWHERE = {
    "google_compute_global_address": (
        "no charge while the load balancer's forwarding rules use it (billed hourly only if "
        "left unused)"
    ),
    "google_compute_instance_template": "billed through the instance groups that use it",
    "google_vertex_ai_endpoint": (
        "no charge for the endpoint; its deployed models are created by the Vertex AI SDK after "
        "apply (priced as infra_managed_deployment when the deployment spec is known)"
    ),
}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and "${" not in value else None


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
        disk_type = _text(disk.get("disk_type")) or "pd-standard"
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


def instance_group(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    templates = context.referenced(resource, "google_compute_instance_template")
    if not templates:
        raise Unpriceable("its instance template is not part of the plan")
    template = templates[0].values
    machine_type = _text(template.get("machine_type"))
    if machine_type is None:
        raise Unpriceable("the machine type is not known from the plan")
    accelerators = blocks(template.get("guest_accelerator"))
    accelerator = (
        GUEST_ACCELERATOR_NAMES.get(_text(accelerators[0].get("type")) or "")
        if accelerators
        else None
    )
    if accelerators and accelerator is None:
        raise Unpriceable(f"no catalog name for the {accelerators[0].get('type')} accelerator")
    zones = [z for z in resource.values.get("distribution_policy_zones") or [] if _text(z)]
    offering = context.offering("fleet", machine_type, accelerator=accelerator)
    ondemand, spot, note = zone_prices(offering, zones)
    scheduling = first_block(template.get("scheduling"))
    on_spot = _text(scheduling.get("provisioning_model")) == "SPOT"
    instances = _group_range(resource, context)
    gpus = f", {accelerator}" if accelerator else ""
    components = [
        CostComponent(
            name=f"{'spot' if on_spot else 'on-demand'} instances ({machine_type}{gpus})",
            unit="hours",
            unit_price=round(spot if on_spot else ondemand, 6),
            quantity=instances.scaled(context.hours_per_month),
            ondemand_unit_price=round(ondemand, 6) if on_spot else None,
            category="compute (spot)" if on_spot else "compute (on-demand)",
            note=note,
            price_retrieved=spot_retrieved(offering, zones) if on_spot else None,
        )
    ]
    return components + _disks(template, instances, context)


def _hours(context: PricingContext) -> Span:
    return Span.fixed(context.hours_per_month)


def forwarding_rule(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    return [
        context.service_component("lb.forwarding_rule.hour", "forwarding rule", _hours(context)),
        context.service_component(
            "lb.forwarding_rule.ingress", "data processed", Span.fixed(0), usage_based=True
        ),
    ]


def router_nat(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    """Cloud NAT bills per VM using it and per GB processed: both follow the fleet's size and
    traffic, so both are usage-based here (the instance groups carry the VM count)."""
    return [
        context.service_component(
            "nat.vm_hour", "VMs using the gateway", Span.fixed(0), usage_based=True
        ),
        context.service_component("nat.data", "data processed", Span.fixed(0), usage_based=True),
    ]


def crypto_key(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    """A key bills per active version (rotation adds one each period) and per operation."""
    return [
        context.service_component(
            "kms.key_version", "key versions", Span.fixed(0), usage_based=True
        ),
        context.service_component("kms.operations", "operations", Span.fixed(0), usage_based=True),
    ]


def security_policy(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    raise Unpriceable("no Cloud Armor price in the catalog (per policy, rule and request)")


RULES: dict[str, Rule] = {
    "google_compute_region_instance_group_manager": instance_group,
    "google_compute_forwarding_rule": forwarding_rule,
    "google_compute_global_forwarding_rule": forwarding_rule,
    "google_compute_router_nat": router_nat,
    "google_kms_crypto_key": crypto_key,
    "google_compute_security_policy": security_policy,
}
