"""The recommendation as plain data: the one shape that both `--json` and the tables render."""

from __future__ import annotations

from typing import Any

from planner.optimizer import HOURS_PER_MONTH, Candidate, Cliff, Recommendation, Span, Uncertainty


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def _span(span: Span | None, digits: int) -> dict[str, float | None] | None:
    if span is None:
        return None
    return {"low": _round(span.low, digits), "high": _round(span.high, digits)}


def _uncertainty(uncertainty: Uncertainty | None) -> dict[str, Any] | None:
    if uncertainty is None:
        return None
    return {
        "confidence": uncertainty.confidence,
        "published_rows": uncertainty.rows,
        "pooled": uncertainty.pooled,
        "capacity_requests_per_s": _span(uncertainty.capacity_requests_per_s, 3),
        "ttft_ms_p95": _span(uncertainty.ttft_ms_p95, 1),
        "tpot_ms": _span(uncertainty.tpot_ms, 2),
        "e2e_ms_p95": _span(uncertainty.e2e_ms_p95, 1),
    }


def _cliff(cliff: Cliff | None) -> dict[str, Any] | None:
    if cliff is None:
        return None
    return {
        "target": cliff.target,
        "unloaded_ms": _round(cliff.unloaded_ms, 2),
        "target_ms": cliff.target_ms,
        "margin": _round(cliff.margin, 4),
    }


def candidate_to_dict(recommendation: Recommendation, candidate: Candidate) -> dict[str, Any]:
    offering, predicted = candidate.offering, recommendation.predicted(candidate)
    hourly = candidate.hourly_usd
    return {
        "cloud": offering.cloud,
        "region": offering.region,
        "zones": list(candidate.zones),
        "kind": offering.kind,
        "instance_type": offering.instance_type,
        "accelerator": offering.accelerator,
        "accelerators_per_instance": offering.accelerator_count,
        "tensor_parallel": candidate.tensor_parallel,
        "model_replicas_per_instance": candidate.replicas_per_instance,
        "replicas": candidate.instances,
        "on_demand_replicas": candidate.on_demand_instances,
        "spot_replicas": candidate.spot_instances,
        "spot_fraction": _round(candidate.spot_fraction, 3),
        "ondemand_usd_per_instance_hour": _round(candidate.ondemand_usd),
        "spot_usd_per_instance_hour": _round(candidate.spot_usd),
        "hourly_usd": _round(hourly),
        "monthly_usd": _round(hourly * HOURS_PER_MONTH, 2),
        "prices_retrieved": offering.retrieved,
        "spot_savings_monthly_usd": _round(
            (candidate.all_on_demand_hourly_usd - hourly) * HOURS_PER_MONTH, 2
        ),
        "usd_per_million_output_tokens": _round(
            recommendation.usd_per_million_output_tokens(candidate)
        ),
        "usd_per_thousand_requests": _round(recommendation.usd_per_thousand_requests(candidate)),
        "predicted": {
            "throughput_tokens_per_s": _round(predicted.throughput_tokens_per_s, 1),
            "capacity_requests_per_s": _round(predicted.capacity_requests_per_s, 3),
            "ttft_ms_p95": _round(predicted.ttft_ms_p95, 1),
            "tpot_ms": _round(predicted.tpot_ms, 2),
            "e2e_ms_p95": _round(predicted.e2e_ms_p95, 1),
            "batch_per_replica": _round(predicted.batch_per_replica, 1),
        },
        "uncertainty": _uncertainty(predicted.uncertainty),
        "binding_target": candidate.replica.binding,
        "cliff": _cliff(candidate.replica.cliff),
    }


def recommendation_to_dict(recommendation: Recommendation, top: int = 10) -> dict[str, Any]:
    profile = recommendation.profile
    as_dict = lambda c: candidate_to_dict(recommendation, c)  # noqa: E731
    return {
        "profile": profile.name,
        "model": recommendation.model.name,
        "precision": profile.model.precision,
        "catalog_date": recommendation.catalog_date,
        "requests_per_second": recommendation.requests_per_s,
        "demand_requests_per_second": round(recommendation.demand_requests_per_s, 4),
        "confidence": profile.targets.confidence,
        "chosen": as_dict(recommendation.chosen),
        "alternatives": [as_dict(c) for c in recommendation.alternatives(top)],
        "best_per_cloud": {k: as_dict(c) for k, c in recommendation.best_per("cloud").items()},
        "best_per_kind": {k: as_dict(c) for k, c in recommendation.best_per("kind").items()},
        "excluded": [{"class": e.subject, "reason": e.reason} for e in recommendation.excluded],
        "candidates_considered": len(recommendation.candidates),
        "warnings": recommendation.warnings,
    }
