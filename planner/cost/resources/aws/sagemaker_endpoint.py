"""aws_sagemaker_endpoint: each production variant of its endpoint configuration at SageMaker's
own instance price, over the range of the variant's autoscaling target (minimum, initial count,
maximum), with its storage; serverless variants and data processed are usage-based. The endpoint
configuration is billed through the endpoint."""

from __future__ import annotations

import re

from planner.cost.context import PricingContext, Unpriceable, UsageKey, zone_prices
from planner.cost.plan_resources import PlannedResource, blocks, number, text
from planner.cost.report import CostComponent, Span

TYPES = ("aws_sagemaker_endpoint",)

_VARIANT_IN_RESOURCE_ID = re.compile(r"/variant/([A-Za-z0-9-]+)$")


def _variant_range(
    variant: str, variants: int, targets: list[PlannedResource]
) -> tuple[float, float] | None:
    """(min, max) capacity of the autoscaling target of one variant. A plan may not know a new
    target's resource ID yet; then the target is matched by the variant name in its address,
    or taken as the only one when the endpoint has a single variant."""
    for target in targets:
        resource_id = target.values.get("resource_id")
        match = (
            _VARIANT_IN_RESOURCE_ID.search(resource_id) if isinstance(resource_id, str) else None
        )
        named = match.group(1) == variant if match else f"-{variant}_" in target.address
        if named or (match is None and variants == 1 and len(targets) == 1):
            low = number(target.values.get("min_capacity"))
            high = number(target.values.get("max_capacity"))
            if low is not None and high is not None:
                return low, high
    return None


def price(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    configurations = context.referenced(resource, "aws_sagemaker_endpoint_configuration")
    if not configurations:
        raise Unpriceable("its endpoint configuration is not part of the plan")
    variants = blocks(configurations[0].values.get("production_variants"))
    targets = [
        target
        for target in context.referring(resource, "aws_appautoscaling_target")
        if target.values.get("service_namespace") in ("sagemaker", None)
    ]
    components = []
    for variant in variants:
        name = text(variant.get("variant_name")) or "variant"
        if variant.get("serverless_config"):
            components.append(
                CostComponent(
                    name=f"serverless variant {name}",
                    unit="compute-seconds",
                    unit_price=None,
                    usage_based=True,
                    category="compute (on-demand)",
                    note="billed per inference duration",
                )
            )
            continue
        instance_type = text(variant.get("instance_type"))
        count = number(variant.get("initial_instance_count"))
        if instance_type is None or count is None:
            raise Unpriceable(f"variant {name}: instance type or count not known from the plan")
        offering = context.offering("sagemaker", instance_type)
        ondemand, _, _ = zone_prices(offering, [])
        scaled = _variant_range(name, len(variants), targets)
        low, high = scaled if scaled else (count, count)
        instances = context.over_the_week(instance_type, Span(low, count, high))
        components.append(
            CostComponent(
                name=f"variant {name} instances ({instance_type})",
                unit="hours",
                unit_price=round(ondemand, 6),
                quantity=instances.scaled(context.hours_per_month),
                category="compute (on-demand)",
                note=None if scaled or not targets else "autoscaling range not known from plan",
            )
        )
        size = number(variant.get("volume_size_in_gb"))
        if size:
            components.append(
                context.service_component(
                    "sagemaker.hosting.storage",
                    f"variant {name} storage ({size:g} GB each)",
                    instances.scaled(size),
                )
            )
    components.append(
        context.usage_component(
            "sagemaker.hosting.data_in",
            "data processed in",
            resource,
            keys=(UsageKey("monthly_data_processed_in_gb"),),
        )
    )
    return components
