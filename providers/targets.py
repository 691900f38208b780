"""The registry of targets: every cloud the toolkit deploys to, and every kind it deploys there.

Modelled on SkyPilot's cloud registry (`sky/clouds/`): a cloud is one class in its own folder
(`providers/<cloud>/__init__.py`) declaring everything about it the rest of the toolkit needs —
its display name, catalog files, Terraform provider, pricing rules, spot facts, boot script, the
profile sections its targets read, its stack classes and its SDK steps — and
`providers/registered.py` lists the classes, one line each. What a kind cannot do is declared
with it (a kind without endpoint steps has no `infra rollback`; one that runs no instances has no
boot script). The planner, the cost model and the orchestrator ask the registry; none of them
names a cloud.

Code in an upper layer (a stack class, a boot-script renderer, the SDK steps) is named by a dotted
path ("package.module:attribute") and imported by the layer that uses it, only when it is used:
`import providers` stays a few milliseconds and the layers still import downwards only.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

ScalingSignal = Literal[
    "alb_requests_per_target", "invocations_per_instance", "requests_in_flight_per_replica"
]


def resolve(dotted: str) -> Any:
    """The object a dotted path ("package.module:attribute") names, imported now."""
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True, kw_only=True)
class Figure:
    """A published figure the planner estimates with: its value, where it was published and
    when it was read there."""

    value: float
    source: str
    retrieved: str


@dataclass(frozen=True, kw_only=True)
class Kind:
    """How a kind of deployment serves, whatever the cloud."""

    name: str
    summary: str
    """One line for the help texts and the README's list of targets."""
    runs_instances: bool
    """The toolkit runs the serving instances itself (a fleet): an instance holds as many model
    replicas as its accelerators allow, spreads over `placement.zones`, may be spot, and boots
    with the toolkit's script. A managed endpoint runs one model container per instance."""
    scaling_signal: ScalingSignal
    """What the autoscaling target tracks per instance and minute."""
    serving_port: int | None = None
    """The port the platform sends requests to, when the platform fixes it (else the engine's)."""
    health_path: str | None = None
    """The health route the platform calls, when the platform fixes it (else the engine's)."""
    image_rule: str = "planner.images:fleet_image"
    """Dotted path of the function choosing the serving image (planner layer)."""
    no_rollback: str | None = None
    """Why `infra rollback` does not apply, when the kind rolls back in its own way."""
    vendors: frozenset[str] | None = None
    """The accelerator vendors the kind serves on (planner/data/accelerators.yaml's `vendor`);
    None: any the cloud offers."""
    configured_by: str | None = None
    """Dotted path of the check (planner layer) saying why a profile does not configure the kind
    (a sentence), or None when it does: a kind that needs settings (which cluster) is not
    considered for a profile that lacks them. None: every profile may use the kind."""
    fixed_cost: str | None = None
    """Dotted path of the hourly cost a candidate of this kind adds whatever its size (a control
    plane the toolkit creates), `(profile, cloud, target, region) -> float` (planner layer)."""
    terraform_providers: tuple[str, ...] = ()
    """Terraform providers the kind's stacks use besides their cloud's, whose resources live in
    no cloud account (they never decide which cloud a plan is for)."""
    planned_against_api: tuple[str, ...] = ()
    """Resource types of the kind's stacks whose provider plans them against the live API they
    are applied to (it reads each object's schema there, custom resources' too): one that
    depends on a resource not created yet is planned in a later stage of the deploy, once that
    resource exists (orchestrator/staging.py)."""
    canary_in_configuration: str | None = None
    """The module (stacks layer) of a kind whose canary is in the Terraform configuration: the
    stack renders the stable and the canary track from the spec's `serving` section
    (planner/serving.py), which the orchestrator sets from the applied state
    (orchestrator/configured_canary.py). It offers `serving_revision(spec, emulated)` (what the
    spec's pods run, None when the stack applies no workload), `no_canary(spec, stable,
    emulated)` (why the spec cannot bake beside `stable`, or None) and `refused_change(applied,
    spec)` (why the spec cannot be applied over the state's at all, or None)."""
    counts_in_flight: bool = False
    """The platform publishes each instance's requests in flight, queued ones included
    (SageMaker's ConcurrentRequestsPerModel): the deployment always tracks them at the planner's
    in-flight target, beside `scaling_signal`. False: only a fleet that follows the week does
    (from the engine gauges its agent publishes)."""
    invoke_transport: str = "orchestrator.loadtest.transport:load_balancer"
    """Dotted path of how `infra bench` reaches a deployment of the kind (orchestrator layer),
    `(spec, outputs) -> Transport`: plain HTTP to the stack's endpoint output, or the cloud's
    invoke API with its credentials (orchestrator/loadtest/transport.py)."""
    scales_to_zero: bool = False
    """Whether a deployment of the kind, as the toolkit builds it, can have no instance in an
    hour (an environment's schedule or scale_to_zero). A group or node pool can; a managed
    endpoint as deployed here keeps one (SageMaker scales to zero only with inference
    components; Vertex AI's scale to zero is in its beta API), so its zero hours cost one."""
    instance_start_s: Figure | None = None
    """Seconds from asking for one more instance (a VM, a node) to its boot script running,
    for a kind that scales to zero (a cold start begins there, planner/cold_start.py); a
    target's own figure replaces it."""


