"""DeploymentSpec: the cloud-neutral description of what to provision, and nothing else.

Stacks are built from a spec alone, so a spec written by hand (`infra synth --spec spec.yaml`)
deploys the same way as one derived from a recommendation. `spec_from_recommendation` turns the
planner's choice plus the profile into a spec; `load_spec` / `dump_spec` read and write YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from core.errors import ProfileError
from planner.decision import Decision, decide
from planner.images import MODEL_GARDEN_HEALTH_PATH, is_model_garden_vllm
from planner.names import DeploymentId, Identifier
from planner.optimizer import HOURS_PER_MONTH, Candidate, Recommendation
from planner.profile import (
    AzureOptions,
    Canary,
    Engine,
    Environment,
    GcpOptions,
    Network,
    Profile,
    SagemakerOptions,
    StateBackend,
    validation_sentence,
)
from planner.yaml_source import load_located_yaml
from providers.aws.neuron import COMPILE_GRACE_S, is_neuron

SAGEMAKER_PORT = 8080
SAGEMAKER_HEALTH_PATH = "/ping"
"""SageMaker's container contract: /ping and /invocations on port 8080."""
VERTEX_PORT = 8080
"""Vertex AI sends health checks and predictions to the model's first container port, 8080 unless
the model names another (AIP_HTTP_PORT); its health and predict routes are the model's to name, so
a Vertex spec keeps the engine's health path (Google's Model Garden image answers on its own)."""
HEALTH_PATHS: dict[str, str] = {
    "vllm": "/health",
    "tgi": "/health",
    "triton": "/v2/health/ready",
}
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

    signal: Literal["alb_requests_per_target", "invocations_per_instance"]
    target: Annotated[float, Meta(gt=0)]
    p99_latency_alarm_s: Annotated[float, Meta(gt=0)] = 60.0


class DeploymentSpec(_Spec, kw_only=True):
    name: Name
    env: Name
    deployment_id: DeploymentId | None = None
    """Set by the lock: tells two profiles of one name (in two folders) apart in resource names."""
    cloud: Literal["aws", "gcp", "azure"]
    kind: Literal["fleet", "sagemaker", "vertex", "azureml"]
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
    tags: dict[str, str] = {}
    required_tags: list[str] = []
    budget_monthly_usd: float | None = None
    expected_hourly_usd: float | None = None
    state_backend: StateBackend | None = None
    protected: bool = False
    sagemaker: SagemakerOptions = msgspec.field(default_factory=SagemakerOptions)
    """Used by SageMaker endpoints only."""
    canary: Canary = msgspec.field(default_factory=Canary)
    """Used by Vertex AI and Azure ML endpoints only (the SDK steps)."""
    azure: AzureOptions = msgspec.field(default_factory=AzureOptions)
    """Used by Azure deployments only."""
    gcp: GcpOptions = msgspec.field(default_factory=GcpOptions)
    """Used by Google Cloud deployments only."""

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


