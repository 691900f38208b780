"""The recommendation as plain data: the one shape that both `--json` and the tables render."""

from __future__ import annotations

from typing import Any

import msgspec

from planner.cold_start import candidate_cold_start
from planner.cost.savings import candidate_savings, savings_fields
from planner.hourly import hourly_sizes
from planner.optimizer import HOURS_PER_MONTH, Candidate, Cliff, Recommendation, Span, Uncertainty
from planner.profile import Profile
from providers.price_freshness import age_days


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def spot_retrieved(candidate: Candidate) -> str | None:
    """The date of the oldest spot price the candidate's spot instances are priced at (over the
    zones it spans; a region-priced offering has one), or None when it runs no spot."""
    if candidate.spot_usd is None or not candidate.spot_instances:
        return None
    dates = [
        z.retrieved
        for z in candidate.offering.zones
        if z.spot_usd is not None and (z.zone in candidate.zones or z.zone == "") and z.retrieved
    ]
    return min(dates, default=None)


def spot_not_used(profile: Profile, candidate: Candidate) -> str | None:
    """Why a candidate with usable spot prices runs no spot, when the profile's interruption
    limit is the reason."""
    o, spot = candidate.offering, profile.placement.spot
    band = o.spot_interruption
    if (
        spot.policy == "never"
        or not o.spot_capable
        or not any(z.spot_usd is not None for z in o.zones)
        or spot.accepts(band.band if band else None)
    ):
        return None
    limit = f"placement.spot.max_interruption_percent is {spot.max_interruption_percent}"
    if band is None:
        return f"{o.cloud} publishes no interruption frequency for {o.instance_type}; {limit}"
    return (
        f"{o.cloud} reports {band.band} of {o.instance_type} spot capacity in {o.region} "
        f"interrupted over a month; {limit}"
    )


def spot_facts(candidate: Candidate) -> dict[str, Any]:
    """How old the spot prices are, and how often the cloud says such spot capacity is taken
    back (None where it publishes nothing)."""
    retrieved = spot_retrieved(candidate)
    band = candidate.offering.spot_interruption
    return {
        "spot_prices_retrieved": retrieved,
        "spot_price_age_days": age_days(retrieved) if retrieved else None,
        "spot_interruption": band.band if band else None,
        "spot_interruption_source": band.source if band else None,
        "spot_interruption_retrieved": band.retrieved if band else None,
    }


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


def _hourly_sizes(recommendation: Recommendation, candidate: Candidate) -> dict[str, Any] | None:
    """The candidate's fleet over the week, compact (the hours where it changes), with the
    month's expected, cheapest-hour and dearest-hour figures; None when it is flat."""
    costs, week = candidate.week_costs(), recommendation.week
    if costs is None or candidate.hours is None or week is None:
        return None
    sizes = hourly_sizes(week.timezone, list(candidate.hours), costs, candidate.hourly_usd)
    return {**msgspec.to_builtins(sizes), "saving_monthly_usd": sizes.saving_monthly_usd}


def _cold_start(recommendation: Recommendation, candidate: Candidate) -> dict[str, float] | None:
    """Seconds of each step of a replica's cold start, when the candidate scales to zero."""
    start = candidate_cold_start(recommendation, candidate)
    return start.as_dict() if start else None


def _spot_savings_monthly_usd(candidate: Candidate) -> float:
    """What the month would cost more with every instance on-demand, hour by hour (both without
    commitments, whose saving is reported on its own)."""
    week = candidate.week_costs()
    if candidate.hours is None or week is None:
        return (candidate.all_on_demand_hourly_usd - candidate.hourly_usd) * HOURS_PER_MONTH
    all_on_demand = sum(
        n * candidate.ondemand_usd + candidate.fixed_usd for n, _ in candidate.hours
    )
    return (all_on_demand - sum(week)) / len(week) * HOURS_PER_MONTH


def _commitment(candidate: Candidate) -> dict[str, Any] | None:
    """The candidate's commitment plan with its derived figures; None without one."""
    plan = candidate.commitment
    if plan is None:
        return None
    return {
        **msgspec.to_builtins(plan),
        "committed_instances": plan.committed_instances,
        "delta_monthly_usd": plan.delta_monthly_usd,
    }


