"""Engine and GPU metrics of an AWS fleet: what the CloudWatch agent on each instance publishes
(the contract with the fleet's scaling, alarms and dashboard) and the agent's configuration.

The agent scrapes the engine's Prometheus /metrics on every replica's port and publishes through
CloudWatch Logs in embedded metric format (the agent's only Prometheus path on EC2). It keeps
gauges, counters and summaries and drops histograms ("Prometheus metric type conversion by the
CloudWatch agent", docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
ContainerInsights-Prometheus-metrics-conversion.html), so the engines' TTFT and TPOT histograms
cannot reach CloudWatch this way: a small exporter on the instance (modules/aws/latency_exporter.py)
turns them into TimeToFirstTokenP95Ms and TimePerOutputTokenP50Ms, one value per instance and
minute, sent to the agent's embedded-metric-format listener (`logs.metrics_collected.emf`).
Engine gauges (vLLM's and TGI's running and waiting, modules/engine_prometheus.py), renamed
RequestsRunning and RequestsWaiting. Triton: none; the boot script turns Triton's metrics endpoint
off (--allow-metrics=false: its port 8002 could collide with the replicas' ports).

Each replica is scraped on its own port, so each replica's gauges are one sample a minute: the
Average statistic of RequestsRunning/RequestsWaiting over the group is per replica, not per
instance. RequestsInFlight is not published (the agent cannot add two gauges): it is the metric
math RUNNING + WAITING (`in_flight_expression`).

GPU metrics come from the agent's own nvidia_gpu measurement (nvidia-smi), one sample per GPU:
Maximum(GpuMemoryUsed) / Maximum(GpuMemoryTotal) is the fullest GPU's share. Neuron instances have
none. Every metric carries the one dimension AutoScalingGroupName = the fleet's group name.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from modules.aws.latency_exporter import TPOT_METRIC, TTFT_METRIC
from modules.engine_prometheus import TPOT_HISTOGRAMS, TTFT_HISTOGRAMS, queue_gauges
from modules.user_data import replica_ports
from providers.aws.neuron import is_neuron

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

ENGINE_METRICS_NAMESPACE = "InfraServing"
GROUP_DIMENSION = "AutoScalingGroupName"
RUNNING_METRIC = "RequestsRunning"
WAITING_METRIC = "RequestsWaiting"
IN_FLIGHT_METRIC = "RequestsInFlight"
"""Not published (the agent cannot add two gauges): the id of the metric-math expression
RUNNING + WAITING (`in_flight_expression`) that target tracking and the dashboard use."""
GPU_UTILIZATION_METRIC = "GpuUtilization"
GPU_MEMORY_USED_METRIC = "GpuMemoryUsed"
GPU_MEMORY_TOTAL_METRIC = "GpuMemoryTotal"
GPU_POWER_METRIC = "GpuPowerDraw"
GPU_TEMPERATURE_METRIC = "GpuTemperature"

ENGINE_GAUGES = queue_gauges(RUNNING_METRIC, WAITING_METRIC)
"""The engine's Prometheus gauge -> the published metric."""

GPU_MEASUREMENTS = {
    "utilization_gpu": (GPU_UTILIZATION_METRIC, "Percent"),
    "memory_used": (GPU_MEMORY_USED_METRIC, "Megabytes"),
    "memory_total": (GPU_MEMORY_TOTAL_METRIC, "Megabytes"),
    "power_draw": (GPU_POWER_METRIC, "None"),
    "temperature_gpu": (GPU_TEMPERATURE_METRIC, "None"),
}
"""The agent's nvidia_gpu fields (MiB, watts, degrees C) -> the published metric and unit."""

INTERVAL_S = 60
"""Scrape and publish period: CloudWatch's standard resolution."""
AGENT_DIR = "/opt/aws/amazon-cloudwatch-agent"
"""Where the agent's package installs it (bin/amazon-cloudwatch-agent-ctl, etc/)."""
AGENT_CONFIG_FILE = "infra-serving.json"
PROMETHEUS_CONFIG_FILE = "infra-prometheus.yaml"
PROMETHEUS_CONFIG_PATH = f"{AGENT_DIR}/etc/{PROMETHEUS_CONFIG_FILE}"
SCRAPE_JOB = "serving"
METRICS_LOG_RETENTION_DAYS = 365
"""The embedded-metric-format events only carry the metrics (which CloudWatch keeps 15 months);
a year, as checkov's CKV_AWS_338 asks, costs little: two small events per replica a minute."""


def fleet_group_name(stack_name: str) -> str:
    """The fleet's Auto Scaling group name, the metrics' one dimension, as modules/aws/fleet.py
    names the group (a literal: the boot script is rendered before the group exists)."""
    return f"{stack_name}-fleet"


def metrics_log_group(stack_name: str) -> str:
    """The log group the agent's embedded-metric-format events land in (created by the stack)."""
    return f"/infra/{stack_name}/engine-metrics"


def in_flight_expression(running_id: str = "running", waiting_id: str = "waiting") -> str:
    """Requests in flight per replica: running plus waiting."""
    return f"{running_id} + {waiting_id}"


