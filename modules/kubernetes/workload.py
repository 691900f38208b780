"""The serving workload of `kind: kubernetes` as plain Kubernetes objects (dicts), the same on
EKS, GKE and AKS: the cloud shows only in the service account's workload-identity annotation and
in the store the weights come from.

With KServe the engine runs as an InferenceService predictor (KServe's custom-container
predictor: the engine's own image, flags and GPU count); without it, as a Deployment behind a
Service. Either way the pods get a ServiceAccount, a PodDisruptionBudget and KEDA scaling on the
engine's queue gauges through the Prometheus scaler.

The cloud shows in two places, each supplied by the cloud's own folder
(`modules/<cloud>/kubernetes_workload.py`): the identity (annotations on the ServiceAccount,
labels on the pods) and how the weights are copied (an image and a command).

A canary with KServe is its `canaryTrafficPercent`, which only KServe's Serverless (Knative)
mode implements (pkg/controller/v1beta1/inferenceservice/reconcilers/knative), and KServe's
webhook refuses to change an existing InferenceService's mode (validateDeploymentMode in
pkg/apis/serving/v1beta1/inference_service_validation.go): `serverless` is chosen when the
workload is created, and keeps it. Knative's autoscaler then owns the replicas, scaling on
concurrency at the same per-replica target, and no ScaledObject is rendered (two autoscalers
would fight over one Deployment). A canary at 0% is KServe's documented rollback: all traffic
pinned to the last revision rolled out. Knative accepts the
pod's node selector, tolerations, affinity, topology spread, security context, init container and
emptyDir volumes only with its matching `kubernetes.podspec-*` feature flags on. Without KServe the
canary is a second Deployment and Service, weighted against the stable ones by a Gateway API
HTTPRoute.

Pods run as a non-root user with a read-only root filesystem, no privilege escalation and no
capabilities. The vLLM and TGI images declare no USER (they would run as root) and write their
caches under HOME; the pod gives them HOME, /tmp and /dev/shm on emptyDir volumes instead, so
they run as uid 1000 unchanged. `run_as_user=None` keeps the image's own user for an image that
cannot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from modules.kubernetes.engines import QUEUE_METRICS, WEIGHTS_DIRS, Engine, metrics_port
from modules.kubernetes.monitoring import MonitoringProps, render_monitoring
from modules.kubernetes.weights import (
    SCRATCH_DIR,
    WEIGHTS_VOLUME,
    WeightsDownload,
    download_container,
)
from planner.deployment import MODEL_LOAD_GRACE_S

GPU_RESOURCE = "nvidia.com/gpu"
ZONE_KEY = "topology.kubernetes.io/zone"
MANAGED_BY = "infra"
TRACK_LABEL = "infra.serving/track"
"""Tells the stable pods from the canary's (plain Deployments only)."""
KSERVE_POD_LABEL = "serving.kserve.io/inferenceservice"
"""KServe labels every predictor pod with its InferenceService's name."""
SHM_SIZE = "2Gi"
"""Shared memory for the tensor-parallel workers: the size vLLM's Kubernetes guide mounts at
/dev/shm (vllm-project/vllm docs/deployment/k8s.md, "Deployment with GPUs")."""
STARTUP_PERIOD_S = 10
RUN_AS_USER = 1000
"""An unprivileged uid; the Triton and gcloud images name their own non-root user 1000 too."""


@dataclass(frozen=True, kw_only=True)
class WorkloadIdentity:
    """The cloud identity the pods act as (reading weights), never a key: what binds the
    ServiceAccount to it (EKS IRSA's role ARN, GKE's Google service account, Azure's client ID)
    and the pod labels its webhook needs. Built by `modules/<cloud>/kubernetes_workload.py`."""

    service_account_annotations: dict[str, str]
    """Required."""
    pod_labels: dict[str, str] = field(default_factory=dict)
    """Default: none."""


@dataclass(frozen=True, kw_only=True)
class SecretKeyRef:
    """A key of an existing Kubernetes Secret, passed to the engine by reference only."""

    name: str
    """The Secret's name, in the workload's namespace. Required."""
    key: str = "token"
    """The key within the Secret. Default: token."""