FLEET = Kind(
    name="fleet",
    summary="GPU instances the toolkit runs and boots: spot and on-demand, autoscaled behind "
    "a load balancer",
    runs_instances=True,
    scaling_signal="alb_requests_per_target",
    scales_to_zero=True,
    instance_start_s=Figure(
        value=25.8,
        source="brevdev/ec2-coldboot-research (github.com/brevdev/ec2-coldboot-research, "
        "@fix_plan.md): RunInstances to SSH, mean of its cold launches",
        retrieved="2026-12-03",
    ),
)
"""Every cloud's own instances: the one kind all clouds offer."""

KUBERNETES = Kind(
    name="kubernetes",
    summary="GPU node pools in a Kubernetes cluster (existing, or a new private one) and the "
    "serving workload on them: KServe or a Deployment, scaled by KEDA on the engine's queue",
    runs_instances=True,
    scaling_signal="requests_in_flight_per_replica",
    vendors=frozenset({"NVIDIA"}),  # NVIDIA GPU node images and the nvidia.com/gpu resource
    configured_by="planner.kubernetes:not_configured",
    fixed_cost="planner.kubernetes:created_cluster_hourly",
    terraform_providers=("kubernetes", "helm"),
    # hashicorp/kubernetes reads each manifest's OpenAPI schema from the cluster at plan time.
    planned_against_api=("kubernetes_manifest",),
    canary_in_configuration="stacks.kubernetes_canary",
    invoke_transport="orchestrator.kubernetes_invoke:transport",
    scales_to_zero=True,
    # The pod's own start (image, weights, engine) is counted apart: this is the node alone.
    instance_start_s=Figure(
        value=90.0,
        source="devfloor9 engineering playbook, Karpenter-based EKS scaling "
        "(devfloor9.github.io/engineering-playbook): 'an additional 45-90 seconds when new node "
        "provisioning is required' (the upper end)",
        retrieved="2026-12-03",
    ),
)
"""The clouds' managed Kubernetes (EKS, GKE, AKS): nodes from the same catalog as their fleets."""


@dataclass(frozen=True, kw_only=True)
class SystemPool:
    """A created cluster's own nodes, not serving (AKS's system pool for its add-ons): always
    on, at on-demand, so their price is a fixed cost of every candidate on the target."""

    item: str
    """The cloud's service price (providers/<cloud>/data/services.csv) of one node per hour:
    the VM size is not a GPU, so it is no catalog row and never a serving candidate."""
    nodes: int
    """How many nodes the stack creates."""


