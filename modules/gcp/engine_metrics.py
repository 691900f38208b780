"""Engine and GPU metrics of a GCP fleet: what each instance publishes to Cloud Monitoring (the
contract with the fleet's autoscaler, alert policies and dashboard) and the Ops Agent's
configuration.

The Ops Agent's Prometheus receiver scrapes every replica's /metrics and writes what it keeps as
Managed Service for Prometheus metrics, `prometheus.googleapis.com/<name>/<kind>` on the
`prometheus_target` resource, labelled with the scrape job (`job`), the replica's address
(`instance`), the VM (`instance_name`, and `namespace` = its id/name) and zone (`location`);
they are queried with PromQL by their Prometheus names ("Collect Prometheus metrics", Ops Agent
documentation; the receiver's resource mapping in GoogleCloudPlatform/ops-agent). What it keeps
is renamed to engine-neutral names (a Prometheus name may not be used with its colon in every
Cloud Monitoring query), everything else dropped; the engines' names are
modules/engine_prometheus.py's:

- the running and waiting gauges of vLLM and TGI -> infra_requests_running, infra_requests_waiting
  (Triton: none, the boot script turns its metrics endpoint off);
- the time to first token and time per output token histograms -> infra_time_to_first_token_seconds,
  infra_time_per_output_token_seconds. Histograms are kept too: the receiver's metrics are Managed
  Service for Prometheus metrics, whose histograms Cloud Monitoring stores as distributions and
  PromQL reads as `_bucket`, `_sum` and `_count` ("Mapping Cloud Monitoring metrics to PromQL"),
  unlike the CloudWatch agent, which drops them. The names a release gives one histogram all map to
  one kept name: where a release exposes both, every bucket doubles, which leaves the quantiles and
  the mean (sum over count) unchanged. TGI has no time to first token histogram: no TTFT alert.

GPU metrics are the Ops Agent's own: on a VM with an NVIDIA driver its default host-metrics
pipeline reads NVML and writes agent.googleapis.com/gpu/utilization (percent) and
agent.googleapis.com/gpu/memory/bytes_used (label memory_state: used, free) per GPU on the
gce_instance resource.

The autoscaler cannot scale per instance on a `prometheus_target` metric (a per-instance metric
has to be on `gce_instance`; compute_region_autoscaler's `metric.filter`), so each instance also
publishes its replicas' requests in flight (running plus waiting, summed over the replicas) once a
minute as IN_FLIGHT_METRIC_TYPE on its own gce_instance (the boot script's publisher, with the
instance's service account, which holds roles/monitoring.metricWriter).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from modules.engine_prometheus import TPOT_HISTOGRAMS, TTFT_HISTOGRAMS, queue_gauges
from modules.user_data import replica_ports

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

IN_FLIGHT_METRIC_TYPE = "custom.googleapis.com/infra_serving/requests_in_flight"
"""A GAUGE on gce_instance: requests running plus waiting over the instance's replicas."""
RUNNING_METRIC = "infra_requests_running"
WAITING_METRIC = "infra_requests_waiting"
GPU_UTILIZATION_METRIC = "agent.googleapis.com/gpu/utilization"
GPU_MEMORY_METRIC = "agent.googleapis.com/gpu/memory/bytes_used"

ENGINE_GAUGES = queue_gauges(RUNNING_METRIC, WAITING_METRIC)
"""The engine's Prometheus gauge -> the name it is kept under."""
TTFT_METRIC = "infra_time_to_first_token_seconds"
TPOT_METRIC = "infra_time_per_output_token_seconds"
ENGINE_HISTOGRAMS: dict[str, dict[str, str]] = {
    "vllm": {
        "vllm:time_to_first_token_seconds": TTFT_METRIC,
        "vllm:time_per_output_token_seconds": TPOT_METRIC,
        "vllm:inter_token_latency_seconds": TPOT_METRIC,
    },
}
"""The engine's Prometheus histogram -> the name it is kept under (sources in the docstring)."""
HISTOGRAM_SERIES = "(_bucket|_sum|_count)"

