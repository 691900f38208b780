"""Engine and GPU metrics of an Azure fleet: what each instance publishes to Azure Monitor as
custom metrics of its scale set (templates/user_data/azure_metrics.py, which explains why no agent
is installed), and the contract the fleet's autoscale rules and alerts read.

Engine gauges (vLLM's and TGI's running and waiting, modules/engine_prometheus.py), renamed
RequestsRunning and RequestsWaiting, one value per replica (each replica's /metrics is read on its
own port), so Azure's Average over the scale set is per replica:

- RequestsInFlight: running + waiting of the same replica (autoscale rules cannot add metrics).
- Triton: none (its metrics port is off, as on AWS: it could collide with the replicas' ports).

GPU metrics from nvidia-smi, one value per GPU: GpuUtilization and GpuMemoryPercent (memory used
over total); the Maximum statistic is the fullest GPU.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from modules.engine_prometheus import queue_gauges
from modules.user_data import replica_ports

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

METRICS_NAMESPACE = "InfraServing"
"""The custom metrics' namespace on the scale set (autoscale's and alerts' metric_namespace)."""
RUNNING_METRIC = "RequestsRunning"
WAITING_METRIC = "RequestsWaiting"
IN_FLIGHT_METRIC = "RequestsInFlight"
GPU_UTILIZATION_METRIC = "GpuUtilization"
GPU_MEMORY_METRIC = "GpuMemoryPercent"
INTERVAL_S = 60
"""Azure Monitor's metric resolution is one minute."""
PUBLISHER_PATH = "/opt/infra-serving/azure_metrics.py"
CONFIG_PATH = "/etc/infra-serving/metrics.json"

ENGINE_GAUGES = queue_gauges(RUNNING_METRIC, WAITING_METRIC)
"""The engine's Prometheus gauge -> the published metric."""


def publishes_engine_gauges(spec: DeploymentSpec) -> bool:
    """Whether `spec`'s instances publish the engine's queue gauges (and so RequestsInFlight)."""
    return spec.runtime.engine in ENGINE_GAUGES


def publisher_config(spec: DeploymentSpec) -> str:
    """The publisher's JSON configuration for `spec`'s instances (GPU metrics always: every
    Azure GPU VM the catalog offers is NVIDIA's)."""
    gauges = ENGINE_GAUGES.get(spec.runtime.engine, {})
    config = {
        "namespace": METRICS_NAMESPACE,
        "interval_s": INTERVAL_S,
        "ports": replica_ports(spec) if gauges else [],
        "gauges": gauges,
        "in_flight": IN_FLIGHT_METRIC if gauges else None,
        "gpu": True,
        "gpu_utilization": GPU_UTILIZATION_METRIC,
        "gpu_memory": GPU_MEMORY_METRIC,
    }
    return json.dumps(config, separators=(",", ":"))
