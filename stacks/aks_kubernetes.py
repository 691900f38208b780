"""AksServingStack: `kind: kubernetes` on AKS, built from a DeploymentSpec alone.

GPU node pools (Regular and Spot, modules/azure/aks.py) in the existing cluster
`deploy.kubernetes.cluster` of `deploy.azure.resource_group`, or in a new private cluster; the
workload's user-assigned identity, federated with its Kubernetes service account and reading only
the model's blob container; and the serving workload itself (modules/kubernetes/manifests.py)
through Terraform's Kubernetes provider. On a new cluster also the workload's namespace, KEDA
(Helm) and, for the identity Terraform runs as, the Azure Kubernetes Service RBAC Cluster Admin
role on that cluster (local accounts are off: Azure RBAC is the only way in), all applied by
`infra deploy` in a later stage than the cluster (orchestrator/staging.py).

The Kubernetes and Helm providers reach the API server named by the cluster (or its data
source) and sign in with kubelogin as the Azure CLI's user (an exec credential plugin: a token
is fetched at each run and never stored in the configuration or the state). Only the host and
the CA certificate are read from the cluster's kube_config, never its client keys.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from cdktn import Fn, ITerraformDependable, TerraformOutput, TerraformStack
from cdktn_provider_azurerm.data_azurerm_client_config import DataAzurermClientConfig
from cdktn_provider_azurerm.data_azurerm_kubernetes_cluster import DataAzurermKubernetesCluster
from cdktn_provider_azurerm.kubernetes_cluster import KubernetesCluster
from cdktn_provider_azurerm.role_assignment import RoleAssignment
from cdktn_provider_kubernetes.provider import KubernetesProvider, KubernetesProviderExec
from constructs import Construct

from modules.azure.aks import SPOT_TAINT_KEY, SPOT_TAINT_VALUE, AksNodePools, AksNodePoolsProps
from modules.azure.kubernetes_workload import weights_download, workload_identity
from modules.azure.names import blob_container
from modules.azure.resource_group import ResourceGroupProps, StackResourceGroup
from modules.azure.scale_set import scale_set_zones
from modules.azure.spec_checks import check_aks
from modules.kubernetes.weights import WeightsDownload
from modules.kubernetes.workload import Toleration, WorkloadProps
from planner.deployment import CapacitySpec, DeploymentSpec
from stacks.common import configure_azure_stack
from stacks.kubernetes_canary import autoscaler, with_tracks
from stacks.kubernetes_common import (
    DEPLOYMENT_LABEL,
    ClusterAccess,
    PoolRanges,
    apply_workload,
    in_stages_note,
    pool_ranges,
    workload_name,
    workload_props,
)

if TYPE_CHECKING:
    pass

KUBERNETES_PROVIDER_VERSION = ">= 2.36, < 4"
"""The binding (cdktn-provider-kubernetes 17.x) is generated from hashicorp/kubernetes 3.4.0;
`kubernetes_manifest` and the exec block it uses exist from 2.x on."""
AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
"""The Azure Kubernetes Service AAD Server application, the audience of every AKS access token,
the same in all clouds (Azure/kubelogin docs/book/src/concepts/aks.md)."""
KUBELOGIN_ARGS = ("get-token", "--login", "azurecli", "--server-id", AKS_SERVER_ID)
"""kubelogin's Azure CLI login mode: the token of the user or pipeline identity `az login`
signed in (Azure/kubelogin docs/book/src/concepts/login-modes/azurecli.md)."""
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
"""The ExecCredential version `kubelogin convert-kubeconfig` writes."""
CLUSTER_ADMIN_ROLE = "Azure Kubernetes Service RBAC Cluster Admin"
"""The built-in role that may manage every Kubernetes object of a cluster with Azure RBAC, custom
resources and namespaces included (Microsoft's "Use Azure RBAC for Kubernetes Authorization")."""


def aks_zones(region: str, zones: tuple[str, ...]) -> tuple[str, ...]:
    """The nodes' topology.kubernetes.io/zone values: `<region>-<zone>` on zonal nodes
    (kubernetes-sigs cloud-provider-azure, "Use Availability Zones"); none for a regional pool,
    whose nodes carry a fault domain instead."""
    return tuple(f"{region}-{zone}" for zone in zones)


def initial_nodes(capacity: CapacitySpec, ranges: PoolRanges) -> dict[str, int]:
    """The planned nodes per pool: the on-demand pool first (the base, or all of a fleet without
    spot), the spot pool the rest, each within its range."""
    left, counts = capacity.desired, {}
    for role, size in (("on-demand", ranges.on_demand), ("spot", ranges.spot)):
        if size is not None:
            counts[role] = min(max(left, size.min_nodes), size.max_nodes)
            left -= counts[role]
    return counts


def cluster_access(cluster: DataAzurermKubernetesCluster | KubernetesCluster) -> ClusterAccess:
    """An existing or new cluster's API server and CA from its kube_config; kubelogin signs in."""
    config = cluster.kube_config.get(0)
    return ClusterAccess(
        host=config.host,
        cluster_ca_certificate=Fn.base64decode(config.cluster_ca_certificate),
        command="kubelogin",
        args=KUBELOGIN_ARGS,
        api_version=EXEC_API_VERSION,
    )


def kubernetes_provider(stack: TerraformStack, access: ClusterAccess) -> KubernetesProvider:
    """The Kubernetes provider for the cluster: a kubelogin token at each run."""
    stack.add_override(
        "terraform.required_providers.kubernetes.version", KUBERNETES_PROVIDER_VERSION
    )
    return KubernetesProvider(
        stack,
        "kubernetes",
        host=access.host,
        cluster_ca_certificate=access.cluster_ca_certificate,
        exec=[
            KubernetesProviderExec(
                api_version=access.api_version, command=access.command, args=list(access.args)
            )
        ],
    )


def blob_weights(spec: DeploymentSpec) -> WeightsDownload | None:
    """The init container's copy of the weights from the profile's blob container, or None (the
    engine fetches the hub model)."""
    container_id = spec.azure.model_blob_container_id
    if container_id is None:
        return None
    account, container = blob_container(container_id)
    prefix = spec.azure.model_blob_prefix.strip("/")
    return weights_download(
        f"https://{account}.blob.core.windows.net/{container}/{prefix}".rstrip("/")
    )


class AksServingStack(TerraformStack):
    @staticmethod
    def serving_props(spec: DeploymentSpec, emulated: bool) -> WorkloadProps | None:
        """The workload's props as this stack renders them (kubernetes_canary); it always
        applies one (there is no emulated Azure)."""
        del emulated
        return workload_props(spec, identity=None, weights=blob_weights(spec))

    def __init__(
        self,
        scope: Construct,
        spec: DeploymentSpec,
        *,
        state_dir: Path,
        emulated: bool = False,
    ) -> None:
        super().__init__(scope, spec.stack_name)
        check_aks(spec)
        configure_azure_stack(self, spec, state_dir, emulated=emulated)
        options = spec.kubernetes
        name, location = spec.stack_name, spec.region
        if options.cluster is not None:
            # The existing cluster's group (check_aks): the identity joins it.
            group = spec.azure.resource_group or ""
        else:
            group = StackResourceGroup(
                self,
                "resource-group",
                ResourceGroupProps(
                    name=name, location=location, existing_name=spec.azure.resource_group
                ),
            ).name
        workload = workload_name(spec)
        service_account = f"{workload}-serving"
        zones = scale_set_zones(spec.zones)
        ranges = pool_ranges(spec.capacity, spec.hourly)
        subnet_ids = spec.network.subnet_ids
        pools = AksNodePools(
            self,
            "gpu",
            AksNodePoolsProps(
                name=name,
                resource_group_name=group,
                location=location,
                zones=zones,
                vm_size=spec.instance_type,
                on_demand=ranges.on_demand,
                spot=ranges.spot,
                kubernetes_namespace=options.namespace,
                kubernetes_service_account=service_account,
                model_blob_container_id=spec.azure.model_blob_container_id,
                cluster_name=options.cluster,
                cluster_resource_group=group if options.cluster is not None else None,
                create_cluster=options.create_cluster,
                existing_subnet_id=subnet_ids[0] if subnet_ids else None,
                kubernetes_version=options.kubernetes_version,
                os_disk_size_gb=spec.root_volume_gib,
                node_labels={DEPLOYMENT_LABEL: workload},
                initial_nodes=initial_nodes(spec.capacity, ranges),
                encryption_at_host=spec.azure.encryption_at_host,
            ),
        )
        cluster = pools.existing if pools.existing is not None else pools.cluster
        # AksNodePools refuses a spec that neither names a cluster nor creates one.
        assert cluster is not None
        props = workload_props(
            spec,
            identity=workload_identity(pools.workload_identity.identity.client_id),
            weights=blob_weights(spec),
        )
        spot = (Toleration(key=SPOT_TAINT_KEY, value=SPOT_TAINT_VALUE),) if ranges.spot else ()
        props = dataclasses.replace(
            with_tracks(props, spec, weights_download),
            service_account=service_account,
            zones=aks_zones(location, zones),
            # AKS taints every Spot node: the pods tolerate it to run on the Spot pool.
            tolerations=(*props.tolerations, *spot),
        )
        access = cluster_access(cluster)
        provider = kubernetes_provider(self, access)
        after: tuple[ITerraformDependable, ...] = ()
        if pools.cluster is not None:
            admin = RoleAssignment(
                self,
                "cluster-admin",
                scope=pools.cluster.id,
                role_definition_name=CLUSTER_ADMIN_ROLE,
                principal_id=DataAzurermClientConfig(self, "client").object_id,
            )
            after = (admin,)
        apply_workload(
            self, props, provider, access, created=pools.cluster is not None, after=after
        )
        served = "KServe InferenceService" if options.kserve else "Deployment and Service"
        where = f"cluster {options.cluster}" if options.cluster else "the new cluster"
        scaled = "KEDA on the engine's queue"
        if autoscaler(spec) != "KEDA":
            scaled = f"{autoscaler(spec)} on concurrency"
        created = in_stages_note() if pools.cluster is not None else ""
        applied = (
            f"applied: a {served} {workload} in namespace {options.namespace} of {where}, "
            f"scaled by {scaled}{created}."
        )
        cluster_name = options.cluster if pools.cluster is None else pools.cluster.name
        TerraformOutput(self, "cluster_name", value=cluster_name)
        TerraformOutput(
            self,
            "kubernetes_workload",
            value=applied,
            description="What of the serving workload this configuration applies",
        )
