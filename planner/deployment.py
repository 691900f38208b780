"""DeploymentSpec: the cloud-neutral description of what to provision, and nothing else.

Stacks are built from a spec alone, so a spec written by hand (`infra synth --spec spec.yaml`)
deploys the same way as one derived from a recommendation. `spec_from_recommendation` turns the
planner's choice plus the profile into a spec; `load_spec` / `dump_spec` read and write YAML.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from core.errors import ProfileError
from planner.decision import Decision, decide
from planner.hourly import HourlySizes
from planner.images import image_health_path
from planner.names import DeploymentId, Identifier
from planner.optimizer import HOURS_PER_MONTH, Candidate, Recommendation
from planner.profile import (
    Engine,
    Environment,
    Network,
    Profile,
    StateBackend,
    validation_sentence,
)
from planner.yaml_source import load_located_yaml
from providers import targets
from providers.aws.neuron import COMPILE_GRACE_S, is_neuron
from providers.targets import ScalingSignal

HEALTH_PATHS: dict[str, str] = {
    "vllm": "/health",
    "tgi": "/health",
    "triton": "/v2/health/ready",
}
DEFAULT_IN_FLIGHT_MS = 10_000.0
"""How long a request stays when the model predicts no latency (a measured profile without one)."""
MIN_IN_FLIGHT_TARGET = 0.1
"""KEDA's threshold must be positive: a fast classifier's must not round to zero."""
MODEL_LOAD_GRACE_S = 900
"""Health-check grace for a new instance: pull a multi-GB image and load the weights."""

Name = Identifier
PositiveInt = Annotated[int, Meta(gt=0)]
NonNegativeInt = Annotated[int, Meta(ge=0)]


class _Spec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class RuntimeSpec(_Spec, kw_only=True):
    engine: Engine
    image: str
    model_id: str
    model_s3_uri: str | None = None
    precision: str
    tensor_parallel: PositiveInt
    replicas_per_instance: PositiveInt = 1
    max_batch: PositiveInt
    max_model_len: PositiveInt | None = None
    kv_cache_dtype: Literal["auto", "fp8", "fp16"] = "auto"
    port: Annotated[int, Meta(ge=1, le=65535)] = 8000
    health_path: str
    extra_args: list[str] = []
    hf_token_ssm_parameter: str | None = None


class CapacitySpec(_Spec, kw_only=True):
    min_size: NonNegativeInt
    desired: PositiveInt
    max_size: PositiveInt
    on_demand_base: NonNegativeInt
    spot_percentage_above_base: Annotated[int, Meta(ge=0, le=100)]
    health_check_grace_s: PositiveInt = MODEL_LOAD_GRACE_S


class ScalingSpec(_Spec, kw_only=True):
    """Target tracking: keep `signal` at `target` per instance and minute; alarm on p99 latency
    above `p99_latency_alarm_s`."""

    signal: ScalingSignal
    target: Annotated[float, Meta(gt=0)]
    p99_latency_alarm_s: Annotated[float, Meta(gt=0)] = 60.0
    in_flight_per_replica: Annotated[float, Meta(gt=0)] | None = None
    """A fleet that follows the week, and a kind whose platform counts requests in flight
    (`Kind.counts_in_flight`), also track the engine's requests in flight (running plus waiting)
    at this many per replica; per instance, replicas per instance times it. None: `signal`
    alone (left out of the spec's record then)."""
    latency_target_ms_p95: Annotated[float, Meta(gt=0)] | None = None
    """The profile's targets.e2e_ms_p95 on a managed endpoint, whose platform measures each whole
    request (SageMaker's ModelLatency): the threshold of its latency-target alarm. None: no such
    target, or a kind that measures no whole request (left out of the spec's record then)."""
    ttft_alarm_ms: Annotated[float, Meta(gt=0)] | None = None
    """Time to first token, p95, above which the latency alarm fires: the profile's
    targets.ttft_ms_p95. None: no target, no alarm (left out of the spec's record then)."""
    tpot_alarm_ms: Annotated[float, Meta(gt=0)] | None = None
    """Time per output token (the median) above which the alarm fires: the profile's
    targets.tpot_ms. None: no target, no alarm (left out of the spec's record then)."""


class SloSpec(_Spec, kw_only=True):
    """The profile's latency targets, for alerts that compare the engine's measured figures with
    them. None: the profile sets no such target."""

    ttft_ms_p95: Annotated[float, Meta(gt=0)] | None = None
    tpot_ms: Annotated[float, Meta(gt=0)] | None = None


class DeploymentCore(_Spec, kw_only=True):
    """What every target's spec holds; `DeploymentSpec` adds the targets' own sections."""

    name: Name
    env: Name
    deployment_id: DeploymentId | None = None
    """Set by the lock: tells two profiles of one name (in two folders) apart in resource names."""
    cloud: Literal[targets.cloud_names()]  # type: ignore[valid-type]
    kind: Literal[targets.kind_names()]  # type: ignore[valid-type]
    region: str
    zones: list[str] = []
    instance_type: str
    equivalent_instance_types: list[str] = []
    accelerator: str
    accelerators_per_instance: PositiveInt
    root_volume_gib: PositiveInt
    capacity: CapacitySpec
    runtime: RuntimeSpec
    scaling: ScalingSpec
    network: Network = msgspec.field(default_factory=Network)
    alerts_topic_arn: str | None = None
    """The SNS topic the alarms notify (deploy.alerts.sns_topic_arn); None: no alarm actions."""
    alerts_action_group_id: str | None = None
    """The action group the alerts notify (deploy.alerts.action_group_id); None: no actions."""
    tags: dict[str, str] = {}
    required_tags: list[str] = []
    budget_monthly_usd: float | None = None
    expected_hourly_usd: float | None = None
    state_backend: StateBackend | None = None
    protected: bool = False
    hourly: HourlySizes | None = None
    """The fleet hour by hour over the week (the decision's); `capacity.desired` is its peak.
    None: the peak size around the clock (left out of the spec's record then)."""
    slo: SloSpec | None = None
    """The profile's latency targets, when a section of the target turns its `monitoring` on
    (the alerts read them). None otherwise (left out of the spec's record then)."""

    @property
    def stack_name(self) -> str:
        suffix = f"-{self.deployment_id}" if self.deployment_id else ""
        return f"{self.name}-{self.env}{suffix}"

    @property
    def target(self) -> tuple[str, str, str]:
        """Cloud, kind and region: what a Terraform state is bound to. A change of any is a move."""
        return (self.cloud, self.kind, self.region)

    @property
    def expected_monthly_usd(self) -> float | None:
        if self.expected_hourly_usd is None:
            return None
        return self.expected_hourly_usd * HOURS_PER_MONTH


PROFILE_SECTIONS = ("targets",)
"""Sections from the profile's top level (not `deploy`) a target may carry in its spec: the
latency targets its alerts hold the deployment to."""


def _target_sections() -> list[tuple[str, type, Any]]:
    """(name, type, default) of each section some target carries (providers/targets.py)."""
    sections = []
    for name, dotted in targets.spec_sections().items():
        section_type = targets.resolve(dotted)
        sections.append((name, section_type, msgspec.field(default_factory=section_type)))
    return sections


DeploymentSpec = msgspec.defstruct(
    "DeploymentSpec", _target_sections(), bases=(DeploymentCore,), module=__name__, kw_only=True
)
"""DeploymentCore plus every target's own section (`sagemaker`, `gcp`, ...: see each cloud's
declaration in providers/<cloud>/__init__.py), each at its default where the target reads none."""

RecommendationOf = Callable[[], Recommendation]
"""The recommendation a decision was taken from (computed only when a check needs it)."""


def check_decision(profile: Profile, decision: Decision, recommendation: RecommendationOf) -> None:
    """Run the checks the decision's target declares (its `decision_checks`)."""
    declared = targets.target(decision.cloud, decision.kind)
    for check in declared.decision_checks if declared else ():
        targets.resolve(check)(profile, decision, recommendation)


def check_challenger(
    profile: Profile, decision: Decision, recommendation: RecommendationOf
) -> None:
    """A challenger variant serves the same model with the same tensor parallel degree, so it
    must be a feasible SageMaker choice of the same region (the recommendation may be narrowed
    to that region)."""
    challenger = profile.deploy.sagemaker.challenger
    if challenger is None:
        return
    feasible = [
        candidate
        for candidate in recommendation().candidates
        if candidate.offering.kind == decision.kind
        and candidate.offering.region == decision.region
        and candidate.tensor_parallel == decision.tensor_parallel
    ]
    if challenger.instance_type == decision.instance_type:
        raise ProfileError(
            f"deploy.sagemaker.challenger.instance_type is {challenger.instance_type}, the "
            "primary variant's type; name another type or remove the challenger."
        )
    if not any(c.offering.instance_type == challenger.instance_type for c in feasible):
        others = sorted({c.offering.instance_type for c in feasible} - {decision.instance_type})
        raise ProfileError(
            f"deploy.sagemaker.challenger.instance_type {challenger.instance_type} cannot serve "
            f"this model with tensor parallel {decision.tensor_parallel} in "
            f"{decision.region} within the targets; feasible: "
            f"{', '.join(others) or 'none'}."
        )


def _profile_value(profile: Profile, dotted_field: str) -> object:
    """The value of a profile field named as in the docs (`deploy.gcp.model_gcs_uri`)."""
    value: object = profile
    for part in dotted_field.split("."):
        value = getattr(value, part)
    return value


def _aws_sources_left_out(profile: Profile, cloud: targets.Cloud) -> frozenset[str]:
    """The AWS-only sources (S3 weights, an SSM token) a cloud cannot read, which its spec leaves
    out; each needs the cloud's counterpart rather than silently falling back to the model hub."""
    for counterpart in cloud.source_counterparts:
        if _profile_value(profile, counterpart.aws_field) and not _profile_value(
            profile, counterpart.field
        ):
            raise ProfileError(
                f"{counterpart.aws_field} is read on AWS only: to deploy on "
                f"{cloud.display_name}, {counterpart.instruction} and set {counterpart.field}, "
                "or pin --cloud aws."
            )
    return frozenset(counterpart.aws_field for counterpart in cloud.source_counterparts)


def spec_from_decision(
    profile: Profile, decision: Decision, env: str, *, deployment_id: str | None = None
) -> DeploymentSpec:
    """The spec of `decision` (the planner's part) and `profile` (everything else)."""
    runtime = profile.runtime
    environment = profile.deploy.environments.get(env)
    target = targets.target(decision.cloud, decision.kind)
    if target is None:
        raise ProfileError(f"{decision.cloud} offers no {decision.kind} deployments.")
    kind = target.kind
    left_out = _aws_sources_left_out(profile, targets.cloud(decision.cloud))
    deploy = profile.deploy
    model_s3_uri = None if "deploy.model_s3_uri" in left_out else deploy.model_s3_uri
    token = None if "deploy.hf_token_ssm_parameter" in left_out else deploy.hf_token_ssm_parameter
    compiles_at_boot = is_neuron(decision.accelerator) and not model_s3_uri
    sections = {
        name: _waiting_for_compile(getattr(deploy, name), compiles_at_boot)
        for name in targets.spec_sections()
        if hasattr(deploy, name)  # else a section the orchestrator sets (planner/serving.py)
    }
    sections.update(
        {
            name: getattr(profile, name)
            for name in PROFILE_SECTIONS
            if name in targets.spec_sections()
        }
    )
    return DeploymentSpec(
        name=profile.name,
        env=env,
        deployment_id=deployment_id,
        cloud=decision.cloud,  # type: ignore[arg-type]
        kind=decision.kind,  # type: ignore[arg-type]
        region=decision.region,
        zones=list(decision.zones),
        instance_type=decision.instance_type,
        equivalent_instance_types=list(decision.equivalent_instance_types),
        accelerator=decision.accelerator,
        accelerators_per_instance=decision.accelerators_per_instance,
        root_volume_gib=decision.root_volume_gib,
        capacity=CapacitySpec(
            min_size=decision.min_instances,
            desired=decision.instances,
            max_size=decision.max_instances,
            on_demand_base=decision.on_demand_instances,
            spot_percentage_above_base=decision.spot_percentage_above_base,
            # A Neuron instance without compiled artifacts compiles the model before it serves.
            health_check_grace_s=COMPILE_GRACE_S if compiles_at_boot else MODEL_LOAD_GRACE_S,
        ),
        runtime=RuntimeSpec(
            engine=runtime.engine,
            image=decision.image,
            model_id=profile.model.weights or _model_id(profile),
            model_s3_uri=model_s3_uri,
            precision=profile.model.precision,
            tensor_parallel=decision.tensor_parallel,
            replicas_per_instance=decision.replicas_per_instance,
            max_batch=runtime.max_batch,
            max_model_len=runtime.max_model_len,
            kv_cache_dtype=runtime.kv_cache_dtype,
            port=kind.serving_port or runtime.port,
            health_path=kind.health_path
            or image_health_path(decision.image)
            or HEALTH_PATHS[runtime.engine],
            extra_args=list(runtime.extra_args),
            hf_token_ssm_parameter=token,
        ),
        scaling=scaling_spec(kind, decision, profile),
        network=profile.deploy.network,
        alerts_topic_arn=profile.deploy.alerts.sns_topic_arn,
        alerts_action_group_id=profile.deploy.alerts.action_group_id,
        tags={**profile.tags, "env": env},  # the environment deployed to, whatever the profile says
        required_tags=list(profile.deploy.required_tags),
        budget_monthly_usd=(environment or Environment()).budget(profile.budget),
        expected_hourly_usd=(
            decision.hourly.expected_monthly_usd / HOURS_PER_MONTH
            if decision.hourly
            else decision.hourly_usd
        ),
        hourly=decision.hourly,
        slo=_slo(profile, [sections.get(name) for name in target.spec_sections]),
        state_backend=environment.backend if environment else None,
        protected=environment.protected if environment else False,
        **sections,
    )


def _slo(profile: Profile, own_sections: list[Any]) -> SloSpec | None:
    """The profile's latency targets for a deployment one of whose own sections monitors it."""
    monitored = any(getattr(section, "monitoring", "none") != "none" for section in own_sections)
    if not monitored:
        return None
    return SloSpec(ttft_ms_p95=profile.targets.ttft_ms_p95, tpot_ms=profile.targets.tpot_ms)


def scaling_spec(kind: targets.Kind, decision: Decision, profile: Profile) -> ScalingSpec:
    """What the deployment's autoscaling tracks, and at which targets (the recommendation shows
    it too)."""
    signal = kind.scaling_signal
    return ScalingSpec(
        signal=signal,
        target=_scaling_target(signal, decision, profile),
        p99_latency_alarm_s=decision.p99_latency_alarm_s,
        in_flight_per_replica=_in_flight_per_replica(kind, decision, profile),
        latency_target_ms_p95=(
            profile.targets.e2e_ms_p95 if signal == "invocations_per_instance" else None
        ),
        ttft_alarm_ms=profile.targets.ttft_ms_p95,
        tpot_alarm_ms=profile.targets.tpot_ms,
    )


def chosen_scaling(recommendation: Recommendation) -> dict[str, Any]:
    """The scaling the recommendation's choice would deploy with, as plain data (the fields
    that apply to its kind)."""
    decision = decide(recommendation.profile, recommendation)
    target = targets.target(decision.cloud, decision.kind)
    assert target is not None  # the catalog offers only registered targets
    data = msgspec.to_builtins(scaling_spec(target.kind, decision, recommendation.profile))
    return {name: value for name, value in data.items() if value is not None}


def _scaling_target(signal: str, decision: Decision, profile: Profile) -> float:
    """The autoscaling target for the kind's signal. Requests in flight per replica follow from
    the requests per minute that leave the headroom by Little's law: a replica's rate times how
    long a request stays (the predicted time to first token plus the mean output at the predicted
    time per token, else the end-to-end p95)."""
    if signal != "requests_in_flight_per_replica":
        return decision.scaling_target_per_minute
    per_replica_rps = decision.scaling_target_per_minute / 60 / decision.replicas_per_instance
    predicted, output = decision.predicted, profile.workload.output_tokens
    if predicted and output and predicted.ttft_ms_p95 is not None and predicted.tpot_ms is not None:
        stay_ms = predicted.ttft_ms_p95 + predicted.tpot_ms * output.mean
    else:
        stay_ms = (predicted.e2e_ms_p95 if predicted else None) or DEFAULT_IN_FLIGHT_MS
    return max(round(per_replica_rps * stay_ms / 1000, 2), MIN_IN_FLIGHT_TARGET)


def planned_in_flight_per_replica(decision: Decision, profile: Profile) -> float:
    """The requests in flight per replica the plan expects at its scaling target (Little's law,
    `_scaling_target`), whatever the kind's signal: what `infra status` compares with."""
    return _scaling_target("requests_in_flight_per_replica", decision, profile)


def _in_flight_per_replica(
    kind: targets.Kind, decision: Decision, profile: Profile
) -> float | None:
    """Requests in flight per replica for a kind whose platform counts them itself
    (`Kind.counts_in_flight`), and for a fleet that follows the week (hourly sizes): requests
    per target or per instance count requests, not how full a replica's batch and queue are, so
    such a deployment tracks both. A flat fleet keeps tracking requests alone. Per replica: the
    CloudWatch agent scrapes each replica on its own port (modules/aws/engine_metrics.py)."""
    follows_the_week = (
        kind.scaling_signal == "alb_requests_per_target" and decision.hourly is not None
    )
    if not (kind.counts_in_flight or follows_the_week):
        return None
    return _scaling_target("requests_in_flight_per_replica", decision, profile)


def _waiting_for_compile(section: Any, compiles_at_boot: bool) -> Any:
    """A platform that times a container's startup (a section with `startup_timeout_s`) waits
    as long as compiling the model for Neuron at startup takes."""
    timeout = getattr(section, "startup_timeout_s", None)
    if not compiles_at_boot or timeout is None or timeout >= COMPILE_GRACE_S:
        return section
    return msgspec.structs.replace(section, startup_timeout_s=COMPILE_GRACE_S)


def _model_id(profile: Profile) -> str:
    model = profile.model_spec()
    return model.hf_id or model.name


def spec_from_recommendation(
    profile: Profile,
    recommendation: Recommendation,
    env: str,
    candidate: Candidate | None = None,
) -> DeploymentSpec:
    """The spec of the recommendation's choice (or `candidate`), as a fresh decision."""
    decision = decide(profile, recommendation, candidate)
    check_decision(profile, decision, lambda: recommendation)
    return spec_from_decision(profile, decision, env)


RECORD_OUTPUT = "infra_deployment"
"""The stack output that holds the spec a state was applied with (orchestrator.applied)."""


def spec_as_data(spec: DeploymentSpec) -> dict[str, Any]:
    """The spec as plain data, with only the sections its own target carries: another target's
    section says nothing about this deployment, and a new target's section must not change the
    record of every existing one."""
    data: dict[str, Any] = msgspec.to_builtins(spec)
    target = targets.target(spec.cloud, spec.kind)
    own = set(target.spec_sections) if target else set()
    for name in set(targets.spec_sections()) - own:
        data.pop(name, None)
    # Absent: the record reads as it always did.
    for optional in ("hourly", "alerts_topic_arn", "alerts_action_group_id", "slo"):
        if data.get(optional) is None:
            data.pop(optional, None)
    for optional in (
        "in_flight_per_replica",
        "latency_target_ms_p95",
        "ttft_alarm_ms",
        "tpot_alarm_ms",
    ):
        if data["scaling"].get(optional) is None:
            data["scaling"].pop(optional, None)
    return data


def spec_as_json(spec: DeploymentSpec) -> str:
    """The spec as its stack records it: the budget left out, since it changes no resource (a
    new budget must not read as a change of the deployment)."""
    import json

    recorded = msgspec.structs.replace(spec, budget_monthly_usd=None)
    return json.dumps(spec_as_data(recorded), sort_keys=True, separators=(",", ":"))


def same_configuration(one: DeploymentSpec, other: DeploymentSpec) -> bool:
    """Whether two specs synthesize the same resources (they differ at most in the budget)."""
    return spec_as_json(one) == spec_as_json(other)


def dump_spec(spec: DeploymentSpec) -> str:
    import yaml

    return yaml.safe_dump(spec_as_data(spec), sort_keys=False)


def load_spec(path: str | Path) -> DeploymentSpec:
    document = load_located_yaml(Path(path))
    if not isinstance(document.data, dict):
        raise ProfileError(f"{document.path}: a deployment spec is a YAML mapping (name:, ...).")
    try:
        return msgspec.convert(document.data, DeploymentSpec, strict=False)
    except msgspec.ValidationError as error:
        raise ProfileError(validation_sentence(error, document, DeploymentSpec)) from None
