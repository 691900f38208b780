"""One minimal planned resource per priced resource type, with what its rule looks at around it
(launch template, subnets, autoscaler, load balancer rules), and the small fixed catalogs the
golden tests price them against. Shapes are plan `after` values (blocks as lists), as
`tests/cost_fixtures.py` builds them; prices are test figures, not list prices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from planner.cost.managed import MANAGED_DEPLOYMENT
from planner.cost.plan_resources import PlannedInfrastructure, PlannedResource
from providers.catalog import Catalog
from providers.service_prices import ServicePrice, ServicePrices
from tests.conftest import catalog_of, offering, zone
from tests.cost_fixtures import FLEET_VALUES, priced_catalog
from tests.cost_fixtures import SERVICE_PRICES as AWS_FLEET_PRICES

REGIONS = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}

SERVICE_PRICES: dict[str, dict[str, tuple[str, float]]] = {
    "aws": {
        **AWS_FLEET_PRICES,
        "ebs.gp3.iops": ("IOPS-month", 0.005),
        "ebs.gp3.throughput": ("MiBps-month", 0.04),
        "sagemaker.hosting.storage": ("GB-month", 0.14),
        "s3.standard.storage": ("GB-month", 0.023),
        "eks.cluster.standard.hour": ("cluster-hour", 0.10),
        "eks.cluster.extended.hour": ("cluster-hour", 0.60),
    },
    "gcp": {
        "pd.balanced.storage": ("GB-month", 0.10),
        "lb.forwarding_rule.hour": ("hour", 0.025),
        "lb.forwarding_rule.ingress": ("GB", 0.008),
        "nat.vm_hour": ("VM-hour", 0.0014),
        "nat.data": ("GB", 0.045),
        "kms.key_version": ("key version-month", 0.06),
        "kms.operations": ("10k operations", 0.03),
        "gke.cluster_management.hour": ("cluster-hour", 0.10),
        "monitoring.alert_condition": ("condition-month", 1.50),
    },
    "azure": {
        "managed_disk.premium_ssd.p15.storage": ("disk-month", 38.0),
        "load_balancer.standard.rules.hour": ("hour", 0.025),
        "load_balancer.standard.data": ("GB", 0.005),
        "nat_gateway.hour": ("hour", 0.045),
        "nat_gateway.data": ("GB", 0.045),
        "public_ip.standard.static.hour": ("hour", 0.005),
        "private_endpoint.hour": ("hour", 0.01),
        "private_endpoint.data": ("GB", 0.01),
        "log_analytics.ingestion": ("GB", 2.30),
        "key_vault.operations": ("10k operations", 0.03),
        "blob.hot_lrs.storage": ("GB-month", 0.018),
        "aks.free.hour": ("cluster-hour", 0.0),
        "aks.standard.hour": ("cluster-hour", 0.10),
        "aks.premium.hour": ("cluster-hour", 0.60),
        "vm.Standard_D4s_v5.hour": ("VM-hour", 0.192),
        "monitor.metric_alert.time_series": ("time-series-month", 0.10),
    },
}


def service_prices(cloud: str) -> ServicePrices:
    region = REGIONS[cloud]
    rows = {
        (item, region): ServicePrice(item, unit, region, price, "test", "2026-11-01")
        for item, (unit, price) in SERVICE_PRICES[cloud].items()
    }
    return ServicePrices(cloud, rows)


def catalog() -> Catalog:
    """The fleet catalog of `cost_fixtures` plus one offering per other cloud and kind."""
    return catalog_of(
        *priced_catalog().offerings,
        offering(
            "n1-standard-8",
            "T4",
            1,
            16,
            [
                zone("us-central1-a", 0.90, 0.30),
                zone("us-central1-b", 0.90, 0.36),
                zone("us-central1-c", 0.95, 0.40),
            ],
            cloud="gcp",
            region="us-central1",
        ),
        offering(
            "g2-standard-8",
            "L4",
            1,
            24,
            [zone("", 1.10)],
            cloud="gcp",
            kind="vertex",
            region="us-central1",
        ),
        offering(
            "Standard_NC24ads_A100_v4",
            "A100-80GB",
            1,
            80,
            [zone("", 3.5, 1.25)],
            cloud="azure",
            region="eastus",
        ),
    )


@dataclass(frozen=True)
class Case:
    """The resource to price (the first) and the resources its rule reads."""

    cloud: str
    """Its folder under tests/golden/pricing/ and the service prices it is priced with."""
    resources: tuple[PlannedResource, ...]

    @property
    def resource(self) -> PlannedResource:
        return self.resources[0]

    @property
    def infrastructure(self) -> PlannedInfrastructure:
        return PlannedInfrastructure(self.resources, {})


def _resource(
    address: str, values: dict[str, Any], references: tuple[str, ...] = ()
) -> PlannedResource:
    return PlannedResource(address, address.split(".", 1)[0], values, frozenset(references))


def _fleet(*addresses: str) -> tuple[PlannedResource, ...]:
    """Resources of the `cost_fixtures` fleet, by address."""
    return tuple(
        PlannedResource(address, resource_type, values, frozenset(references))
        for address in addresses
        for resource_type, values, references in [FLEET_VALUES[address]]
    )


def _single(cloud: str, address: str, values: dict[str, Any] | None = None) -> Case:
    return Case(cloud, (_resource(address, values or {}),))


_SAGEMAKER_ENDPOINT = "aws_sagemaker_endpoint.endpoint"
_SCALE_SET = "azurerm_linux_virtual_machine_scale_set.spot"
_GROUP = "google_compute_region_instance_group_manager.group"
_NODE_GROUP = "aws_eks_node_group.spot"
_NODE_POOL = "google_container_node_pool.spot"
_GKE_CLUSTER = "google_container_cluster.serving"

CASES: dict[str, Case] = {
    # --- AWS ---------------------------------------------------------------------------------
    "aws_autoscaling_group": Case(
        "aws",
        _fleet(
            "aws_autoscaling_group.group",
            "aws_launch_template.template",
            "aws_subnet.a",
            "aws_subnet.b",
        ),
    ),
    "aws_instance": _single(
        "aws",
        "aws_instance.spot",
        {
            "instance_type": "g6.xlarge",
            "instance_market_options": [{"market_type": "spot"}],
            "root_block_device": [
                {"volume_size": 200, "volume_type": "gp3", "iops": 4000, "throughput": 250}
            ],
        },
    ),
    "aws_sagemaker_endpoint": Case(
        "aws",
        (
            _resource(
                _SAGEMAKER_ENDPOINT, {"name": "chat"}, ("aws_sagemaker_endpoint_configuration.c",)
            ),
            _resource(
                "aws_sagemaker_endpoint_configuration.c",
                {
                    "production_variants": [
                        {
                            "variant_name": "primary",
                            "instance_type": "ml.g5.xlarge",
                            "initial_instance_count": 2,
                            "volume_size_in_gb": 50,
                        }
                    ]
                },
            ),
            _resource(
                "aws_appautoscaling_target.scaling",
                {
                    "service_namespace": "sagemaker",
                    "resource_id": "endpoint/chat/variant/primary",
                    "min_capacity": 1,
                    "max_capacity": 4,
                },
                (_SAGEMAKER_ENDPOINT,),
            ),
        ),
    ),
    "aws_lb": Case("aws", _fleet("aws_lb.balancer")),
    "aws_alb": _single("aws", "aws_alb.balancer", {}),
    "aws_nat_gateway": Case("aws", _fleet("aws_nat_gateway.nat", "aws_eip.nat")),
    "aws_eip": Case("aws", _fleet("aws_eip.nat")),
    "aws_kms_key": Case("aws", _fleet("aws_kms_key.key")),
    "aws_cloudwatch_metric_alarm": Case("aws", _fleet("aws_cloudwatch_metric_alarm.errors")),
    "aws_cloudwatch_log_group": Case("aws", _fleet("aws_cloudwatch_log_group.logs")),
    "aws_cloudwatch_dashboard": _single(
        "aws", "aws_cloudwatch_dashboard.fleet", {"dashboard_name": "chat-prod"}
    ),
    "aws_s3_bucket": _single("aws", "aws_s3_bucket.weights", {"bucket": "weights"}),
    # A cluster past the end of standard support on EKS (1.32: 2026-03-23) stays there.
    "aws_eks_cluster": _single("aws", "aws_eks_cluster.serving", {"version": "1.32"}),
    "aws_eks_node_group": Case(
        "aws",
        (
            _resource(
                _NODE_GROUP,
                {
                    "capacity_type": "SPOT",
                    "instance_types": ["g5.xlarge", "g6.xlarge"],
                    "scaling_config": [{"min_size": 1, "desired_size": 2, "max_size": 4}],
                    "subnet_ids": ["${aws_subnet.a.id}", "${aws_subnet.b.id}"],
                },
                ("aws_subnet.a", "aws_subnet.b", "aws_launch_template.template"),
            ),
            *_fleet("aws_subnet.a", "aws_subnet.b", "aws_launch_template.template"),
        ),
    ),
    # --- Google Cloud --------------------------------------------------------------------------
    "google_compute_region_instance_group_manager": Case(
        "gcp",
        (
            _resource(
                _GROUP,
                {
                    "target_size": 2,
                    "distribution_policy_zones": ["us-central1-a", "us-central1-b"],
                },
                ("google_compute_instance_template.spot",),
            ),
            _resource(
                "google_compute_instance_template.spot",
                {
                    "machine_type": "n1-standard-8",
                    "guest_accelerator": [{"type": "nvidia-tesla-t4", "count": 1}],
                    "scheduling": [{"provisioning_model": "SPOT", "preemptible": True}],
                    "disk": [{"disk_size_gb": 200, "disk_type": "pd-balanced", "boot": True}],
                },
            ),
            _resource(
                "google_compute_region_autoscaler.scaling",
                {"autoscaling_policy": [{"min_replicas": 1, "max_replicas": 4}]},
                (_GROUP,),
            ),
        ),
    ),
    "google_compute_forwarding_rule": _single("gcp", "google_compute_forwarding_rule.https"),
    "google_compute_global_forwarding_rule": _single(
        "gcp", "google_compute_global_forwarding_rule.https"
    ),
    "google_compute_security_policy": _single("gcp", "google_compute_security_policy.armor"),
    "google_compute_router_nat": _single("gcp", "google_compute_router_nat.nat"),
    "google_monitoring_alert_policy": _single(
        "gcp",
        "google_monitoring_alert_policy.queue",
        {"conditions": [{"display_name": "queue"}, {"display_name": "ttft"}]},
    ),
    "google_kms_crypto_key": _single(
        "gcp", "google_kms_crypto_key.key", {"rotation_period": "7776000s"}
    ),
    "google_container_cluster": _single(
        "gcp",
        _GKE_CLUSTER,
        {"location": "us-central1", "remove_default_node_pool": True, "initial_node_count": 1},
    ),
    "google_container_node_pool": Case(
        "gcp",
        (
            _resource(
                _NODE_POOL,
                {
                    "cluster": "${google_container_cluster.serving.name}",
                    "location": "us-central1",
                    "node_locations": ["us-central1-a", "us-central1-b"],
                    "initial_node_count": 1,
                    "autoscaling": [{"min_node_count": 0, "max_node_count": 3}],
                    "node_config": [
                        {
                            "machine_type": "n1-standard-8",
                            "guest_accelerator": [{"type": "nvidia-tesla-t4", "count": 1}],
                            "spot": True,
                            "disk_size_gb": 200,
                            "disk_type": "pd-balanced",
                        }
                    ],
                },
                (_GKE_CLUSTER,),
            ),
            _resource(_GKE_CLUSTER, {"location": "us-central1"}),
        ),
    ),
    # --- Azure ---------------------------------------------------------------------------------
    "azurerm_kubernetes_cluster": _single(
        "azure",
        "azurerm_kubernetes_cluster.serving",
        {
            "sku_tier": "Standard",
            "default_node_pool": [
                {"vm_size": "Standard_D4s_v5", "node_count": 2, "auto_scaling_enabled": False}
            ],
        },
    ),
    "azurerm_kubernetes_cluster_node_pool": _single(
        "azure",
        "azurerm_kubernetes_cluster_node_pool.spot",
        {
            "vm_size": "Standard_NC24ads_A100_v4",
            "priority": "Spot",
            "eviction_policy": "Delete",
            "spot_max_price": -1,
            "auto_scaling_enabled": True,
            "node_count": 1,
            "min_count": 0,
            "max_count": 3,
        },
    ),
    "azurerm_linux_virtual_machine_scale_set": Case(
        "azure",
        (
            _resource(
                _SCALE_SET,
                {
                    "sku": "Standard_NC24ads_A100_v4",
                    "instances": 2,
                    "priority": "Spot",
                    "os_disk": [{"disk_size_gb": 256, "storage_account_type": "Premium_LRS"}],
                },
            ),
            _resource(
                "azurerm_monitor_autoscale_setting.scaling",
                {"profile": [{"capacity": [{"minimum": 1, "default": 2, "maximum": 5}]}]},
                (_SCALE_SET,),
            ),
        ),
    ),
    "azurerm_lb": Case(
        "azure",
        (
            _resource("azurerm_lb.balancer", {"sku": "Standard"}),
            _resource("azurerm_lb_rule.https", {"protocol": "Tcp"}, ("azurerm_lb.balancer",)),
        ),
    ),
    "azurerm_nat_gateway": _single("azure", "azurerm_nat_gateway.nat", {"sku_name": "Standard"}),
    "azurerm_public_ip": _single(
        "azure", "azurerm_public_ip.ingress", {"sku": "Standard", "allocation_method": "Static"}
    ),
    "azurerm_private_endpoint": _single("azure", "azurerm_private_endpoint.workspace"),
    "azurerm_log_analytics_workspace": _single("azure", "azurerm_log_analytics_workspace.logs"),
    "azurerm_key_vault": _single("azure", "azurerm_key_vault.secrets"),
    "azurerm_storage_account": _single("azure", "azurerm_storage_account.models"),
    # two scale sets in scope, one static condition: two time series
    "azurerm_monitor_metric_alert": _single(
        "azure",
        "azurerm_monitor_metric_alert.queue",
        {
            "scopes": ["/subscriptions/s/vmss-od", "/subscriptions/s/vmss-spot"],
            "criteria": [{"metric_name": "RequestsWaiting", "threshold": 128}],
        },
    ),
    # --- deployed by the SDK steps after apply ----------------------------------------------
    MANAGED_DEPLOYMENT: Case(
        "managed",
        (
            _resource(
                f"{MANAGED_DEPLOYMENT}.vertex-chat",
                {
                    "cloud": "gcp",
                    "region": "us-central1",
                    "kind": "vertex",
                    "instance_type": "g2-standard-8",
                    "accelerator": "L4",
                    "accelerator_count": 1,
                    "instances": (1, 2, 3),
                },
            ),
        ),
    ),
}
"""Priced resource type → its golden case."""

CASE_CLOUD_PRICES = {"aws": "aws", "gcp": "gcp", "azure": "azure", "managed": "gcp"}
"""A case's folder → the cloud whose service prices and region it is priced in."""
