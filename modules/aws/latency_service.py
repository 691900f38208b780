"""How the boot script installs the TTFT/TPOT exporter (modules/aws/latency_exporter.py) on a
fleet instance: its source travels in an SSM parameter of the stack's (EC2's 16 KB of user data
has no room for it beside a Neuron boot script), compressed, and its command line."""

from __future__ import annotations

import ast
import base64
import gzip
from importlib.resources import files
from typing import TYPE_CHECKING

from modules.aws.engine_metrics import (
    fleet_group_name,
    latency_histograms,
    metrics_log_group,
    replica_ports,
    scrapes_engine,
)
from modules.aws.latency_exporter import NONE, TPOT_METRIC, TTFT_METRIC

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec


def runs_exporter(spec: DeploymentSpec) -> bool:
    """Whether `spec`'s instances run the exporter: where the agent ships the engine's metrics
    through the fleet's log group (vLLM and TGI; the exporter's records travel there too)."""
    return scrapes_engine(spec)


PARAMETER_LIMIT = 4096
"""A standard-tier SSM parameter's value holds at most 4 KB (advanced tier: paid)."""


def exporter_parameter(stack_name: str) -> str:
    """The SSM parameter holding the exporter's code (no secret in it)."""
    return f"/infra/{stack_name}/latency-exporter"


def exporter_payload() -> str:
    """The exporter's code without its docstrings, gzip then base64, to fit a standard-tier
    parameter; mtime=0 keeps it the same from one synth to the next."""
    tree = ast.parse((files("modules.aws") / "latency_exporter.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            kept = [n for n in body if not _is_docstring(n)]
            node.body = kept or [ast.Pass()]  # type: ignore[attr-defined]
    source = ast.unparse(tree).encode()
    payload = base64.b64encode(gzip.compress(source, compresslevel=9, mtime=0)).decode()
    assert len(payload) <= PARAMETER_LIMIT, "the exporter outgrew a standard SSM parameter"
    return payload


def _is_docstring(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def exporter_args(spec: DeploymentSpec) -> list[str]:
    """The exporter's arguments: group (the metrics' dimension), the log group its records land
    in (the one the agent may write), the replicas' ports, and the engine's TTFT and TPOT
    histogram names; the boot script adds the instance's purchase option from the instance
    metadata."""
    histograms = latency_histograms(spec.runtime.engine)
    return [
        fleet_group_name(spec.stack_name),
        metrics_log_group(spec.stack_name),
        ",".join(str(port) for port in replica_ports(spec)),
        *(",".join(histograms.get(metric, ())) or NONE for metric in (TTFT_METRIC, TPOT_METRIC)),
    ]
