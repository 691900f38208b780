"""A CloudWatch dashboard per AWS fleet: traffic, latency against its alarm, time to first token
and per output token against the profile's targets, the engine's queue, the GPUs, the healthy
instances and the group's instance counts, on-demand and spot apart where the instances run the
exporter (none of Auto Scaling's group metrics splits by purchase option). Not drawn: spot
interruptions (no per-group source without more moving parts)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cdktn_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from constructs import Construct

from modules.aws.engine_metrics import (
    ENGINE_METRICS_NAMESPACE,
    GPU_MEMORY_TOTAL_METRIC,
    GPU_MEMORY_USED_METRIC,
    GPU_UTILIZATION_METRIC,
    GROUP_DIMENSION,
    IN_FLIGHT_METRIC,
    INTERVAL_S,
    RUNNING_METRIC,
    WAITING_METRIC,
    in_flight_expression,
)
from modules.aws.fleet import GROUP_METRICS
from modules.aws.latency_exporter import PURCHASE_METRICS, TTFT_METRIC

WIDTH, HEIGHT = 12, 6
"""Each widget takes half of the dashboard's 24-column grid."""


@dataclass(frozen=True, kw_only=True)
class ServingDashboardProps:
    """What the fleet's dashboard draws, and the thresholds drawn on it."""

    name: str
    """The dashboard's name. Required."""
    group_name: str
    """The fleet's Auto Scaling group name (the engine and GPU metrics' dimension). Required."""
    region: str
    """The region the metrics are in. Required."""
    load_balancer_arn_suffix: str
    """The load balancer's ARN suffix (CloudWatch's LoadBalancer dimension). Required."""
    target_group_arn_suffix: str
    """Its target group's ARN suffix (TargetGroup dimension). Required."""
    p99_latency_s: float
    """The p99 latency alarm's threshold, drawn on the latency widget. Required."""
    waiting_per_replica: float | None
    """The queue alarm's threshold, drawn on the queue widget; None: the engine publishes no
    queue gauges, no queue widget. Required."""
    gpu: bool
    """Whether the instances publish GPU metrics (not on Neuron chips). Required."""
    latency_metrics: tuple[str, ...] = ()
    """The TTFT/TPOT metrics the instances publish (modules/aws/engine_metrics.py
    `latency_metrics`). Default (): none, no latency widget."""
    purchase_split: bool = False
    """Whether the instances count themselves as spot or on-demand (the exporter runs). Default
    False: the group's counts alone."""
    latency_targets: dict[str, float] | None = None
    """The profile's target per latency metric, drawn as a horizontal line. Default None."""


def _widget(
    title: str, metrics: list[list[object]], *, horizontal: list[dict[str, object]] | None = None
) -> dict[str, object]:
    properties: dict[str, object] = {"title": title, "metrics": metrics, "period": INTERVAL_S}
    if horizontal:
        properties["annotations"] = {"horizontal": horizontal}
    return {"type": "metric", "width": WIDTH, "height": HEIGHT, "properties": properties}


