"""The Google Cloud partial of the fleet boot script (templates/user_data/cloud_gcp.j2): Cloud
Storage weights, the token's Secret Manager secret, Artifact Registry login, the Ops Agent's
configuration and the in-flight publisher (modules/gcp/engine_metrics.py), the drain unit
(modules/gcp/drain.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.gcp.drain import drain_values
from modules.gcp.engine_metrics import (
    IN_FLIGHT_METRIC_TYPE,
    OPS_AGENT_CONFIG_PATH,
    in_flight_pattern,
    in_flight_per_instance,
    ops_agent_config,
    replica_ports,
)
from modules.gcp.naming import artifact_repository, secret_name
from modules.user_data import BootTarget

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

STARTUP_SCRIPT_LIMIT_BYTES = 256 * 1024
"""Compute Engine refuses a metadata value larger than 256 KB."""


def gcp_boot_target(spec: DeploymentSpec) -> BootTarget:
    secret = secret_name(spec.gcp.hf_token_secret) if spec.gcp.hf_token_secret else None
    registry = artifact_repository(spec.runtime.image)
    values = {
        "weights_uri": spec.gcp.model_gcs_uri,
        "weights_store": "GCS",
        "hf_token_name": secret.secret_id if secret else None,
        "hf_token_project": secret.project if secret else None,
        "artifact_registry": registry.host if registry else None,
        "ops_agent_config": ops_agent_config(spec),
        "ops_agent_config_path": OPS_AGENT_CONFIG_PATH,
        **in_flight_values(spec),
        **drain_values(spec),
    }
    return BootTarget(
        "cloud_gcp.j2", values, STARTUP_SCRIPT_LIMIT_BYTES, "Compute Engine's metadata limit"
    )


def in_flight_values(spec: DeploymentSpec) -> dict[str, str | None]:
    """The publisher's settings when the fleet scales on requests in flight (a spec with an
    in-flight target and an engine with the gauges); all None otherwise."""
    pattern = in_flight_pattern(spec)
    if in_flight_per_instance(spec) is None or pattern is None:
        return {"in_flight_metric": None, "in_flight_pattern": None, "in_flight_ports": None}
    return {
        "in_flight_metric": IN_FLIGHT_METRIC_TYPE,
        "in_flight_pattern": pattern,
        "in_flight_ports": " ".join(str(port) for port in replica_ports(spec)),
    }
