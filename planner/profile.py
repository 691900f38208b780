"""The profile: what model to serve, what load, which targets, and where it may run.

Validated with msgspec (typed structs with constraints): it checks the same things pydantic would,
but imports in a few milliseconds instead of ~170 ms, which keeps `infra recommend` under 0.3 s.
Validation errors name the file, the line and the field in one sentence.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from core.errors import ProfileError
from planner.models import ModelSpec, builtin_models, find_model, spec_from_mapping
from planner.names import AwsRegion, Identifier, S3Bucket, S3KeyPrefix
from planner.profile_checks import check_profile_values
from planner.schema_errors import validation_sentence
from planner.yaml_source import LocatedDocument, load_located_yaml
from providers import targets
from providers.commitments import COMMITMENT_KINDS
from providers.commitments import TERMS as COMMITMENT_TERMS
from providers.spot_interruption import BAND_MAX_PERCENT

Precision = Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4"]
ALL_CLOUDS: tuple[str, ...] = targets.cloud_names()
ALL_KINDS: tuple[str, ...] = targets.kind_names()
Cloud = Literal[ALL_CLOUDS]  # type: ignore[valid-type]  # the registered clouds
Kind = Literal[ALL_KINDS]  # type: ignore[valid-type]  # the kinds some cloud offers
Engine = Literal["vllm", "tgi", "triton"]

DEFAULT_CONFIDENCE = 0.8
"""The quantile of the performance model's error a plan is sized at unless targets.confidence."""

# Every number has bounds a real deployment stays far inside (no NaN, no infinity): a value
# outside them is a typo or hostile, and would only reach the optimizer to overflow there.
Share = Annotated[float, Meta(ge=0, le=1)]
RequestRate = Annotated[float, Meta(ge=0.0001, le=1_000_000)]
MeasuredRate = Annotated[float, Meta(ge=0.001, le=1_000_000)]
TokenCount = Annotated[float, Meta(ge=1, le=10_000_000)]
LatencyMs = Annotated[float, Meta(gt=0, le=3_600_000)]
MonthlyUsd = Annotated[float, Meta(gt=0, le=1_000_000_000)]
Gflops = Annotated[float, Meta(ge=1e-6, le=1e9)]
ParamsBillions = Annotated[float, Meta(ge=0.001, le=100_000)]
ContextLength = Annotated[int, Meta(ge=1, le=100_000_000)]
Replicas = Annotated[int, Meta(ge=1, le=10_000)]
ArchitectureSize = Annotated[int, Meta(ge=1, le=1_000_000)]
ShortText = Annotated[str, Meta(min_length=1, max_length=200)]
LongText = Annotated[str, Meta(min_length=1, max_length=2048)]
KUBERNETES_LABEL_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
"""A Kubernetes label key: an optional DNS-subdomain prefix and `/`, then a name of up to 63
characters (checked in the section, since a mapping key's error would show the pattern)."""
KubernetesLabelValue = Annotated[
    str,
    Meta(
        pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?\Z",
        description="a Kubernetes label value: up to 63 letters, digits, -, _ or ., beginning "
        "and ending with a letter or digit",
    ),
]


class _Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class Architecture(_Section, kw_only=True):
    """An explicit architecture for a model that is not built in (any decoder-only LLM)."""

    family: Literal["decoder", "encoder", "vision", "speech"] = "decoder"
    params_b: ParamsBillions
    active_params_b: ParamsBillions | None = None
    layers: Annotated[int, Meta(ge=1, le=1024)] | None = None
    hidden_size: ArchitectureSize | None = None
    attention_heads: Annotated[int, Meta(ge=1, le=4096)] | None = None
    kv_heads: Annotated[int, Meta(ge=1, le=4096)] | None = None
    head_dim: Annotated[int, Meta(ge=1, le=65_536)] | None = None
    vocab_size: Annotated[int, Meta(ge=1, le=10_000_000)] | None = None
    max_context: ContextLength | None = None
    experts: Annotated[int, Meta(ge=2, le=4096)] | None = None
    active_experts: Annotated[int, Meta(ge=1, le=4096)] | None = None
    kv_lora_rank: Annotated[int, Meta(ge=1, le=65_536)] | None = None
    qk_rope_head_dim: Annotated[int, Meta(ge=0, le=65_536)] | None = None
    gflops_per_request: Gflops | None = None

    def __post_init__(self) -> None:
        if self.family != "decoder":
            return
        needed = ["layers", "attention_heads"]
        if self.kv_lora_rank is None:
            needed += ["kv_heads", "head_dim"]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a decoder architecture needs {', '.join(missing)}")
        if (self.experts is None) != (self.active_experts is None):
            raise ValueError("give both experts and active_experts for a mixture-of-experts model")
        if self.experts and self.active_experts and self.active_experts >= self.experts:
            raise ValueError("active_experts must be fewer than experts")
        if self.active_params_b and self.active_params_b > self.params_b:
            raise ValueError("active_params_b cannot exceed params_b")
        if self.experts and not self.active_params_b:
            raise ValueError("a mixture-of-experts model needs active_params_b")