def check_challenger(profile: Profile, recommendation: Recommendation, decision: Decision) -> None:
    """A challenger variant serves the same model with the same tensor parallel degree, so it
    must be a feasible SageMaker choice of the same region (`recommendation` may be narrowed to
    that region)."""
    challenger = profile.deploy.sagemaker.challenger
    if challenger is None or decision.kind != "sagemaker":
        return
    feasible = [
        candidate
        for candidate in recommendation.candidates
        if candidate.offering.kind == "sagemaker"
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


def _check_gcp_sources(profile: Profile) -> None:
    """S3 weights and an SSM token are read on AWS only: a GCP deployment needs their Cloud Storage
    and Secret Manager counterparts rather than silently falling back to the model hub."""
    deploy = profile.deploy
    if deploy.model_s3_uri and not deploy.gcp.model_gcs_uri:
        raise ProfileError(
            "deploy.model_s3_uri is read on AWS only: to deploy on GCP, copy the weights to Cloud "
            "Storage and set deploy.gcp.model_gcs_uri, or pin --cloud aws."
        )
    if deploy.hf_token_ssm_parameter and not deploy.gcp.hf_token_secret:
        raise ProfileError(
            "deploy.hf_token_ssm_parameter is read on AWS only: to deploy on GCP, store the token "
            "in Secret Manager and set deploy.gcp.hf_token_secret, or pin --cloud aws."
        )


def spec_from_decision(
    profile: Profile, decision: Decision, env: str, *, deployment_id: str | None = None
) -> DeploymentSpec:
    """The spec of `decision` (the planner's part) and `profile` (everything else)."""
    runtime = profile.runtime
    environment = profile.deploy.environments.get(env)
    on_gcp = decision.cloud == "gcp"
    if on_gcp:
        _check_gcp_sources(profile)
    port = {"sagemaker": SAGEMAKER_PORT, "vertex": VERTEX_PORT}.get(decision.kind, runtime.port)
    model_s3_uri = None if on_gcp else profile.deploy.model_s3_uri
    compiles_at_boot = is_neuron(decision.accelerator) and not model_s3_uri
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
            port=port,
            health_path=_health_path(decision, runtime.engine),
            extra_args=list(runtime.extra_args),
            hf_token_ssm_parameter=None if on_gcp else profile.deploy.hf_token_ssm_parameter,
        ),
        scaling=ScalingSpec(
            signal="alb_requests_per_target"
            if decision.kind == "fleet"
            else "invocations_per_instance",
            target=decision.scaling_target_per_minute,
            p99_latency_alarm_s=decision.p99_latency_alarm_s,
        ),
        network=profile.deploy.network,
        tags={**profile.tags, "env": env},  # the environment deployed to, whatever the profile says
        required_tags=list(profile.deploy.required_tags),
        budget_monthly_usd=(environment or Environment()).budget(profile.budget),
        expected_hourly_usd=decision.hourly_usd,
        state_backend=environment.backend if environment else None,
        protected=environment.protected if environment else False,
        sagemaker=_sagemaker_options(profile.deploy.sagemaker, compiles_at_boot),
        canary=profile.deploy.canary,
        azure=profile.deploy.azure,
        gcp=profile.deploy.gcp,
    )


def _health_path(decision: Decision, engine: str) -> str:
    if decision.kind == "sagemaker":
        return SAGEMAKER_HEALTH_PATH
    if decision.kind == "vertex" and is_model_garden_vllm(decision.image):
        return MODEL_GARDEN_HEALTH_PATH
    return HEALTH_PATHS[engine]


def _sagemaker_options(options: SagemakerOptions, compiles_at_boot: bool) -> SagemakerOptions:
    """A Neuron endpoint that compiles the model at startup waits as long as compiling takes."""
    if not compiles_at_boot or options.startup_timeout_s >= COMPILE_GRACE_S:
        return options
    return msgspec.structs.replace(options, startup_timeout_s=COMPILE_GRACE_S)


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
    check_challenger(profile, recommendation, decision)
    return spec_from_decision(profile, decision, env)


RECORD_OUTPUT = "infra_deployment"
"""The stack output that holds the spec a state was applied with (orchestrator.applied)."""


def spec_as_json(spec: DeploymentSpec) -> str:
    """The spec as its stack records it: the budget left out, since it changes no resource (a
    new budget must not read as a change of the deployment)."""
    import json

    recorded = msgspec.structs.replace(spec, budget_monthly_usd=None)
    return json.dumps(msgspec.to_builtins(recorded), sort_keys=True, separators=(",", ":"))


def same_configuration(one: DeploymentSpec, other: DeploymentSpec) -> bool:
    """Whether two specs synthesize the same resources (they differ at most in the budget)."""
    return spec_as_json(one) == spec_as_json(other)


def dump_spec(spec: DeploymentSpec) -> str:
    import yaml

    data = msgspec.to_builtins(spec)
    return yaml.safe_dump(data, sort_keys=False)


def load_spec(path: str | Path) -> DeploymentSpec:
    document = load_located_yaml(Path(path))
    if not isinstance(document.data, dict):
        raise ProfileError(f"{document.path}: a deployment spec is a YAML mapping (name:, ...).")
    try:
        return msgspec.convert(document.data, DeploymentSpec, strict=False)
    except msgspec.ValidationError as error:
        raise ProfileError(validation_sentence(error, document, DeploymentSpec)) from None