@dataclass(frozen=True, kw_only=True)
class Target:
    """One kind on one cloud: its stack, its catalog rows and what runs after Terraform."""

    kind: Kind
    stack: str
    """Dotted path of the TerraformStack class (stacks layer)."""
    catalog_file: str
    """The cloud's catalog file (in the cloud's data folder) holding this kind's offerings."""
    spec_sections: Mapping[str, str] = field(default_factory=dict)
    """Sections this target reads from the profile's `deploy:` and carries in its deployment
    spec: name -> dotted path of the section's type (planner layer)."""
    emulated: bool = False
    """The local emulated AWS can build it (`--env local`)."""
    endpoint_steps: str | None = None
    """The module of the steps Terraform cannot do (deploying a model to a managed endpoint,
    shifting its traffic), run by the orchestrator after apply and before destroy: it offers
    `check(spec)` and `driver(spec, outputs)` (orchestrator/vertex_endpoint.py, ...)."""
    metrics_reader: str | None = None
    """Dotted path of `measured(spec, outputs, environ)` (orchestrator layer): the last hour's
    measured figures from the cloud's monitoring, which `infra status` shows beside the
    decision's (requests_per_s, requests_in_flight_per_replica, ttft_ms_p95, tpot_ms,
    gpu_utilization_percent; None where there is no data). None: status shows none."""
    managed_replicas: Literal["autoscaled", "fixed"] | None = None
    """How the model deployment the endpoint steps create is priced: between the planned minimum
    and maximum (the platform autoscales it), or at the planned count. None: Terraform's plan
    holds everything that is billed."""
    decision_checks: tuple[str, ...] = ()
    """Dotted paths of checks of a decision for this target against the profile (planner)."""
    control_plane_item: str | None = None
    """The cloud's service price (providers/<cloud>/data/services.csv) of a cluster's control
    plane per hour, when the toolkit creates the cluster."""
    system_pool: SystemPool | None = None
    """The nodes a cluster the toolkit creates runs besides the serving pools, when it has any
    (AKS's system pool); None: the created cluster has none."""
    spot_floor: int = 0
    """Spot instances the deployment keeps in every hour when it uses spot at all, whatever the
    hour needs: an autoscaled spot group that scales on per-instance metrics cannot start from
    none (a GCP spot MIG keeps one). The planner's hourly sizes, and so what `recommend` and
    `infra cost` say, count them."""
    commitments_file: str | None = None
    """The cloud's file (in its data folder) of commitment rates for this kind's instances
    (reserved instances, savings plans, committed-use discounts; providers/commitments.py);
    None: no sourced rate, so the kind has no commitment option."""
    instance_start_s: Figure | None = None
    """The cloud's own measurement of Kind.instance_start_s; None: the kind's stands in."""

    @property
    def instance_start(self) -> Figure | None:
        return self.instance_start_s or self.kind.instance_start_s


@dataclass(frozen=True, kw_only=True)
class SourceCounterpart:
    """A profile field read on AWS only, and the one a cloud reads instead."""

    aws_field: str
    field: str
    instruction: str
    """What the user does to fill `field` ("copy the weights to Cloud Storage")."""