class ModelSection(_Section, kw_only=True):
    name: ShortText | None = None
    architecture: Architecture | None = None
    precision: Precision = "bf16"
    weights: LongText | None = None
    """What the runtime loads: a Hugging Face id or an s3:// / gs:// URI."""

    def __post_init__(self) -> None:
        if (self.name is None) == (self.architecture is None):
            raise ValueError("give either model.name (a built-in model) or model.architecture")


class TokenStats(_Section, kw_only=True):
    mean: TokenCount
    p95: TokenCount

    def __post_init__(self) -> None:
        if self.p95 < self.mean:
            raise ValueError("p95 cannot be below mean")


class MeasuredThroughput(_Section, kw_only=True):
    """The user's own measurement on one accelerator; it overrides the performance model.
    `infra bench --record` writes one from a load test of the deployed endpoint."""

    accelerator: ShortText
    requests_per_second: MeasuredRate
    """What one model replica sustains within the targets."""
    latency_ms_p95: LatencyMs | None = None
    """End-to-end p95 at that rate; None (the default): not measured. Checked against
    targets.e2e_ms_p95."""
    ttft_ms_p95: LatencyMs | None = None
    """Time to first token, p95, at that rate; None (the default): not measured. Checked
    against targets.ttft_ms_p95."""
    tpot_ms: LatencyMs | None = None
    """Time per output token (median) at that rate; None (the default): not measured. Checked
    against targets.tpot_ms."""


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Fraction = Annotated[float, Meta(ge=0, le=1)]
DayFractions = Annotated[list[Fraction], Meta(min_length=24, max_length=24)]


class Traffic(_Section, kw_only=True):
    """How the request rate moves over the week (`workload.requests_per_second` is the peak).

    One of: `peak_hours` (with `days` and `trough_rps`), `hourly` and/or `weekly` (fractions of
    the peak, 24 per day), or `csv` (hourly rates exported from monitoring). Hours are local to
    `timezone` (planner/traffic.py)."""

    timezone: ShortText = "UTC"
    peak_hours: ShortText | None = None
    """`09:00-18:00`: the hours at the peak rate (whole hours; `22:00-06:00` wraps)."""
    days: (
        Literal["weekdays", "daily", "weekends"]
        | Annotated[list[Weekday], Meta(min_length=1, max_length=7)]
    ) = "weekdays"
    """The days `peak_hours` applies to."""
    trough_rps: Annotated[float, Meta(ge=0, le=1_000_000)] = 0.0
    """The rate outside the peak hours."""
    hourly: DayFractions | None = None
    """24 fractions of the peak, from 00:00; every day unless `weekly` gives that day."""
    weekly: Annotated[dict[Weekday, DayFractions], Meta(min_length=1)] | None = None
    """24 fractions of the peak per named day; a day not named takes `hourly`, else 0."""
    csv: LongText | None = None
    """A CSV of timestamp,requests_per_second rows (a path relative to the profile, inside its
    folder), averaged into the 168 hours of the week in `timezone`."""
    csv_rates: Annotated[
        list[Annotated[float, Meta(ge=0, le=1_000_000)]], Meta(max_length=168)
    ] = []
    """Filled from `csv` when the profile is loaded (never written by hand)."""

    def __post_init__(self) -> None:
        from planner.traffic import days_of_week, hours_of_day, time_zone

        time_zone(self.timezone)
        given = [
            name
            for name, value in (
                ("peak_hours", self.peak_hours),
                ("hourly or weekly", self.hourly or self.weekly),
                ("csv", self.csv),
            )
            if value
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one shape: peak_hours (with days and trough_rps), hourly or "
                "weekly fractions of the peak, or csv"
                + (f"; this gives {' and '.join(given)}" if given else "")
            )
        if self.peak_hours is not None:
            hours_of_day(self.peak_hours)
            days_of_week(self.days)


class Workload(_Section, kw_only=True):
    requests_per_second: RequestRate
    """The peak rate: the fleet is sized for it (and for every hour of `traffic` below it)."""
    traffic: Traffic | None = None
    input_tokens: TokenStats | None = None
    output_tokens: TokenStats | None = None
    gflops_per_request: Gflops | None = None
    memory_gib_per_request: Annotated[float, Meta(ge=0, le=16_384)] | None = None
    measured: Annotated[list[MeasuredThroughput], Meta(max_length=64)] = []


class Targets(_Section, kw_only=True):
    ttft_ms_p95: LatencyMs | None = None
    tpot_ms: LatencyMs | None = None
    e2e_ms_p95: LatencyMs | None = None
    headroom: Annotated[float, Meta(ge=0, le=5)] = 0.2
    confidence: Annotated[float, Meta(ge=0.5, lt=1)] = DEFAULT_CONFIDENCE
    """Size against the performance model's prediction at this quantile of its error."""


