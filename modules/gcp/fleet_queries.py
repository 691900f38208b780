"""The PromQL a GCP fleet is watched with (its alert policies and dashboard): the engines'
metrics by the Ops Agent's scrape job, the GPUs' by the fleet's VM names, the load balancer's by
its URL map (engine_metrics.py for where each comes from).

Cloud Monitoring metric names become PromQL names with the first `/` as `:` and every other
special character as `_`; a metadata label `name` is `metadata_system_name` ("Mapping Cloud
Monitoring metrics to PromQL", cloud.google.com/monitoring/promql/promql-mapping). The load
balancer's request counts are `https_lb_rule` (global external Application Load Balancer) or
`internal_http_lb_rule` (regional internal) resources, both labelled with the URL map's name and
each request's response_code_class (Google Cloud metrics list, loadbalancing).
"""

from __future__ import annotations

from dataclasses import dataclass

from modules.gcp.engine_metrics import (
    RUNNING_METRIC,
    TPOT_METRIC,
    TTFT_METRIC,
    WAITING_METRIC,
)

GPU_UTILIZATION = "agent_googleapis_com:gpu_utilization"
GPU_MEMORY = "agent_googleapis_com:gpu_memory_bytes_used"
PUBLIC_REQUESTS = ("loadbalancing_googleapis_com:https_request_count", "https_lb_rule")
INTERNAL_REQUESTS = (
    "loadbalancing_googleapis_com:https_internal_request_count",
    "internal_http_lb_rule",
)
WINDOW = "5m"


@dataclass(frozen=True, kw_only=True)
class FleetQueries:
    """Where one fleet's metrics are, and the queries over them."""

    job: str
    """The Ops Agent's scrape job of the fleet's engines (engine_metrics.scrape_job)."""
    instance_prefixes: tuple[str, ...]
    """The groups' base instance names: their VMs are named `<prefix>-<4 characters>`."""
    url_map: str
    """The load balancer's URL map name."""
    public: bool
    """A global external load balancer (else regional internal)."""

    def _engine(self, metric: str) -> str:
        return f'{metric}{{job="{self.job}"}}'

    def _gpu(self, metric: str, extra: str = "") -> str:
        names = "|".join(self.instance_prefixes)
        return f'{metric}{{metadata_system_name=~"({names})-[a-z0-9]+"{extra}}}'

    def _requests(self, extra: str = "") -> str:
        metric, resource = PUBLIC_REQUESTS if self.public else INTERNAL_REQUESTS
        selector = f'monitored_resource="{resource}",url_map_name="{self.url_map}"{extra}'
        return f"sum(rate({metric}{{{selector}}}[{WINDOW}]))"

    @property
    def requests_per_second(self) -> str:
        return self._requests()

    @property
    def errors_per_second(self) -> str:
        return self._requests(',response_code_class="500"')

    @property
    def error_percent(self) -> str:
        return f"100 * {self.errors_per_second} / {self.requests_per_second}"

    @property
    def running_per_replica(self) -> str:
        return f"avg({self._engine(RUNNING_METRIC)})"

    @property
    def waiting_per_replica(self) -> str:
        return f"avg({self._engine(WAITING_METRIC)})"

    def ttft_seconds(self, quantile: float) -> str:
        buckets = self._engine(f"{TTFT_METRIC}_bucket")
        return f"histogram_quantile({quantile}, sum by (le) (rate({buckets}[{WINDOW}])))"

    @property
    def tpot_seconds(self) -> str:
        """The mean time per output token over the fleet."""
        total = self._engine(f"{TPOT_METRIC}_sum")
        count = self._engine(f"{TPOT_METRIC}_count")
        return f"sum(rate({total}[{WINDOW}])) / sum(rate({count}[{WINDOW}]))"

    @property
    def gpu_utilization_percent(self) -> str:
        return f"avg({self._gpu(GPU_UTILIZATION)})"

    @property
    def fullest_gpu_memory_percent(self) -> str:
        """The fullest GPU's memory in use, in percent of its memory (used over used + free)."""
        used = self._gpu(GPU_MEMORY, ',memory_state="used"')
        every = self._gpu(GPU_MEMORY)
        per_gpu = "by (instance_id, gpu_number)"
        return f"100 * max(sum {per_gpu} ({used}) / sum {per_gpu} ({every}))"

    def instances(self, prefix: str) -> str:
        """The VMs of one group that report GPU metrics."""
        return (
            f'count(count by (instance_id) ({GPU_UTILIZATION}{{metadata_system_name=~"{prefix}-'
            '[a-z0-9]+"}))'
        )
