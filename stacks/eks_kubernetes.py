"""EksServingStack: `kind: kubernetes` on EKS, built from a DeploymentSpec alone.

GPU managed node groups (on-demand base and spot above it) in an existing cluster
(`deploy.kubernetes.cluster`, read through data sources and never changed) or in a new private
cluster in the serving network (`create_cluster: true`), the serving workload's IAM role for its
Kubernetes service account (IRSA), and, outside the emulator, the serving workload itself as
`kubernetes_manifest` resources; on a new cluster also its namespace and KEDA (Helm), which
`infra deploy` applies in a later stage than the cluster (orchestrator/staging.py).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cdktn import Fn, TerraformOutput, TerraformStack
from constructs import Construct

from modules.aws.eks_cluster import EksClusterProps, EksServingCluster
from modules.aws.eks_node_pools import EksNodePools, EksNodePoolsProps, PoolSize
from modules.aws.eks_service_account_role import ServiceAccountRole, ServiceAccountRoleProps
from modules.aws.kubernetes_workload import weights_download, workload_identity
from modules.aws.network import ServingNetwork, ServingNetworkProps
from modules.kubernetes.workload import WorkloadProps
from modules.node_pools import NodeRange
from planner.deployment import DeploymentSpec
from providers.aws.neuron import is_neuron
from stacks.common import configure_aws_stack
from stacks.kubernetes_canary import autoscaler, with_environment, with_tracks
from stacks.kubernetes_common import (
    DEPLOYMENT_LABEL,
    NOT_APPLIED,
    ClusterAccess,
    KubernetesStackError,
    apply_workload,
    in_stages_note,
    pool_ranges,
    workload_name,
    workload_props,
)

KUBERNETES_PROVIDER_VERSION = ">= 2.36, < 4"
"""kubernetes_manifest with server-side apply exists from 2.x; the binding is generated from 3.x
and the stack sets only arguments both know."""
CONTROL_PLANE_LOG_DAYS = 365
"""A year of a created cluster's control-plane (audit) logs, what checkov's CKV_AWS_338 asks."""
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"
"""The ExecCredential version the provider asks for; `aws eks get-token` fully supports it and
v1, and answers in the version asked (aws-cli awscli/customizations/eks/get_token.py)."""


def _pool_size(pool: NodeRange | None, desired: int) -> PoolSize:
    """A node group's sizes; a pool the plan does not ask for is one of max_size 0 (not made)."""
    if pool is None:
        return PoolSize(min_size=0, desired_size=0, max_size=0)
    wanted = min(max(desired, pool.min_nodes), pool.max_nodes)
    return PoolSize(min_size=pool.min_nodes, desired_size=wanted, max_size=pool.max_nodes)


def _cluster_props(spec: DeploymentSpec, subnet_ids: tuple[str, ...]) -> EksClusterProps:
    options = spec.kubernetes
    if options.create_cluster:
        return EksClusterProps(
            name=spec.stack_name,
            create_cluster=True,
            subnet_ids=subnet_ids,
            kubernetes_version=options.kubernetes_version,
            log_retention_days=CONTROL_PLANE_LOG_DAYS,
        )
    if options.cluster is None:
        raise KubernetesStackError(
            f"stack {spec.stack_name}: deploy.kubernetes names no cluster; set "
            "deploy.kubernetes.cluster to an existing EKS cluster, or create_cluster: true."
        )
    return EksClusterProps(name=options.cluster)


def _props(spec: DeploymentSpec) -> WorkloadProps:
    weights = weights_download(spec.runtime.model_s3_uri) if spec.runtime.model_s3_uri else None
    return workload_props(spec, identity=None, weights=weights)


