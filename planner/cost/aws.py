"""Pricing rules for AWS resources: what each billed resource type costs per month.

Autoscaling groups are priced over their whole range (minimum, expected = desired, maximum),
with the on-demand base and the spot share above it priced separately: on-demand capacity at the
first instance type (the group's `prioritized` on-demand order), spot capacity at the mean spot
price over every instance type and zone the group may use (`price-capacity-optimized` spreads over
those pools). A SageMaker endpoint is priced at its variants' instance counts, over the range of
their autoscaling targets. Traffic-driven charges (load balancer capacity units, NAT data, log
ingestion, KMS requests) are listed with their unit prices as usage-based, never as zero.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from planner.cost.context import PricingContext, Unpriceable, spot_retrieved, zone_prices
from planner.cost.plan_resources import PlannedResource, blocks, first_block, flag, number
from planner.cost.report import CostComponent, Span

DETAILED_MONITORING_METRICS = 7
"""EC2 detailed monitoring is billed as seven custom metrics per instance."""
GP3_FREE_IOPS = 3000
GP3_FREE_THROUGHPUT_MIBPS = 125

Rule = Callable[[PlannedResource, PricingContext], list[CostComponent]]

FREE_TYPES = frozenset(
    {
        "aws_vpc",
        "aws_subnet",
        "aws_route",
        "aws_route_table",
        "aws_route_table_association",
        "aws_internet_gateway",
        "aws_default_security_group",
        "aws_security_group",
        "aws_security_group_rule",
        "aws_vpc_security_group_ingress_rule",
        "aws_vpc_security_group_egress_rule",
        "aws_iam_role",
        "aws_iam_role_policy",
        "aws_iam_role_policy_attachment",
        "aws_iam_policy",
        "aws_iam_instance_profile",
        "aws_kms_alias",
        "aws_lb_listener",
        "aws_lb_listener_rule",
        "aws_lb_target_group",
        "aws_lb_target_group_attachment",
        "aws_autoscaling_policy",
        "aws_appautoscaling_policy",
        "aws_appautoscaling_target",
        "aws_sagemaker_model",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_lifecycle_configuration",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_ownership_controls",
    }
)
"""Resources AWS does not bill for themselves."""

BILLED_ELSEWHERE = {
    "aws_launch_template": "billed through the autoscaling group that launches it",
    "aws_sagemaker_endpoint_configuration": "billed through the endpoint that uses it",
}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and "${" not in value else None


# --- autoscaling groups and instances --------------------------------------------------------


def _zone_ids(resource: PlannedResource, context: PricingContext) -> list[str]:
    """Zone IDs of the subnets the group launches into, when the plan names them."""
    found = []
    for subnet in context.referenced(resource, "aws_subnet"):
        zone = _text(subnet.values.get("availability_zone_id"))
        if zone:
            found.append(zone)
    return sorted(set(found))


def _split(count: float, base: float, percent_above: float) -> tuple[float, float]:
    """(on-demand, spot) instances for a group of `count`: the base on on-demand, then the
    on-demand percentage of the rest, rounded up in favour of on-demand."""
    on_demand = min(count, base)
    above = count - on_demand
    on_demand += math.ceil(above * percent_above / 100 - 1e-9)
    return on_demand, count - on_demand


def _template_of(resource: PlannedResource, context: PricingContext) -> Mapping[str, Any]:
    templates = context.referenced(resource, "aws_launch_template")
    return templates[0].values if templates else {}


def _volume_components(
    mappings: list[Mapping[str, Any]], instances: Span, context: PricingContext
) -> list[CostComponent]:
    components = []
    for mapping in mappings:
        ebs = first_block(mapping.get("ebs")) if "ebs" in mapping else mapping
        size = number(ebs.get("volume_size"))
        if size is None:
            continue
        volume_type = _text(ebs.get("volume_type")) or "gp3"
        if volume_type not in ("gp3", "gp2"):
            raise Unpriceable(f"no price rule for {volume_type} volumes")
        components.append(
            context.service_component(
                f"ebs.{volume_type}.storage",
                f"volumes ({volume_type}, {size:g} GB each)",
                instances.scaled(size),
            )
        )
        if volume_type != "gp3":
            continue
        for item, argument, free, label in (
            ("ebs.gp3.iops", "iops", GP3_FREE_IOPS, "provisioned IOPS"),
            ("ebs.gp3.throughput", "throughput", GP3_FREE_THROUGHPUT_MIBPS, "throughput MiB/s"),
        ):
            extra = (number(ebs.get(argument)) or 0) - free
            if extra > 0:
                components.append(
                    context.service_component(
                        item, f"{label} above {free} per volume", instances.scaled(extra)
                    )
                )
    return components


def _monitoring_component(
    template: Mapping[str, Any], instances: Span, context: PricingContext
) -> list[CostComponent]:
    if not flag(first_block(template.get("monitoring")).get("enabled")):
        return []
    return [
        context.service_component(
            "cloudwatch.metric",
            "detailed monitoring (7 metrics per instance)",
            instances.scaled(DETAILED_MONITORING_METRICS),
        )
    ]


def autoscaling_group(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    values = resource.values
    template = _template_of(resource, context)
    policy = first_block(values.get("mixed_instances_policy"))
    distribution = first_block(policy.get("instances_distribution"))
    overrides = [
        override["instance_type"]
        for override in blocks(first_block(policy.get("launch_template")).get("override"))
        if _text(override.get("instance_type"))
    ]
    types = overrides or [t for t in [_text(template.get("instance_type"))] if t]
    if not types:
        raise Unpriceable("the instance type is not known from the plan")
    minimum = number(values.get("min_size")) or 0
    maximum = number(values.get("max_size")) or minimum
    desired = number(values.get("desired_capacity"))
    expected = desired if desired is not None else minimum
    if policy:
        base = number(distribution.get("on_demand_base_capacity")) or 0.0
        percent = number(distribution.get("on_demand_percentage_above_base_capacity"))
        percent = 100.0 if percent is None else percent
    else:  # a plain launch template: all on-demand
        base, percent = math.inf, 100.0

    zones = _zone_ids(resource, context)
    ondemand_price, _, note = zone_prices(context.offering("fleet", types[0]), zones)
    spot_prices = [zone_prices(context.offering("fleet", t), zones)[1] for t in types]
    spot_price = sum(spot_prices) / len(spot_prices)
    spot_dates = [spot_retrieved(context.offering("fleet", t), zones) for t in types]

    splits = [_split(count, base, percent) for count in (minimum, expected, maximum)]
    on_demand = Span(*(od for od, _ in splits))
    spot = Span(*(sp for _, sp in splits))
    hours = context.hours_per_month
    components = [
        CostComponent(
            name=f"on-demand instances ({types[0]})",
            unit="hours",
            unit_price=round(ondemand_price, 6),
            quantity=on_demand.scaled(hours),
            category="compute (on-demand)",
            note=note,
        )
    ]
    if spot.max > 0:
        also = f" (mean over {', '.join(types)})" if len(types) > 1 else ""
        components.append(
            CostComponent(
                name=f"spot instances ({types[0]}){also}",
                unit="hours",
                unit_price=round(spot_price, 6),
                quantity=spot.scaled(hours),
                ondemand_unit_price=round(ondemand_price, 6),
                category="compute (spot)",
                note=note,
                price_retrieved=min((d for d in spot_dates if d), default=None),
            )
        )
    instances = Span(minimum, expected, maximum)
    components += _volume_components(
        blocks(template.get("block_device_mappings")), instances, context
    )
    components += _monitoring_component(template, instances, context)
    return components


def instance(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    values = resource.values
    instance_type = _text(values.get("instance_type"))
    if instance_type is None:
        raise Unpriceable("the instance type is not known from the plan")
    market = first_block(values.get("instance_market_options"))
    offering = context.offering("fleet", instance_type)
    ondemand, spot, note = zone_prices(offering, [])
    on_spot = _text(market.get("market_type")) == "spot"
    one = Span.fixed(1)
    components = [
        CostComponent(
            name=f"{'spot' if on_spot else 'on-demand'} instance ({instance_type})",
            unit="hours",
            unit_price=round(spot if on_spot else ondemand, 6),
            quantity=one.scaled(context.hours_per_month),
            ondemand_unit_price=round(ondemand, 6) if on_spot else None,
            category="compute (spot)" if on_spot else "compute (on-demand)",
            note=note,
            price_retrieved=spot_retrieved(offering, []) if on_spot else None,
        )
    ]
    components += _volume_components(blocks(values.get("root_block_device")), one, context)
    return components


# --- SageMaker ---------------------------------------------------------------------------------

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


def sagemaker_endpoint(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
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
        name = _text(variant.get("variant_name")) or "variant"
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
        instance_type = _text(variant.get("instance_type"))
        count = number(variant.get("initial_instance_count"))
        if instance_type is None or count is None:
            raise Unpriceable(f"variant {name}: instance type or count not known from the plan")
        offering = context.offering("sagemaker", instance_type)
        ondemand, _, _ = zone_prices(offering, [])
        scaled = _variant_range(name, len(variants), targets)
        low, high = scaled if scaled else (count, count)
        instances = Span(low, count, high)
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
        context.service_component(
            "sagemaker.hosting.data_in", "data processed in", Span.fixed(0), usage_based=True
        )
    )
    return components


# --- network, keys, monitoring -----------------------------------------------------------------


def load_balancer(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    kind = _text(resource.values.get("load_balancer_type")) or "application"
    if kind not in ("application", "network"):
        raise Unpriceable(f"no price rule for {kind} load balancers")
    hours = Span.fixed(context.hours_per_month)
    capacity_unit = "lcu" if kind == "application" else "nlcu"
    return [
        context.service_component(f"elb.{kind}.hour", f"{kind} load balancer", hours),
        context.service_component(
            f"elb.{kind}.{capacity_unit}",
            "capacity units (by traffic)",
            Span.fixed(0),
            usage_based=True,
        ),
    ]


def nat_gateway(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    hours = Span.fixed(context.hours_per_month)
    return [
        context.service_component("vpc.nat_gateway.hour", "NAT gateway", hours),
        context.service_component(
            "vpc.nat_gateway.data", "data processed", Span.fixed(0), usage_based=True
        ),
    ]


def elastic_ip(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    hours = Span.fixed(context.hours_per_month)
    return [context.service_component("vpc.public_ipv4.hour", "public IPv4 address", hours)]


def kms_key(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    return [
        context.service_component("kms.key.month", "customer managed key", Span.fixed(1)),
        context.service_component("kms.requests", "requests", Span.fixed(0), usage_based=True),
    ]


def metric_alarm(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    """An alarm is billed per metric it evaluates: a metric-math alarm over two metrics costs
    two alarms; one on a period under a minute is high resolution."""
    values = resource.values
    queries = blocks(values.get("metric_query"))
    metrics = [first_block(q.get("metric")) for q in queries if q.get("metric")]
    periods = [number(m.get("period")) for m in metrics] or [number(values.get("period"))]
    high_resolution = any(p is not None and p < 60 for p in periods)
    resolution = "high_resolution" if high_resolution else "standard"
    count = max(1, len(metrics))
    label = f"{resolution.replace('_', ' ')} alarm" + (f" ({count} metrics)" if count > 1 else "")
    return [context.service_component(f"cloudwatch.alarm.{resolution}", label, Span.fixed(count))]


def log_group(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    return [
        context.service_component(
            "cloudwatch.logs.ingest", "log ingestion", Span.fixed(0), usage_based=True
        ),
        context.service_component(
            "cloudwatch.logs.storage", "log storage", Span.fixed(0), usage_based=True
        ),
    ]


def s3_bucket(resource: PlannedResource, context: PricingContext) -> list[CostComponent]:
    return [
        context.service_component(
            "s3.standard.storage", "storage (standard)", Span.fixed(0), usage_based=True
        )
    ]


RULES: dict[str, Rule] = {
    "aws_autoscaling_group": autoscaling_group,
    "aws_instance": instance,
    "aws_sagemaker_endpoint": sagemaker_endpoint,
    "aws_lb": load_balancer,
    "aws_alb": load_balancer,
    "aws_nat_gateway": nat_gateway,
    "aws_eip": elastic_ip,
    "aws_kms_key": kms_key,
    "aws_cloudwatch_metric_alarm": metric_alarm,
    "aws_cloudwatch_log_group": log_group,
    "aws_s3_bucket": s3_bucket,
}