def dashboard_widgets(props: ServingDashboardProps) -> list[dict[str, object]]:
    """The dashboard's widgets, in reading order (laid out two per row by `dashboard_body`)."""
    balancer = ["LoadBalancer", props.load_balancer_arn_suffix]
    group = ["TargetGroup", props.target_group_arn_suffix]
    alb = "AWS/ApplicationELB"
    fleet = [GROUP_DIMENSION, props.group_name]
    widgets = [
        _widget(
            "Requests per minute",
            [
                [alb, "RequestCount", *balancer, *group, {"stat": "Sum", "label": "requests"}],
                [
                    alb,
                    "HTTPCode_Target_5XX_Count",
                    *balancer,
                    *group,
                    {"stat": "Sum", "label": "5xx"},
                ],
            ],
        ),
        _widget(
            "Response time (s)",
            [
                [alb, "TargetResponseTime", *balancer, *group, {"stat": "p50", "label": "p50"}],
                [alb, "TargetResponseTime", *balancer, *group, {"stat": "p95", "label": "p95"}],
                [alb, "TargetResponseTime", *balancer, *group, {"stat": "p99", "label": "p99"}],
            ],
            horizontal=[{"label": "p99 alarm", "value": props.p99_latency_s}],
        ),
    ]
    if props.latency_metrics:
        targets = props.latency_targets or {}
        labels = {TTFT_METRIC: "TTFT p95"}
        widgets.append(
            _widget(
                "Time to first token and per output token (ms)",
                [
                    [
                        ENGINE_METRICS_NAMESPACE,
                        metric,
                        *fleet,
                        {"stat": stat, "label": f"{labels.get(metric, 'TPOT p50')}, {name}"},
                    ]
                    for metric in props.latency_metrics
                    for stat, name in (("Maximum", "slowest instance"), ("Average", "mean"))
                ],
                horizontal=[
                    {"label": f"{labels.get(metric, 'TPOT')} target", "value": targets[metric]}
                    for metric in props.latency_metrics
                    if metric in targets
                ],
            )
        )
    if props.waiting_per_replica is not None:
        widgets.append(
            _widget(
                "Requests per replica",
                [
                    [
                        ENGINE_METRICS_NAMESPACE,
                        RUNNING_METRIC,
                        *fleet,
                        {"stat": "Average", "label": "running", "id": "running"},
                    ],
                    [
                        ENGINE_METRICS_NAMESPACE,
                        WAITING_METRIC,
                        *fleet,
                        {"stat": "Average", "label": "waiting", "id": "waiting"},
                    ],
                    [{"expression": in_flight_expression(), "label": IN_FLIGHT_METRIC}],
                ],
                horizontal=[{"label": "planned queue", "value": props.waiting_per_replica}],
            )
        )
    if props.gpu:
        widgets.append(
            _widget(
                "GPUs (%)",
                [
                    [
                        ENGINE_METRICS_NAMESPACE,
                        GPU_UTILIZATION_METRIC,
                        *fleet,
                        {"stat": "Average", "label": "utilization, mean"},
                    ],
                    [
                        ENGINE_METRICS_NAMESPACE,
                        GPU_MEMORY_USED_METRIC,
                        *fleet,
                        {"stat": "Maximum", "id": "used", "visible": False},
                    ],
                    [
                        ENGINE_METRICS_NAMESPACE,
                        GPU_MEMORY_TOTAL_METRIC,
                        *fleet,
                        {"stat": "Maximum", "id": "total", "visible": False},
                    ],
                    [{"expression": "100 * used / total", "label": "memory, fullest GPU"}],
                ],
            )
        )
    widgets.append(
        _widget(
            "Healthy instances",
            [
                [
                    alb,
                    "HealthyHostCount",
                    *group,
                    *balancer,
                    {"stat": "Minimum", "label": "healthy"},
                ],
                [
                    alb,
                    "UnHealthyHostCount",
                    *group,
                    *balancer,
                    {"stat": "Maximum", "label": "unhealthy"},
                ],
            ],
        )
    )
    widgets.append(
        _widget(
            "Instances in the group",
            [
                [
                    "AWS/AutoScaling",
                    metric,
                    "AutoScalingGroupName",
                    props.group_name,
                    {"stat": "Maximum", "label": label},
                ]
                for metric, label in GROUP_METRICS.items()
            ]
            + [
                [ENGINE_METRICS_NAMESPACE, metric, *fleet, {"stat": "Sum", "label": label}]
                for life_cycle, metric in PURCHASE_METRICS.items()
                for label in (f"{life_cycle} (running the exporter)",)
                if props.purchase_split
            ],
        )
    )
    return widgets


def dashboard_body(props: ServingDashboardProps) -> str:
    widgets = dashboard_widgets(props)
    for index, widget in enumerate(widgets):
        widget["x"], widget["y"] = (index % 2) * WIDTH, (index // 2) * HEIGHT
        widget["properties"]["region"] = props.region  # type: ignore[index]
    return json.dumps({"widgets": widgets})


class ServingDashboard(Construct):
    def __init__(self, scope: Construct, id: str, props: ServingDashboardProps) -> None:
        super().__init__(scope, id)
        self.dashboard = CloudwatchDashboard(
            self, "dashboard", dashboard_name=props.name, dashboard_body=dashboard_body(props)
        )
