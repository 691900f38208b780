"""DeploymentSpec: the cloud-neutral description of what to provision, and nothing else.

Stacks are built from a spec alone, so a spec written by hand (`infra synth --spec spec.yaml`)
deploys the same way as one derived from a recommendation. `spec_from_recommendation` turns the
planner's choice plus the profile into a spec; `load_spec` / `dump_spec` read and write YAML.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from planner.errors import ProfileError
from planner.optimizer import HOURS_PER_MONTH, Candidate, Recommendation
from planner.performance import weight_bytes
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

DEFAULT_IMAGES: dict[str, str] = {
    "vllm": "vllm/vllm-openai:v0.10.2",
    "tgi": "ghcr.io/huggingface/text-generation-inference:3.3.4",
    "triton": "nvcr.io/nvidia/tritonserver:25.08-trtllm-python-py3",
}
"""Public images pinned by tag; `runtime.image` in the profile overrides them."""

DLC_REGISTRY = "763104351884.dkr.ecr.{region}.amazonaws.com"
"""AWS Deep Learning Containers: the registry account of the regions in DLC_REGIONS; opt-in
regions use other accounts, so there `runtime.image` must name the image."""
DLC_REGIONS = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "ca-central-1",
        "sa-east-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-central-1",
        "eu-north-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
    }
)
SAGEMAKER_IMAGES: dict[str, str] = {
    # LMI 16 (DJL Serving 0.34) runs vLLM 0.10.2, the version the fleet image pins.
    "vllm": "djl-inference:0.34.0-lmi16.0.0-cu128",
    "tgi": "huggingface-pytorch-tgi-inference:2.7.0-tgi3.3.4-gpu-py311-cu124-ubuntu22.04",
    "triton": "sagemaker-tritonserver:25.04-py3",
}
"""SageMaker pulls from ECR only: the AWS-built images of the same engines, pinned by tag."""
SAGEMAKER_PORT = 8080
SAGEMAKER_HEALTH_PATH = "/ping"
"""SageMaker's container contract: /ping and /invocations on port 8080."""
VERTEX_PORT = 8080
"""Vertex AI sends health checks and predictions to the model's first container port, 8080 unless
the model names another (AIP_HTTP_PORT); its health and predict routes are the model's to name, so
a Vertex spec keeps the engine's health path."""
ARTIFACT_REGISTRY_IMAGE = re.compile(r"^([a-z0-9-]+-docker\.pkg\.dev|([a-z]+\.)?gcr\.io)/")
"""Vertex AI pulls serving images from Artifact Registry only (gcr.io is served by it too)."""

HEALTH_PATHS: dict[str, str] = {
    "vllm": "/health",
    "tgi": "/health",
    "triton": "/v2/health/ready",
}
MODEL_LOAD_GRACE_S = 900
"""Health-check grace for a new instance: pull a multi-GB image and load the weights."""
MAX_EQUIVALENT_TYPES = 3
P99_ALARM_FACTOR = 1.5
"""The p99 latency alarm fires at 1.5 x the end-to-end p95 (target, else predicted)."""

