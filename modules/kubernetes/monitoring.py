"""The serving workload observed through the Prometheus operator (kube-prometheus-stack): a
PodMonitor that scrapes the engine's /metrics, a PrometheusRule alerting on the profile's targets
and the planned queue, and a Grafana dashboard in a ConfigMap for Grafana's dashboard sidecar.

What each piece assumes:
- The operator's Prometheus selects the PodMonitor and the PrometheusRule (kube-prometheus-stack
  selects `release: <its Helm release>` unless its `*SelectorNilUsesHelmValues` values are false:
  `labels` carries what it selects by) and reads the workload's namespace.
- A PodMonitor's series carry `job="<namespace>/<PodMonitor name>"`, `namespace` and `pod`
  (prometheus-operator v0.93.0 pkg/prometheus/promcfg.go): the engine's series are selected by
  their job, so the stable pods, a canary's and KServe's predictor pods all count.
- GPU memory and utilization come from NVIDIA's DCGM exporter (the GPU operator's), attributed to
  the pod that holds the GPU (its Kubernetes pod mapping) and scraped keeping its `namespace` and
  `pod` labels (honorLabels): selected as pods named `<workload>-...` in the namespace. Without
  it the GPU panels are empty and the GPU alert cannot fire; nothing else depends on it.
- Alerts go to the Alertmanager the operator's Prometheus sends to; the user's Alertmanager
  routes them (by `alertname`, `severity` or `deployment`) to its receivers.
- An engine that publishes no such histogram gets no alert on it (TGI has no time-to-first-token
  histogram, Triton neither nor a time per token): no alert that could never fire.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modules.engine_prometheus import (
    RUNNING_GAUGE,
    TPOT_HISTOGRAMS,
    TTFT_HISTOGRAMS,
    WAITING_GAUGE,
)
from modules.kubernetes.engines import metrics_port

if TYPE_CHECKING:
    from modules.kubernetes.workload import WorkloadProps

DASHBOARD_LABEL = {"grafana_dashboard": "1"}
"""What Grafana's dashboard sidecar looks for in every namespace, as kube-prometheus-stack
configures it (charts/kube-prometheus-stack/values.yaml, chart 88.5.3: grafana.sidecar.dashboards
label grafana_dashboard, labelValue "1", searchNamespace ALL)."""
RATE_WINDOW = "5m"

REQUESTS_COUNTER = {
    "vllm": "vllm:request_success_total",
    "tgi": "tgi_request_success",
    # triton-inference-server/server docs/user_guide/metrics.md: successful inference requests.
    "triton": "nv_inference_request_success",
}
"""Requests finished, a counter (vLLM's `vllm:request_success` exposed with the client's _total
suffix; TGI's as documented)."""
KV_CACHE_GAUGE = {"vllm": "vllm:kv_cache_usage_perc"}
"""KV-cache blocks in use, 1 = full (vLLM; the deprecated vllm:gpu_cache_usage_perc is the
same figure)."""
DCGM_GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"
DCGM_FB_USED = "DCGM_FI_DEV_FB_USED"
DCGM_FB_FREE = "DCGM_FI_DEV_FB_FREE"
"""NVIDIA DCGM exporter's default counters: GPU utilization in percent, frame buffer used and
free in MiB (NVIDIA/dcgm-exporter etc/default-counters.csv)."""


@dataclass(frozen=True, kw_only=True)
class MonitoringProps:
    """What the PodMonitor, the alerts and the dashboard need besides the workload."""

    ttft_p95_s: float | None = None
    """The profile's time-to-first-token p95 target, in seconds. Default: None (no alert)."""
    tpot_s: float | None = None
    """The profile's time-per-output-token target (a mean), in seconds. Default: None."""
    waiting_per_pod: int
    """Requests waiting in one pod above which it alerts: the engine's max batch (the planned
    queue never exceeds one batch). Required."""
    for_minutes: int = 5
    """How long a condition holds before its alert fires. Default: 5, as the fleets' alarms."""
    gpu_memory_full: float = 0.95
    """The share of a GPU's memory above which it alerts. vLLM reserves
    --gpu-memory-utilization of it (0.9 by default) at start, so only growth beyond that fires.
    Default: 0.95, as the fleets' alarm."""
    scrape_interval_s: int = 30
    """How often Prometheus scrapes the engine. Default: 30 (KEDA's polling interval)."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels the operator's Prometheus selects PodMonitors and PrometheusRules by. Default:
    none (a Prometheus that selects all)."""


def engine_selector(workload: WorkloadProps) -> str:
    """The PodMonitor's job: every series scraped from the workload's pods."""
    return f'job="{workload.namespace}/{workload.name}"'


def gpu_selector(workload: WorkloadProps) -> str:
    """The DCGM exporter's series of the GPUs the workload's pods hold."""
    return f'namespace="{workload.namespace}",pod=~"{workload.name}-.+"'


def _series(names: tuple[str, ...], suffix: str, selector: str) -> str:
    """A histogram's `suffix` series under every name a release gives it (summed by the caller:
    where a release exposes both names, each observation counts twice, which leaves quantiles
    and means unchanged)."""
    if len(names) == 1:
        return f"{names[0]}{suffix}{{{selector}}}"
    pattern = "|".join(f"{name}{suffix}" for name in names)
    return f'{{__name__=~"{pattern}",{selector}}}'


def _mean(names: tuple[str, ...], selector: str) -> str:
    window = RATE_WINDOW
    return (
        f"sum(rate({_series(names, '_sum', selector)}[{window}])) / "
        f"sum(rate({_series(names, '_count', selector)}[{window}]))"
    )


def _quantile(quantile: float, names: tuple[str, ...], selector: str) -> str:
    return (
        f"histogram_quantile({quantile}, sum by (le) "
        f"(rate({_series(names, '_bucket', selector)}[{RATE_WINDOW}])))"
    )


def gpu_memory_share(workload: WorkloadProps) -> str:
    """PromQL: the fullest GPU's memory share per pod."""
    selector = gpu_selector(workload)
    return (
        f"max by (pod) ({DCGM_FB_USED}{{{selector}}} / "
        f"({DCGM_FB_USED}{{{selector}}} + {DCGM_FB_FREE}{{{selector}}}))"
    )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(float(value), 6))