class SpotSettings(_Section, kw_only=True):
    policy: Literal["never", "allowed", "preferred"] = "allowed"
    on_demand_floor: Share | None = None
    max_interruption_percent: Literal[5, 10, 15, 20] | None = None
    """Use spot only where the cloud publishes an interruption frequency band whose upper bound
    is at most this (AWS Spot Instance Advisor: <5%, 5-10%, 10-15%, 15-20%, >20% of spot capacity
    taken back over a month). Where no band is published (GCP, Azure, a type the advisor omits)
    the capacity stays on-demand. None: any band."""

    def accepts(self, band: str | None) -> bool:
        """Whether spot capacity with this published interruption band may be used."""
        if self.max_interruption_percent is None:
            return True
        return band is not None and BAND_MAX_PERCENT[band] <= self.max_interruption_percent

    @property
    def floor(self) -> float:
        """Share of the required capacity that must stay on on-demand instances.

        `allowed` keeps half on on-demand unless told otherwise; `preferred` lets spot carry all
        of it unless a floor is given; `never` is all on-demand.
        """
        if self.policy == "never":
            return 1.0
        if self.on_demand_floor is not None:
            return self.on_demand_floor
        return 0.5 if self.policy == "allowed" else 0.0


class Placement(_Section, kw_only=True):
    clouds: Annotated[list[Cloud], Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: list(ALL_CLOUDS)
    )
    regions: Annotated[list[ShortText], Meta(max_length=64)] = []
    kinds: Annotated[list[Kind], Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: list(ALL_KINDS)
    )
    zones: (
        Annotated[int, Meta(ge=1, le=6)]
        | Annotated[
            list[Annotated[str, Meta(min_length=1, max_length=64)]],
            Meta(min_length=1, max_length=6),
        ]
    ) = 2
    spot: SpotSettings = msgspec.field(default_factory=SpotSettings)
    min_replicas: Replicas = 1


class Budget(_Section, kw_only=True):
    monthly_usd: MonthlyUsd


class Runtime(_Section, kw_only=True):
    engine: Engine = "vllm"
    max_batch: Annotated[int, Meta(ge=1, le=4096)] = 256
    max_model_len: ContextLength | None = None
    kv_cache_dtype: Literal["auto", "fp8", "fp16"] = "auto"
    image: LongText | None = None
    port: Annotated[int, Meta(ge=1, le=65535)] = 8000
    extra_args: Annotated[list[Annotated[str, Meta(max_length=4096)]], Meta(max_length=64)] = []


AcmCertificateArn = Annotated[
    str,
    Meta(
        pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}\Z",
        description="an ACM certificate ARN: arn:aws:acm:REGION:ACCOUNT:certificate/ID",
    ),
]
ActionGroupId = Annotated[
    str,
    Meta(
        pattern=r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w.()]{1,90}/providers/"
        r"[Mm]icrosoft\.[Ii]nsights/action[Gg]roups/[-\w.]{1,260}\Z",
        description="an action group's resource ID: /subscriptions/SUBSCRIPTION/resourceGroups/"
        "GROUP/providers/Microsoft.Insights/actionGroups/NAME",
    ),
]
SnsTopicArn = Annotated[
    str,
    Meta(
        pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?\Z",
        description="an SNS topic ARN: arn:aws:sns:REGION:ACCOUNT:NAME",
    ),
]
NotificationChannel = Annotated[
    str,
    Meta(
        pattern=r"^projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/notificationChannels/[0-9]{1,20}\Z",
        description="a notification channel: projects/PROJECT/notificationChannels/ID",
    ),
]
DomainName = Annotated[
    str,
    Meta(
        max_length=253,
        pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?\Z",
        description="a lowercase domain name such as chat.example.com (no wildcard)",
    ),
]
GcpSslCertificate = Annotated[
    str,
    Meta(
        pattern=r"^(projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/global/sslCertificates/)?"
        r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z",
        description="an SSL certificate name, or projects/PROJECT/global/sslCertificates/NAME",
    ),
]


class Network(_Section, kw_only=True):
    """Where the fleet lives: a new VPC over the placement's zones, or existing subnets; and
    how clients reach it. A public load balancer serves HTTPS only (HTTP is redirected), so it
    needs the certificate of its cloud; each cloud reads its own field and ignores the others."""

    vpc_id: str | None = None
    subnet_ids: list[str] = []
    ingress_cidrs: list[str] = []
    public: bool = False
    certificate_arn: AcmCertificateArn | None = None
    """AWS: the ACM certificate (in the deployment's region) the load balancer serves HTTPS
    with; an internal load balancer given one serves HTTPS too."""
    certificate_domains: Annotated[list[DomainName], Meta(max_length=100)] = []
    """GCP: a Google-managed certificate is issued for these domains once their DNS points at
    the public load balancer's address."""
    certificate_name: GcpSslCertificate | None = None
    """GCP: an existing Compute Engine SSL certificate, by name or
    projects/P/global/sslCertificates/NAME."""