Name = Annotated[str, Meta(pattern=r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")]
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
        return f"{self.name}-{self.env}"

    @property
    def expected_monthly_usd(self) -> float | None:
        if self.expected_hourly_usd is None:
            return None
        return self.expected_hourly_usd * HOURS_PER_MONTH


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


def _sagemaker_image(engine: str, region: str) -> str:
    if region not in DLC_REGIONS:
        raise ProfileError(
            f"no AWS-built {engine} image is known for SageMaker in {region}; set runtime.image "
            "to an ECR image URI."
        )
    return f"{DLC_REGISTRY.format(region=region)}/{SAGEMAKER_IMAGES[engine]}"


def _check_challenger(profile: Profile, recommendation: Recommendation, chosen: Candidate) -> None:
    """A challenger variant serves the same model with the same tensor parallel degree, so it
    must be a feasible SageMaker choice of the same region."""
    challenger = profile.deploy.sagemaker.challenger
    if challenger is None:
        return
    feasible = [
        candidate
        for candidate in recommendation.candidates
        if candidate.offering.kind == "sagemaker"
        and candidate.offering.region == chosen.offering.region
        and candidate.tensor_parallel == chosen.tensor_parallel
    ]
    if challenger.instance_type == chosen.offering.instance_type:
        raise ProfileError(
            f"deploy.sagemaker.challenger.instance_type is {challenger.instance_type}, the "
            "primary variant's type; name another type or remove the challenger."
        )
    if not any(c.offering.instance_type == challenger.instance_type for c in feasible):
        others = sorted(
            {c.offering.instance_type for c in feasible} - {chosen.offering.instance_type}
        )
        raise ProfileError(
            f"deploy.sagemaker.challenger.instance_type {challenger.instance_type} cannot serve "
            f"this model with tensor parallel {chosen.tensor_parallel} in "
            f"{chosen.offering.region} within the targets; feasible: "
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


def _vertex_image(image: str | None, engine: str) -> str:
    if image and ARTIFACT_REGISTRY_IMAGE.match(image):
        return image
    public = image or DEFAULT_IMAGES[engine]
    raise ProfileError(
        f"Vertex AI runs serving images from Artifact Registry only: copy {public} into a "
        "repository of yours (REGION-docker.pkg.dev/PROJECT/REPOSITORY/...) and set runtime.image "
        "to it."
    )


def _root_volume_gib(weights_gib: float) -> int:
    """Image layers (~30 GiB for CUDA serving images), twice the weights (download + cache)."""
    return int(math.ceil((60 + 2 * weights_gib) / 10) * 10)


def spec_from_recommendation(
    profile: Profile,
    recommendation: Recommendation,
    env: str,
    candidate: Candidate | None = None,
) -> DeploymentSpec:
    chosen = candidate or recommendation.chosen
    offering = chosen.offering
    model = recommendation.model
    runtime = profile.runtime
    environment = profile.deploy.environments.get(env)
    per_instance_rps = chosen.replicas_per_instance * chosen.replica.requests_per_s
    headroom = 1 + profile.targets.headroom
    min_instances = math.ceil(profile.placement.min_replicas / chosen.replicas_per_instance)
    spot_allowed = chosen.spot_usd is not None and profile.placement.spot.policy != "never"
    weights_gib = weight_bytes(model, profile.model.precision) / 2**30
    signal = "alb_requests_per_target" if offering.kind == "fleet" else "invocations_per_instance"
    on_sagemaker = offering.kind == "sagemaker"
    on_gcp = offering.cloud == "gcp"
    if on_gcp:
        _check_gcp_sources(profile)
    if on_sagemaker:
        _check_challenger(profile, recommendation, chosen)
        image = runtime.image or _sagemaker_image(runtime.engine, offering.region)
    elif offering.kind == "vertex":
        image = _vertex_image(runtime.image, runtime.engine)
    else:
        image = runtime.image or DEFAULT_IMAGES[runtime.engine]
    port = {"sagemaker": SAGEMAKER_PORT, "vertex": VERTEX_PORT}.get(offering.kind, runtime.port)
    e2e_ms = profile.targets.e2e_ms_p95 or recommendation.predicted(chosen).e2e_ms_p95 or 40_000
    return DeploymentSpec(
        name=profile.name,
        env=env,
        cloud=offering.cloud,  # type: ignore[arg-type]
        kind=offering.kind,  # type: ignore[arg-type]
        region=offering.region,
        zones=list(chosen.zones),
        instance_type=offering.instance_type,
        equivalent_instance_types=_equivalents(recommendation, chosen),
        accelerator=offering.accelerator,
        accelerators_per_instance=offering.accelerator_count,
        root_volume_gib=_root_volume_gib(weights_gib),
        capacity=CapacitySpec(
            min_size=max(min_instances, chosen.on_demand_instances, 1),
            desired=chosen.instances,
            max_size=max(2 * chosen.instances, chosen.instances + 1),
            on_demand_base=chosen.on_demand_instances,
            spot_percentage_above_base=100 if spot_allowed else 0,
        ),
        runtime=RuntimeSpec(
            engine=runtime.engine,
            image=image,
            model_id=profile.model.weights or model.hf_id or model.name,
            model_s3_uri=None if on_gcp else profile.deploy.model_s3_uri,
            precision=profile.model.precision,
            tensor_parallel=chosen.tensor_parallel,
            replicas_per_instance=chosen.replicas_per_instance,
            max_batch=runtime.max_batch,
            max_model_len=runtime.max_model_len,
            kv_cache_dtype=runtime.kv_cache_dtype,
            port=port,
            health_path=SAGEMAKER_HEALTH_PATH if on_sagemaker else HEALTH_PATHS[runtime.engine],
            extra_args=list(runtime.extra_args),
            hf_token_ssm_parameter=None if on_gcp else profile.deploy.hf_token_ssm_parameter,
        ),
        scaling=ScalingSpec(
            signal=signal,  # type: ignore[arg-type]
            # Requests per minute per instance that still leave the profile's headroom.
            target=round(per_instance_rps / headroom * 60, 2),
            p99_latency_alarm_s=round(e2e_ms * P99_ALARM_FACTOR / 1000, 1),
        ),
        network=profile.deploy.network,
        tags={**profile.tags, "env": env},  # the environment deployed to, whatever the profile says
        required_tags=list(profile.deploy.required_tags),
        budget_monthly_usd=(environment or Environment()).budget(profile.budget),
        expected_hourly_usd=round(chosen.hourly_usd, 4),
        state_backend=environment.backend if environment else None,
        protected=environment.protected if environment else False,
        sagemaker=profile.deploy.sagemaker,
        canary=profile.deploy.canary,
        azure=profile.deploy.azure,
        gcp=profile.deploy.gcp,
    )


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
        raise ProfileError(validation_sentence(error, document)) from None
