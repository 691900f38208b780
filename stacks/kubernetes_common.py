"""What the three `kind: kubernetes` stacks (EKS, GKE, AKS) share: the node pools' ranges from
the spec's capacity, the pods' share of a node, and the serving workload's props.

Nodes autoscale inside the pools' ranges (the cluster autoscaler); pods scale with KEDA on the
engine's queue, between the planned minimum and maximum model replicas.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cdktn import ITerraformDependable, TerraformProvider, TerraformStack

from core.errors import InfraError
from modules.kubernetes.engines import engine_args
from modules.kubernetes.monitoring import MonitoringProps
from modules.kubernetes.weights import WeightsDownload
from modules.kubernetes.workload import (
    ScheduledReplicas,
    SecretKeyRef,
    WorkloadIdentity,
    WorkloadProps,
)
from modules.node_pools import NodeRange
from modules.week_schedule import size_windows
from planner.deployment import CapacitySpec, DeploymentSpec
from planner.hourly import HourlySizes
from providers.catalog import load_catalog

if TYPE_CHECKING:
    from modules.kubernetes.keda import KedaRelease

POOL_LABEL = "infra.dev/pool"
"""The label the node pools put on their nodes (`on-demand` or `spot`)."""
DEPLOYMENT_LABEL = "infra.dev/deployment"
"""The label every node of a deployment's pools carries (its workload's name), which its pods
select: a cluster's other GPU pools are not theirs."""
WORKLOAD_NAME_LIMIT = 40
"""KServe and Knative append their own suffixes to the workload's name."""
NODE_RESERVE_VCPUS = 0.5
NODE_RESERVE_SHARE = 0.1
"""What a node keeps for the kubelet, the system daemons and the GPU and network plugins: a
tenth of its CPUs and memory plus half a CPU and 2 GiB, a little more than EKS's and GKE's
documented kube-reserved on GPU sizes, so the pods' requests always fit the allocatable part."""
NODE_RESERVE_MEMORY_GIB = 2.0


class KubernetesStackError(InfraError):
    pass


@dataclass(frozen=True)
class PoolRanges:
    on_demand: NodeRange | None
    spot: NodeRange | None


def pool_ranges(capacity: CapacitySpec, hourly: HourlySizes | None = None) -> PoolRanges:
    """The planned fleet as node pools: the on-demand base in its own pool, the rest (its share
    of spot) in a spot pool; with no spot share, one on-demand pool over the whole range.

    A fleet that follows the week (`hourly`) keeps the plan's maximum and lowers each pool's
    minimum to its quietest hour (0 when the environment scales to zero), so the cluster
    autoscaler removes the nodes the schedule's pods leave empty, as the week's price assumes."""
    base = capacity.on_demand_base
    fewest = capacity.min_size
    fewest_on_demand = base
    if hourly is not None:
        fewest = min(fewest, *hourly.counts("instances"))
        fewest_on_demand = min(base, *hourly.counts("on_demand"))
    if capacity.spot_percentage_above_base == 0 or capacity.max_size <= base:
        return PoolRanges(NodeRange(min_nodes=fewest, max_nodes=capacity.max_size), None)
    on_demand = NodeRange(min_nodes=fewest_on_demand, max_nodes=base) if base else None
    spot = NodeRange(min_nodes=max(fewest - base, 0), max_nodes=capacity.max_size - base)
    return PoolRanges(on_demand, spot)


def scheduled_replicas(spec: DeploymentSpec) -> tuple[ScheduledReplicas, ...]:
    """The planner's hourly sizes as the workload's scheduled windows, in pods."""
    replicas = spec.runtime.replicas_per_instance
    return tuple(
        ScheduledReplicas(
            start=window.start_cron, end=window.end_cron, replicas=window.instances * replicas
        )
        for window in size_windows(spec.hourly)
        if window.instances
    )


def fewest_replicas(spec: DeploymentSpec) -> int:
    """KEDA's minReplicaCount: the plan's minimum, or the week's quietest hour for a fleet that
    follows the week (0 when the environment scales to zero: KEDA then removes every pod once
    all triggers are inactive for the cooldown; see the README on waking from zero)."""
    replicas = spec.runtime.replicas_per_instance
    if spec.hourly is not None:
        return min(spec.hourly.counts("instances")) * replicas
    return max(spec.capacity.min_size * replicas, 1)


def workload_name(spec: DeploymentSpec) -> str:
    """The stack's name, shortened with a digest of it when longer than Kubernetes allows."""
    name = spec.stack_name
    if len(name) <= WORKLOAD_NAME_LIMIT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{name[: WORKLOAD_NAME_LIMIT - 7].rstrip('-')}-{digest}"


def pod_share(spec: DeploymentSpec) -> tuple[str, str]:
    """(cpu, memory) each pod requests: its node's allocatable part split over the replicas an
    instance holds. The instance's size is the catalog's (it does not change with prices)."""
    found = load_catalog().find_instance(spec.instance_type)
    shape = next((o for o in found if o.cloud == spec.cloud), None)
    if shape is None or not shape.vcpus or not shape.memory_gib:
        raise KubernetesStackError(
            f"stack {spec.stack_name}: {spec.instance_type} is not in the {spec.cloud} catalog, "
            "so the pods' share of a node is not known; pin an instance type it lists."
        )
    replicas = spec.runtime.replicas_per_instance
    vcpus = shape.vcpus * (1 - NODE_RESERVE_SHARE) - NODE_RESERVE_VCPUS
    memory = shape.memory_gib * (1 - NODE_RESERVE_SHARE) - NODE_RESERVE_MEMORY_GIB
    cpu_milli = max(math.floor(vcpus / replicas * 1000), 500)
    memory_mib = max(math.floor(memory / replicas * 1024), 1024)
    return f"{cpu_milli}m", f"{memory_mib}Mi"


