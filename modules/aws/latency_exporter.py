"""Runs ON each AWS fleet instance (python3 from the image, standard library only; the boot
script installs it as a systemd service, modules/aws/latency_service.py): every minute it
reads each replica's Prometheus /metrics, takes the TTFT and TPOT histograms' bucket increases
since the previous read, and sends the window's quantiles to the CloudWatch agent as embedded
metric format records (the agent's `emf` listener, tcp 127.0.0.1:25888). The agent itself drops
Prometheus histograms (modules/aws/engine_metrics.py), hence this. It also counts the instance
once a minute as SpotInstances or OnDemandInstances (its purchase option, from the instance
metadata's instance-life-cycle, given by the boot script): Auto Scaling's group metrics do not
split them.

The quantile is Prometheus' histogram_quantile: linear interpolation inside the bucket the rank
falls in, the lowest bucket starting at 0, a rank in the +Inf bucket reported as the highest
finite bound (prometheus/prometheus promql/quantile.go, bucketQuantile). A counter lower than at
the previous read means the replica restarted: its whole count is the window's (as rate() treats
a reset). A window without new observations sends nothing (no request, no latency to report).

The engine's histogram names come as arguments (modules/engine_prometheus.py holds them for
every cloud): for each published metric, the names a release may expose, the first present read.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import time
import urllib.request

NAMESPACE = "InfraServing"
DIMENSION = "AutoScalingGroupName"
TTFT_METRIC = "TimeToFirstTokenP95Ms"
TPOT_METRIC = "TimePerOutputTokenP50Ms"
PURCHASE_METRICS = {"spot": "SpotInstances", "on-demand": "OnDemandInstances"}
"""The metadata's instance-life-cycle -> the metric counting the instance (Sum over a minute:
the group's instances of that kind)."""
QUANTILES = {TTFT_METRIC: 0.95, TPOT_METRIC: 0.5}
"""Published metric -> the quantile of its window that is sent."""
NONE = "-"
AGENT = ("127.0.0.1", 25888)
INTERVAL_S = 60

_SAMPLE = re.compile(r"^([^\s{]+)(?:\{(.*)\})?\s+(\S+)")
_LE = re.compile(r'(?:^|,)\s*le="([^"]*)"')


def parse_buckets(text: str, names: set[str]) -> dict[str, dict[float, float]]:
    """Each named histogram's cumulative bucket counts by upper bound, summed over its other
    labels (model, engine core)."""
    found: dict[str, dict[float, float]] = {}
    for line in text.splitlines():
        sample = _SAMPLE.match(line)
        if not sample or not sample[1].endswith("_bucket") or sample[1][:-7] not in names:
            continue
        bound = _LE.search(sample[2] or "")
        if bound:
            counts = found.setdefault(sample[1][:-7], {})
            counts[float(bound[1])] = counts.get(float(bound[1]), 0.0) + float(sample[3])
    return found


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' histogram_quantile over cumulative `buckets`; None without observations."""
    bounds = sorted(buckets)
    if len(bounds) < 2 or bounds[-1] != float("inf") or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    index = next(i for i, bound in enumerate(bounds) if buckets[bound] >= rank)
    if index == len(bounds) - 1:
        return bounds[-2]
    if index == 0 and bounds[0] <= 0:
        return bounds[0]
    below = buckets[bounds[index - 1]] if index else 0.0
    start = bounds[index - 1] if index else 0.0
    inside = buckets[bounds[index]] - below
    return start + (bounds[index] - start) * (rank - below) / inside


def increase(now: dict[float, float], before: dict[float, float] | None) -> dict[float, float]:
    """Bucket counts observed since `before`; all of `now` after a counter reset."""
    if before is None:
        return {bound: 0.0 for bound in now}
    if any(count < before.get(bound, 0.0) for bound, count in now.items()):
        return dict(now)
    return {bound: count - before.get(bound, 0.0) for bound, count in now.items()}