@dataclass(frozen=True, kw_only=True)
class Toleration:
    key: str
    """The taint's key. Required."""
    value: str | None = None
    """The taint's value; None tolerates any value (operator Exists). Default: None."""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"
    """Default: NoSchedule."""


GPU_TOLERATIONS = (Toleration(key=GPU_RESOURCE),)
"""GPU node pools are commonly tainted nvidia.com/gpu (GKE does it to every GPU node) so that
only pods asking for GPUs land there."""


@dataclass(frozen=True, kw_only=True)
class ScheduledReplicas:
    """At least `replicas` pods from `start` to `end` (KEDA's cron scaler, in the workload's
    `timezone`)."""

    start: str
    """A Unix cron recurrence (minute hour day-of-month month day-of-week). Required."""
    end: str
    """A Unix cron recurrence, not the same as `start`. Required."""
    replicas: int
    """Required, at least 1."""


@dataclass(frozen=True, kw_only=True)
class GatewayRef:
    """An existing Gateway API Gateway the HTTPRoute attaches to."""

    name: str
    """Required."""
    namespace: str
    """Required."""


@dataclass(frozen=True, kw_only=True)
class StableRevision:
    """What serves now, kept beside a canary of plain Deployments (KServe keeps its own)."""

    image: str
    """Required."""
    args: tuple[str, ...]
    """The engine's arguments (engines.engine_args). Required."""
    weights: WeightsDownload | None = None
    """Default: None (the engine fetches the hub model)."""
    env: dict[str, str] = field(default_factory=dict)
    """Default: none."""


@dataclass(frozen=True, kw_only=True)
class WorkloadProps:
    """Everything the serving workload needs, and nothing of the deployment spec."""

    name: str
    """Names every object: lowercase letters, digits and '-', starting with a letter, at most 40
    characters (KServe and Knative append their own suffixes). Required."""
    namespace: str
    """An existing namespace. Required."""
    engine: Engine
    """vllm, tgi or triton. Required."""
    image: str
    """The engine's image. Required."""
    model_id: str
    """The hub model's name (what vLLM answers to). Required."""
    args: tuple[str, ...]
    """The engine's arguments after the image's entrypoint (engines.engine_args). Required."""
    port: int = 8000
    """The engine's HTTP port. Default: 8000."""
    health_path: str
    """The engine's health route (probes). Required."""
    tensor_parallel: int = 1
    """GPUs per pod (requests and limits of nvidia.com/gpu). Default: 1."""
    cpu: str
    """CPU request per pod, a Kubernetes quantity. Required (the node pool's share)."""
    memory: str
    """Memory request and limit per pod, a Kubernetes quantity. Required."""
    min_replicas: int = 1
    """Default: 1."""
    max_replicas: int = 1
    """Default: 1."""
    desired_replicas: int | None = None
    """The stable track's expected size, which sizes a canary of plain Deployments. KEDA sets the
    live count: the Deployment leaves spec.replicas to it, so an apply never resets what the
    autoscaler chose. Default: None (min_replicas, at least 1)."""
    queue_target_per_replica: float
    """The planner's target: queued plus running requests per pod (KEDA's threshold). Required."""
    prometheus_address: str
    """The Prometheus server KEDA queries, e.g. http://prometheus-server.monitoring.svc:80.
    Required."""
    polling_interval_s: int = 30
    """How often KEDA reads the metric: KEDA's default, 30 s."""
    cooldown_s: int = 300
    """KEDA's wait after the last activity before scaling to zero: KEDA's default, 300 s."""
    scheduled: tuple[ScheduledReplicas, ...] = ()
    """The week's sizes (the planner's hourly sizes as windows): KEDA cron triggers beside the
    queue's, so the pods are there before the traffic is. Default: none (the queue alone)."""
    timezone: str = "UTC"
    """The IANA time zone `scheduled`'s cron times are in. Default: UTC."""
    weights: WeightsDownload | None = None
    """How an init container copies the weights (a Triton model repository for Triton) from the
    cloud's object storage, through `identity`: `modules/<cloud>/kubernetes_workload.py`'s
    weights_download. Default: None (vLLM and TGI fetch the hub model)."""
    identity: WorkloadIdentity | None = None
    """Default: None (the pods get no cloud identity, and so cannot read weights)."""
    service_account: str | None = None
    """Default: None (`<name>-serving`)."""
    hf_token: SecretKeyRef | None = None
    """The model hub token, as HF_TOKEN from a Secret the cluster already holds. Default: None."""
    env: dict[str, str] = field(default_factory=dict)
    """More plain environment variables for the engine; never a secret. Default: none."""
    node_selector: dict[str, str] = field(default_factory=dict)
    """Labels of the GPU node pool. Default: none."""
    tolerations: tuple[Toleration, ...] = GPU_TOLERATIONS
    """Default: the nvidia.com/gpu taint, any value, NoSchedule."""
    zones: tuple[str, ...] = ()
    """Zones the pods may run in, spread evenly (topology.kubernetes.io/zone). Default: any."""
    startup_timeout_s: int = MODEL_LOAD_GRACE_S
    """How long the engine may take to load before Kubernetes restarts it: the fleets' grace for
    pulling the image and loading the weights, 900 s."""
    shm_size: str = SHM_SIZE
    """Size of the memory-backed /dev/shm. Default: 2Gi."""
    run_as_user: int | None = RUN_AS_USER
    """The uid the containers run as, never root. None runs the images' own users (root for the
    vLLM and TGI images): a caller must ask for it. Default: 1000."""
    read_only_root_filesystem: bool = True
    """Default: True."""
    kserve: bool = False
    """Whether the cluster runs KServe. Default: False."""
    serverless: bool = False
    """KServe's Serverless (Knative) mode instead of Standard (RawDeployment): what a KServe
    canary needs. Default: False."""
    canary_percent: int | None = None
    """The share of requests the new revision takes: 1-99, or 0 with KServe (rolled back: all
    of it to the previous revision). Default: None (no canary)."""
    stable: StableRevision | None = None
    """What serves now, beside the canary; required for a canary without KServe."""
    gateway: GatewayRef | None = None
    """The Gateway an HTTPRoute attaches the Service(s) to (without KServe); required for a
    canary without KServe. Default: None (a ClusterIP Service only: no ingress)."""
    labels: dict[str, str] = field(default_factory=dict)
    """More labels on every object (the deployment's tags). Default: none."""
    monitoring: MonitoringProps | None = None
    """A PodMonitor, a PrometheusRule and a Grafana dashboard ConfigMap
    (modules/kubernetes/monitoring.py): for a cluster that runs the Prometheus operator.
    Default: None (the pods' prometheus.io annotations only)."""

    @property
    def service_account_name(self) -> str:
        return self.service_account or f"{self.name}-serving"