class Cloud:
    """A cloud's declarations: subclass it in `providers/<name>/__init__.py` and list the class in
    `providers/registered.py`."""

    name: ClassVar[str]
    display_name: ClassVar[str]
    terraform_provider: ClassVar[str]
    """The Terraform provider's name, the prefix of its resource types (`google_...`)."""
    reference_region: ClassVar[str]
    """The region whose service price stands in when a region has none in the catalog."""
    targets: ClassVar[tuple[Target, ...]]
    spot_max_discount: ClassVar[float] = 0.90
    """The deepest spot discount the cloud documents: a deeper listed one is not a price."""
    interruption_file: ClassVar[str | None] = None
    """Spot interruption frequencies per instance type and region, when the cloud publishes them."""
    pricing_rules: ClassVar[str]
    """Dotted path of the cloud's pricing-rule table (planner.cost.resources.<cloud>:RULES)."""
    value_rules: ClassVar[str]
    """Dotted path of the check of tags and client ranges the cloud would refuse (providers)."""
    boot_target: ClassVar[str | None] = None
    """Dotted path of the boot-script partial of the cloud's fleets (modules layer)."""
    weights_setting: ClassVar[str]
    """The profile field naming the cloud's own weights store."""
    source_counterparts: ClassVar[tuple[SourceCounterpart, ...]] = ()
    """AWS-only sources this cloud cannot read, each with the field it reads instead: a profile
    that gives the first without the second is refused for the cloud, and the AWS values are
    left out of its specs."""
    serves_neuron: ClassVar[bool] = False
    """AWS Inferentia and Trainium chips exist on this cloud."""
    disk_write_bytes_per_s: ClassVar[Figure | None] = None
    """What the boot volume of an instance the toolkit creates (the stacks leave its throughput
    at the cloud's default) writes per second, when that caps a weights download; None: the
    download's own rate is the bound (planner/cold_start.py)."""
    repairable: ClassVar[bool] = False
    """`infra repair` and the check that `destroy` left nothing can list a deployment's resources
    outside its state (orchestrator/leftovers.py, through the cloud's tagging APIs)."""

    def instance_family(self, instance_type: str) -> str:
        """The cloud's family of an instance type: the sizes of one family share a price
        structure (the spot judge compares a price with its family's)."""
        raise NotImplementedError

    def offering_name(self, instance_type: str, accelerator: str, accelerator_count: int) -> str:
        """What names an offering to a person (and a pin): the instance type, by default."""
        return instance_type

    @property
    def data_dir(self) -> Path:
        """The folder of the cloud's shipped data files (catalogs, services, interruption)."""
        return Path(importlib.import_module(type(self).__module__).__file__ or "").parent / "data"

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(target.kind.name for target in self.targets)

    def target(self, kind: str) -> Target | None:
        return next((t for t in self.targets if t.kind.name == kind), None)

    @property
    def emulated(self) -> bool:
        """The local emulated AWS can build one of this cloud's kinds."""
        return any(target.emulated for target in self.targets)


@cache
def clouds() -> tuple[Cloud, ...]:
    """The registered clouds, in the order of `providers/registered.py` (the one list of them)."""
    from providers.registered import CLOUDS

    registered = tuple(resolve(dotted)() for dotted in CLOUDS)
    names = [each.name for each in registered]
    if len(set(names)) != len(names):
        raise ValueError(f"a cloud is registered twice: {names}")
    return registered


def cloud_names() -> tuple[str, ...]:
    return tuple(cloud.name for cloud in clouds())


def cloud(name: str) -> Cloud:
    """The registered cloud `name` (KeyError for an unknown one: check with `cloud_names`)."""
    return _by_name()[name]


@cache
def _by_name() -> dict[str, Cloud]:
    return {cloud.name: cloud for cloud in clouds()}


@cache
def kinds() -> tuple[Kind, ...]:
    """Every kind some cloud offers, in registration order."""
    found: dict[str, Kind] = {}
    for each in clouds():
        for target in each.targets:
            found.setdefault(target.kind.name, target.kind)
    return tuple(found.values())


def kind_names() -> tuple[str, ...]:
    return tuple(kind.name for kind in kinds())


def kind(name: str) -> Kind:
    """The kind `name` (KeyError for one no cloud offers: check with `kind_names`)."""
    return _kinds_by_name()[name]


@cache
def _kinds_by_name() -> dict[str, Kind]:
    return {each.name: each for each in kinds()}


def targets() -> Iterator[tuple[Cloud, Target]]:
    for each in clouds():
        for target in each.targets:
            yield each, target


def target(cloud_name: str, kind_name: str) -> Target | None:
    """The target of a kind on a cloud, or None when the cloud does not offer the kind."""
    registered = _by_name().get(cloud_name)
    return registered.target(kind_name) if registered else None


def spec_sections() -> dict[str, str]:
    """Every section some target carries in its spec: name -> dotted path of its type."""
    sections: dict[str, str] = {}
    for _, each in targets():
        sections.update(each.spec_sections)
    return sections