class EksServingStack(TerraformStack):
    @staticmethod
    def serving_props(spec: DeploymentSpec, emulated: bool) -> WorkloadProps | None:
        """The workload's props as this stack renders them (kubernetes_canary), None when it
        applies no workload (the emulator)."""
        if emulated:
            return None
        return _props(spec)

    def __init__(
        self,
        scope: Construct,
        spec: DeploymentSpec,
        *,
        state_dir: Path,
        emulated: bool = False,
    ) -> None:
        if is_neuron(spec.accelerator):
            raise KubernetesStackError(
                f"stack {spec.stack_name}: EKS GPU node groups run the NVIDIA AMI, not "
                f"{spec.accelerator} (Inferentia/Trainium); pin an NVIDIA instance type with "
                "--instance-type, or deploy it as a fleet."
            )
        super().__init__(scope, spec.stack_name)
        configure_aws_stack(self, spec, state_dir, emulated=emulated)
        options = spec.kubernetes
        name = workload_name(spec)

        subnet_ids: tuple[str, ...] = ()
        if options.create_cluster:
            network = ServingNetwork(
                self,
                "network",
                ServingNetworkProps(
                    zone_ids=tuple(spec.zones),
                    existing_subnet_ids=tuple(spec.network.subnet_ids),
                    existing_vpc_id=spec.network.vpc_id,
                ),
            )
            subnet_ids = tuple(network.private_subnet_ids)
        cluster = EksServingCluster(self, "cluster", _cluster_props(spec, subnet_ids))

        ranges = pool_ranges(spec.capacity, spec.hourly)
        base = ranges.on_demand.min_nodes if ranges.on_demand and ranges.spot else 0
        pools = EksNodePools(
            self,
            "gpu-pools",
            EksNodePoolsProps(
                cluster_name=cluster.name,
                name_prefix=name,
                subnet_ids=cluster.subnet_ids,
                cluster_security_group_id=cluster.security_group_id,
                instance_types=(spec.instance_type, *spec.equivalent_instance_types),
                on_demand=_pool_size(ranges.on_demand, spec.capacity.desired),
                spot=_pool_size(ranges.spot, spec.capacity.desired - base),
                root_volume_gib=spec.root_volume_gib,
                labels={DEPLOYMENT_LABEL: name},
                instance_tags=spec.tags,
                # A created cluster's only nodes: CoreDNS and KEDA run there too.
                gpu_taint=not options.create_cluster,
            ),
        )

        props = _props(spec)
        role = ServiceAccountRole(
            self,
            "serving-identity",
            ServiceAccountRoleProps(
                name_prefix=name,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer_url=cluster.oidc_issuer_url,
                namespace=props.namespace,
                service_account=props.service_account_name,
                model_s3_uri=spec.runtime.model_s3_uri,
            ),
        )

        if emulated:
            applied = NOT_APPLIED.format(
                reason="the local emulated AWS has no Kubernetes API, so only the node groups "
                f"and the IAM role of the workload {name} were made"
            )
        else:
            self._apply_workload(spec, cluster, props, role.role.arn)
            where = f"cluster {options.cluster}" if options.cluster else "the new cluster"
            applied = (
                f"applied: the {'KServe InferenceService' if options.kserve else 'Deployment'} "
                f"{name} in namespace {props.namespace} of {where}, scaled by "
                f"{autoscaler(spec)}, its pods reading AWS through the IAM role serving_role_arn"
                f"{in_stages_note() if options.create_cluster else ''}."
            )

        TerraformOutput(self, "cluster_name", value=cluster.name)
        TerraformOutput(
            self,
            "kubernetes_workload",
            value=applied,
            description="What of the serving workload this stack applied to the cluster",
        )
        TerraformOutput(self, "serving_role_arn", value=role.role.arn)
        for key, group in pools.groups.items():
            TerraformOutput(
                self, f"node_group_{key.replace('-', '_')}", value=group.node_group_name
            )

    def _apply_workload(
        self,
        spec: DeploymentSpec,
        cluster: EksServingCluster,
        props: WorkloadProps,
        role_arn: str,
    ) -> None:
        """The workload's objects through the Kubernetes provider, signed in with `aws eks
        get-token` (no token is ever stored in the state). The pods see no region otherwise:
        IMDS answers the node only (hop limit 1), so AWS_REGION is set for the engine and the
        weights download."""
        from cdktn_provider_kubernetes.provider import (  # loaded by this stack only
            KubernetesProvider,
            KubernetesProviderExec,
        )

        props = replace(
            with_environment(
                with_tracks(props, spec, weights_download), {"AWS_REGION": spec.region}
            ),
            identity=workload_identity(role_arn),
            # The spec's zones are AWS zone IDs (use1-az1), which EKS nodes carry as
            # topology.k8s.aws/zone-id, not as topology.kubernetes.io/zone (a zone name): the
            # node groups' subnets already place the nodes, and the pods spread over them.
            zones=(),
        )
        access = ClusterAccess(
            host=cluster.endpoint,
            cluster_ca_certificate=Fn.base64decode(cluster.certificate_authority),
            command="aws",
            args=("eks", "get-token", "--cluster-name", cluster.name, "--region", spec.region),
            api_version=EXEC_API_VERSION,
        )
        provider = KubernetesProvider(
            self,
            "kubernetes",
            host=access.host,
            cluster_ca_certificate=access.cluster_ca_certificate,
            exec=[
                KubernetesProviderExec(
                    api_version=access.api_version, command=access.command, args=list(access.args)
                )
            ],
        )
        self.add_override("terraform.required_providers.kubernetes.source", "hashicorp/kubernetes")
        self.add_override(
            "terraform.required_providers.kubernetes.version", KUBERNETES_PROVIDER_VERSION
        )
        apply_workload(self, props, provider, access, created=spec.kubernetes.create_cluster)
