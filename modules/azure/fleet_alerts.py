"""Metric alerts of an Azure fleet: requests waiting beyond the planned queue and a GPU's memory
near full (the instances' custom metrics, modules/azure/engine_metrics.py), and back ends failing
the load balancer's health probe. Each notifies the profile's action group when one is given."""

from __future__ import annotations

from dataclasses import dataclass

from cdktn_provider_azurerm.monitor_metric_alert import (
    MonitorMetricAlert,
    MonitorMetricAlertAction,
    MonitorMetricAlertCriteria,
)
from constructs import Construct

from modules.azure.engine_metrics import GPU_MEMORY_METRIC, METRICS_NAMESPACE, WAITING_METRIC
from modules.azure.names import bounded_name

GPU_MEMORY_ALERT_PERCENT = 95
"""The fullest GPU's memory above this share raises the alert."""
SUSTAINED = "PT5M"
"""How long a condition must hold (the alerts' window, evaluated every minute)."""
HEALTHY_PERCENT = 100
"""Health probe status (DipAvailability) below this: a back end fails its probe."""


@dataclass(frozen=True, kw_only=True)
class FleetAlertsProps:
    name: str
    """(Required) Start of each alert's name (cut to 260 characters)."""
    resource_group_name: str
    """(Required) The resource group the alerts live in."""
    scale_set_ids: tuple[str, ...]
    """(Required) The scale sets whose instances publish the custom metrics (one alert each:
    a metric alert on custom metrics takes one resource)."""
    load_balancer_id: str
    """(Required) The load balancer whose health probe status is watched."""
    waiting_per_replica: float | None
    """(Required) Requests waiting in one replica's queue beyond which the queue alert fires
    (the planned queue); None: the engine publishes no queue gauge, no queue alert."""
    action_group_id: str | None = None
    """(Optional) The action group every alert notifies. Defaults to None: alerts fire
    without notifying anyone."""


class FleetAlerts(Construct):
    def __init__(self, scope: Construct, id: str, props: FleetAlertsProps) -> None:
        super().__init__(scope, id)
        action = (
            [MonitorMetricAlertAction(action_group_id=props.action_group_id)]
            if props.action_group_id
            else None
        )

        def alert(key: str, scope_id: str, description: str, **criteria: object):
            return MonitorMetricAlert(
                self,
                key,
                name=bounded_name(f"{props.name}-{key}", 260),
                resource_group_name=props.resource_group_name,
                scopes=[scope_id],
                description=description,
                frequency="PT1M",
                window_size=SUSTAINED,
                severity=2,
                criteria=[MonitorMetricAlertCriteria(**criteria)],  # type: ignore[arg-type]
                action=action,
            )

        self.queue: list[MonitorMetricAlert] = []
        self.gpu_memory: list[MonitorMetricAlert] = []
        for index, scale_set_id in enumerate(props.scale_set_ids):
            suffix = f"-{index}" if index else ""
            # A custom metric exists once an instance has published it: the rule is made first.
            custom = {"metric_namespace": METRICS_NAMESPACE, "skip_metric_validation": True}
            if props.waiting_per_replica is not None:
                self.queue.append(
                    alert(
                        f"requests-waiting{suffix}",
                        scale_set_id,
                        f"More than {props.waiting_per_replica:g} requests waiting per replica "
                        "for 5 minutes: the fleet is behind its planned queue",
                        metric_name=WAITING_METRIC,
                        aggregation="Average",
                        operator="GreaterThan",
                        threshold=props.waiting_per_replica,
                        **custom,
                    )
                )
            self.gpu_memory.append(
                alert(
                    f"gpu-memory{suffix}",
                    scale_set_id,
                    f"A GPU's memory above {GPU_MEMORY_ALERT_PERCENT}% for 5 minutes",
                    metric_name=GPU_MEMORY_METRIC,
                    aggregation="Maximum",
                    operator="GreaterThan",
                    threshold=GPU_MEMORY_ALERT_PERCENT,
                    **custom,
                )
            )
        self.unhealthy = alert(
            "unhealthy-backends",
            props.load_balancer_id,
            "A back end failing the load balancer's health probe for 5 minutes",
            metric_namespace="Microsoft.Network/loadBalancers",
            metric_name="DipAvailability",
            aggregation="Average",
            operator="LessThan",
            threshold=HEALTHY_PERCENT,
        )
