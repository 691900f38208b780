"""GkeServingStack: `kind: kubernetes` on GKE, built from a DeploymentSpec alone.

GPU node pools (on-demand and spot, the planned machine type, automatic GPU drivers, Shielded
nodes, the GPU taint and the deployment's node label) in an existing cluster found by name and
location, or in a new private cluster with Workload Identity; a Google service account for the
serving pods that reads only the weights' Cloud Storage prefix, bound to their Kubernetes service
account through Workload Identity; and the serving workload itself (modules/kubernetes/) as
`kubernetes_manifest` resources, on a new cluster with its namespace and KEDA (Helm), which
`infra deploy` applies in a later stage than the cluster (orchestrator/staging.py).

The Kubernetes and Helm providers reach the cluster at the endpoint and CA certificate its data
source (or the new cluster) gives, and authenticate with `gke-gcloud-auth-plugin` on every run
(an exec credential plugin printing a client.authentication.k8s.io/v1beta1 ExecCredential,
kubernetes/cloud-provider-gcp cmd/gke-gcloud-auth-plugin/cred.go): no access token is written
into the configuration or the state, as one from google_client_config would be.
"""

from __future__ import annotations

import os
from pathlib import Path

from cdktn import Fn, TerraformOutput, TerraformStack, Token
from constructs import Construct

from modules.gcp.gke import GkeNodePools, GkeNodePoolsProps, workload_account_id
from modules.gcp.kubernetes_workload import weights_download, workload_identity
from modules.gcp.spec_checks import check_gcp_spec
from modules.kubernetes.workload import WorkloadProps
from planner.deployment import DeploymentSpec
from providers.gcp.labels import gcp_labels
from stacks.common import GCP_PROJECT_ENV, configure_gcp_stack
from stacks.kubernetes_canary import autoscaler, with_tracks
from stacks.kubernetes_common import (
    DEPLOYMENT_LABEL,
    NOT_APPLIED,
    ClusterAccess,
    apply_workload,
    in_stages_note,
    pool_ranges,
    workload_props,
)

KUBERNETES_PROVIDER_VERSION = ">= 2.36, < 4"
"""The binding is generated from hashicorp/kubernetes 3.4; the stack sets only the provider's
host, CA certificate and exec block and `kubernetes_manifest`, which 2.36 knows as well."""
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
"""The ExecCredential version gke-gcloud-auth-plugin prints."""
AUTH_PLUGIN = "gke-gcloud-auth-plugin"


def account_email(name: str, project: str) -> str:
    return f"{workload_account_id(name)}@{project}.iam.gserviceaccount.com"


def applied_sentence(
    props: WorkloadProps, cluster: str, scaler: str = "KEDA", *, created: bool = False
) -> str:
    served = "a KServe InferenceService" if props.kserve else "a Deployment and a Service"
    return (
        f"applied: {served} {props.namespace}/{props.name} in cluster {cluster}, scaled by "
        f"{scaler} between {props.min_replicas} and {props.max_replicas} replicas, as the "
        f"Kubernetes service account {props.service_account_name} (Workload Identity)"
        f"{in_stages_note() if created else ''}"
    )


