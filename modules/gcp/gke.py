"""GPU node pools on GKE for `kind: kubernetes`: an on-demand pool and a spot pool in an existing
cluster (by name and location), or in a new private cluster this construct creates.

Every pool: the spec's machine type with its GPUs as guest accelerators and GKE's automatic driver
installation (`gpu_driver_version = "LATEST"`), Shielded nodes (secure boot, integrity
monitoring), the GKE metadata server (pods never see the node's credentials), a dedicated node
service account with GKE's least-privilege node role, the `nvidia.com/gpu` NoSchedule taint (only
pods that tolerate it, i.e. the serving pods, land on GPU nodes), autoscaling between the
range's totals over the given zones, automatic repair and upgrade. A spot pool is `spot = true`
with location policy ANY (the autoscaler takes spot capacity in whichever zone has it).

A new cluster: private nodes, no public control-plane endpoint unless asked (then only the listed
ranges reach it), Workload Identity (`<project>.svc.id.goog`), Shielded nodes, a release channel,
no default node pool, VPC-native, in the network of modules/gcp/network.py.

The workload: a Google service account that can read only the model's Cloud Storage prefix, which
the serving pods' Kubernetes service account impersonates through Workload Identity
(roles/iam.workloadIdentityUser): no key anywhere. An existing cluster must have Workload
Identity enabled (the pools' GKE metadata server needs it).

Nodes carry the label `infra.dev/pool` = `on-demand` or `spot`, and the caller's `node_labels` (the
deployment's label, which its workload's pods select); GKE also labels spot nodes
`cloud.google.com/gke-spot=true`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from cdktn_provider_google.artifact_registry_repository_iam_member import (
    ArtifactRegistryRepositoryIamMember,
)
from cdktn_provider_google.container_cluster import (
    ContainerCluster,
    ContainerClusterIpAllocationPolicy,
    ContainerClusterMasterAuthorizedNetworksConfig,
    ContainerClusterMasterAuthorizedNetworksConfigCidrBlocks,
    ContainerClusterPrivateClusterConfig,
    ContainerClusterReleaseChannel,
    ContainerClusterWorkloadIdentityConfig,
)
from cdktn_provider_google.container_node_pool import (
    ContainerNodePool,
    ContainerNodePoolAutoscaling,
    ContainerNodePoolManagement,
    ContainerNodePoolNodeConfig,
    ContainerNodePoolNodeConfigGuestAccelerator,
    ContainerNodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfig,
    ContainerNodePoolNodeConfigShieldedInstanceConfig,
    ContainerNodePoolNodeConfigTaint,
    ContainerNodePoolNodeConfigWorkloadMetadataConfig,
)
from cdktn_provider_google.project_iam_member import ProjectIamMember
from cdktn_provider_google.service_account import ServiceAccount
from cdktn_provider_google.service_account_iam_member import ServiceAccountIamMember
from cdktn_provider_google.storage_bucket_iam_member import (
    StorageBucketIamMember,
    StorageBucketIamMemberCondition,
)
from constructs import Construct

from core.errors import InfraError
from modules.gcp.instance_template import CLOUD_PLATFORM_SCOPE, boot_disk_type
from modules.gcp.naming import artifact_repository, gcp_name
from modules.gcp.network import ServingNetwork, ServingNetworkProps
from modules.node_pools import GPU_TAINT_KEY, NodeRange, check_ranges

GPU_TAINT = ContainerNodePoolNodeConfigTaint(
    key=GPU_TAINT_KEY, value="present", effect="NO_SCHEDULE"
)
NODE_ROLE = "roles/container.defaultNodeServiceAccount"
"""GKE's predefined least-privilege role for node service accounts (logs, metrics, autoscaling
metrics); images from a private Artifact Registry repository need its reader role as well."""
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"
GKE_ACCELERATORS = {
    "T4": "nvidia-tesla-t4",
    "V100": "nvidia-tesla-v100",
    "P100": "nvidia-tesla-p100",
    "P4": "nvidia-tesla-p4",
    "L4": "nvidia-l4",
    "A100": "nvidia-tesla-a100",
    "A100-80GB": "nvidia-a100-80gb",
    "H100": "nvidia-h100-80gb",
    "H200": "nvidia-h200-141gb",
    "B200": "nvidia-b200",
}
"""The catalog's accelerator names → GKE's accelerator types (Compute Engine's names)."""
MEGA_H100 = "nvidia-h100-mega-80gb"
"""The H100 of A3 Mega machines (a3-megagpu-8g) is a type of its own."""
GPU_MACHINES = ("n1-", "a2-", "a3-", "a4-", "g2-", "g4-")


class GkeNodePoolsError(InfraError):
    pass


@dataclass(frozen=True, kw_only=True)
class GkeNodePoolsProps:
    name: str
    """The stack's name: every resource is named from it (modules/gcp/naming.py). Required."""
    project: str
    """The project the pools, the cluster and the service accounts live in. Required."""
    region: str
    """The cluster's region (a new cluster is regional). Required."""
    zones: tuple[str, ...]
    """The zones the pools' nodes run in (node locations). Required."""
    machine_type: str
    """The nodes' machine type: N1 with GPUs attached, or an accelerator-optimized machine.
    Required."""
    accelerator: str
    """The GPU, as the catalog names it (L4, A100-80GB, H100, T4, ...). Required."""
    accelerators_per_node: int
    """GPUs per node (for accelerator-optimized machines, what the machine type carries).
    Required."""
    on_demand: NodeRange | None
    """The on-demand pool's range; None: no on-demand pool. Required."""
    spot: NodeRange | None
    """The spot pool's range; None: no spot pool. Required."""
    kubernetes_namespace: str
    """Namespace of the serving pods' Kubernetes service account. Required."""
    kubernetes_service_account: str
    """The serving pods' Kubernetes service account, bound to the workload's Google account.
    Required."""
    model_gcs_uri: str | None = None
    """gs://bucket/prefix of the weights: the only objects the workload may read. Default: None,
    so the workload gets no Cloud Storage access."""
    image: str | None = None
    """The serving image: an Artifact Registry image makes the node account its reader.
    Default: None, so the node account reads no registry."""
    cluster_name: str | None = None
    """The existing cluster the pools join (needed unless `create_cluster`). Default: None."""
    cluster_location: str | None = None
    """The existing cluster's location (a region or a zone). Default: None, meaning `region`."""
    create_cluster: bool = False
    """Create a private cluster for the pools instead of joining `cluster_name`. Default: False."""
    subnet_ids: tuple[str, ...] = ()
    """A new cluster's subnet (modules/gcp/network.py). Default: none, so a new VPC with Cloud
    NAT."""
    public_endpoint: bool = False
    """Give a new cluster's control plane a public endpoint. Default: False, private only."""
    authorized_networks: tuple[str, ...] = ()
    """CIDRs that may reach a public endpoint (needed with `public_endpoint`). Default: none."""
    control_plane_cidr: str = "172.16.0.0/28"
    """A new private cluster's control-plane range, a /28 unused in the VPC. Default:
    172.16.0.0/28."""
    release_channel: str = "REGULAR"
    """A new cluster's GKE release channel (RAPID, REGULAR, STABLE). Default: REGULAR."""
    kubernetes_version: str | None = None
    """A new cluster's minimum Kubernetes minor version ("1.33": GKE picks its newest patch).
    Default: None, the release channel's default version."""
    node_labels: Mapping[str, str] | None = None
    """Kubernetes labels on every node of the pools, besides `infra.dev/pool`. Default: None,
    only that one."""
    disk_size_gb: int = 200
    """Boot disk per node, GB (the image and the model cache). Default: 200."""
    gpu_taint: bool = True
    """Taint the nodes nvidia.com/gpu=present:NoSchedule, so that only pods tolerating it (the
    serving pods) land on them. Default: True. A cluster with no other pool needs it off: its
    own system pods (kube-dns, the metrics agents) and KEDA must run somewhere."""
    labels: Mapping[str, str] | None = None
    """GCP labels for the pools' nodes and a new cluster (already sanitized). Default: None,
    only the provider's default labels."""


def gke_accelerator(machine_type: str, accelerator: str, where: str) -> str:
    if not machine_type.startswith(GPU_MACHINES):
        raise GkeNodePoolsError(f"{where}: {machine_type} is not a GPU machine type.")
    if accelerator == "H100" and machine_type.startswith("a3-megagpu"):
        return MEGA_H100
    found = GKE_ACCELERATORS.get(accelerator)
    if found is None:
        raise GkeNodePoolsError(
            f"{where}: GKE has no accelerator type for {accelerator}; use one of "
            f"{', '.join(GKE_ACCELERATORS)}."
        )
    return found


def check_props(props: GkeNodePoolsProps) -> None:
    where = f"stack {props.name}"
    check_ranges(props.on_demand, props.spot, where)
    if not props.create_cluster and not props.cluster_name:
        raise GkeNodePoolsError(
            f"{where}: name the existing cluster (deploy.kubernetes.cluster) or set "
            "create_cluster: true."
        )
    if props.public_endpoint and not props.authorized_networks:
        raise GkeNodePoolsError(
            f"{where}: a public control-plane endpoint needs the CIDRs allowed to reach it."
        )
    if props.model_gcs_uri is not None and not props.model_gcs_uri.startswith("gs://"):
        raise GkeNodePoolsError(f"{where}: {props.model_gcs_uri!r} is not a gs:// URI.")


def workload_account_id(name: str) -> str:
    """The workload's Google service account ID: its email is
    `<ID>@<project>.iam.gserviceaccount.com`, known before the account exists (the
    Kubernetes service account's annotation names it)."""
    return gcp_name(name, "workload", limit=30)


def prefix_condition(bucket: str, prefix: str) -> str:
    """IAM condition: objects under `prefix`, and listings asking for that prefix (a listing's
    resource is the bucket; `storage.googleapis.com/objectListPrefix` is what it asks for)."""
    return (
        f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{prefix}") || '
        f'(resource.name == "projects/_/buckets/{bucket}" && '
        f'api.getAttribute("storage.googleapis.com/objectListPrefix", "").startsWith("{prefix}"))'
    )


class GkeNodePools(Construct):
    """`node_pools` (role → pool), `node_service_account`, `workload_service_account`, and
    `cluster` (None when joining an existing one)."""

    def __init__(self, scope: Construct, id: str, props: GkeNodePoolsProps) -> None:
        check_props(props)
        accelerator = gke_accelerator(props.machine_type, props.accelerator, f"stack {props.name}")
        super().__init__(scope, id)
        self.cluster: ContainerCluster | None = None
        if props.create_cluster:
            self.cluster = self._new_cluster(props)
            cluster_id, location = self.cluster.id, props.region
        else:
            location = props.cluster_location or props.region
            cluster_id = (
                f"projects/{props.project}/locations/{location}/clusters/{props.cluster_name}"
            )
        self.node_service_account = self._node_account(props)
        self.node_pools: dict[str, ContainerNodePool] = {}
        for role, size in (("on-demand", props.on_demand), ("spot", props.spot)):
            if size is not None:
                self.node_pools[role] = self._pool(
                    props, role, size, cluster_id, location, accelerator
                )
        self.workload_service_account = self._workload_account(props)

    def _new_cluster(self, props: GkeNodePoolsProps) -> ContainerCluster:
        network = ServingNetwork(
            self,
            "network",
            ServingNetworkProps(
                stack_name=props.name,
                project=props.project,
                region=props.region,
                subnet_ids=props.subnet_ids,
                internal_load_balancer=False,
            ),
        )
        authorized = [
            ContainerClusterMasterAuthorizedNetworksConfigCidrBlocks(
                cidr_block=cidr, display_name=f"authorized-{index}"
            )
            for index, cidr in enumerate(props.authorized_networks)
        ]
        return ContainerCluster(
            self,
            "cluster",
            name=gcp_name(props.name, "gke", limit=40),
            project=props.project,
            location=props.region,
            network=network.network,
            subnetwork=network.subnetwork,
            # The default pool is created then removed at once: GKE requires one to start.
            remove_default_node_pool=True,
            initial_node_count=1,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=ContainerClusterIpAllocationPolicy(
                cluster_ipv4_cidr_block="/17", services_ipv4_cidr_block="/22"
            ),
            private_cluster_config=ContainerClusterPrivateClusterConfig(
                enable_private_nodes=True,
                enable_private_endpoint=not props.public_endpoint,
                master_ipv4_cidr_block=props.control_plane_cidr,
            ),
            master_authorized_networks_config=ContainerClusterMasterAuthorizedNetworksConfig(
                cidr_blocks=authorized or None
            ),
            workload_identity_config=ContainerClusterWorkloadIdentityConfig(
                workload_pool=f"{props.project}.svc.id.goog"
            ),
            enable_shielded_nodes=True,
            enable_legacy_abac=False,
            release_channel=ContainerClusterReleaseChannel(channel=props.release_channel),
            min_master_version=props.kubernetes_version,
            resource_labels=dict(props.labels or {}),
            # Off: `infra destroy` removes what the state holds, after its own approval.
            deletion_protection=False,
        )

    def _node_account(self, props: GkeNodePoolsProps) -> ServiceAccount:
        account = ServiceAccount(
            self,
            "node-account",
            account_id=gcp_name(props.name, "gke-nodes", limit=30),
            display_name=f"{props.name} GKE GPU nodes",
            description=f"Runs the GPU nodes of {props.name}; managed by infra",
        )
        ProjectIamMember(
            self, "node-role", project=props.project, role=NODE_ROLE, member=account.member
        )
        registry = artifact_repository(props.image) if props.image else None
        if registry:
            ArtifactRegistryRepositoryIamMember(
                self,
                "node-image-reader",
                project=registry.project,
                location=registry.location,
                repository=registry.repository,
                role="roles/artifactregistry.reader",
                member=account.member,
            )
        return account

    def _pool(
        self,
        props: GkeNodePoolsProps,
        role: str,
        size: NodeRange,
        cluster_id: str,
        location: str,
        accelerator: str,
    ) -> ContainerNodePool:
        spot = role == "spot"
        return ContainerNodePool(
            self,
            f"pool-{role}",
            name=gcp_name(props.name, role, limit=40),
            project=props.project,
            cluster=cluster_id,
            location=location,
            node_locations=list(props.zones),
            # Per zone: the fewest that meets the minimum (a spot pool from 0 starts empty).
            initial_node_count=math.ceil(size.min_nodes / max(len(props.zones), 1)),
            autoscaling=ContainerNodePoolAutoscaling(
                total_min_node_count=size.min_nodes,
                total_max_node_count=size.max_nodes,
                location_policy="ANY" if spot else "BALANCED",
            ),
            management=ContainerNodePoolManagement(auto_repair=True, auto_upgrade=True),
            node_config=ContainerNodePoolNodeConfig(
                machine_type=props.machine_type,
                spot=spot,
                guest_accelerator=[
                    ContainerNodePoolNodeConfigGuestAccelerator(
                        type=accelerator,
                        count=props.accelerators_per_node,
                        gpu_driver_installation_config=ContainerNodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfig(
                            gpu_driver_version="LATEST"
                        ),
                    )
                ],
                disk_size_gb=props.disk_size_gb,
                disk_type=boot_disk_type(props.machine_type),
                image_type="COS_CONTAINERD",
                service_account=self.node_service_account.email,
                oauth_scopes=[CLOUD_PLATFORM_SCOPE],
                shielded_instance_config=ContainerNodePoolNodeConfigShieldedInstanceConfig(
                    enable_secure_boot=True, enable_integrity_monitoring=True
                ),
                workload_metadata_config=ContainerNodePoolNodeConfigWorkloadMetadataConfig(
                    mode="GKE_METADATA"
                ),
                taint=[GPU_TAINT] if props.gpu_taint else [],
                labels={**(props.node_labels or {}), "infra.dev/pool": role},
                resource_labels=dict(props.labels or {}),
                metadata={"disable-legacy-endpoints": "true"},
            ),
        )

    def _workload_account(self, props: GkeNodePoolsProps) -> ServiceAccount:
        account = ServiceAccount(
            self,
            "workload-account",
            account_id=workload_account_id(props.name),
            display_name=f"{props.name} serving workload",
            description=f"Impersonated by the serving pods of {props.name}; managed by infra",
        )
        ServiceAccountIamMember(
            self,
            "workload-identity",
            service_account_id=account.name,
            role=WORKLOAD_IDENTITY_USER,
            member=(
                f"serviceAccount:{props.project}.svc.id.goog"
                f"[{props.kubernetes_namespace}/{props.kubernetes_service_account}]"
            ),
        )
        if props.model_gcs_uri:
            bucket, _, prefix = props.model_gcs_uri.removeprefix("gs://").partition("/")
            # A folder: llama/8b must not also open llama/8b-other.
            prefix = f"{prefix.rstrip('/')}/" if prefix.strip("/") else ""
            StorageBucketIamMember(
                self,
                "weights-reader",
                bucket=bucket,
                role="roles/storage.objectViewer",
                member=account.member,
                condition=StorageBucketIamMemberCondition(
                    title="model-prefix-only",
                    description=f"Objects under gs://{bucket}/{prefix} only",
                    expression=prefix_condition(bucket, prefix),
                ),
            )
        return account
