"""The decision: what the planner chose for one deployment, in the terms a deployment needs.

A `Decision` is everything the optimizer contributes to a `DeploymentSpec` (cloud, kind, region,
zones, instance types, counts, spot share, image, scaling target) plus the figures it was chosen
with. The profile contributes the rest (tags, network, runtime flags, budgets), so a decision kept
in the lock file and today's profile give the same spec that the original recommendation gave,
whatever the catalog says today.
"""

from __future__ import annotations

import math
from typing import Annotated

import msgspec
from msgspec import Meta

from planner.commitment import CommitmentPlan
from planner.hourly import HourlySizes, hourly_sizes
from planner.images import serving_image
from planner.optimizer import HOURS_PER_MONTH, Candidate, Recommendation, min_instances
from planner.performance import weight_bytes
from planner.profile import Profile
from providers import targets

MAX_EQUIVALENT_TYPES = 3
P99_ALARM_FACTOR = 1.5
"""The p99 latency alarm fires at 1.5 x the end-to-end p95 (target, else predicted)."""
DEFAULT_E2E_MS = 40_000

NonNegativeInt = Annotated[int, Meta(ge=0)]
PositiveInt = Annotated[int, Meta(gt=0)]


MONTHLY_COVERS = {False: "the instances", True: "the instances and the cluster's fixed part"}
"""What a decision's monthly figure pays for, by whether it has a fixed part."""


class PredictedFigures(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the performance model predicted for the chosen fleet at the profile's load."""

    capacity_requests_per_s: float
    throughput_tokens_per_s: float | None = None
    ttft_ms_p95: float | None = None
    tpot_ms: float | None = None
    e2e_ms_p95: float | None = None


CloudName = Annotated[str, Meta(pattern=rf"^({'|'.join(targets.cloud_names())})\Z")]
"""Every registered cloud (providers/registered.py)."""
KindName = Annotated[str, Meta(pattern=rf"^({'|'.join(targets.kind_names())})\Z")]
"""Every kind a registered cloud offers (providers/targets.py)."""
PlaceName = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,40}\Z")]
"""A region or zone name as the clouds write them (the lock file is read as input too)."""
InstanceTypeName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")]