class Alerts(_Section, kw_only=True):
    """Where the deployment's alarms notify (on an AWS fleet: every alarm's alarm action; on an
    Azure fleet: every metric alert's action)."""

    sns_topic_arn: SnsTopicArn | None = None
    """AWS: the SNS topic (in the deployment's region) the alarms notify. None: the alarms
    change state without notifying anyone."""
    action_group_id: ActionGroupId | None = None
    """Azure: the action group's full resource ID the metric alerts notify. None: the alerts
    fire without notifying anyone."""
    notification_channel: NotificationChannel | None = None
    """GCP: the Cloud Monitoring notification channel (in the deployment's project) the alert
    policies notify. None: incidents open without notifying anyone."""


class StateBackend(_Section, kw_only=True):
    """Terraform state in S3 with its native lock file; absent means local state files."""

    s3_bucket: S3Bucket
    region: AwsRegion | None = None
    key_prefix: S3KeyPrefix = "infra"


class Environment(_Section, kw_only=True):
    protected: bool = False
    backend: StateBackend | None = None
    budget_monthly_usd: MonthlyUsd | None = None
    """This environment's budget; the profile's `budget.monthly_usd` otherwise."""
    schedule: ShortText | None = None
    """`weekdays 08:00-20:00 Europe/Berlin`: the hours this environment serves (days, whole
    hours, optionally a time zone: else the traffic's, else UTC)."""
    off_schedule_replicas: Annotated[int, Meta(ge=0, le=10_000)] | None = None
    """Replicas outside the schedule: 0 with scale_to_zero, else placement.min_replicas."""
    scale_to_zero: bool = False
    """No replica at all in an hour without traffic (or outside the schedule): min_replicas
    holds only while there is something to serve."""
    allow_cold_start: bool = False
    """Accept scale_to_zero although a replica's cold start (planner/cold_start.py) exceeds the
    latency target: the first request after an idle hour waits for it. Default: refused."""

    def __post_init__(self) -> None:
        if self.schedule is not None:
            from planner.traffic import parse_schedule

            parse_schedule(self.schedule)
        elif self.off_schedule_replicas is not None:
            raise ValueError("off_schedule_replicas needs a schedule")
        if self.allow_cold_start and not self.scale_to_zero:
            raise ValueError("allow_cold_start needs scale_to_zero")

    def budget(self, profile_budget: Budget | None) -> float | None:
        if self.budget_monthly_usd is not None:
            return self.budget_monthly_usd
        return profile_budget.monthly_usd if profile_budget else None


S3Uri = Annotated[
    str,
    Meta(
        pattern=r"^s3://[a-z0-9.-]{3,63}(/.{0,1024})?\Z",
        description="an S3 URI: s3://, a bucket name, then optionally /prefix",
    ),
]


class TrafficShift(_Section, kw_only=True):
    """How SageMaker moves traffic to the new fleet when the endpoint changes (blue/green):
    a canary share first, or linear steps, or all at once; each step bakes `wait_s` while the
    rollback alarms watch, and the old fleet is kept `final_bake_s` after the last step."""

    mode: Literal["canary", "linear", "all_at_once"] = "canary"
    step_percent: Annotated[int, Meta(ge=1, le=50)] = 10
    wait_s: Annotated[int, Meta(ge=0, le=3600)] = 600
    final_bake_s: Annotated[int, Meta(ge=0, le=3600)] = 600


class Challenger(_Section, kw_only=True):
    """A second production variant on another instance type, taking a share of the traffic."""

    instance_type: Annotated[
        str,
        Meta(
            pattern=r"^ml\.[a-z0-9]{1,20}\.[a-z0-9]{1,20}\Z",
            description="a SageMaker instance type such as ml.g6.12xlarge",
        ),
    ]
    weight_percent: Annotated[int, Meta(ge=1, le=50)] = 10
    instances: Annotated[int, Meta(ge=1, le=1000)] = 1


class DataCapture(_Section, kw_only=True):
    """Requests and responses sampled to S3 (encrypted with the stack's KMS key)."""

    s3_uri: S3Uri
    sample_percent: Annotated[int, Meta(ge=1, le=100)] = 10


class SagemakerOptions(_Section, kw_only=True):
    """SageMaker endpoints only: traffic shifting, a challenger variant, data capture, and
    container settings that SageMaker takes as environment variables."""

    traffic_shift: TrafficShift = msgspec.field(default_factory=TrafficShift)
    challenger: Challenger | None = None
    data_capture: DataCapture | None = None
    environment: Annotated[dict[str, str], Meta(max_length=100)] = {}
    startup_timeout_s: Annotated[int, Meta(ge=60, le=3600)] = 900


