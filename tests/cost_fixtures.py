"""Small plans with hand-computed costs: the same resources as a `terraform show -json` plan and
as a synthesized configuration, a catalog and a service price list to price them with."""

from __future__ import annotations

import copy
from typing import Any

from providers.catalog import Catalog
from providers.service_prices import ServicePrice, ServicePrices
from tests.conftest import catalog_of, offering, zone

SERVICE_PRICES = {
    "ebs.gp3.storage": ("GB-month", 0.08),
    "elb.application.hour": ("hour", 0.0252),
    "elb.application.lcu": ("LCU-hour", 0.008),
    "vpc.nat_gateway.hour": ("hour", 0.045),
    "vpc.nat_gateway.data": ("GB", 0.045),
    "vpc.public_ipv4.hour": ("hour", 0.005),
    "kms.key.month": ("key-month", 1.0),
    "kms.requests": ("10k requests", 0.03),
    "cloudwatch.alarm.standard": ("alarm-month", 0.10),
    "cloudwatch.dashboard": ("dashboard-month", 3.00),
    "cloudwatch.metric": ("metric-month", 0.30),
    "cloudwatch.logs.ingest": ("GB", 0.50),
    "cloudwatch.logs.storage": ("GB-month", 0.03),
    "sagemaker.hosting.data_in": ("GB", 0.016),
}


def service_prices(region: str = "us-east-1") -> ServicePrices:
    rows = {
        (item, region): ServicePrice(item, unit, region, price, "test", "2026-11-01")
        for item, (unit, price) in SERVICE_PRICES.items()
    }
    return ServicePrices("aws", rows)


def priced_catalog() -> Catalog:
    return catalog_of(
        offering(
            "g5.xlarge",
            "A10G",
            1,
            24,
            [
                zone("use1-az1", 1.00, 0.40),
                zone("use1-az2", 1.00, 0.30),
                zone("use1-az3", 1.00, 0.35),
            ],
        ),
        offering("g6.xlarge", "L4", 1, 24, [zone("use1-az1", 0.80, 0.32), zone("use1-az2", 0.80)]),
        offering("ml.g5.xlarge", "A10G", 1, 24, [zone("", 1.5)], kind="sagemaker"),
        offering("ml.g6.xlarge", "L4", 1, 24, [zone("", 1.2)], kind="sagemaker"),
    )


# The fleet, resource by resource, as plan `after` values (blocks as lists).
FLEET_VALUES: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    # address: (type, values, references)
    "aws_autoscaling_group.group": (
        "aws_autoscaling_group",
        {
            "min_size": 2,
            "desired_capacity": 3,
            "max_size": 6,
            "mixed_instances_policy": [
                {
                    "instances_distribution": [
                        {
                            "on_demand_base_capacity": 1,
                            "on_demand_percentage_above_base_capacity": 0,
                        }
                    ],
                    "launch_template": [
                        {
                            "launch_template_specification": [{}],
                            "override": [
                                {"instance_type": "g5.xlarge"},
                                {"instance_type": "g6.xlarge"},
                            ],
                        }
                    ],
                }
            ],
        },
        ["aws_launch_template.template", "aws_subnet.a", "aws_subnet.b"],
    ),
    "aws_launch_template.template": (
        "aws_launch_template",
        {
            "instance_type": "g5.xlarge",
            "block_device_mappings": [
                {"device_name": "/dev/sda1", "ebs": [{"volume_size": 100, "volume_type": "gp3"}]}
            ],
            "monitoring": [{"enabled": True}],
        },
        [],
    ),
    "aws_subnet.a": ("aws_subnet", {"availability_zone_id": "use1-az1"}, []),
    "aws_subnet.b": ("aws_subnet", {"availability_zone_id": "use1-az2"}, []),
    "aws_lb.balancer": ("aws_lb", {"load_balancer_type": "application"}, []),
    "aws_nat_gateway.nat": ("aws_nat_gateway", {}, ["aws_eip.nat"]),
    "aws_eip.nat": ("aws_eip", {"domain": "vpc"}, []),
    "aws_kms_key.key": ("aws_kms_key", {"enable_key_rotation": True}, []),
    "aws_cloudwatch_metric_alarm.errors": (
        "aws_cloudwatch_metric_alarm",
        {
            "metric_query": [
                {"id": "errors", "metric": [{"metric_name": "5xx", "period": 60}]},
                {"id": "requests", "metric": [{"metric_name": "Count", "period": 60}]},
                {"id": "rate", "expression": "errors / requests"},
            ]
        },
        [],
    ),
    "aws_iam_role.role": ("aws_iam_role", {"name": "x"}, []),
    "aws_cloudwatch_log_group.logs": ("aws_cloudwatch_log_group", {}, []),
    "aws_vpc_endpoint.s3": ("aws_vpc_endpoint", {"vpc_endpoint_type": "Interface"}, []),
}

