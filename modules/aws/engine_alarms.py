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
    alarm_actions: tuple[str, ...] = ()
    """ARNs notified when an alarm fires or clears. Default (): none."""


class EngineAlarms(Construct):
    def __init__(self, scope: Construct, id: str, props: EngineAlarmsProps) -> None:
        super().__init__(scope, id)
        dimensions = {GROUP_DIMENSION: props.group_name}
        actions = list(props.alarm_actions) or None
        self.queue: CloudwatchMetricAlarm | None = None
        self.gpu_memory: CloudwatchMetricAlarm | None = None
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
