"""CloudWatch alarms shared by the serving stacks."""

from __future__ import annotations

from cdktn_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm,
    CloudwatchMetricAlarmMetricQuery,
    CloudwatchMetricAlarmMetricQueryMetric,
)
from constructs import Construct

ERROR_RATE_PERCENT = 5
"""5xx responses above this share of requests raise the alarm."""


def error_rate_alarm(
    scope: Construct,
    id: str,
    *,
    alarm_name: str,
    description: str,
    namespace: str,
    dimensions: dict[str, str],
    errors_metric: str,
    total: tuple[str, str],
    period: int,
    evaluation_periods: int,
    actions: tuple[str, ...] = (),
) -> CloudwatchMetricAlarm:
    """Alarm when 5xx answers exceed ERROR_RATE_PERCENT of all requests; `total` is the id and
    metric name of the request count; `actions` are notified when it fires or clears."""

    def summed(metric_id: str, metric_name: str) -> CloudwatchMetricAlarmMetricQuery:
        return CloudwatchMetricAlarmMetricQuery(
            id=metric_id,
            metric=CloudwatchMetricAlarmMetricQueryMetric(
                namespace=namespace,
                metric_name=metric_name,
                dimensions=dimensions,
                period=period,
                stat="Sum",
            ),
        )

    total_id, total_metric = total
    return CloudwatchMetricAlarm(
        scope,
        id,
        alarm_name=alarm_name,
        alarm_description=description,
        comparison_operator="GreaterThanThreshold",
        evaluation_periods=evaluation_periods,
        threshold=ERROR_RATE_PERCENT,
        treat_missing_data="notBreaching",
        alarm_actions=list(actions) or None,
        ok_actions=list(actions) or None,
        metric_query=[
            summed("errors", errors_metric),
            summed(total_id, total_metric),
            CloudwatchMetricAlarmMetricQuery(
                id="rate",
                expression=f"100 * errors / MAX([{total_id}, 1])",
                label="5xx percent",
                return_data=True,
            ),
        ],
    )