class Decision(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the planner chose for one deployment, and the figures it was chosen with."""

    cloud: CloudName
    kind: KindName
    region: PlaceName
    zones: list[PlaceName] = []
    instance_type: InstanceTypeName
    equivalent_instance_types: list[InstanceTypeName] = []
    accelerator: str
    accelerators_per_instance: PositiveInt
    tensor_parallel: PositiveInt
    replicas_per_instance: PositiveInt
    instances: PositiveInt
    on_demand_instances: NonNegativeInt
    min_instances: PositiveInt
    max_instances: PositiveInt
    spot_percentage_above_base: Annotated[int, Meta(ge=0, le=100)]
    engine: Annotated[str, Meta(pattern=r"^(vllm|tgi|triton)\Z")]
    image: Annotated[str, Meta(min_length=1, max_length=512)]
    root_volume_gib: PositiveInt
    scaling_target_per_minute: Annotated[float, Meta(gt=0)]
    p99_latency_alarm_s: Annotated[float, Meta(gt=0)]
    hourly_usd: Annotated[float, Meta(ge=0)]
    catalog_date: str
    prices_retrieved: str | None = None
    predicted: PredictedFigures | None = None
    hourly: HourlySizes | None = None
    """The fleet hour by hour over the week and the month it costs; None: the peak size around
    the clock (left out of the lock then, so a flat decision reads as it always did)."""
    fixed_hourly_usd: Annotated[float, Meta(ge=0)] = 0.0
    """The part of `hourly_usd` paid whatever the fleet's size (a created cluster's control
    plane); 0 is left out of the lock, so a decision without one reads as it always did."""
    commitment: CommitmentPlan | None = None
    """Held and bought commitments on the on-demand part (`pricing.commitments`); None: none
    (left out of the lock then)."""

    @property
    def target(self) -> tuple[str, str, str]:
        """Cloud, kind and region: what a Terraform state is bound to. A change of any is a move."""
        return (self.cloud, self.kind, self.region)

    @property
    def instances_monthly_usd(self) -> float:
        """The instances alone for a month: 730 hours of the peak fleet, or the sum over the
        week's hours (the plan's figure adds the services)."""
        base = (
            self.hourly.expected_monthly_usd
            if self.hourly is not None
            else self.hourly_usd * HOURS_PER_MONTH
        )
        return base if self.commitment is None else base + self.commitment.delta_monthly_usd

    @property
    def monthly_covers(self) -> str:
        """What `instances_monthly_usd` pays for, in words."""
        return MONTHLY_COVERS[self.fixed_hourly_usd > 0]

    @property
    def spot_instances(self) -> int:
        return self.instances - self.on_demand_instances

    def summary(self) -> str:
        """One line for people: `2× g6.12xlarge (aws/fleet, us-east-2)`."""
        return f"{self.instances}× {self.instance_type} ({self.cloud}/{self.kind}, {self.region})"


def decision_data(decision: Decision) -> dict[str, object]:
    """The decision as plain data, without `hourly` when it is None."""
    data: dict[str, object] = msgspec.to_builtins(decision)
    if data.get("hourly") is None:
        data.pop("hourly", None)
    if not data.get("fixed_hourly_usd"):
        data.pop("fixed_hourly_usd", None)
    if data.get("commitment") is None:
        data.pop("commitment", None)
    return data


def _equivalents(recommendation: Recommendation, chosen: Candidate) -> list[str]:
    """Other instance types in the same region with the same accelerators, the same fleet size
    and a price within 25%: overrides the spot allocator may use when the first type is short."""
    seen = {chosen.offering.instance_type}
    found: list[str] = []
    for candidate in recommendation.candidates:
        o = candidate.offering
        if (
            o.instance_type not in seen
            and o.cloud == chosen.offering.cloud
            and o.kind == chosen.offering.kind
            and o.region == chosen.offering.region
            and o.accelerator == chosen.offering.accelerator
            and o.accelerator_count == chosen.offering.accelerator_count
            and candidate.tensor_parallel == chosen.tensor_parallel
            and candidate.instances == chosen.instances
            and candidate.hourly_usd <= chosen.hourly_usd * 1.25
        ):
            seen.add(o.instance_type)
            found.append(o.instance_type)
            if len(found) == MAX_EQUIVALENT_TYPES:
                break
    return found


def _root_volume_gib(weights_gib: float) -> int:
    """Image layers (~30 GiB for CUDA serving images), twice the weights (download + cache)."""
    return int(math.ceil((60 + 2 * weights_gib) / 10) * 10)


def decide(
    profile: Profile, recommendation: Recommendation, candidate: Candidate | None = None
) -> Decision:
    """The recommendation's choice (or `candidate`) as a decision a deployment can be built from."""
    chosen = candidate or recommendation.chosen
    offering = chosen.offering
    per_instance_rps = chosen.replicas_per_instance * chosen.replica.requests_per_s
    headroom = 1 + profile.targets.headroom
    fewest = min_instances(profile.placement.min_replicas, chosen.replicas_per_instance)
    spot_allowed = chosen.spot_usd is not None and profile.placement.spot.policy != "never"
    weights_gib = weight_bytes(recommendation.model, profile.model.precision) / 2**30
    predicted = recommendation.predicted(chosen)
    e2e_ms = profile.targets.e2e_ms_p95 or predicted.e2e_ms_p95 or DEFAULT_E2E_MS
    return Decision(
        cloud=offering.cloud,
        kind=offering.kind,
        region=offering.region,
        zones=list(chosen.zones),
        instance_type=offering.instance_type,
        equivalent_instance_types=_equivalents(recommendation, chosen),
        accelerator=offering.accelerator,
        accelerators_per_instance=offering.accelerator_count,
        tensor_parallel=chosen.tensor_parallel,
        replicas_per_instance=chosen.replicas_per_instance,
        instances=chosen.instances,
        on_demand_instances=chosen.on_demand_instances,
        min_instances=max(fewest, chosen.on_demand_instances, 1),
        max_instances=max(2 * chosen.instances, chosen.instances + 1),
        spot_percentage_above_base=100 if spot_allowed else 0,
        engine=profile.runtime.engine,
        image=serving_image(profile, offering.kind, offering.region, offering.accelerator),
        root_volume_gib=_root_volume_gib(weights_gib),
        # Requests per minute per instance that still leave the profile's headroom.
        scaling_target_per_minute=round(per_instance_rps / headroom * 60, 2),
        # A floor: a fast classifier's target (tens of ms) must not round to a zero threshold.
        p99_latency_alarm_s=max(round(e2e_ms * P99_ALARM_FACTOR / 1000, 2), 0.01),
        hourly_usd=round(chosen.hourly_usd, 4),
        fixed_hourly_usd=round(chosen.fixed_usd, 4),
        catalog_date=recommendation.catalog_date,
        prices_retrieved=offering.retrieved or None,
        predicted=PredictedFigures(
            capacity_requests_per_s=round(predicted.capacity_requests_per_s, 3),
            throughput_tokens_per_s=_rounded(predicted.throughput_tokens_per_s),
            ttft_ms_p95=_rounded(predicted.ttft_ms_p95),
            tpot_ms=_rounded(predicted.tpot_ms),
            e2e_ms_p95=_rounded(predicted.e2e_ms_p95),
        ),
        hourly=_hourly(recommendation, chosen),
        commitment=chosen.commitment,
    )


def _hourly(recommendation: Recommendation, chosen: Candidate) -> HourlySizes | None:
    costs = chosen.week_costs()
    if costs is None or chosen.hours is None or recommendation.week is None:
        return None
    return hourly_sizes(recommendation.week.timezone, list(chosen.hours), costs, chosen.hourly_usd)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