class Canary(_Section, kw_only=True):
    """Vertex AI and Azure ML endpoints, and `kind: kubernetes`: how a changed serving
    configuration goes live. The new model takes `percent` of the traffic for `bake_s` seconds,
    then all of it, and the previous one is removed; `infra rollback` during the bake sends the
    traffic back. On Kubernetes the split is KServe's canaryTrafficPercent (`kserve_mode:
    serverless`) or a Gateway API route (`deploy.kubernetes.gateway`). (SageMaker shifts traffic
    itself, with its alarms: deploy.sagemaker.traffic_shift.)"""

    percent: Annotated[int, Meta(ge=1, le=50)] = 10
    bake_s: Annotated[int, Meta(ge=0, le=3600)] = 600


_ARM_GROUP = r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[A-Za-z0-9._()-]{1,90}/providers/"
_ARM_WORDS = "the resource ID /subscriptions/SUBSCRIPTION/resourceGroups/GROUP/providers/"
AzureSubscriptionId = Annotated[
    str,
    Meta(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z",
        description="a subscription ID, a GUID such as 00000000-1111-2222-3333-444444444444",
    ),
]
AzureSecretId = Annotated[
    str,
    Meta(
        pattern=_ARM_GROUP
        + r"Microsoft\.KeyVault/vaults/[A-Za-z0-9-]{3,24}/secrets/[A-Za-z0-9-]{1,127}\Z",
        description=_ARM_WORDS + "Microsoft.KeyVault/vaults/VAULT/secrets/SECRET",
    ),
]
AzureBlobContainerId = Annotated[
    str,
    Meta(
        pattern=_ARM_GROUP + r"Microsoft\.Storage/storageAccounts/[a-z0-9]{3,24}"
        r"/blobServices/default/containers/[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\Z",
        description=_ARM_WORDS
        + "Microsoft.Storage/storageAccounts/ACCOUNT/blobServices/default/containers/CONTAINER",
    ),
]
AzureRegistryId = Annotated[
    str,
    Meta(
        pattern=_ARM_GROUP + r"Microsoft\.ContainerRegistry/registries/[A-Za-z0-9]{5,50}\Z",
        description=_ARM_WORDS + "Microsoft.ContainerRegistry/registries/REGISTRY",
    ),
]


class AzureOptions(_Section, kw_only=True):
    """Azure deployments only. Resources are named by their Azure resource IDs, so the stack can
    grant the serving identity a role on exactly that secret, container or registry."""

    subscription_id: AzureSubscriptionId | None = None
    """Else ARM_SUBSCRIPTION_ID, as the azurerm provider and the Azure CLI read it."""
    resource_group: (
        Annotated[
            str,
            Meta(
                pattern=r"^[A-Za-z0-9._()-]{0,89}[A-Za-z0-9_()-]\Z",
                description="a resource group name: 1 to 90 letters, digits and . _ ( ) -, "
                "not ending with a dot",
            ),
        ]
        | None
    ) = None
    """An existing resource group to deploy into; else one named after the stack is created."""
    hf_token_secret_id: AzureSecretId | None = None
    """The Key Vault secret holding the Hugging Face token (a vault with RBAC authorization)."""
    model_blob_container_id: AzureBlobContainerId | None = None
    """Weights copied at boot from this blob container (under model_blob_prefix)."""
    model_blob_prefix: Annotated[
        str,
        Meta(
            pattern=r"^([^/].{0,1023})?\Z",
            description="a blob name prefix of at most 1,024 characters, not starting with /",
        ),
    ] = ""
    container_registry_id: AzureRegistryId | None = None
    """The Azure Container Registry of a runtime.image in *.azurecr.io (pulled with AcrPull)."""
    admin_ssh_public_key: (
        Annotated[
            str,
            Meta(
                pattern=r"^(ssh-rsa|ssh-ed25519) [A-Za-z0-9+/]{1,16384}={0,2}( .{0,1024})?\Z",
                description="one OpenSSH public key line: ssh-rsa or ssh-ed25519, a space, the "
                "base64 key, and optionally a comment",
            ),
        ]
        | None
    ) = None
    """For break-glass access through Bastion; without it the instances take no SSH login."""
    encryption_at_host: bool = True
    """Encrypt temp disks and disk caches on the host (the subscription must have the
    Microsoft.Compute/EncryptionAtHost feature registered)."""


GcsUri = Annotated[
    str,
    Meta(
        pattern=r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/.{0,1024})?\Z",
        description="a Cloud Storage URI: gs://, a bucket name, then optionally /prefix",
    ),
]
GcpProjectId = Annotated[
    str,
    Meta(
        pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]\Z",
        description="a project ID: 6 to 30 lowercase letters, digits and dashes, starting with "
        "a letter and not ending with a dash",
    ),
]
SecretManagerName = Annotated[
    str,
    Meta(
        pattern=r"^(projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/secrets/)?[A-Za-z0-9_-]{1,255}\Z",
        description="a secret ID (1 to 255 letters, digits, _ and -), or "
        "projects/PROJECT/secrets/SECRET",
    ),
]