def render_workload(props: WorkloadProps) -> list[dict[str, Any]]:
    """Every Kubernetes object of the workload, in the order they can be applied."""
    from modules.kubernetes.workload_checks import check_props

    check_props(props)
    objects = [service_account(props)]
    if props.kserve:
        objects.append(inference_service(props))
    else:
        objects += [deployment(props, "stable"), service(props, "stable")]
        if props.canary_percent is not None:
            objects += [deployment(props, "canary"), service(props, "canary")]
        if props.gateway is not None:
            objects.append(http_route(props))
    objects.append(pod_disruption_budget(props))
    if not (props.kserve and props.serverless):
        objects.append(scaled_object(props))
    if props.monitoring is not None:
        objects += render_monitoring(props, props.monitoring)
    return objects


def _metadata(props: WorkloadProps, name: str, **labels: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": props.namespace,
        "labels": {**props.labels, **_base_labels(props), **labels},
    }


def _base_labels(props: WorkloadProps) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": props.name,
        "app.kubernetes.io/component": "serving",
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def service_account(props: WorkloadProps) -> dict[str, Any]:
    """The pods' identity; no API token is mounted (the identity webhooks project their own)."""
    metadata = _metadata(props, props.service_account_name)
    if props.identity is not None:
        metadata["annotations"] = dict(props.identity.service_account_annotations)
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata,
        "automountServiceAccountToken": False,
    }


def _pod_labels(props: WorkloadProps) -> dict[str, str]:
    return dict(props.identity.pod_labels) if props.identity is not None else {}


def _pod_annotations(props: WorkloadProps) -> dict[str, str]:
    """Where Prometheus' conventional kubernetes-pods scrape job finds the engine's metrics (the
    job that labels each series with its `namespace` and `pod`, which the KEDA query selects)."""
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(metrics_port(props.engine, props.port)),
        "prometheus.io/path": "/metrics",
    }