def workload_props(
    spec: DeploymentSpec,
    *,
    identity: WorkloadIdentity | None,
    weights: WeightsDownload | None,
) -> WorkloadProps:
    """The serving workload of `spec` for any cloud: `identity` and `weights` are the cloud's."""
    options = spec.kubernetes
    runtime = spec.runtime
    cpu, memory = pod_share(spec)
    replicas = runtime.replicas_per_instance
    return WorkloadProps(
        name=workload_name(spec),
        namespace=options.namespace,
        engine=runtime.engine,
        image=runtime.image,
        model_id=runtime.model_id,
        args=engine_args(runtime, weights_downloaded=weights is not None),
        port=runtime.port,
        health_path=runtime.health_path,
        tensor_parallel=runtime.tensor_parallel,
        cpu=cpu,
        memory=memory,
        min_replicas=fewest_replicas(spec),
        max_replicas=spec.capacity.max_size * replicas,
        desired_replicas=spec.capacity.desired * replicas,
        queue_target_per_replica=spec.scaling.target,
        scheduled=scheduled_replicas(spec),
        timezone=spec.hourly.timezone if spec.hourly else "UTC",
        prometheus_address=options.prometheus_url,
        weights=weights,
        identity=identity,
        hf_token=SecretKeyRef(name=options.hf_token_secret) if options.hf_token_secret else None,
        zones=tuple(spec.zones),
        startup_timeout_s=spec.capacity.health_check_grace_s,
        node_selector={DEPLOYMENT_LABEL: workload_name(spec)},
        kserve=options.kserve,
        monitoring=monitoring_props(spec),
    )


def monitoring_props(spec: DeploymentSpec) -> MonitoringProps | None:
    """The PodMonitor, alerts and dashboard when the profile says the cluster runs the
    Prometheus operator; thresholds from the profile's targets and the engine's batch."""
    options = spec.kubernetes
    if options.monitoring == "none":
        return None
    slo = spec.slo
    return MonitoringProps(
        ttft_p95_s=slo.ttft_ms_p95 / 1000 if slo and slo.ttft_ms_p95 else None,
        tpot_s=slo.tpot_ms / 1000 if slo and slo.tpot_ms else None,
        waiting_per_pod=spec.runtime.max_batch,
        labels=dict(options.monitoring_labels),
    )


NOT_APPLIED = "not applied: {reason}."
"""The `kubernetes_workload` output of a stack that holds no workload: why, and what it holds."""
IN_STAGES = (
    "; with KEDA {keda} installed by Helm (chart kedacore/keda), all of it applied in stages by "
    "`infra deploy`: the cluster first, then KEDA and the workload once the cluster answers"
)
"""Appended to a stack's `kubernetes_workload` output when it creates the cluster."""
HELM_PROVIDER_VERSION = ">= 3.0, < 4"
"""hashicorp/helm 3 takes the provider's `kubernetes` settings as an object (2.x: a block); the
binding (cdktn-provider-helm 15.1) is generated from 3.3.0."""


@dataclass(frozen=True, kw_only=True)
class ClusterAccess:
    """How Terraform's Kubernetes-facing providers reach a cluster: its API server, its CA
    certificate (PEM) and an exec credential plugin (no token is ever stored)."""

    host: str
    cluster_ca_certificate: str
    command: str
    args: tuple[str, ...] = ()
    api_version: str = "client.authentication.k8s.io/v1beta1"


def in_stages_note() -> str:
    from modules.kubernetes.keda import KEDA_CHART_VERSION

    return IN_STAGES.format(keda=KEDA_CHART_VERSION)


def install_keda(
    stack: TerraformStack, access: ClusterAccess, *, after: tuple[ITerraformDependable, ...] = ()
) -> KedaRelease:
    """KEDA on a cluster the stack creates, through a Helm provider signed in as `access`, once
    `after` exists (the signed-in identity's rights on the cluster)."""
    from cdktn_provider_helm.provider import (
        HelmProvider,
        HelmProviderKubernetes,
        HelmProviderKubernetesExec,
    )

    from modules.kubernetes.keda import KedaProps, KedaRelease

    provider = HelmProvider(
        stack,
        "helm",
        kubernetes=HelmProviderKubernetes(
            host=access.host,
            cluster_ca_certificate=access.cluster_ca_certificate,
            exec=HelmProviderKubernetesExec(
                api_version=access.api_version, command=access.command, args=list(access.args)
            ),
        ),
    )
    stack.add_override("terraform.required_providers.helm.source", "hashicorp/helm")
    stack.add_override("terraform.required_providers.helm.version", HELM_PROVIDER_VERSION)
    return KedaRelease(stack, "keda", KedaProps(), provider=provider, after=after)


def apply_workload(
    stack: TerraformStack,
    props: WorkloadProps,
    provider: TerraformProvider,
    access: ClusterAccess,
    *,
    created: bool,
    after: tuple[ITerraformDependable, ...] = (),
) -> None:
    """The workload's objects through `provider`; on a cluster the stack creates, first its
    namespace and KEDA (the ScaledObject waits for KEDA's release), once `after` exists."""
    from modules.kubernetes.manifests import KubernetesWorkload

    keda = install_keda(stack, access, after=after) if created else None
    KubernetesWorkload(
        stack,
        "workload",
        props,
        provider=provider,
        create_namespace=created,
        after=after,
        scaler_after=(keda.release,) if keda else (),
    )
