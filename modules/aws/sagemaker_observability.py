"""A SageMaker endpoint's own metrics: a CloudWatch dashboard and the alarms that notify.

SageMaker publishes, per endpoint and variant (dimensions EndpointName, VariantName):
- in AWS/SageMaker: Invocations, Invocation5XXErrors, ModelLatency (microseconds, the time the
  container takes to answer as SageMaker sees it) and ConcurrentRequestsPerModel (the requests
  a model container is being sent at once, at high resolution: the metric of SageMaker's
  concurrency-based target tracking, SageMakerVariantConcurrentRequestsPerModelHighResolution);
- in /aws/sagemaker/Endpoints: GPUUtilization and GPUMemoryUtilization, each 0-100 per GPU
  summed over an instance's GPUs (4 GPUs: 0-400%).
(AWS's "Amazon SageMaker AI metrics in Amazon CloudWatch" page.) The endpoint's container is the
engine, whose TTFT and TPOT SageMaker does not see: no alarm here could follow those targets.

The alarms, each held for SUSTAINED_MINUTES and notifying `alarm_actions` (deploy.alerts):
ModelLatency p95 above the profile's e2e_ms_p95 target, requests per instance beyond the planned
batch and queue (the fleet's queue alarm: more than max_batch waiting, so more than twice
max_batch in the container), GPU memory above GPU_MEMORY_ALARM_PERCENT. The 5xx-rate and p99
alarms that roll a deployment back live with the endpoint (modules/aws/sagemaker.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cdktn_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktn_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from constructs import Construct

from modules.aws.engine_alarms import GPU_MEMORY_ALARM_PERCENT, SUSTAINED_MINUTES
from providers.aws.neuron import is_neuron

if TYPE_CHECKING:
    from modules.aws.sagemaker import Variant
    from planner.deployment import DeploymentSpec

INVOCATION_NAMESPACE = "AWS/SageMaker"
INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"
MODEL_LATENCY_US_PER_MS = 1000
"""ModelLatency is published in microseconds."""
PERIOD_S = 60
WIDTH, HEIGHT = 12, 6
"""Each widget takes half of the dashboard's 24-column grid."""


@dataclass(frozen=True, kw_only=True)
class EndpointObservabilityProps:
    """What the endpoint's dashboard draws and its alarms watch."""

    name: str
    """The dashboard's name and the start of each alarm's name. Required."""
    endpoint_name: str
    """The SageMaker endpoint (the metrics' EndpointName). Required."""
    variant_names: tuple[str, ...]
    """Its production variants (VariantName); each gets its own alarms. Required."""
    region: str
    """The region the metrics are in. Required."""
    p99_latency_s: float
    """The rollback p99 latency alarm's threshold, drawn on the latency widget. Required."""
    latency_target_ms_p95: float | None = None
    """The profile's end-to-end p95 target: ModelLatency p95 above it raises an alarm. Default
    None: no target, no alarm."""
    max_in_container: float | None = None
    """Requests one instance's container may hold (batch plus planned queue) before the alarm
    fires. Default None: no alarm."""
    gpus_per_instance: int | None = None
    """GPUs per instance of `gpu_variants` (GPU metrics are summed over them). Default None: no
    GPU metrics (AWS Inferentia and Trainium), no GPU widget or alarm."""
    gpu_variants: tuple[str, ...] = ()
    """The variants on instances of `gpus_per_instance` GPUs (a challenger on another instance
    type has another count: its GPUs are neither drawn nor alarmed). Default (): none."""
    alarm_actions: tuple[str, ...] = ()
    """ARNs notified when an alarm fires or clears. Default (): none."""


class EndpointObservability(Construct):
    """The endpoint's dashboard, and per variant the alarms that notify (none rolls back)."""

    def __init__(self, scope: Construct, id: str, props: EndpointObservabilityProps) -> None:
        super().__init__(scope, id)
        self.alarms: list[CloudwatchMetricAlarm] = []
        for variant in props.variant_names:
            self.alarms.extend(_variant_alarms(self, props, variant))
        self.dashboard = CloudwatchDashboard(
            self,
            "dashboard",
            dashboard_name=props.name,
            dashboard_body=dashboard_body(props),
        )


def _variant_alarms(
    scope: Construct, props: EndpointObservabilityProps, variant: str
) -> list[CloudwatchMetricAlarm]:
    dimensions = {"EndpointName": props.endpoint_name, "VariantName": variant}
    actions = list(props.alarm_actions) or None

    def alarm(
        key: str, description: str, namespace: str, metric: str, threshold: float, **stat: str
    ) -> CloudwatchMetricAlarm:
        return CloudwatchMetricAlarm(
            scope,
            f"{variant}-{key}",
            alarm_name=f"{props.name}-{variant}-{key}",
            alarm_description=f"{variant}: {description} for {SUSTAINED_MINUTES} minutes",
            namespace=namespace,
            metric_name=metric,
            dimensions=dimensions,
            period=PERIOD_S,
            evaluation_periods=SUSTAINED_MINUTES,
            threshold=threshold,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=actions,
            ok_actions=actions,
            **stat,
        )

    made = []
    if props.latency_target_ms_p95 is not None:
        made.append(
            alarm(
                "latency-target",
                f"p95 model latency above the {props.latency_target_ms_p95:g} ms target",
                INVOCATION_NAMESPACE,
                "ModelLatency",
                props.latency_target_ms_p95 * MODEL_LATENCY_US_PER_MS,
                extended_statistic="p95",
            )
        )
    if props.max_in_container is not None:
        made.append(
            alarm(
                "requests-waiting",
                f"more than {props.max_in_container:g} requests in an instance's container "
                "(its batch and planned queue)",
                INVOCATION_NAMESPACE,
                "ConcurrentRequestsPerModel",
                props.max_in_container,
                statistic="Maximum",
            )
        )
    if props.gpus_per_instance and variant in props.gpu_variants:
        made.append(
            alarm(
                "gpu-memory",
                f"GPU memory above {GPU_MEMORY_ALARM_PERCENT}% on an instance",
                INSTANCE_NAMESPACE,
                "GPUMemoryUtilization",
                GPU_MEMORY_ALARM_PERCENT * props.gpus_per_instance,
                statistic="Maximum",
            )
        )
    return made