def _resources(props: WorkloadProps, *, gpus: bool) -> dict[str, Any]:
    """CPU and memory requests, a memory limit (no CPU limit: throttling the engine's scheduler
    loop costs latency), and the GPUs as equal request and limit, as Kubernetes requires of an
    extended resource. Quantities are strings, their type in the API schema: server-side apply
    (which kubernetes_manifest uses) refuses a number there."""
    requests: dict[str, Any] = {"cpu": props.cpu, "memory": props.memory}
    limits: dict[str, Any] = {"memory": props.memory}
    if gpus:
        requests[GPU_RESOURCE] = str(props.tensor_parallel)
        limits[GPU_RESOURCE] = str(props.tensor_parallel)
    return {"requests": requests, "limits": limits}


def _container_security(props: WorkloadProps) -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": props.read_only_root_filesystem,
        "privileged": False,
    }


def _pod_security(props: WorkloadProps) -> dict[str, Any]:
    context: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if props.run_as_user is not None:
        context |= {
            "runAsNonRoot": True,
            "runAsUser": props.run_as_user,
            "runAsGroup": props.run_as_user,
            "fsGroup": props.run_as_user,
        }
    return context


def _engine_env(props: WorkloadProps, env: dict[str, str]) -> list[dict[str, Any]]:
    variables: list[dict[str, Any]] = [
        # Caches under HOME on a writable volume; USER because torch asks getpass for a name a
        # uid without a passwd entry does not have.
        {"name": "HOME", "value": f"{SCRATCH_DIR}/home"},
        {"name": "HF_HOME", "value": f"{SCRATCH_DIR}/home/huggingface"},
        {"name": "USER", "value": "serving"},
    ]
    if props.engine == "triton" and props.tensor_parallel > 1:
        # As the fleet: one tritonserver spawns the MPI workers of the multi-GPU engine.
        variables.append({"name": "TRTLLM_ORCHESTRATOR", "value": "1"})
    if props.hf_token is not None:
        reference = {"name": props.hf_token.name, "key": props.hf_token.key}
        variables.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": reference}})
    variables += [{"name": name, "value": value} for name, value in sorted(env.items())]
    return variables


def _probe(props: WorkloadProps, **settings: int) -> dict[str, Any]:
    return {"httpGet": {"path": props.health_path, "port": props.port}, **settings}


def _revision(props: WorkloadProps, track: str) -> StableRevision:
    """The image, arguments, weights and environment a track runs."""
    if track == "stable" and props.canary_percent is not None and props.stable is not None:
        return props.stable
    return StableRevision(image=props.image, args=props.args, weights=props.weights, env=props.env)


def pod_spec(props: WorkloadProps, track: str = "stable") -> dict[str, Any]:
    """The pod of one track (stable or canary): an engine container, and an init container that
    downloads the weights when the revision has a weights URI."""
    revision = _revision(props, track)
    volumes: list[dict[str, Any]] = [
        {"name": "tmp", "emptyDir": {}},
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": props.shm_size}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "tmp", "mountPath": SCRATCH_DIR},
        {"name": "shm", "mountPath": "/dev/shm"},
    ]
    init_containers = []
    if revision.weights is not None:
        volumes.append({"name": WEIGHTS_VOLUME, "emptyDir": {}})
        weights_mount = {
            "name": WEIGHTS_VOLUME,
            "mountPath": WEIGHTS_DIRS[props.engine],
            "readOnly": True,
        }
        if revision.weights.subdirectory:
            weights_mount["subPath"] = revision.weights.subdirectory
        mounts.append(weights_mount)
        init_containers.append(
            download_container(
                revision.weights,
                resources=_resources(props, gpus=False),
                security_context=_container_security(props),
            )
        )
    container = {
        "name": "kserve-container" if props.kserve else props.engine,
        "image": revision.image,
        "args": list(revision.args),
        "env": _engine_env(props, revision.env),
        "ports": [
            {"name": "http1" if props.kserve else "http", "containerPort": props.port},
        ],
        "resources": _resources(props, gpus=True),
        "startupProbe": _probe(
            props,
            periodSeconds=STARTUP_PERIOD_S,
            failureThreshold=math.ceil(props.startup_timeout_s / STARTUP_PERIOD_S),
        ),
        "readinessProbe": _probe(props),
        "livenessProbe": _probe(props),
        "securityContext": _container_security(props),
        "volumeMounts": mounts,
    }
    spec: dict[str, Any] = {
        "serviceAccountName": props.service_account_name,
        "automountServiceAccountToken": False,
        # No service environment variables: a Service named like the engine would otherwise set
        # variables such as VLLM_PORT=tcp://..., which the engine reads as its own settings.
        "enableServiceLinks": False,
        "securityContext": _pod_security(props),
        "containers": [container],
        "volumes": volumes,
        "tolerations": [_toleration(toleration) for toleration in props.tolerations],
    }
    if init_containers:
        spec["initContainers"] = init_containers
    if props.node_selector:
        spec["nodeSelector"] = dict(props.node_selector)
    spec |= _placement(props, track)
    return spec


