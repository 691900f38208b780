"""A Cloud Monitoring dashboard per GCP fleet: requests and 5xx answers, requests running and
waiting per replica with the planned queue drawn, time to first token and per output token with
the profile's targets drawn (engines that expose them), GPU utilization and the fullest GPU's
memory, and the instances of each group (on-demand base and spot) reporting. Every chart is
PromQL (fleet_queries.py). Not drawn: spot preemptions (no per-group metric of them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cdktn_provider_google.monitoring_dashboard import MonitoringDashboard
from constructs import Construct

from modules.gcp.alert_policies import GPU_MEMORY_ALERT_PERCENT
from modules.gcp.fleet_queries import FleetQueries

COLUMNS = 48
WIDTH, HEIGHT = 24, 16
"""Each chart takes half of the mosaic's 48 columns."""


@dataclass(frozen=True, kw_only=True)
class ServingDashboardProps:
    """What the fleet's dashboard draws, and the thresholds drawn on it."""

    name: str
    """The dashboard's display name. Required."""
    queries: FleetQueries
    """Where the fleet's metrics are. Required."""
    groups: tuple[tuple[str, str], ...]
    """(role, base instance name) of each instance group, for its instance count. Required."""
    waiting_per_replica: float | None = None
    """The planned queue per replica, drawn on the queue chart. Default: no queue chart."""
    gpu: bool = True
    """The GPU charts. Default: on."""
    ttft_s_p95: float | None = None
    """The profile's TTFT target (p95, seconds), drawn on the latency chart. Default: none."""
    tpot_s: float | None = None
    """The profile's TPOT target (seconds), drawn on the latency chart. Default: none."""
    ttft: bool = False
    """TTFT p50/p95 on the latency chart (an engine whose TTFT histogram is kept). Default: off."""
    tpot: bool = False
    """The mean TPOT on the latency chart (an engine whose TPOT histogram is kept). Default: off."""


def _line(query: str, legend: str) -> dict[str, Any]:
    return {
        "timeSeriesQuery": {"prometheusQuery": query},
        "plotType": "LINE",
        "legendTemplate": legend,
    }


def _threshold(value: float, label: str) -> dict[str, Any]:
    return {"value": value, "label": label, "color": "RED", "direction": "ABOVE"}


def _chart(
    title: str, lines: list[dict[str, Any]], thresholds: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    chart: dict[str, Any] = {"dataSets": lines}
    if thresholds:
        chart["thresholds"] = thresholds
    return {"title": title, "xyChart": chart}


def dashboard_widgets(props: ServingDashboardProps) -> list[dict[str, Any]]:
    q = props.queries
    widgets = [
        _chart(
            "Requests per second (load balancer)",
            [_line(q.requests_per_second, "requests"), _line(q.errors_per_second, "5xx")],
        )
    ]
    if props.waiting_per_replica is not None:
        widgets.append(
            _chart(
                "Requests per replica",
                [
                    _line(q.running_per_replica, "running"),
                    _line(q.waiting_per_replica, "waiting"),
                ],
                [_threshold(props.waiting_per_replica, "planned queue")],
            )
        )
    if props.ttft or props.tpot:
        lines, thresholds = [], []
        if props.ttft:
            lines.append(_line(q.ttft_seconds(0.5), "TTFT p50"))
            lines.append(_line(q.ttft_seconds(0.95), "TTFT p95"))
            if props.ttft_s_p95 is not None:
                thresholds.append(_threshold(props.ttft_s_p95, "TTFT target (p95)"))
        if props.tpot:
            lines.append(_line(q.tpot_seconds, "TPOT (mean)"))
            if props.tpot_s is not None:
                thresholds.append(_threshold(props.tpot_s, "TPOT target"))
        widgets.append(
            _chart("Time to first token and per output token (seconds)", lines, thresholds)
        )
    if props.gpu:
        widgets.append(
            _chart(
                "GPU (percent)",
                [
                    _line(q.gpu_utilization_percent, "utilization (mean)"),
                    _line(q.fullest_gpu_memory_percent, "fullest GPU's memory"),
                ],
                [_threshold(GPU_MEMORY_ALERT_PERCENT, "memory alert")],
            )
        )
        widgets.append(
            _chart(
                "Instances reporting, by group",
                [_line(q.instances(prefix), role) for role, prefix in props.groups],
            )
        )
    return widgets


def dashboard_json(props: ServingDashboardProps) -> str:
    tiles = [
        {
            "xPos": (index % 2) * WIDTH,
            "yPos": (index // 2) * HEIGHT,
            "width": WIDTH,
            "height": HEIGHT,
            "widget": widget,
        }
        for index, widget in enumerate(dashboard_widgets(props))
    ]
    layout = {"columns": COLUMNS, "tiles": tiles}
    return json.dumps({"displayName": props.name, "mosaicLayout": layout}, sort_keys=True)


class ServingDashboard(Construct):
    def __init__(self, scope: Construct, id: str, props: ServingDashboardProps) -> None:
        super().__init__(scope, id)
        self.dashboard = MonitoringDashboard(
            self, "dashboard", dashboard_json=dashboard_json(props)
        )