def alert_rules(workload: WorkloadProps, props: MonitoringProps) -> list[dict[str, Any]]:
    """The alerts that apply to the workload's engine, in a fixed order."""
    engine = workload.engine
    selector = engine_selector(workload)
    rules: list[tuple[str, str, str]] = []
    if props.ttft_p95_s is not None and engine in TTFT_HISTOGRAMS:
        rules.append(
            (
                "ServingTimeToFirstTokenP95AboveTarget",
                f"{_quantile(0.95, TTFT_HISTOGRAMS[engine], selector)} > "
                f"{_number(props.ttft_p95_s)}",
                f"time to first token p95 is above the target of {_number(props.ttft_p95_s)} s",
            )
        )
    if props.tpot_s is not None and engine in TPOT_HISTOGRAMS:
        rules.append(
            (
                "ServingTimePerOutputTokenAboveTarget",
                f"{_mean(TPOT_HISTOGRAMS[engine], selector)} > {_number(props.tpot_s)}",
                f"the mean time per output token is above the target of {_number(props.tpot_s)} s",
            )
        )
    rules.append(
        (
            "ServingRequestsWaitingAbovePlan",
            f"max by (pod) ({WAITING_GAUGE[engine]}{{{selector}}}) > {props.waiting_per_pod}",
            f"a pod has more than {props.waiting_per_pod} requests waiting (one full batch, "
            "beyond the planned queue)",
        )
    )
    rules.append(
        (
            "ServingGpuMemoryNearFull",
            f"{gpu_memory_share(workload)} > {_number(props.gpu_memory_full)}",
            f"a GPU of the workload uses more than {props.gpu_memory_full:.0%} of its memory",
        )
    )
    return [
        {
            "alert": name,
            "expr": expr,
            "for": f"{props.for_minutes}m",
            "labels": {"severity": "warning", "deployment": workload.name},
            "annotations": {
                "summary": f"{workload.namespace}/{workload.name}: {summary}.",
            },
        }
        for name, expr, summary in rules
    ]


def _metadata(workload: WorkloadProps, name: str, labels: dict[str, str]) -> dict[str, Any]:
    from modules.kubernetes.workload import MANAGED_BY

    return {
        "name": name,
        "namespace": workload.namespace,
        "labels": {
            **workload.labels,
            **labels,
            "app.kubernetes.io/name": workload.name,
            "app.kubernetes.io/component": "monitoring",
            "app.kubernetes.io/managed-by": MANAGED_BY,
        },
    }


def pod_monitor(workload: WorkloadProps, props: MonitoringProps) -> dict[str, Any]:
    """The engine's /metrics on every pod of the workload (either track, or KServe's)."""
    from modules.kubernetes.workload import KSERVE_POD_LABEL

    if workload.kserve:
        selector = {KSERVE_POD_LABEL: workload.name}
    else:
        selector = {"app.kubernetes.io/name": workload.name}
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": _metadata(workload, workload.name, props.labels),
        "spec": {
            "selector": {"matchLabels": selector},
            "podMetricsEndpoints": [
                {
                    "portNumber": metrics_port(workload.engine, workload.port),
                    "path": "/metrics",
                    "interval": f"{props.scrape_interval_s}s",
                }
            ],
        },
    }


