"""Alarms on the engine's and the GPUs' metrics of an AWS fleet (modules/aws/engine_metrics.py)."""

from __future__ import annotations

from dataclasses import dataclass

from cdktn_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm,
    CloudwatchMetricAlarmMetricQuery,
    CloudwatchMetricAlarmMetricQueryMetric,
)
from constructs import Construct

from modules.aws.engine_metrics import (
    ENGINE_METRICS_NAMESPACE,
    GPU_MEMORY_TOTAL_METRIC,
    GPU_MEMORY_USED_METRIC,
    GROUP_DIMENSION,
    INTERVAL_S,
    WAITING_METRIC,
)
from modules.aws.latency_exporter import TPOT_METRIC, TTFT_METRIC

GPU_MEMORY_ALARM_PERCENT = 95
"""The fullest GPU's memory above this share raises the alarm."""
SUSTAINED_MINUTES = 5
"""How many consecutive one-minute periods a condition must hold before its alarm fires."""


@dataclass(frozen=True, kw_only=True)
class EngineAlarmsProps:
    """The fleet's alarms on its engine and GPU metrics."""

    name: str
    """Start of each alarm's name. Required."""
    group_name: str
    """The fleet's Auto Scaling group name (the metrics' dimension). Required."""
    waiting_per_replica: float | None
    """Requests waiting in one replica's queue beyond which the queue alarm fires (the planned
    queue); None: the engine publishes no queue gauge, no alarm. Required."""
    gpu_memory: bool
    """Whether the instances publish GPU metrics (not on Neuron chips). Required."""
    ttft_p95_ms: float | None = None
    """The profile's time-to-first-token target (p95): the slowest instance's minute above it
    for SUSTAINED_MINUTES raises the alarm. Default None: no target, or the engine has no TTFT
    histogram; no alarm."""
    tpot_ms: float | None = None
    """The profile's time-per-output-token target, against the median. Default None: no
    alarm."""
    alarm_actions: tuple[str, ...] = ()
    """ARNs notified when an alarm fires or clears. Default (): none."""


class EngineAlarms(Construct):
    def __init__(self, scope: Construct, id: str, props: EngineAlarmsProps) -> None:
        super().__init__(scope, id)
        dimensions = {GROUP_DIMENSION: props.group_name}
        actions = list(props.alarm_actions) or None
        self.queue: CloudwatchMetricAlarm | None = None
        self.gpu_memory: CloudwatchMetricAlarm | None = None
        self.latency: dict[str, CloudwatchMetricAlarm] = {}
        for metric, target, slug, what in (
            (TTFT_METRIC, props.ttft_p95_ms, "ttft", "Time to first token (p95)"),
            (TPOT_METRIC, props.tpot_ms, "tpot", "Time per output token (median)"),
        ):
            if target is None:
                continue
            self.latency[metric] = CloudwatchMetricAlarm(
                self,
                slug,
                alarm_name=f"{props.name}-{slug}",
                alarm_description=(
                    f"{what} above the profile's target of {target:g} ms on an instance for "
                    f"{SUSTAINED_MINUTES} minutes"
                ),
                namespace=ENGINE_METRICS_NAMESPACE,
                metric_name=metric,
                dimensions=dimensions,
                # One value per instance and minute: Maximum is the slowest instance's.
                statistic="Maximum",
                unit="Milliseconds",
                period=INTERVAL_S,
                evaluation_periods=SUSTAINED_MINUTES,
                threshold=target,
                comparison_operator="GreaterThanThreshold",
                # No requests, no latency: an idle fleet is not late.
                treat_missing_data="notBreaching",
                alarm_actions=actions,
                ok_actions=actions,
            )
        if props.waiting_per_replica is not None:
            self.queue = CloudwatchMetricAlarm(
                self,
                "queue",
                alarm_name=f"{props.name}-requests-waiting",
                alarm_description=(
                    f"More than {props.waiting_per_replica:g} requests waiting per replica for "
                    f"{SUSTAINED_MINUTES} minutes: the fleet is behind its planned queue"
                ),
                namespace=ENGINE_METRICS_NAMESPACE,
                metric_name=WAITING_METRIC,
                dimensions=dimensions,
                statistic="Average",
                period=INTERVAL_S,
                evaluation_periods=SUSTAINED_MINUTES,
                threshold=props.waiting_per_replica,
                comparison_operator="GreaterThanThreshold",
                treat_missing_data="notBreaching",
                alarm_actions=actions,
                ok_actions=actions,
            )
        if props.gpu_memory:

            def gpu(metric_id: str, metric_name: str) -> CloudwatchMetricAlarmMetricQuery:
                return CloudwatchMetricAlarmMetricQuery(
                    id=metric_id,
                    metric=CloudwatchMetricAlarmMetricQueryMetric(
                        namespace=ENGINE_METRICS_NAMESPACE,
                        metric_name=metric_name,
                        dimensions=dimensions,
                        period=INTERVAL_S,
                        stat="Maximum",
                    ),
                )

            self.gpu_memory = CloudwatchMetricAlarm(
                self,
                "gpu-memory",
                alarm_name=f"{props.name}-gpu-memory",
                alarm_description=(
                    f"A GPU's memory above {GPU_MEMORY_ALARM_PERCENT}% for "
                    f"{SUSTAINED_MINUTES} minutes"
                ),
                comparison_operator="GreaterThanThreshold",
                evaluation_periods=SUSTAINED_MINUTES,
                threshold=GPU_MEMORY_ALARM_PERCENT,
                treat_missing_data="notBreaching",
                alarm_actions=actions,
                ok_actions=actions,
                metric_query=[
                    gpu("used", GPU_MEMORY_USED_METRIC),
                    gpu("total", GPU_MEMORY_TOTAL_METRIC),
                    CloudwatchMetricAlarmMetricQuery(
                        id="percent",
                        expression="100 * used / total",
                        label="fullest GPU's memory, percent",
                        return_data=True,
                    ),
                ],
            )
