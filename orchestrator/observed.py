"""`infra status`: the last hour's measured figures beside the ones the deployment was planned
with. The reading is the target's (`Target.metrics_reader`); a cloud that cannot be reached gives
one sentence, never a failed status."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from core.errors import InfraError
from planner.deployment import planned_in_flight_per_replica
from providers import targets

if TYPE_CHECKING:
    from orchestrator.decisions import Resolved
    from planner.deployment import DeploymentSpec

Reader = Callable[["DeploymentSpec", Mapping[str, object], Mapping[str, str]], dict[str, Any]]
FIGURES = (
    "requests_per_s",
    "requests_in_flight_per_replica",
    "ttft_ms_p95",
    "tpot_ms",
    "gpu_utilization_percent",
)
"""What a metrics reader returns, in the order shown."""


def reader_of(spec: DeploymentSpec) -> Reader | None:
    target = targets.target(spec.cloud, spec.kind)
    if target is None or target.metrics_reader is None:
        return None
    reader: Reader = targets.resolve(target.metrics_reader)
    return reader


def predicted(spec: DeploymentSpec, resolved: Resolved | None) -> dict[str, float | None]:
    """The decision's figures: the fleet's planned capacity (requests/s), requests in flight per
    replica at the scaling target, predicted TTFT p95 and TPOT; GPU utilization is not
    predicted."""
    figures: dict[str, float | None] = dict.fromkeys(FIGURES)
    if resolved is None:
        return figures
    decision = resolved.decision
    if decision.predicted is not None:
        figures["requests_per_s"] = decision.predicted.capacity_requests_per_s
        figures["ttft_ms_p95"] = decision.predicted.ttft_ms_p95
        figures["tpot_ms"] = decision.predicted.tpot_ms
    figures["requests_in_flight_per_replica"] = planned_in_flight_per_replica(
        decision, resolved.profile
    )
    return figures


def measured_beside_predicted(
    spec: DeploymentSpec,
    outputs: Mapping[str, object],
    environ: Callable[[], Mapping[str, str]],
    resolved: Resolved | None,
) -> dict[str, Any] | None:
    """{"window": "1h", "figures": {name: {"measured", "predicted"}}}, or {"unavailable": why};
    None when the target has no metrics reader or nothing is applied."""
    reader = reader_of(spec)
    if reader is None or not outputs:
        return None
    try:
        measured = reader(spec, outputs, environ())
    except InfraError as error:
        return {"unavailable": str(error)}
    planned = predicted(spec, resolved)
    return {
        "window": "1h",
        "figures": {
            name: {"measured": _rounded(measured.get(name)), "predicted": planned[name]}
            for name in FIGURES
        },
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
