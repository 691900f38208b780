"""How the boot script installs the TTFT/TPOT exporter (modules/aws/latency_exporter.py) on a
fleet instance: its source, compressed for the user data, and its command line."""

from __future__ import annotations

import base64
import gzip
from importlib.resources import files
from typing import TYPE_CHECKING

from modules.aws.engine_metrics import (
    fleet_group_name,
    metrics_log_group,
    scrape_ports,
    scrapes_engine,
)

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec


def runs_exporter(spec: DeploymentSpec) -> bool:
    """Whether `spec`'s instances run the exporter: where the agent ships the engine's metrics
    through the fleet's log group (vLLM and TGI; the exporter's records travel there too)."""
    return scrapes_engine(spec)


def exporter_payload() -> str:
    """The exporter's source, gzip then base64: EC2 takes 16 KB of user data, and base64 is one
    shell word that needs no quoting. mtime=0 keeps it the same from one synth to the next."""
    source = (files("modules.aws") / "latency_exporter.py").read_bytes()
    return base64.b64encode(gzip.compress(source, compresslevel=9, mtime=0)).decode()


def exporter_args(spec: DeploymentSpec) -> list[str]:
    """The exporter's arguments: engine, group (the metrics' dimension), the log group its
    records land in (the one the agent may write), and the replicas' ports; the boot script
    adds the instance's purchase option from the instance metadata."""
    return [
        spec.runtime.engine,
        fleet_group_name(spec.stack_name),
        metrics_log_group(spec.stack_name),
        ",".join(str(port) for port in scrape_ports(spec)),
    ]