class GcpOptions(_Section, kw_only=True):
    """Google Cloud deployments only. `project` falls back to GOOGLE_CLOUD_PROJECT when the stack
    is synthesized; the weights and the Hugging Face token are GCP's own counterparts of
    `model_s3_uri` and `hf_token_ssm_parameter` (a secret ID in the project, or
    projects/P/secrets/S)."""

    project: GcpProjectId | None = None
    model_gcs_uri: GcsUri | None = None
    hf_token_secret: SecretManagerName | None = None


DnsLabel = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z",
        description="1 to 63 lowercase letters, digits and dashes, starting and ending with a "
        "letter or digit (a Kubernetes name)",
    ),
]
ClusterName = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}\Z",
        description="a cluster name: letters, digits, - and _, starting with a letter or digit",
    ),
]


GatewayName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\Z",
        description="NAMESPACE/NAME of an existing Gateway API Gateway, such as infra/public "
        "(Kubernetes names: lowercase letters, digits and dashes)",
    ),
]


class KubernetesOptions(_Section, kw_only=True):
    """`kind: kubernetes`: GPU node pools for the model in a Kubernetes cluster (EKS, GKE, AKS)
    and the serving workload on them.

    The kind is considered only when this section says which cluster: `cluster` names an existing
    one (on AKS, in `deploy.azure.resource_group`), or `create_cluster: true` makes a new private
    one with workload identity, the namespace and KEDA (no KServe). `kserve: true` serves
    through a KServe InferenceService (the cluster must run KServe); otherwise a Deployment and
    a Service. The engine's queue is scaled on by KEDA (an existing cluster must run KEDA) from
    the Prometheus at `prometheus_url`. The
    Hugging Face token, if the model needs one, is a Kubernetes Secret you create
    (`hf_token_secret`, key `token`): the toolkit only references it."""

    cluster: ClusterName | None = None
    create_cluster: bool = False
    cluster_location: ShortText | None = None
    """GKE: the existing cluster's zone or region when it is not the deployment's region."""
    kubernetes_version: (
        Annotated[str, Meta(pattern=r"^1\.[0-9]{2}\Z", description="a minor version, e.g. 1.33")]
        | None
    ) = None
    """The version of a cluster the toolkit creates (the cloud's default when unset)."""
    namespace: DnsLabel = "serving"
    kserve: bool = False
    prometheus_url: Annotated[
        str,
        Meta(
            pattern=r"^https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?\Z",
            description="an http(s) URL of the Prometheus server KEDA queries",
        ),
    ] = "http://prometheus-operated.monitoring.svc:9090"
    hf_token_secret: DnsLabel | None = None
    kserve_mode: Literal["raw", "serverless"] = "raw"
    """KServe's deployment mode: `raw` (Standard: a Deployment scaled by KEDA) or `serverless`
    (Knative scales the predictor; KServe's canaryTrafficPercent works in this mode only). KServe
    refuses to change the mode of an existing InferenceService."""
    gateway: GatewayName | None = None
    """Without KServe: an existing Gateway (NAMESPACE/NAME) an HTTPRoute attaches the Service to;
    it splits a canary's traffic. Without one there is no canary: a new revision replaces the
    pods."""
    monitoring: Literal["prometheus_operator", "none"] = "none"
    """`prometheus_operator`: the cluster runs the Prometheus operator (kube-prometheus-stack),
    and the workload gets a PodMonitor for the engine's /metrics, a PrometheusRule alerting on
    the profile's targets (through the cluster's own Alertmanager) and a Grafana dashboard
    ConfigMap. `none` (the default): nothing of the operator's, whose CRDs a cluster may lack."""
    monitoring_labels: Annotated[dict[ShortText, KubernetesLabelValue], Meta(max_length=20)] = {}
    """Labels on the PodMonitor and PrometheusRule, for an operator that selects them by label
    (kube-prometheus-stack selects `release: <its Helm release>` unless its
    `*SelectorNilUsesHelmValues` are false)."""

    def __post_init__(self) -> None:
        if self.cluster is not None and self.create_cluster:
            raise ValueError(
                "give either cluster (an existing cluster) or create_cluster: true, not both"
            )
        if self.kserve_mode != "raw" and not self.kserve:
            raise ValueError("kserve_mode applies with kserve: true only")
        if self.gateway is not None and self.kserve:
            raise ValueError(
                "gateway routes to a Deployment's Service; with kserve: true, KServe routes "
                "(remove gateway, or set kserve: false)"
            )
        if self.create_cluster and self.monitoring != "none":
            raise ValueError(
                "monitoring: prometheus_operator needs the Prometheus operator's CRDs, and a "
                "cluster the toolkit creates has none; name an existing cluster that runs it in "
                "cluster, or set monitoring: none"
            )
        for key in self.monitoring_labels:
            if len(key) > 317 or not KUBERNETES_LABEL_KEY.fullmatch(key):
                raise ValueError(
                    f"monitoring_labels key {key!r} is not a Kubernetes label key (an optional "
                    "DNS-subdomain prefix and /, then up to 63 letters, digits, -, _ or .)"
                )
        if self.monitoring_labels and self.monitoring == "none":
            raise ValueError("monitoring_labels apply with monitoring: prometheus_operator only")
        if self.create_cluster and self.kserve:
            raise ValueError(
                "kserve: true needs a cluster that runs KServe, and a cluster the toolkit "
                "creates has none (only KEDA is installed on it); name an existing cluster "
                "with KServe in cluster, or set kserve: false"
            )

    @property
    def configured(self) -> bool:
        """Whether the profile says which cluster: the kind is not considered otherwise."""
        return self.cluster is not None or self.create_cluster


