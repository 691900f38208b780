"""The last hour's measured figures of an AWS fleet from CloudWatch (GetMetricData): the load
balancer's requests, the engine's requests in flight per replica, time to first token and per
output token from the instances' exporter, the GPUs' utilization (modules/aws/engine_metrics.py).
Named by the fleet's Target (`metrics_reader`); `infra status` shows them beside the decision's."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from modules.aws.engine_metrics import (
    ENGINE_METRICS_NAMESPACE,
    GPU_UTILIZATION_METRIC,
    GROUP_DIMENSION,
    RUNNING_METRIC,
    WAITING_METRIC,
)
from modules.aws.latency_exporter import TPOT_METRIC, TTFT_METRIC
from planner.deployment import DeploymentSpec

WINDOW = timedelta(hours=1)
ALB_NAMESPACE = "AWS/ApplicationELB"


def _query(
    query_id: str, namespace: str, metric: str, dimensions: Mapping[str, str], stat: str
) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            },
            "Period": int(WINDOW.total_seconds()),
            "Stat": stat,
        },
        "ReturnData": True,
    }


def queries(outputs: Mapping[str, object]) -> list[dict[str, Any]]:
    """One datapoint each over the hour. Running and waiting are per replica (each replica is
    one sample a minute); TTFT and TPOT the mean of the instances' per-minute values."""
    group = {GROUP_DIMENSION: str(outputs["autoscaling_group_name"])}
    found = [
        _query("running", ENGINE_METRICS_NAMESPACE, RUNNING_METRIC, group, "Average"),
        _query("waiting", ENGINE_METRICS_NAMESPACE, WAITING_METRIC, group, "Average"),
        _query("ttft", ENGINE_METRICS_NAMESPACE, TTFT_METRIC, group, "Average"),
        _query("tpot", ENGINE_METRICS_NAMESPACE, TPOT_METRIC, group, "Average"),
        _query("gpu", ENGINE_METRICS_NAMESPACE, GPU_UTILIZATION_METRIC, group, "Average"),
    ]
    balancer, target_group = (
        outputs.get("load_balancer_arn_suffix"),
        outputs.get("target_group_arn_suffix"),
    )
    if balancer and target_group:
        dimensions = {"LoadBalancer": str(balancer), "TargetGroup": str(target_group)}
        found.append(_query("requests", ALB_NAMESPACE, "RequestCount", dimensions, "Sum"))
    return found


def measured(
    spec: DeploymentSpec,
    outputs: Mapping[str, object],
    environ: Mapping[str, str],
    now: datetime | None = None,
) -> dict[str, float | None]:
    """The hour before `now`: requests/s, requests in flight per replica, TTFT p95 and TPOT
    (ms), GPU utilization (%); None for what CloudWatch has no data of. Raises InfraError
    (one sentence) when CloudWatch cannot be read."""
    from providers.aws.sdk_calls import aws_call, client_factory

    end = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    client = client_factory(environ, spec.region, attempts=2)("cloudwatch")
    values: dict[str, float] = {}
    with aws_call(f"reading {spec.stack_name}'s metrics from CloudWatch"):
        pages = client.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries(outputs), StartTime=end - WINDOW, EndTime=end
        )
        for page in pages:
            for result in page["MetricDataResults"]:
                if result.get("Values"):
                    values[result["Id"]] = float(result["Values"][0])
    running, waiting = values.get("running"), values.get("waiting")
    requests = values.get("requests")
    return {
        "requests_per_s": None if requests is None else requests / WINDOW.total_seconds(),
        "requests_in_flight_per_replica": None
        if running is None and waiting is None
        else (running or 0.0) + (waiting or 0.0),
        "ttft_ms_p95": values.get("ttft"),
        "tpot_ms": values.get("tpot"),
        "gpu_utilization_percent": values.get("gpu"),
    }
