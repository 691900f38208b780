"""`infra status`'s last hour of measured figures beside the planned ones, for people."""

from __future__ import annotations

from typing import Any

LABELS = {
    "requests_per_s": ("requests/s", "planned capacity"),
    "requests_in_flight_per_replica": ("requests in flight per replica", "planned"),
    "ttft_ms_p95": ("time to first token p95 (ms)", "predicted"),
    "tpot_ms": ("time per output token (ms)", "predicted"),
    "gpu_utilization_percent": ("GPU utilization (%)", "predicted"),
}


def measured_text(measured: dict[str, Any] | None) -> str:
    if not measured:
        return ""
    if "unavailable" in measured:
        return f"\nmeasured figures unavailable: {measured['unavailable']}"
    width = max(len(label) for label, _ in LABELS.values())
    lines = ["", "last hour, measured (planned):"]
    for name, figure in measured["figures"].items():
        label, planned_as = LABELS[name]
        value = "no data" if figure["measured"] is None else f"{figure['measured']:,.2f}"
        planned = figure["predicted"]
        beside = f"{planned_as} {planned:,.2f}" if planned is not None else "not planned"
        lines.append(f"  {label:<{width}}  {value:>10}  ({beside})")
    return "\n".join(lines)