def _toleration(toleration: Toleration) -> dict[str, Any]:
    if toleration.value is None:
        return {"key": toleration.key, "operator": "Exists", "effect": toleration.effect}
    return {
        "key": toleration.key,
        "operator": "Equal",
        "value": toleration.value,
        "effect": toleration.effect,
    }


def _selector(props: WorkloadProps, track: str) -> dict[str, str]:
    if props.kserve:
        return {KSERVE_POD_LABEL: props.name}
    return {"app.kubernetes.io/name": props.name, TRACK_LABEL: track}


def _placement(props: WorkloadProps, track: str) -> dict[str, Any]:
    """Pods spread over the zones (best effort: a zone out of GPUs does not leave pods pending),
    and only in the zones named."""
    placement: dict[str, Any] = {
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": ZONE_KEY,
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": _selector(props, track)},
            }
        ]
    }
    if props.zones:
        term = {"key": ZONE_KEY, "operator": "In", "values": list(props.zones)}
        placement["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [term]}]
                }
            }
        }
    return placement


def _object_name(props: WorkloadProps, track: str) -> str:
    return props.name if track == "stable" else f"{props.name}-canary"


def canary_replicas(props: WorkloadProps) -> int:
    """The canary's fixed size: its share of the stable track's expected size, at least one."""
    stable = props.desired_replicas
    if stable is None:
        stable = max(1, props.min_replicas)
    return max(1, math.ceil(stable * (props.canary_percent or 0) / 100))


def deployment(props: WorkloadProps, track: str) -> dict[str, Any]:
    """One track's Deployment. The stable track has no spec.replicas: KEDA's autoscaler owns the
    count (Kubernetes creates one pod, which the autoscaler brings within the bounds), and a
    replica count in the manifest would make every apply fight it for that field. The canary
    keeps a fixed size."""
    selector = _selector(props, track)
    replicas = {} if track == "stable" else {"replicas": canary_replicas(props)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(props, _object_name(props, track), **{TRACK_LABEL: track}),
        "spec": {
            **replicas,
            "selector": {"matchLabels": selector},
            # A GPU node rarely has room for a second copy: replace one pod at a time.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
            },
            "template": {
                "metadata": {
                    "labels": {**_base_labels(props), **selector, **_pod_labels(props)},
                    "annotations": _pod_annotations(props),
                },
                "spec": pod_spec(props, track),
            },
        },
    }