class Exporter:
    """The windows of one instance's replicas, from one read of their /metrics to the next."""

    def __init__(self, histograms: dict[str, tuple[str, ...]], group: str, log_group: str) -> None:
        """`histograms`: published metric -> the engine's names of its histogram."""
        self.metrics = histograms
        self.group, self.log_group = group, log_group
        self.previous: dict[tuple[str, str], dict[float, float]] = {}

    def record(self, texts: dict[str, str], now_ms: int) -> dict[str, object] | None:
        """The EMF record of the window ending now from each replica's exposition text (by
        replica), or None when no replica observed a request since the previous read."""
        names = {name for candidates in self.metrics.values() for name in candidates}
        windows: dict[str, dict[float, float]] = {}
        for replica, text in texts.items():
            histograms = parse_buckets(text, names)
            for metric, candidates in self.metrics.items():
                name = next((n for n in candidates if n in histograms), None)
                if name is None:
                    continue
                counts = histograms[name]
                delta = increase(counts, self.previous.get((replica, metric)))
                self.previous[(replica, metric)] = counts
                window = windows.setdefault(metric, {})
                for bound, count in delta.items():
                    window[bound] = window.get(bound, 0.0) + count
        values = {}
        for metric, window in windows.items():
            value = quantile(QUANTILES[metric], window)
            if value is not None:
                values[metric] = round(value * 1000, 3)
        return self._emf(values, "Milliseconds", now_ms) if values else None

    def instance_record(self, life_cycle: str, now_ms: int) -> dict[str, object] | None:
        """This instance, counted under its purchase option; None for one not listed."""
        metric = PURCHASE_METRICS.get(life_cycle)
        return self._emf({metric: 1}, "Count", now_ms) if metric else None

    def _emf(self, values: dict[str, float], unit: str, now_ms: int) -> dict[str, object]:
        declared = [{"Name": metric, "Unit": unit} for metric in values]
        return {
            "_aws": {
                "Timestamp": now_ms,
                "LogGroupName": self.log_group,
                "CloudWatchMetrics": [
                    {"Namespace": NAMESPACE, "Dimensions": [[DIMENSION]], "Metrics": declared}
                ],
            },
            DIMENSION: self.group,
            **values,
        }


def read(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            return response.read().decode("utf-8", "replace")
    except OSError as error:
        print(f"replica on port {port}: {error}", file=sys.stderr)
        return None


def send(record: dict[str, object], agent: tuple[str, int] = AGENT) -> None:
    try:
        with socket.create_connection(agent, timeout=5) as connection:
            connection.sendall(json.dumps(record).encode() + b"\n")
    except OSError as error:
        print(f"CloudWatch agent at {agent[0]}:{agent[1]}: {error}", file=sys.stderr)


def histograms_of(ttft: str, tpot: str) -> dict[str, tuple[str, ...]]:
    """Published metric -> histogram names, from the arguments' comma-separated lists."""
    given = ((TTFT_METRIC, ttft), (TPOT_METRIC, tpot))
    return {metric: tuple(names.split(",")) for metric, names in given if names != NONE}


def main(argv: list[str]) -> None:
    """GROUP LOG_GROUP PORT[,PORT...] TTFT_NAME[,NAME...] TPOT_NAME[,NAME...] LIFE_CYCLE
    (a metric whose histogram the engine lacks: -)"""
    group, log_group, ports, ttft, tpot, life_cycle = argv
    exporter = Exporter(histograms_of(ttft, tpot), group, log_group)
    while True:
        now_ms = int(time.time() * 1000)
        texts = {port: read(int(port)) for port in ports.split(",")}
        for record in (
            exporter.instance_record(life_cycle, now_ms),
            exporter.record({p: text for p, text in texts.items() if text is not None}, now_ms),
        ):
            if record:
                send(record)
        time.sleep(INTERVAL_S - time.time() % INTERVAL_S)


if __name__ == "__main__":
    main(sys.argv[1:])