class HeldCommitment(_Section, kw_only=True):
    """Instances the user already has a commitment for (of `pricing.commitments`' kind and
    term): their cost is sunk, so the planner prices their instance-hours at zero."""

    instance_type: Annotated[
        str,
        Meta(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z",
            description="an instance type such as g6.xlarge",
        ),
    ]
    region: Annotated[
        str,
        Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,40}\Z", description="a region such as us-east-1"),
    ]
    count: Annotated[int, Meta(ge=1, le=10_000)]


class Commitments(_Section, kw_only=True):
    """`pricing.commitments`: what the user holds and whether the plan may buy more.

    `kind`: savings_plan, reserved (AWS), cud (GCP), reservation (Azure); a candidate whose
    cloud has no sourced rate of that kind and term has no commitment option. `may_buy: true`
    (the default) lets the planner commit the part of the on-demand fleet that runs enough
    hours to pay off, and rank candidates with it."""

    kind: Literal[COMMITMENT_KINDS]  # type: ignore[valid-type]
    term: Literal[COMMITMENT_TERMS] = "1y"  # type: ignore[valid-type]
    may_buy: bool = True
    held: Annotated[list[HeldCommitment], Meta(max_length=100)] = []

    def __post_init__(self) -> None:
        if not self.may_buy and not self.held:
            raise ValueError(
                "with may_buy: false and nothing held there is no commitment to plan; list "
                "what you hold under held, or remove pricing.commitments"
            )
        places = [(h.instance_type.lower(), h.region) for h in self.held]
        if len(set(places)) != len(places):
            raise ValueError("held lists one instance type in one region twice; add the counts")

    def held_count(self, instance_type: str, region: str) -> int:
        return sum(
            h.count
            for h in self.held
            if h.instance_type.lower() == instance_type.lower() and h.region == region
        )


class Pricing(_Section, kw_only=True):
    """How the user buys: commitments held and allowed."""

    commitments: Commitments | None = None


class Deploy(_Section, kw_only=True):
    """How a recommendation becomes infrastructure (`infra synth|plan|deploy`)."""

    network: Network = msgspec.field(default_factory=Network)
    alerts: Alerts = msgspec.field(default_factory=Alerts)
    model_s3_uri: S3Uri | None = None
    hf_token_ssm_parameter: (
        Annotated[
            str,
            Meta(
                pattern=r"^/[A-Za-z0-9_./-]{1,2047}\Z",
                description="an SSM parameter name: / then letters, digits and _ . / -",
            ),
        ]
        | None
    ) = None
    required_tags: Annotated[list[ShortText], Meta(max_length=50)] = msgspec.field(
        default_factory=lambda: ["team", "cost-center", "env"]
    )
    environments: dict[str, Environment] = {}
    sagemaker: SagemakerOptions = msgspec.field(default_factory=SagemakerOptions)
    gcp: GcpOptions = msgspec.field(default_factory=GcpOptions)
    azure: AzureOptions = msgspec.field(default_factory=AzureOptions)
    canary: Canary = msgspec.field(default_factory=Canary)
    kubernetes: KubernetesOptions = msgspec.field(default_factory=KubernetesOptions)


class Profile(_Section, kw_only=True):
    name: Identifier
    model: ModelSection
    workload: Workload
    targets: Targets = msgspec.field(default_factory=Targets)
    placement: Placement = msgspec.field(default_factory=Placement)
    budget: Budget | None = None
    tags: dict[str, str] = {}
    runtime: Runtime = msgspec.field(default_factory=Runtime)
    deploy: Deploy = msgspec.field(default_factory=Deploy)
    pricing: Pricing | None = None

    def model_spec(self) -> ModelSpec:
        """The architecture the planner uses, built in or given in the profile."""
        if self.model.name is not None:
            spec = find_model(self.model.name)
            assert spec is not None  # checked when the profile was parsed
            return spec
        assert self.model.architecture is not None
        architecture = msgspec.structs.asdict(self.model.architecture)
        fields = {key: value for key, value in architecture.items() if value is not None}
        return spec_from_mapping({"name": f"{self.name}-model", **fields})


class LoadedProfile:
    """A validated profile plus where it came from, so later checks can name the line."""

    def __init__(self, profile: Profile, document: LocatedDocument | None) -> None:
        self.profile = profile
        self.document = document

    def location_of(self, *field_path: str | int) -> str:
        if self.document is None:
            return "profile"
        return f"{self.document.path}, line {self.document.line_of(field_path)}"