def _widget(
    title: str, metrics: list[list[object]], horizontal: list[dict[str, object]] | None = None
) -> dict[str, object]:
    properties: dict[str, object] = {"title": title, "metrics": metrics, "period": PERIOD_S}
    if horizontal:
        properties["annotations"] = {"horizontal": horizontal}
    return {"type": "metric", "width": WIDTH, "height": HEIGHT, "properties": properties}


def dashboard_widgets(props: EndpointObservabilityProps) -> list[dict[str, object]]:
    """The dashboard's widgets in reading order: one line per variant on each."""

    def lines(
        namespace: str,
        metric: str,
        variants: tuple[str, ...] = props.variant_names,
        **options: object,
    ) -> list[list[object]]:
        return [
            [
                namespace,
                metric,
                "EndpointName",
                props.endpoint_name,
                "VariantName",
                variant,
                {**options, "label": f"{variant} {options.get('label', '')}".strip()},
            ]
            for variant in variants
        ]

    latency_lines = [
        line
        for stat in ("p50", "p95", "p99")
        for line in lines(INVOCATION_NAMESPACE, "ModelLatency", stat=stat, label=stat)
    ]
    latency_marks: list[dict[str, object]] = [
        {"label": "p99 alarm", "value": props.p99_latency_s * 1000 * MODEL_LATENCY_US_PER_MS}
    ]
    if props.latency_target_ms_p95 is not None:
        latency_marks.append(
            {
                "label": "p95 target",
                "value": props.latency_target_ms_p95 * MODEL_LATENCY_US_PER_MS,
            }
        )
    widgets = [
        _widget(
            "Invocations and 5xx per minute",
            lines(INVOCATION_NAMESPACE, "Invocations", stat="Sum", label="invocations")
            + lines(INVOCATION_NAMESPACE, "Invocation5XXErrors", stat="Sum", label="5xx"),
        ),
        _widget("Model latency (µs)", latency_lines, latency_marks),
        _widget(
            "Requests in the container per instance",
            lines(INVOCATION_NAMESPACE, "ConcurrentRequestsPerModel", stat="Maximum"),
            [{"label": "batch + planned queue", "value": props.max_in_container}]
            if props.max_in_container is not None
            else None,
        ),
    ]
    if props.gpus_per_instance and props.gpu_variants:
        gpus, on = props.gpus_per_instance, props.gpu_variants
        widgets.append(
            _widget(
                f"GPUs, summed over {gpus} per instance (%)",
                lines(INSTANCE_NAMESPACE, "GPUUtilization", on, stat="Average", label="utilization")
                + lines(
                    INSTANCE_NAMESPACE, "GPUMemoryUtilization", on, stat="Maximum", label="memory"
                ),
                [{"label": "memory alarm", "value": GPU_MEMORY_ALARM_PERCENT * gpus}],
            )
        )
    return widgets


def dashboard_body(props: EndpointObservabilityProps) -> str:
    """The dashboard's JSON: widgets two per row, in the endpoint's region."""
    widgets = []
    for index, widget in enumerate(dashboard_widgets(props)):
        x, y = (index % 2) * WIDTH, (index // 2) * HEIGHT
        properties = {**widget["properties"], "region": props.region}  # type: ignore[dict-item]
        widgets.append({**widget, "x": x, "y": y, "properties": properties})
    return json.dumps({"widgets": widgets}, sort_keys=True)


def observability_props(
    spec: DeploymentSpec, name: str, variants: Sequence[Variant]
) -> EndpointObservabilityProps:
    """The endpoint's dashboard and alarms from its spec: the profile's target, the planned batch
    and queue (max_batch running and max_batch waiting), the GPUs of the primary's instances."""
    return EndpointObservabilityProps(
        name=name,
        endpoint_name=name,
        variant_names=tuple(variant.name for variant in variants),
        region=spec.region,
        p99_latency_s=spec.scaling.p99_latency_alarm_s,
        latency_target_ms_p95=spec.scaling.latency_target_ms_p95,
        max_in_container=2.0 * spec.runtime.max_batch,
        gpus_per_instance=None if is_neuron(spec.accelerator) else spec.accelerators_per_instance,
        gpu_variants=tuple(v.name for v in variants if v.instance_type == spec.instance_type),
        alarm_actions=(spec.alerts_topic_arn,) if spec.alerts_topic_arn else (),
    )