def prometheus_config(spec: DeploymentSpec) -> str | None:
    """The agent's Prometheus scrape configuration (YAML is a superset of JSON), or None for an
    engine whose metrics are not scraped."""
    gauges = ENGINE_GAUGES.get(spec.runtime.engine)
    if gauges is None:
        return None
    relabel = [
        {
            "source_labels": ["__name__"],
            "regex": name,
            "target_label": "__name__",
            "replacement": published,
        }
        for name, published in gauges.items()
    ]
    relabel.append(
        {
            "source_labels": ["__name__"],
            "regex": f"{RUNNING_METRIC}|{WAITING_METRIC}",
            "action": "keep",
        }
    )
    config = {
        "global": {"scrape_interval": f"{INTERVAL_S}s", "scrape_timeout": "10s"},
        "scrape_configs": [
            {
                "job_name": SCRAPE_JOB,
                "metrics_path": "/metrics",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{port}" for port in replica_ports(spec)],
                        "labels": {GROUP_DIMENSION: fleet_group_name(spec.stack_name)},
                    }
                ],
                "metric_relabel_configs": relabel,
            }
        ],
    }
    return json.dumps(config, separators=(",", ":"))


def publishes_gpu_metrics(spec: DeploymentSpec) -> bool:
    """Whether the agent publishes GPU metrics for `spec` (NVIDIA GPUs; not Neuron chips)."""
    return not is_neuron(spec.accelerator)


def scrapes_engine(spec: DeploymentSpec) -> bool:
    """Whether the agent scrapes `spec`'s engine (and so ships embedded-metric-format logs)."""
    return spec.runtime.engine in ENGINE_GAUGES


def latency_histograms(engine: str) -> dict[str, tuple[str, ...]]:
    """Latency metric the exporter publishes (one value per instance and minute; Maximum over the
    group is the slowest instance's) -> the engine's names of its histogram (none without one:
    TGI has no time-to-first-token histogram, Triton neither)."""
    names = {TTFT_METRIC: TTFT_HISTOGRAMS.get(engine), TPOT_METRIC: TPOT_HISTOGRAMS.get(engine)}
    return {metric: found for metric, found in names.items() if found}


def latency_metrics(spec: DeploymentSpec) -> tuple[str, ...]:
    """The latency metrics the exporter publishes for `spec`'s engine."""
    return tuple(latency_histograms(spec.runtime.engine))


def agent_config(spec: DeploymentSpec) -> str | None:
    """The CloudWatch agent's JSON configuration for `spec`'s instances; None when there is
    nothing to collect (Neuron chips and an engine without scraped gauges)."""
    config: dict[str, object] = {"agent": {"metrics_collection_interval": INTERVAL_S}}
    if publishes_gpu_metrics(spec):
        config["metrics"] = {
            "namespace": ENGINE_METRICS_NAMESPACE,
            "aggregation_dimensions": [[GROUP_DIMENSION]],
            "metrics_collected": {
                "nvidia_gpu": {
                    "measurement": [
                        {"name": name, "rename": metric, "unit": unit}
                        for name, (metric, unit) in GPU_MEASUREMENTS.items()
                    ],
                    "metrics_collection_interval": INTERVAL_S,
                    "append_dimensions": {GROUP_DIMENSION: fleet_group_name(spec.stack_name)},
                }
            },
        }
    if scrapes_engine(spec):
        config["logs"] = {
            "metrics_collected": {
                "prometheus": {
                    "log_group_name": metrics_log_group(spec.stack_name),
                    "prometheus_config_path": PROMETHEUS_CONFIG_PATH,
                    "emf_processor": {
                        "metric_namespace": ENGINE_METRICS_NAMESPACE,
                        "metric_declaration": [
                            {
                                "source_labels": ["job"],
                                "label_matcher": f"^{SCRAPE_JOB}$",
                                "dimensions": [[GROUP_DIMENSION]],
                                "metric_selectors": [f"^{RUNNING_METRIC}$", f"^{WAITING_METRIC}$"],
                            }
                        ],
                    },
                },
                # The exporter's records (modules/aws/latency_exporter.py), tcp 127.0.0.1:25888.
                "emf": {},
            },
            "force_flush_interval": INTERVAL_S,
        }
    if len(config) == 1:
        return None
    return json.dumps(config, separators=(",", ":"))


def agent_policy_statements(log_group_arn: str | None) -> list[dict[str, object]]:
    """What the agent calls: PutMetricData in the one namespace (the action has no resource-level
    permissions: the namespace condition is the restriction) and, when the engine's metrics travel
    as embedded-metric-format logs (`log_group_arn`), writing streams of that one log group."""
    statements: list[dict[str, object]] = [
        {
            "Sid": "PublishServingMetrics",
            "Effect": "Allow",
            "Action": "cloudwatch:PutMetricData",
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": ENGINE_METRICS_NAMESPACE}},
        }
    ]
    if log_group_arn:
        statements.append(
            {
                "Sid": "ShipEngineMetricEvents",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
            }
        )
    return statements
