"""Publishes a serving instance's engine and GPU gauges to Azure Monitor as custom metrics of its
scale set, once a minute (modules/azure/engine_metrics.py holds the contract; the boot script
installs this file and runs it as a systemd service).

Why not the Azure Monitor agent: its data collection rules send a Linux VM's performance counters
(processor, memory, disk, network) to Azure Monitor Metrics, and Prometheus metrics of a VM only to
an Azure Monitor workspace, which neither autoscale nor metric alerts on the scale set read. The
custom metrics REST API ("Ingest custom metrics for an Azure resource using the REST API",
learn.microsoft.com/azure/azure-monitor/essentials/metrics-store-custom-rest-api) is what
Telegraf's azure_monitor output posts to; these few gauges need no agent: the engine's /metrics of
each replica, nvidia-smi, and the managed identity's token from the instance metadata service.

Each minute and metric, one series without dimensions: min, max, sum and count over the replicas
(or GPUs), so Azure's Average is per replica (per GPU) across the whole scale set. Standard library
only (the image's python3); a failed scrape or post is logged and retried the next minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone

IMDS = "http://169.254.169.254/metadata"
MONITORING = "https://monitoring.azure.com/"
"""The token's audience for custom metrics (the trailing slash is required)."""
TIMEOUT_S = 10


def gauge_values(text: str, gauges: dict[str, str]) -> dict[str, float]:
    """The published name -> value of `gauges` in one Prometheus exposition `text` (samples of
    one gauge with different labels are added up)."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name not in gauges:
            continue
        sample = line.rsplit("}", 1)[-1].split() if "{" in line else line.split()[1:]
        if sample:
            published = gauges[name]
            values[published] = values.get(published, 0.0) + float(sample[0])
    return values


def replica_samples(
    texts: list[str], gauges: dict[str, str], in_flight: str | None
) -> dict[str, list[float]]:
    """Per published metric, one value per replica that answered; `in_flight` (when named) is
    the sum of the replica's gauges."""
    samples: dict[str, list[float]] = {}
    for text in texts:
        values = gauge_values(text, gauges)
        if in_flight and values:
            values[in_flight] = sum(values.values())
        for name, value in values.items():
            samples.setdefault(name, []).append(value)
    return samples


def gpu_samples(csv_text: str, utilization: str, memory: str) -> dict[str, list[float]]:
    """`nvidia-smi --query-gpu=utilization.gpu,memory.used,memory.total --format=csv,noheader,
    nounits` -> utilization and memory used, percent, one value per GPU."""
    samples: dict[str, list[float]] = {utilization: [], memory: []}
    for line in csv_text.strip().splitlines():
        used_percent, used, total = (float(field) for field in line.split(","))
        samples[utilization].append(used_percent)
        samples[memory].append(100.0 * used / total if total else 0.0)
    return {name: values for name, values in samples.items() if values}


def payload(namespace: str, metric: str, values: list[float], at: datetime) -> dict[str, object]:
    """One custom-metric record: the minute's min, max, sum and count of `values`."""
    return {
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": {
            "baseData": {
                "metric": metric,
                "namespace": namespace,
                "series": [
                    {
                        "min": min(values),
                        "max": max(values),
                        "sum": sum(values),
                        "count": len(values),
                    }
                ],
            }
        },
    }


def _get(url: str, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return response.read()


def _imds(path: str) -> dict[str, object]:
    # The metadata service answers only requests carrying its header, never through a proxy.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{IMDS}/{path}", headers={"Metadata": "true"})
    with opener.open(request, timeout=TIMEOUT_S) as response:
        return json.load(response)


class Token:
    """The scale set's managed identity's token for Azure Monitor (its one user-assigned
    identity: IMDS needs no client ID), renewed five minutes before it expires."""

    def __init__(self) -> None:
        self.value, self.expires = "", 0.0

    def get(self) -> str:
        if time.time() > self.expires - 300:
            answer = _imds(f"identity/oauth2/token?api-version=2018-02-01&resource={MONITORING}")
            self.value, self.expires = str(answer["access_token"]), float(answer["expires_on"])
        return self.value


def scale_set_target() -> tuple[str, str]:
    """The scale set's resource ID and region, from the instance metadata service."""
    compute = _imds("instance/compute?api-version=2021-02-01")
    resource_id = (
        f"/subscriptions/{compute['subscriptionId']}/resourceGroups/"
        f"{compute['resourceGroupName']}/providers/Microsoft.Compute/virtualMachineScaleSets/"
        f"{compute['vmScaleSetName']}"
    )
    return resource_id, str(compute["location"])


def collect(config: dict[str, object]) -> dict[str, list[float]]:
    gauges: dict[str, str] = config["gauges"]  # type: ignore[assignment]
    texts = []
    for port in config["ports"]:  # type: ignore[attr-defined]
        try:
            texts.append(_get(f"http://127.0.0.1:{port}/metrics").decode())
        except OSError as error:
            print(f"replica on port {port}: {error}", file=sys.stderr)
    samples = replica_samples(texts, gauges, config.get("in_flight"))  # type: ignore[arg-type]
    if config.get("gpu"):
        query = "--query-gpu=utilization.gpu,memory.used,memory.total"
        try:
            smi = subprocess.run(
                ["nvidia-smi", query, "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                check=True,
                timeout=TIMEOUT_S,
            ).stdout
            samples |= gpu_samples(smi, config["gpu_utilization"], config["gpu_memory"])  # type: ignore[arg-type]
        except (OSError, subprocess.SubprocessError, ValueError) as error:
            print(f"nvidia-smi: {error}", file=sys.stderr)
    return samples


def publish(config: dict[str, object], token: Token, resource_id: str, region: str) -> None:
    at = datetime.now(timezone.utc)  # noqa: UP017 (the image's python3 is 3.10).replace(second=0, microsecond=0)
    url = f"https://{region}.monitoring.azure.com{resource_id}/metrics"
    for metric, values in collect(config).items():
        body = json.dumps(payload(str(config["namespace"]), metric, values, at)).encode()
        request = urllib.request.Request(
            url,
            data=body,
            headers={"Authorization": f"Bearer {token.get()}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S):
                pass
        except OSError as error:
            print(f"{metric}: {error}", file=sys.stderr)


def main(config_path: str) -> None:
    with open(config_path, encoding="utf-8") as file:
        config = json.load(file)
    resource_id, region = scale_set_target()
    token = Token()
    while True:
        started = time.monotonic()
        try:
            publish(config, token, resource_id, region)
        except (OSError, KeyError, ValueError) as error:
            print(f"publishing failed: {error}", file=sys.stderr)
        time.sleep(max(float(config["interval_s"]) - (time.monotonic() - started), 1.0))


if __name__ == "__main__":
    main(sys.argv[1])
