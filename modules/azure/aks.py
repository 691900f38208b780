"""GPU node pools on AKS for `kind: kubernetes`: a Regular pool and a Spot pool in an existing
cluster (by name and resource group, looked up), or in a new private cluster this construct
creates.

Every pool: the GPU VM size with AKS's NVIDIA driver installation, autoscaling between the range's
bounds over the given zones, encryption at host (temporary and cache disks encrypted too), no
public node IPs, and the `nvidia.com/gpu` NoSchedule taint (only the serving pods, which
tolerate it, land on GPU nodes). A Spot pool is priority Spot, eviction Delete (an evicted node
is gone, not deallocated and still billing for its disk), at any price up to on-demand
(`spot_max_price = -1`). AKS gives every Spot node the taint
`kubernetes.azure.com/scalesetpriority=spot:NoSchedule` by itself; the pool lists it too, so the
configuration says what the pool has and a plan shows no drift (hashicorp/terraform-provider-
azurerm#9454, #14030: a Spot pool's taints are only left alone when none are set). Spot pools get
no upgrade_settings: AKS refuses a surge on them (#29318).

A new cluster: private API server only, OIDC issuer and Workload Identity, local accounts off
(Entra ID with Azure RBAC only), the given pricing tier (Standard: the uptime SLA), a small system
pool for AKS's own add-ons, on the virtual network of modules/azure/network.py.

The workload: a user-assigned identity with Storage Blob Data Reader on the model's container
only, federated with the serving pods' Kubernetes service account (the cluster's OIDC issuer): no
secret anywhere. Nodes carry the label `infra.dev/pool` = `on-demand` or `spot`, and the
caller's `node_labels`, for the workload's node selectors. A pool starts at the caller's planned
node count (`initial_nodes`, what the plan is priced at), and the autoscaler owns the count from
then on: Terraform ignores its changes, so a plan shows no drift. Pool names carry a
digest of the stack's name: pool names are unique within a cluster, and several deployments may
share one. Cost tags come from the stack's tagging aspect (modules/tagging.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from cdktn import Postcondition, TerraformResourceLifecycle
from cdktn_provider_azurerm.data_azurerm_kubernetes_cluster import DataAzurermKubernetesCluster
from cdktn_provider_azurerm.federated_identity_credential import FederatedIdentityCredential
from cdktn_provider_azurerm.kubernetes_cluster import (
    KubernetesCluster,
    KubernetesClusterAzureActiveDirectoryRoleBasedAccessControl,
    KubernetesClusterDefaultNodePool,
    KubernetesClusterDefaultNodePoolUpgradeSettings,
    KubernetesClusterIdentity,
    KubernetesClusterNetworkProfile,
    KubernetesClusterNodeProvisioningProfile,
)
from cdktn_provider_azurerm.kubernetes_cluster_node_pool import (
    KubernetesClusterNodePool,
    KubernetesClusterNodePoolUpgradeSettings,
)
from constructs import Construct

from core.errors import InfraError
from modules.azure.identity import BLOB_READER, Grant, ServingIdentity, ServingIdentityProps
from modules.azure.names import bounded_name
from modules.azure.network import ServingNetwork, ServingNetworkProps
from modules.node_pools import GPU_TAINT_KEY, NodeRange, check_ranges
from providers.azure import AKS_SYSTEM_NODE_COUNT, AKS_SYSTEM_VM_SIZE

GPU_TAINT = f"{GPU_TAINT_KEY}=present:NoSchedule"
SPOT_TAINT_KEY, SPOT_TAINT_VALUE = "kubernetes.azure.com/scalesetpriority", "spot"
SPOT_TAINT = f"{SPOT_TAINT_KEY}={SPOT_TAINT_VALUE}:NoSchedule"
"""The taint AKS puts on every node of a Spot pool."""
TOKEN_AUDIENCE = "api://AzureADTokenExchange"
"""The audience of the tokens Workload Identity exchanges (Entra ID's fixed value)."""
SKU_TIERS = ("Free", "Standard", "Premium")
POOL_LABEL = "infra.dev/pool"
"""The node label naming a node's pool role (`on-demand` or `spot`)."""
_POOL_NAME_LIMIT = 12
"""AKS node pool names: lowercase letters and digits, at most 12 characters (Linux)."""


class AksNodePoolsError(InfraError):
    pass


@dataclass(frozen=True, kw_only=True)
class AksNodePoolsProps:
    name: str
    """(Required) The stack's name: every resource is named from it."""
    resource_group_name: str
    """(Required) The resource group of a new cluster, the workload identity and a new
    network."""
    location: str
    """(Required) The Azure region."""
    zones: tuple[str, ...]
    """(Required) Availability zones of the pools ("1", "2", "3"); empty: no zone pinning."""
    vm_size: str
    """(Required) The GPU nodes' VM size (Standard_NC24ads_A100_v4, ...)."""
    on_demand: NodeRange | None
    """(Required) The Regular pool's range; None: no Regular pool."""
    spot: NodeRange | None
    """(Required) The Spot pool's range; None: no Spot pool."""
    kubernetes_namespace: str
    """(Required) Namespace of the serving pods' Kubernetes service account."""
    kubernetes_service_account: str
    """(Required) The serving pods' Kubernetes service account, federated with the workload
    identity."""
    model_blob_container_id: str | None = None
    """(Optional) Resource ID of the weights' blob container: the only data the workload may
    read. Defaults to None: no storage role."""
    cluster_name: str | None = None
    """(Optional) Name of the existing cluster the pools join (looked up in
    `cluster_resource_group`), needed unless `create_cluster`. Defaults to None."""
    cluster_resource_group: str | None = None
    """(Optional) The existing cluster's resource group, needed with `cluster_name`. Defaults to
    None."""
    create_cluster: bool = False
    """(Optional) Create a private cluster for the pools instead of joining `cluster_id`.
    Defaults to False."""
    existing_subnet_id: str | None = None
    """(Optional) A new cluster's subnet, used as it is. Defaults to None: a new virtual network
    whose only way out is a NAT gateway (modules/azure/network.py)."""
    sku_tier: str = "Standard"
    """(Optional) A new cluster's pricing tier: Free, Standard (uptime SLA) or Premium
    (long-term support). Defaults to Standard."""
    admin_group_object_ids: tuple[str, ...] = ()
    """(Optional) Entra ID groups that administer a new cluster (Azure RBAC; local accounts are
    off). Defaults to none."""
    kubernetes_version: str | None = None
    """(Optional) A new cluster's Kubernetes version. Defaults to None: AKS's default."""
    system_vm_size: str = AKS_SYSTEM_VM_SIZE
    """(Optional) VM size of a new cluster's system pool (AKS's add-ons, not serving). Defaults
    to Standard_D4s_v5."""
    system_node_count: int = AKS_SYSTEM_NODE_COUNT
    """(Optional) Nodes of a new cluster's system pool. Defaults to 2."""
    os_disk_size_gb: int = 200
    """(Optional) OS disk per GPU node, GB (the image and the model cache). Defaults to 200."""
    node_labels: Mapping[str, str] = field(default_factory=dict)
    """(Optional) More Kubernetes labels on every node of the GPU pools (the deployment's label
    its pods select); `infra.dev/pool` is always set. Defaults to none."""
    initial_nodes: Mapping[str, int] = field(default_factory=dict)
    """(Optional) Nodes each pool starts with, by role (`on-demand`, `spot`), within its range:
    the planned count. Defaults to none: AKS starts a pool at its range's minimum."""
    encryption_at_host: bool = True
    """(Optional) Encrypt the GPU nodes' temporary disks and disk caches on the host (the
    subscription must have Microsoft.Compute/EncryptionAtHost registered). Defaults to True."""


def pool_name(name: str, role: str) -> str:
    """`gpu` or `spot` and a digest of the stack's name: unique per deployment in a shared
    cluster, within AKS's 12 characters."""
    prefix = {"on-demand": "gpu", "spot": "spot"}[role]
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"{prefix}{digest}"[:_POOL_NAME_LIMIT]


def check_props(props: AksNodePoolsProps) -> None:
    where = f"stack {props.name}"
    check_ranges(props.on_demand, props.spot, where)
    if not props.create_cluster and not (props.cluster_name and props.cluster_resource_group):
        raise AksNodePoolsError(
            f"{where}: name the existing cluster and its resource group (deploy.kubernetes."
            "cluster, deploy.azure.resource_group) or set create_cluster: true."
        )
    if props.create_cluster and props.cluster_name:
        raise AksNodePoolsError(
            f"{where}: give either an existing cluster ({props.cluster_name}) or "
            "create_cluster, not both."
        )
    for role, size in (("on-demand", props.on_demand), ("spot", props.spot)):
        start = props.initial_nodes.get(role)
        if start is not None and (size is None or not size.min_nodes <= start <= size.max_nodes):
            raise AksNodePoolsError(
                f"{where}: the {role} pool cannot start at {start} nodes outside its range."
            )
    if POOL_LABEL in props.node_labels:
        raise AksNodePoolsError(f"{where}: the node label {POOL_LABEL} is the construct's own.")
    if props.sku_tier not in SKU_TIERS:
        raise AksNodePoolsError(
            f"{where}: sku_tier {props.sku_tier!r} is not one of {', '.join(SKU_TIERS)}."
        )


class AksNodePools(Construct):
    """`node_pools` (role → pool), `workload_identity`, and either `cluster` (a new one) or
    `existing` (the looked-up one): the other is None."""

    def __init__(self, scope: Construct, id: str, props: AksNodePoolsProps) -> None:
        check_props(props)
        super().__init__(scope, id)
        self.cluster: KubernetesCluster | None = None
        self.existing: DataAzurermKubernetesCluster | None = None
        if props.create_cluster:
            self.cluster = self._new_cluster(props)
            cluster_id, issuer = self.cluster.id, self.cluster.oidc_issuer_url
        else:
            self.existing = DataAzurermKubernetesCluster(
                self,
                "cluster",
                name=props.cluster_name or "",
                resource_group_name=props.cluster_resource_group or "",
                # Refused at plan time, before any pool: the federation needs the issuer.
                lifecycle=TerraformResourceLifecycle(
                    postcondition=[
                        Postcondition(
                            condition="${self.oidc_issuer_enabled}",
                            error_message=(
                                f"AKS cluster {props.cluster_name} has no OIDC issuer, which the "
                                "workload identity's federated credential needs: run az aks "
                                "update --enable-oidc-issuer --enable-workload-identity on it."
                            ),
                        )
                    ]
                ),
            )
            cluster_id, issuer = self.existing.id, self.existing.oidc_issuer_url
        self.node_pools: dict[str, KubernetesClusterNodePool] = {}
        for role, size in (("on-demand", props.on_demand), ("spot", props.spot)):
            if size is not None:
                self.node_pools[role] = self._pool(props, role, size, cluster_id)
        self.workload_identity = self._workload(props, issuer)

    def _new_cluster(self, props: AksNodePoolsProps) -> KubernetesCluster:
        network = ServingNetwork(
            self,
            "network",
            ServingNetworkProps(
                name=props.name,
                resource_group_name=props.resource_group_name,
                location=props.location,
                existing_subnet_id=props.existing_subnet_id,
            ),
        )
        return KubernetesCluster(
            self,
            "cluster",
            name=bounded_name(f"{props.name}-aks", 63),
            location=props.location,
            resource_group_name=props.resource_group_name,
            dns_prefix=bounded_name(props.name, 54),
            kubernetes_version=props.kubernetes_version,
            sku_tier=props.sku_tier,
            private_cluster_enabled=True,
            private_cluster_public_fqdn_enabled=False,
            oidc_issuer_enabled=True,
            workload_identity_enabled=True,
            local_account_disabled=True,
            role_based_access_control_enabled=True,
            azure_active_directory_role_based_access_control=(
                KubernetesClusterAzureActiveDirectoryRoleBasedAccessControl(
                    azure_rbac_enabled=True,
                    admin_group_object_ids=list(props.admin_group_object_ids) or None,
                )
            ),
            identity=KubernetesClusterIdentity(type="SystemAssigned"),
            default_node_pool=KubernetesClusterDefaultNodePool(
                name="system",
                vm_size=props.system_vm_size,
                node_count=props.system_node_count,
                zones=list(props.zones) or None,
                vnet_subnet_id=network.subnet_id,
                only_critical_addons_enabled=True,
                host_encryption_enabled=True,
                node_public_ip_enabled=False,
                upgrade_settings=KubernetesClusterDefaultNodePoolUpgradeSettings(max_surge="10%"),
            ),
            network_profile=KubernetesClusterNetworkProfile(
                network_plugin="azure",
                network_plugin_mode="overlay",
                network_policy="cilium",
                network_data_plane="cilium",
                load_balancer_sku="standard",
                # A new subnet leaves through its NAT gateway; a given one as it is set up.
                outbound_type="userAssignedNATGateway" if network.created else "loadBalancer",
            ),
            # The toolkit manages the pools itself: no node auto-provisioning (Karpenter).
            node_provisioning_profile=KubernetesClusterNodeProvisioningProfile(mode="Manual"),
            azure_policy_enabled=True,
            automatic_upgrade_channel="patch",
            node_os_upgrade_channel="NodeImage",
        )

    def _pool(
        self, props: AksNodePoolsProps, role: str, size: NodeRange, cluster_id: str
    ) -> KubernetesClusterNodePool:
        spot = role == "spot"
        return KubernetesClusterNodePool(
            self,
            f"pool-{role}",
            name=pool_name(props.name, role),
            kubernetes_cluster_id=cluster_id,
            vm_size=props.vm_size,
            mode="User",
            zones=list(props.zones) or None,
            auto_scaling_enabled=True,
            min_count=size.min_nodes,
            max_count=size.max_nodes,
            node_count=props.initial_nodes.get(role),
            # The autoscaler owns the count once the pool exists.
            lifecycle=TerraformResourceLifecycle(ignore_changes=["node_count"]),
            priority="Spot" if spot else "Regular",
            eviction_policy="Delete" if spot else None,
            spot_max_price=-1 if spot else None,
            node_taints=[GPU_TAINT, SPOT_TAINT] if spot else [GPU_TAINT],
            node_labels={**props.node_labels, POOL_LABEL: role},
            gpu_driver="Install",
            host_encryption_enabled=props.encryption_at_host,
            node_public_ip_enabled=False,
            os_disk_size_gb=props.os_disk_size_gb,
            os_type="Linux",
            upgrade_settings=(
                None if spot else KubernetesClusterNodePoolUpgradeSettings(max_surge="10%")
            ),
        )

    def _workload(self, props: AksNodePoolsProps, issuer: str) -> ServingIdentity:
        container = props.model_blob_container_id
        identity = ServingIdentity(
            self,
            "workload",
            ServingIdentityProps(
                name=f"{props.name}-workload",
                resource_group_name=props.resource_group_name,
                location=props.location,
                grants=(Grant("weights", BLOB_READER, container),) if container else (),
            ),
        )
        FederatedIdentityCredential(
            self,
            "workload-federation",
            name=bounded_name(f"{props.name}-serving", 120),
            user_assigned_identity_id=identity.identity.id,
            issuer=issuer,
            subject=(
                f"system:serviceaccount:{props.kubernetes_namespace}:"
                f"{props.kubernetes_service_account}"
            ),
            audience=[TOKEN_AUDIENCE],
        )
        return identity
