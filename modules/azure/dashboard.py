"""An Azure portal dashboard per fleet: the engine's queue per replica, the GPUs, the instance
count autoscale observes, and the load balancer's connections and probe health.

Each tile is a metrics chart part (`Extension/HubsExtension/PartType/MonitorChartPart`, the form
the portal writes when a Metrics explorer chart is pinned, which azurerm_portal_dashboard takes as
its `dashboard_properties` JSON). Aggregation codes are Metrics explorer's: 1 sum, 3 max, 4 average.
The portal draws no threshold line: a chart's title gives the planned value it compares with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cdktn_provider_azurerm.portal_dashboard import PortalDashboard
from constructs import Construct

from modules.azure.engine_metrics import (
    GPU_MEMORY_METRIC,
    GPU_UTILIZATION_METRIC,
    IN_FLIGHT_METRIC,
    METRICS_NAMESPACE,
    RUNNING_METRIC,
    WAITING_METRIC,
)
from modules.azure.names import bounded_name

SUM, MAXIMUM, AVERAGE = 1, 3, 4
"""Metrics explorer's aggregation types."""
SCALE_SET_NAMESPACE = "microsoft.compute/virtualmachinescalesets"
AUTOSCALE_NAMESPACE = "microsoft.insights/autoscalesettings"
LOAD_BALANCER_NAMESPACE = "microsoft.network/loadbalancers"
TILE_COLUMNS, TILE_ROWS = 6, 4
"""Each tile's size on the portal's grid; two tiles a row."""
DAY_MS = 86_400_000


@dataclass(frozen=True, kw_only=True)
class ServingDashboardProps:
    name: str
    """(Required) The dashboard's name (cut to 160 characters)."""
    resource_group_name: str
    """(Required) The resource group the dashboard lives in."""
    location: str
    """(Required) The dashboard's Azure region."""
    scale_set_ids: tuple[str, ...]
    """(Required) The fleet's scale sets (their custom metrics are charted together)."""
    autoscale_setting_ids: tuple[str, ...]
    """(Required) The fleet's autoscale settings (their observed instance counts)."""
    load_balancer_id: str
    """(Required) The fleet's load balancer."""
    waiting_per_replica: float | None
    """(Required) The planned queue per replica, named in the queue chart's title; None: the
    engine publishes no queue gauges, no queue charts."""
    in_flight_per_replica: float | None = None
    """(Optional) The planner's in-flight target per replica, named in its chart's title.
    Defaults to None: the title names no target."""


def metric(resource_id: str, namespace: str, name: str, aggregation: int) -> dict[str, Any]:
    return {
        "resourceMetadata": {"id": resource_id},
        "namespace": namespace,
        "name": name,
        "aggregationType": aggregation,
        "metricVisualization": {"displayName": name},
    }


def chart(title: str, metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """One metrics chart part (a line chart over the last day)."""
    options = {
        "chart": {
            "metrics": metrics,
            "title": title,
            "titleKind": 2,
            "timespan": {"relative": {"duration": DAY_MS}, "grain": 1, "showUTCTime": False},
            "visualization": {"chartType": 2, "legendVisualization": {"isVisible": True}},
        }
    }
    return {
        "type": "Extension/HubsExtension/PartType/MonitorChartPart",
        "inputs": [
            {"name": "options", "value": options, "isOptional": True},
            {"name": "sharedTimeRange", "isOptional": True},
        ],
        "settings": {"content": {"options": options}},
    }


def charts(props: ServingDashboardProps) -> list[dict[str, Any]]:
    """The dashboard's tiles, in reading order."""

    def per_set(name: str, aggregation: int) -> list[dict[str, Any]]:
        return [
            metric(scale_set, METRICS_NAMESPACE, name, aggregation)
            for scale_set in props.scale_set_ids
        ]

    tiles = []
    if props.waiting_per_replica is not None:
        target = (
            f" (target {props.in_flight_per_replica:g})"
            if props.in_flight_per_replica is not None
            else ""
        )
        tiles += [
            chart(f"Requests in flight per replica{target}", per_set(IN_FLIGHT_METRIC, AVERAGE)),
            chart(
                f"Requests running and waiting per replica (alert: waiting above "
                f"{props.waiting_per_replica:g})",
                per_set(RUNNING_METRIC, AVERAGE) + per_set(WAITING_METRIC, AVERAGE),
            ),
        ]
    tiles += [
        chart("GPU utilization (%)", per_set(GPU_UTILIZATION_METRIC, AVERAGE)),
        chart("Fullest GPU's memory (%, alert above 95)", per_set(GPU_MEMORY_METRIC, MAXIMUM)),
        chart(
            "Instances (observed by autoscale)",
            [
                metric(setting, AUTOSCALE_NAMESPACE, "ObservedCapacity", AVERAGE)
                for setting in props.autoscale_setting_ids
            ],
        ),
        chart(
            "New connections per minute and health probe status (%)",
            [
                metric(props.load_balancer_id, LOAD_BALANCER_NAMESPACE, "SYNCount", SUM),
                metric(props.load_balancer_id, LOAD_BALANCER_NAMESPACE, "DipAvailability", AVERAGE),
            ],
        ),
    ]
    return tiles


def dashboard_properties(props: ServingDashboardProps) -> str:
    """The dashboard's JSON: one lens, the tiles two a row."""
    parts = {
        str(index): {
            "position": {
                "x": (index % 2) * TILE_COLUMNS,
                "y": (index // 2) * TILE_ROWS,
                "colSpan": TILE_COLUMNS,
                "rowSpan": TILE_ROWS,
            },
            "metadata": tile,
        }
        for index, tile in enumerate(charts(props))
    }
    return json.dumps({"lenses": {"0": {"order": 0, "parts": parts}}, "metadata": {"model": {}}})


class ServingDashboard(Construct):
    def __init__(self, scope: Construct, id: str, props: ServingDashboardProps) -> None:
        super().__init__(scope, id)
        self.dashboard = PortalDashboard(
            self,
            "dashboard",
            name=bounded_name(props.name, 160),
            resource_group_name=props.resource_group_name,
            location=props.location,
            dashboard_properties=dashboard_properties(props),
        )