def service(props: WorkloadProps, track: str) -> dict[str, Any]:
    """A ClusterIP Service in front of one track: reachable inside the cluster only."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(props, _object_name(props, track), **{TRACK_LABEL: track}),
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(props, track),
            "ports": [
                {"name": "http", "port": props.port, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


def http_route(props: WorkloadProps) -> dict[str, Any]:
    """The Gateway API route to the Service(s): all of it to the stable track, or the canary's
    percentage to the canary."""
    assert props.gateway is not None
    percent = props.canary_percent or 0
    backends = [{"name": props.name, "port": props.port, "weight": 100 - percent}]
    if props.canary_percent is not None:
        backends.append({"name": f"{props.name}-canary", "port": props.port, "weight": percent})
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": _metadata(props, props.name),
        "spec": {
            "parentRefs": [{"name": props.gateway.name, "namespace": props.gateway.namespace}],
            "rules": [{"backendRefs": backends}],
        },
    }


def inference_service(props: WorkloadProps) -> dict[str, Any]:
    """The KServe InferenceService: Standard (raw Deployment) mode scaled by KEDA, or
    Serverless mode, which a canary needs (see the module's docstring)."""
    serverless = props.serverless
    predictor: dict[str, Any] = {
        "minReplicas": props.min_replicas,
        "maxReplicas": props.max_replicas,
        "labels": _pod_labels(props),
        "annotations": _pod_annotations(props),
        **pod_spec(props),
    }
    if serverless:
        predictor |= {
            "scaleMetric": "concurrency",
            "scaleTarget": max(1, round(props.queue_target_per_replica)),
        }
    if props.canary_percent is not None:
        predictor["canaryTrafficPercent"] = props.canary_percent
    annotations = {
        # RawDeployment is the name every KServe release with raw mode accepts (0.20 reads it
        # as Standard, its new name).
        "serving.kserve.io/deploymentMode": "Serverless" if serverless else "RawDeployment",
    }
    if not serverless:
        # KServe creates no HPA of its own: the ScaledObject below scales the predictor.
        annotations["serving.kserve.io/autoscalerClass"] = "external"
    metadata = _metadata(props, props.name)
    metadata["annotations"] = annotations
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": metadata,
        "spec": {"predictor": predictor},
    }


def pod_disruption_budget(props: WorkloadProps) -> dict[str, Any]:
    """At most one serving pod evicted at a time (a node drain, a cluster upgrade); a pod that is
    not ready anyway may always go, so a broken pod never blocks a drain."""
    if props.kserve:
        selector = {KSERVE_POD_LABEL: props.name}
    else:
        selector = {"app.kubernetes.io/name": props.name}
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(props, props.name),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def scaled_object_target(props: WorkloadProps) -> str:
    """The Deployment KEDA scales: the stable track's, or KServe's raw predictor Deployment."""
    return f"{props.name}-predictor" if props.kserve else props.name


def queue_query(props: WorkloadProps) -> str:
    """PromQL: the summed queue gauges of the scaled Deployment's pods, whose names are
    `<deployment>-<replica set hash>-<suffix>` (so a canary's `<name>-canary-...` pods and other
    workloads' never count)."""
    target = scaled_object_target(props)
    selector = f'namespace="{props.namespace}",pod=~"{target}-[a-z0-9]+-[a-z0-9]+"'
    return " + ".join(f"sum({metric}{{{selector}}})" for metric in QUEUE_METRICS[props.engine])


def scaled_object(props: WorkloadProps) -> dict[str, Any]:
    """KEDA keeps the engine's load per pod at the planner's target, between the replica
    bounds."""
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": _metadata(props, props.name),
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": scaled_object_target(props),
            },
            "minReplicaCount": props.min_replicas,
            "maxReplicaCount": props.max_replicas,
            "pollingInterval": props.polling_interval_s,
            "cooldownPeriod": props.cooldown_s,
            "triggers": [
                {
                    "type": "prometheus",
                    "metricType": "AverageValue",
                    "metadata": {
                        "serverAddress": props.prometheus_address,
                        "query": queue_query(props),
                        "threshold": _number(props.queue_target_per_replica),
                    },
                },
                *cron_triggers(props),
            ],
        },
    }


def cron_triggers(props: WorkloadProps) -> list[dict[str, Any]]:
    """One KEDA cron trigger per scheduled window above the minimum (a window at the minimum
    adds nothing). KEDA hands every trigger to one HPA as a metric, and the HPA scales to the
    largest count any metric asks for: the queue can take the pods above the schedule, never
    below it. A cron trigger asks for `desiredReplicas` while its window is open and for nothing
    (metric 0) outside it (pkg/scalers/cron_scaler.go, KEDA v2.20.2)."""
    return [
        {
            "type": "cron",
            "metadata": {
                "timezone": props.timezone,
                "start": window.start,
                "end": window.end,
                "desiredReplicas": str(window.replicas),
            },
        }
        for window in props.scheduled
        if window.replicas > props.min_replicas
    ]


def _number(value: float) -> str:
    """KEDA's metadata values are strings: `8`, not `8.0`."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