def candidate_to_dict(recommendation: Recommendation, candidate: Candidate) -> dict[str, Any]:
    offering, predicted = candidate.offering, recommendation.predicted(candidate)
    hourly = candidate.hourly_usd
    per_instance = candidate.replicas_per_instance
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
        "instances": candidate.instances,
        "on_demand_instances": candidate.on_demand_instances,
        "spot_instances": candidate.spot_instances,
        "replicas": candidate.instances * per_instance,
        "on_demand_replicas": candidate.on_demand_instances * per_instance,
        "spot_replicas": candidate.spot_instances * per_instance,
        "spot_fraction": _round(candidate.spot_fraction, 3),
        "ondemand_usd_per_instance_hour": _round(candidate.ondemand_usd),
        "spot_usd_per_instance_hour": _round(candidate.spot_usd),
        "cluster_usd_per_hour": _round(candidate.fixed_usd),
        "hourly_usd": _round(hourly),
        "monthly_usd": _round(candidate.expected_monthly_usd, 2),
        "flat_monthly_usd": _round(hourly * HOURS_PER_MONTH, 2),
        "hourly_sizes": _hourly_sizes(recommendation, candidate),
        "commitment": _commitment(candidate),
        **savings_fields(candidate_savings(recommendation, candidate)),
        "cold_start": _cold_start(recommendation, candidate),
        "prices_retrieved": offering.retrieved,
        **spot_facts(candidate),
        "spot_not_used": spot_not_used(recommendation.profile, candidate),
        "spot_savings_monthly_usd": _round(_spot_savings_monthly_usd(candidate), 2),
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


def also_fits(recommendation: Recommendation) -> list[dict[str, Any]]:
    """The cheapest candidate of every other accelerator class that fits, cheapest first: what
    choosing it instead would cost a month more than the chosen."""
    chosen = recommendation.chosen
    chosen_monthly = chosen.expected_monthly_usd
    rows = []
    for name, candidate in recommendation.best_per("accelerator").items():
        if name == chosen.offering.accelerator:
            continue
        monthly = candidate.expected_monthly_usd
        extra = round(monthly - chosen_monthly, 2)
        fleet = f"{candidate.instances}× {candidate.offering.instance_type}"
        rows.append(
            {
                "class": name,
                "reason": f"{name}: fits, ${extra:,.0f}/month more ({fleet}).",
                "cloud": candidate.offering.cloud,
                "kind": candidate.offering.kind,
                "region": candidate.offering.region,
                "instance_type": candidate.offering.instance_type,
                "instances": candidate.instances,
                "monthly_usd": round(monthly, 2),
                "extra_monthly_usd": extra,
            }
        )
    return rows


def _traffic(recommendation: Recommendation) -> dict[str, Any] | None:
    """The week the hours were sized for: its time zone and served mean rate."""
    week = recommendation.week
    if week is None:
        return None
    return {
        "timezone": week.timezone,
        "mean_requests_per_second": round(week.served_rps, 4),
        "scheduled_hours": len(week.serving) if week.serving is not None else 168,
        "scale_to_zero": week.scale_to_zero,
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
        "traffic": _traffic(recommendation),
        "confidence": profile.targets.confidence,
        "commitments": (
            msgspec.to_builtins(profile.pricing.commitments)
            if profile.pricing and profile.pricing.commitments
            else None
        ),
        "chosen": as_dict(recommendation.chosen),
        "alternatives": [as_dict(c) for c in recommendation.alternatives(top)],
        "best_per_cloud": {k: as_dict(c) for k, c in recommendation.best_per("cloud").items()},
        "best_per_kind": {k: as_dict(c) for k, c in recommendation.best_per("kind").items()},
        "excluded": [{"class": e.subject, "reason": e.reason} for e in recommendation.excluded],
        "also_fits": also_fits(recommendation),
        "candidates_considered": len(recommendation.candidates),
        "warnings": recommendation.warnings,
    }