def parse_profile(document: LocatedDocument) -> LoadedProfile:
    if not isinstance(document.data, dict):
        raise ProfileError(f"{document.path}: a profile is a YAML mapping (name:, model:, ...).")
    try:
        profile = msgspec.convert(document.data, Profile, strict=False)
    except msgspec.ValidationError as error:
        raise ProfileError(validation_sentence(error, document, Profile)) from None
    loaded = LoadedProfile(profile, document)
    check_profile_values(loaded)
    loaded.profile = _with_traffic_resolved(loaded)
    _check_model_is_known(loaded)
    _check_workload_fits_model(loaded)
    return loaded


def _with_traffic_resolved(loaded: LoadedProfile) -> Profile:
    """The profile with its traffic CSV read (`csv_rates`), after the checks that need the peak
    rate or another section: a trough above the peak, a schedule in another time zone."""
    from planner.traffic import csv_rates, inside, parse_schedule

    profile = loaded.profile
    traffic = profile.workload.traffic
    zone = traffic.timezone if traffic else None
    for name, environment in profile.deploy.environments.items():
        schedule = parse_schedule(environment.schedule) if environment.schedule else None
        if schedule and zone and schedule.timezone and schedule.timezone != zone:
            where = loaded.location_of("deploy", "environments", name, "schedule")
            raise ProfileError(
                f"{where}, field deploy.environments.{name}.schedule: the schedule is in "
                f"{schedule.timezone} and workload.traffic in {zone}; give both in one time zone."
            )
    if traffic is None:
        return profile
    peak = profile.workload.requests_per_second
    location = ("workload", "traffic")
    if traffic.csv_rates:
        raise ProfileError(
            f"{loaded.location_of(*location, 'csv_rates')}, field workload.traffic.csv_rates: "
            "it is filled from workload.traffic.csv; remove it."
        )
    if traffic.trough_rps > peak:
        raise ProfileError(
            f"{loaded.location_of(*location, 'trough_rps')}, field workload.traffic.trough_rps: "
            f"{traffic.trough_rps:g} requests/s is above the peak, workload.requests_per_second "
            f"({peak:g})."
        )
    if traffic.csv is None:
        return profile
    where = f"{loaded.location_of(*location, 'csv')}, field workload.traffic.csv"
    folder = loaded.document.path.parent if loaded.document else Path.cwd()
    path = folder / traffic.csv
    if not inside(folder, path):
        raise ProfileError(
            f"{where}: {traffic.csv} is outside the profile's folder; put the export beside "
            "the profile (it is read wherever the profile is, CI included)."
        )
    if not path.is_file():
        raise ProfileError(f"{where}: no file {traffic.csv} beside the profile.")
    rates = csv_rates(path, traffic.timezone, where)
    busiest = max(rates)
    if busiest > peak * 1.0001:
        raise ProfileError(
            f"{where}: its busiest hour averages {busiest:,.4g} requests/s, above "
            f"workload.requests_per_second ({peak:g}), the peak the fleet is sized for; raise it."
        )
    resolved = msgspec.structs.replace(traffic, csv_rates=[round(r, 6) for r in rates])
    workload = msgspec.structs.replace(profile.workload, traffic=resolved)
    return msgspec.structs.replace(profile, workload=workload)


def _check_model_is_known(loaded: LoadedProfile) -> None:
    name = loaded.profile.model.name
    if name is None or find_model(name) is not None:
        return
    close = difflib.get_close_matches(name.lower(), list(builtin_models()), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ProfileError(
        f"{loaded.location_of('model', 'name')}, field model.name: unknown model '{name}'{hint}; "
        "`infra models list` shows the built-in models, or describe it under model.architecture."
    )


def _check_workload_fits_model(loaded: LoadedProfile) -> None:
    """Cross-section checks that need the resolved model, reported at the field to fix."""
    profile = loaded.profile
    spec, workload, targets = profile.model_spec(), profile.workload, profile.targets
    if workload.measured:
        return
    if spec.is_llm:
        for section in ("input_tokens", "output_tokens"):
            if getattr(workload, section) is None:
                raise ProfileError(
                    f"{loaded.location_of('workload')}, field workload.{section}: an LLM "
                    "workload needs mean and p95 token counts (e.g. {mean: 512, p95: 2048})."
                )
        if not (targets.ttft_ms_p95 or targets.tpot_ms or targets.e2e_ms_p95):
            raise ProfileError(
                f"{loaded.location_of('targets')}, field targets: give at least one latency "
                "target (ttft_ms_p95, tpot_ms or e2e_ms_p95)."
            )
    elif not (workload.gflops_per_request or spec.gflops_per_request):
        raise ProfileError(
            f"{loaded.location_of('workload')}, field workload.gflops_per_request: {spec.name} "
            "is not an LLM, so give its GFLOPs per request or your own measured throughput "
            "under workload.measured."
        )


def load_profile(path: str | Path) -> LoadedProfile:
    return parse_profile(load_located_yaml(Path(path)))