# Hand-computed (USD a month, 730 hours):
# on-demand capacity: 1 instance at g5.xlarge's mean on-demand over az1, az2 = 1.00 → 730.00
# spot: mean over types of each type's mean over az1, az2 (no spot offer: on-demand):
#   g5 (0.40 + 0.30) / 2 = 0.35, g6 (0.32 + 0.80) / 2 = 0.56 → 0.455;
#   spot instances 1 / 2 / 5 (min / desired / max, above the base of 1) → 332.15 / 664.30 / 1660.75
# volumes 100 GB × 0.08 × 2 / 3 / 6 = 16 / 24 / 48; detailed monitoring 7 × 0.30 × n = 4.2 / 6.3
# / 12.6
# load balancer 0.0252 × 730 = 18.40; NAT 0.045 × 730 = 32.85; public IPv4 0.005 × 730 = 3.65;
# KMS key 1.00; alarm over two metrics 2 × 0.10 = 0.20 → fixed 56.10
FLEET_GROUP = {"min": 1082.35, "expected": 1424.60, "max": 2451.35}
FLEET_TOTAL = {"min": 1138.45, "expected": 1480.70, "max": 2507.45}
FLEET_ALL_ON_DEMAND = 2276.40  # 3 instances × 730 × 1.00 + volumes 24 + monitoring 6.3 + 56.10


def fleet_plan(values: dict[str, tuple[str, dict[str, Any], list[str]]] | None = None) -> dict:
    """The fleet as `terraform show -json` prints a plan that creates it."""
    values = copy.deepcopy(values or FLEET_VALUES)
    changes = [
        {
            "address": address,
            "mode": "managed",
            "type": resource_type,
            "name": address.split(".", 1)[1],
            "change": {"actions": ["create"], "before": None, "after": after},
        }
        for address, (resource_type, after, _) in values.items()
    ]
    changes.append(
        {
            "address": "aws_instance.old",
            "mode": "managed",
            "type": "aws_instance",
            "name": "old",
            "change": {"actions": ["delete"], "before": {"instance_type": "g5.xlarge"}},
        }
    )
    configured = [
        {
            "address": address,
            "mode": "managed",
            "type": resource_type,
            "name": address.split(".", 1)[1],
            "expressions": {"refs": {"references": [f"{ref}.id" for ref in refs] + list(refs)}},
        }
        for address, (resource_type, _, refs) in values.items()
    ]
    return {
        "format_version": "1.2",
        "resource_changes": changes,
        "configuration": {
            "provider_config": {
                "aws": {"name": "aws", "expressions": {"region": {"constant_value": "us-east-1"}}}
            },
            "root_module": {"resources": configured},
        },
    }


def _as_configuration_block(value: Any) -> Any:
    """Configurations write a single nested block as an object."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        return _as_configuration_block(value[0])
    if isinstance(value, list):
        return [_as_configuration_block(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_configuration_block(item) for key, item in value.items()}
    return value


def fleet_configuration() -> dict:
    """The same fleet as a synthesized configuration (cdk.tf.json): references as ${...}."""
    resources: dict[str, dict[str, Any]] = {}
    for address, (resource_type, after, _) in copy.deepcopy(FLEET_VALUES).items():
        body = _as_configuration_block(after)
        resources.setdefault(resource_type, {})[address.split(".", 1)[1]] = body
    group = resources["aws_autoscaling_group"]["group"]
    group["vpc_zone_identifier"] = ["${aws_subnet.a.id}", "${aws_subnet.b.id}"]
    group["mixed_instances_policy"]["launch_template"]["launch_template_specification"] = {
        "launch_template_id": "${aws_launch_template.template.id}",
        "version": "${aws_launch_template.template.latest_version}",
    }
    resources["aws_nat_gateway"]["nat"]["allocation_id"] = "${aws_eip.nat.id}"
    return {"provider": {"aws": [{"region": "us-east-1"}]}, "resource": resources}


def sagemaker_configuration() -> dict:
    endpoint = "${aws_sagemaker_endpoint.endpoint.name}"
    return {
        "provider": {"aws": [{"region": "us-east-1"}]},
        "resource": {
            "aws_sagemaker_endpoint": {
                "endpoint": {
                    "name": "chat",
                    "endpoint_config_name": "${aws_sagemaker_endpoint_configuration.config.name}",
                }
            },
            "aws_sagemaker_endpoint_configuration": {
                "config": {
                    "production_variants": [
                        {
                            "variant_name": "primary",
                            "instance_type": "ml.g5.xlarge",
                            "initial_instance_count": 2,
                        },
                        {
                            "variant_name": "challenger",
                            "instance_type": "ml.g6.xlarge",
                            "initial_instance_count": 1,
                        },
                    ]
                }
            },
            "aws_appautoscaling_target": {
                "scaling-primary": {
                    "service_namespace": "sagemaker",
                    "resource_id": f"endpoint/{endpoint}/variant/primary",
                    "min_capacity": 1,
                    "max_capacity": 4,
                },
                "scaling-challenger": {
                    "service_namespace": "sagemaker",
                    "resource_id": f"endpoint/{endpoint}/variant/challenger",
                    "min_capacity": 1,
                    "max_capacity": 2,
                },
            },
            "aws_sagemaker_model": {"model": {"name": "chat"}},
        },
    }


# primary ml.g5.xlarge at 1.50: 1 / 2 / 4 instances → 1095 / 2190 / 4380
# challenger ml.g6.xlarge at 1.20: 1 / 1 / 2 → 876 / 876 / 1752
SAGEMAKER_TOTAL = {"min": 1971.0, "expected": 3066.0, "max": 6132.0}
