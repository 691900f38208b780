"""A GCP fleet's alert policies, from the profile's targets and the plan: requests waiting per
replica beyond the planned queue, the fullest GPU's memory near full, the share of 5xx answers
and, where the engine exposes them, time to first token (p95) and time per output token above
the profile's targets. Each condition is PromQL (fleet_queries.py) and must hold for its whole
duration; each policy notifies the profile's notification channel when there is one.

The engine and GPU metrics appear only once the instances publish them, after the policies are
created: metric validation is off so that creating a policy does not depend on that order.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdktn_provider_google.monitoring_alert_policy import (
    MonitoringAlertPolicy,
    MonitoringAlertPolicyAlertStrategy,
    MonitoringAlertPolicyConditions,
    MonitoringAlertPolicyConditionsConditionPrometheusQueryLanguage,
    MonitoringAlertPolicyDocumentation,
)
from constructs import Construct

from modules.gcp.fleet_queries import FleetQueries

SUSTAINED = "300s"
"""How long a condition must hold before its policy opens an incident."""
ERRORS_SUSTAINED = "600s"
"""5xx answers: two five-minute windows, as the AWS fleet's alarm."""
EVALUATION_INTERVAL = "60s"
GPU_MEMORY_ALERT_PERCENT = 95
"""The fullest GPU's memory above this share opens an incident."""
ERROR_RATE_PERCENT = 5
"""5xx answers above this share of requests open an incident."""
AUTO_CLOSE = "1800s"
"""An incident whose condition has not held for this long closes itself."""


@dataclass(frozen=True, kw_only=True)
class ServingAlertPoliciesProps:
    """What the fleet's alert policies watch, and their thresholds."""

    name: str
    """Starts each policy's display name: `<name>: <what>`. Required."""
    queries: FleetQueries
    """Where the fleet's metrics are. Required."""
    waiting_per_replica: float | None = None
    """Requests waiting per replica (the planned queue) above which the fleet is behind.
    Default: none, no queue policy (an engine whose gauges are not scraped)."""
    gpu_memory: bool = True
    """A policy on the fullest GPU's memory. Default: on."""
    ttft_s_p95: float | None = None
    """The profile's time to first token target (p95, seconds). Default: no TTFT policy."""
    tpot_s: float | None = None
    """The profile's time per output token target (seconds). Default: no TPOT policy."""
    notification_channels: tuple[str, ...] = ()
    """The channels every policy notifies. Default: none (incidents open silently)."""


class ServingAlertPolicies(Construct):
    def __init__(self, scope: Construct, id: str, props: ServingAlertPoliciesProps) -> None:
        super().__init__(scope, id)
        self.props = props
        queries = props.queries
        self.policies: dict[str, MonitoringAlertPolicy] = {}
        self._policy(
            "errors",
            f"more than {ERROR_RATE_PERCENT}% of requests answered 5xx",
            f"{queries.error_percent} > {ERROR_RATE_PERCENT}",
            ERRORS_SUSTAINED,
            "ERROR",
        )
        if props.waiting_per_replica is not None:
            self._policy(
                "queue",
                f"more than {props.waiting_per_replica:g} requests waiting per replica (the "
                "planned queue): arrivals outpace what the fleet was sized for",
                f"{queries.waiting_per_replica} > {props.waiting_per_replica:g}",
            )
        if props.gpu_memory:
            self._policy(
                "gpu-memory",
                f"a GPU's memory more than {GPU_MEMORY_ALERT_PERCENT}% used",
                f"{queries.fullest_gpu_memory_percent} > {GPU_MEMORY_ALERT_PERCENT}",
            )
        if props.ttft_s_p95 is not None:
            self._policy(
                "ttft",
                f"time to first token p95 above the target of {props.ttft_s_p95:g} s",
                f"{queries.ttft_seconds(0.95)} > {props.ttft_s_p95:g}",
            )
        if props.tpot_s is not None:
            self._policy(
                "tpot",
                f"time per output token above the target of {props.tpot_s:g} s",
                f"{queries.tpot_seconds} > {props.tpot_s:g}",
            )

    def _policy(
        self, key: str, what: str, query: str, duration: str = SUSTAINED, severity: str = "WARNING"
    ) -> None:
        props = self.props
        self.policies[key] = MonitoringAlertPolicy(
            self,
            key,
            display_name=f"{props.name}: {key}",
            combiner="OR",
            severity=severity,
            conditions=[
                MonitoringAlertPolicyConditions(
                    display_name=what,
                    condition_prometheus_query_language=MonitoringAlertPolicyConditionsConditionPrometheusQueryLanguage(
                        query=query,
                        duration=duration,
                        evaluation_interval=EVALUATION_INTERVAL,
                        disable_metric_validation=True,
                    ),
                )
            ],
            alert_strategy=MonitoringAlertPolicyAlertStrategy(auto_close=AUTO_CLOSE),
            documentation=MonitoringAlertPolicyDocumentation(
                content=f"{props.name}: {what}, for {duration} in a row.",
                mime_type="text/markdown",
            ),
            notification_channels=list(props.notification_channels) or None,
        )