def prometheus_rule(workload: WorkloadProps, props: MonitoringProps) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": _metadata(workload, workload.name, props.labels),
        "spec": {
            "groups": [{"name": f"{workload.name}.serving", "rules": alert_rules(workload, props)}]
        },
    }


def _panel(
    title: str,
    targets: list[tuple[str, str]],
    *,
    unit: str,
    position: tuple[int, int],
    threshold: float | None = None,
) -> dict[str, Any]:
    """A time series panel; `threshold` is drawn as a red line."""
    defaults: dict[str, Any] = {"unit": unit, "min": 0}
    if threshold is not None:
        defaults["thresholds"] = {
            "mode": "absolute",
            "steps": [{"color": "green", "value": None}, {"color": "red", "value": threshold}],
        }
        defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
    x, y = position
    return {
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"x": x, "y": y, "w": 12, "h": 8},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + index), "expr": expr, "legendFormat": legend}
            for index, (expr, legend) in enumerate(targets)
        ],
    }


def dashboard(workload: WorkloadProps, props: MonitoringProps) -> dict[str, Any]:
    """The Grafana dashboard: requests, TTFT and TPOT p50/p95 against the targets, running and
    waiting requests against a batch, KV-cache use, GPU utilization and memory."""
    engine = workload.engine
    selector = engine_selector(workload)
    window = RATE_WINDOW
    panels: list[tuple[str, list[tuple[str, str]], str, float | None]] = [
        (
            "Requests per second",
            [(f"sum(rate({REQUESTS_COUNTER[engine]}{{{selector}}}[{window}]))", "finished")],
            "reqps",
            None,
        )
    ]
    if engine in TTFT_HISTOGRAMS:
        panels.append(
            (
                "Time to first token",
                [
                    (_quantile(q, TTFT_HISTOGRAMS[engine], selector), f"p{round(q * 100)}")
                    for q in (0.5, 0.95)
                ],
                "s",
                props.ttft_p95_s,
            )
        )
    if engine in TPOT_HISTOGRAMS:
        panels.append(
            (
                "Time per output token",
                [
                    (_quantile(q, TPOT_HISTOGRAMS[engine], selector), f"p{round(q * 100)}")
                    for q in (0.5, 0.95)
                ]
                + [(_mean(TPOT_HISTOGRAMS[engine], selector), "mean")],
                "s",
                props.tpot_s,
            )
        )
    queue = [(f"max by (pod) ({WAITING_GAUGE[engine]}{{{selector}}})", "waiting {{pod}}")]
    if engine in RUNNING_GAUGE:
        queue.append((f"max by (pod) ({RUNNING_GAUGE[engine]}{{{selector}}})", "running {{pod}}"))
    panels.append(("Requests running and waiting per pod", queue, "short", props.waiting_per_pod))
    if engine in KV_CACHE_GAUGE:
        panels.append(
            (
                "KV-cache use",
                [(f"max by (pod) ({KV_CACHE_GAUGE[engine]}{{{selector}}})", "{{pod}}")],
                "percentunit",
                None,
            )
        )
    gpu = gpu_selector(workload)
    panels += [
        (
            "GPU utilization",
            [(f"avg by (pod) ({DCGM_GPU_UTIL}{{{gpu}}})", "{{pod}}")],
            "percent",
            None,
        ),
        (
            "GPU memory (fullest GPU)",
            [(gpu_memory_share(workload), "{{pod}}")],
            "percentunit",
            props.gpu_memory_full,
        ),
    ]
    return {
        "uid": workload.name,
        "title": f"{workload.namespace}/{workload.name} serving",
        "tags": ["infra", "serving", workload.engine],
        "timezone": "browser",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                }
            ]
        },
        "panels": [
            _panel(
                title,
                targets,
                unit=unit,
                threshold=limit,
                position=(12 * (i % 2), 8 * (i // 2)),
            )
            for i, (title, targets, unit, limit) in enumerate(panels)
        ],
    }


def dashboard_config_map(workload: WorkloadProps, props: MonitoringProps) -> dict[str, Any]:
    """The dashboard as Grafana's sidecar finds it: a ConfigMap labelled grafana_dashboard=1."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(workload, f"{workload.name}-dashboard", DASHBOARD_LABEL),
        "data": {f"{workload.name}.json": json.dumps(dashboard(workload, props), sort_keys=True)},
    }


def render_monitoring(workload: WorkloadProps, props: MonitoringProps) -> list[dict[str, Any]]:
    return [
        pod_monitor(workload, props),
        prometheus_rule(workload, props),
        dashboard_config_map(workload, props),
    ]