INTERVAL_S = 60
OPS_AGENT_CONFIG_PATH = "/etc/google-cloud-ops-agent/config.yaml"
RECEIVER = "infra_engine"


def scrape_job(stack_name: str) -> str:
    """The Prometheus job label every engine sample of the deployment carries."""
    return f"{stack_name}-engine"


def scrapes_engine(spec: DeploymentSpec) -> bool:
    return spec.runtime.engine in ENGINE_GAUGES


def kept_histograms(engine: str) -> dict[str, str]:
    """The engine's Prometheus histogram -> the name it is kept under (only for an engine whose
    gauges are scraped: the receiver runs for those)."""
    if engine not in ENGINE_GAUGES:
        return {}
    kept = {name: TTFT_METRIC for name in TTFT_HISTOGRAMS.get(engine, ())}
    return kept | {name: TPOT_METRIC for name in TPOT_HISTOGRAMS.get(engine, ())}


def keeps_ttft(spec: DeploymentSpec) -> bool:
    """Whether the engine's time to first token histogram reaches Cloud Monitoring."""
    return TTFT_METRIC in kept_histograms(spec.runtime.engine).values()


def keeps_tpot(spec: DeploymentSpec) -> bool:
    """Whether the engine's time per output token histogram reaches Cloud Monitoring."""
    return TPOT_METRIC in kept_histograms(spec.runtime.engine).values()


def in_flight_per_instance(spec: DeploymentSpec) -> float | None:
    """The autoscaler's in-flight target per instance: the planner's per replica times the
    replicas an instance runs; None when the fleet does not scale on it (a flat fleet, or an
    engine without the gauges)."""
    per_replica = spec.scaling.in_flight_per_replica
    if per_replica is None or not scrapes_engine(spec):
        return None
    return round(per_replica * spec.runtime.replicas_per_instance, 2)


def ops_agent_config(spec: DeploymentSpec) -> str | None:
    """The Ops Agent's configuration (YAML is a superset of JSON): a Prometheus receiver on the
    engine's replicas in its own pipeline, beside the agent's default host and GPU metrics. None
    for an engine whose metrics are not scraped (the agent's defaults are then enough)."""
    gauges = ENGINE_GAUGES.get(spec.runtime.engine)
    if gauges is None:
        return None
    relabel: list[dict[str, object]] = [
        {
            "source_labels": ["__name__"],
            "regex": name,
            "target_label": "__name__",
            "replacement": kept,
        }
        for name, kept in gauges.items()
    ]
    histograms = kept_histograms(spec.runtime.engine)
    relabel += [
        {
            "source_labels": ["__name__"],
            "regex": f"{name}{HISTOGRAM_SERIES}",
            "target_label": "__name__",
            "replacement": f"{kept}${{1}}",
        }
        for name, kept in histograms.items()
    ]
    kept_names = [RUNNING_METRIC, WAITING_METRIC] + [
        f"{kept}{HISTOGRAM_SERIES}" for kept in dict.fromkeys(histograms.values())
    ]
    relabel.append({"source_labels": ["__name__"], "regex": "|".join(kept_names), "action": "keep"})
    scrape = {
        "job_name": scrape_job(spec.stack_name),
        "scrape_interval": f"{INTERVAL_S}s",
        "scrape_timeout": "10s",
        "metrics_path": "/metrics",
        "static_configs": [{"targets": [f"127.0.0.1:{port}" for port in replica_ports(spec)]}],
        "metric_relabel_configs": relabel,
    }
    config = {
        "metrics": {
            "receivers": {RECEIVER: {"type": "prometheus", "config": {"scrape_configs": [scrape]}}},
            "service": {"pipelines": {RECEIVER: {"receivers": [RECEIVER]}}},
        }
    }
    return json.dumps(config, separators=(",", ":"))


def in_flight_pattern(spec: DeploymentSpec) -> str | None:
    """The extended regular expression of the engine's running and waiting gauges' sample lines
    (the publisher sums them); None for an engine without them."""
    gauges = ENGINE_GAUGES.get(spec.runtime.engine)
    if gauges is None:
        return None
    return "^(" + "|".join(gauges) + ")[{ ]"