class GkeServingStack(TerraformStack):
    @staticmethod
    def serving_props(spec: DeploymentSpec, emulated: bool) -> WorkloadProps | None:
        """The workload's props as this stack renders them (kubernetes_canary), None when it
        applies no workload (no project named)."""
        del emulated  # no emulated Google Cloud
        project = spec.gcp.project or os.environ.get(GCP_PROJECT_ENV, "").strip()
        if not project:
            return None
        uri = spec.gcp.model_gcs_uri
        return workload_props(spec, identity=None, weights=weights_download(uri) if uri else None)

    def __init__(
        self,
        scope: Construct,
        spec: DeploymentSpec,
        *,
        state_dir: Path,
        emulated: bool = False,
    ) -> None:
        check_gcp_spec(spec)
        super().__init__(scope, spec.stack_name)
        project = configure_gcp_stack(self, spec, state_dir, emulated=emulated)
        options = spec.kubernetes
        # Only a project the profile or the environment names gives the workload's account a
        # known email; without one the configuration is only priced (configure_gcp_stack).
        known_project = not Token.is_unresolved(project)
        serves = known_project
        weights_uri = spec.gcp.model_gcs_uri
        identity = workload_identity(account_email(spec.stack_name, project)) if serves else None
        workload = workload_props(
            spec,
            identity=identity,
            weights=weights_download(weights_uri) if weights_uri else None,
        )
        ranges = pool_ranges(spec.capacity, spec.hourly)
        location = options.cluster_location or spec.region
        pools = GkeNodePools(
            self,
            "gpu-pools",
            GkeNodePoolsProps(
                name=spec.stack_name,
                project=project,
                region=spec.region,
                zones=tuple(spec.zones),
                machine_type=spec.instance_type,
                accelerator=spec.accelerator,
                accelerators_per_node=spec.accelerators_per_instance,
                on_demand=ranges.on_demand,
                spot=ranges.spot,
                kubernetes_namespace=workload.namespace,
                kubernetes_service_account=workload.service_account_name,
                model_gcs_uri=weights_uri,
                image=spec.runtime.image,
                cluster_name=options.cluster,
                cluster_location=location,
                create_cluster=options.create_cluster,
                subnet_ids=tuple(spec.network.subnet_ids),
                kubernetes_version=options.kubernetes_version,
                disk_size_gb=spec.root_volume_gib,
                labels=gcp_labels(spec.tags),
                node_labels={DEPLOYMENT_LABEL: workload.name},
                # A created cluster's only nodes: its system pods and KEDA run there too.
                gpu_taint=not options.create_cluster,
            ),
        )
        # GkeNodePools refuses a spec that neither names a cluster nor creates one.
        cluster_name = pools.cluster.name if pools.cluster is not None else options.cluster or ""
        if not known_project:
            applied = NOT_APPLIED.format(
                reason=f"no Google Cloud project is named (deploy.gcp.project or "
                f"{GCP_PROJECT_ENV}), so the workload's service account is not known"
            )
        else:
            self._workload(
                with_tracks(workload, spec, weights_download),
                self._access(pools, cluster_name, location, project),
                pools,
            )
            applied = applied_sentence(
                workload, cluster_name, autoscaler(spec), created=pools.cluster is not None
            )
        TerraformOutput(self, "cluster_name", value=cluster_name)
        TerraformOutput(
            self,
            "kubernetes_workload",
            value=applied,
            description="What of the serving workload this stack applies to the cluster",
        )

    def _access(
        self, pools: GkeNodePools, cluster: str, location: str, project: str
    ) -> ClusterAccess:
        """The cluster's API server and CA certificate: the new cluster's, or an existing one's
        from its data source; the GKE plugin signs in."""
        if pools.cluster is not None:
            endpoint = pools.cluster.endpoint
            certificate = pools.cluster.master_auth.cluster_ca_certificate
        else:
            from cdktn_provider_google.data_google_container_cluster import (
                DataGoogleContainerCluster,
            )

            found = DataGoogleContainerCluster(
                self, "cluster", name=cluster, location=location, project=project
            )
            endpoint = found.endpoint
            certificate = found.master_auth.get(0).cluster_ca_certificate
        return ClusterAccess(
            host=f"https://{endpoint}",
            cluster_ca_certificate=Fn.base64decode(certificate),
            command=AUTH_PLUGIN,
            api_version=EXEC_API_VERSION,
        )

    def _workload(self, props: WorkloadProps, access: ClusterAccess, pools: GkeNodePools) -> None:
        """The workload's manifests through a Kubernetes provider for the cluster; on a new one,
        its namespace and KEDA too."""
        from cdktn_provider_kubernetes.provider import KubernetesProvider, KubernetesProviderExec

        provider = KubernetesProvider(
            self,
            "kubernetes",
            host=access.host,
            cluster_ca_certificate=access.cluster_ca_certificate,
            exec=[KubernetesProviderExec(api_version=access.api_version, command=access.command)],
        )
        self.add_override(
            "terraform.required_providers.kubernetes.version", KUBERNETES_PROVIDER_VERSION
        )
        apply_workload(self, props, provider, access, created=pools.cluster is not None)
