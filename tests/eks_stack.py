"""A test-only stack of the EKS constructs, as a `kind: kubernetes` stack will put them together:
a new private cluster in ServingNetwork's VPC (or an existing cluster by name), its GPU node
pools and the serving workload's service account role. Synthesized for the fast JSON tests and
applied to the local emulated AWS by the terraform test."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

CLUSTER = "chat-gpu"
TAGS = {"team": "ml-platform", "env": "test"}
MODEL_S3_URI = "s3://weights-bucket/llama-3.1-8b"
NAMESPACE = "serving"
SERVICE_ACCOUNT = "chat"


@dataclass(frozen=True)
class EksTestOptions:
    create_cluster: bool = True
    cluster_name: str = CLUSTER
    on_demand: tuple[int, int, int] = (1, 1, 2)
    spot: tuple[int, int, int] = (0, 1, 4)
    instance_types: tuple[str, ...] = ("g6.xlarge", "g5.xlarge")
    node_labels: dict[str, str] = field(default_factory=dict)
    subnet_ids: tuple[str, ...] = ()
    """The existing cluster's node subnets (a new cluster's come from ServingNetwork)."""


def synthesize_eks_stack(outdir: Path, options: EksTestOptions, *, emulated: bool) -> Path:
    """Write the stack's cdk.tf.json under outdir and return its directory."""
    from orchestrator.synth import ensure_jsii_node

    ensure_jsii_node()
    from cdktn import App, TerraformOutput, TerraformStack
    from cdktn_provider_aws.provider import AwsProvider

    from modules.aws.eks_cluster import EksClusterProps, EksServingCluster
    from modules.aws.eks_node_pools import EksNodePools, EksNodePoolsProps, PoolSize
    from modules.aws.eks_service_account_role import ServiceAccountRole, ServiceAccountRoleProps
    from modules.aws.network import ServingNetwork
    from modules.tagging import apply_cost_allocation_tags
    from planner.profile import Network
    from stacks.common import emulator_provider_settings, pin_aws_provider

    app = App(outdir=str(outdir))
    stack = TerraformStack(app, "eks")
    apply_cost_allocation_tags(stack, TAGS, [], "stack eks")
    AwsProvider(
        stack,
        "aws",
        region="us-east-1",
        **(emulator_provider_settings() if emulated else {}),  # type: ignore[arg-type]
    )
    pin_aws_provider(stack)
    subnets = options.subnet_ids
    if options.create_cluster:
        network = ServingNetwork(stack, "network", network=Network(), zone_ids=[])
        subnets = tuple(network.private_subnet_ids)
    cluster = EksServingCluster(
        stack,
        "cluster",
        EksClusterProps(
            name=options.cluster_name, create_cluster=options.create_cluster, subnet_ids=subnets
        ),
    )
    pools = EksNodePools(
        stack,
        "gpu-pools",
        EksNodePoolsProps(
            cluster_name=cluster.name,
            name_prefix=f"{options.cluster_name}-gpu",
            subnet_ids=subnets,
            cluster_security_group_id=cluster.security_group_id,
            instance_types=options.instance_types,
            on_demand=PoolSize(
                min_size=options.on_demand[0],
                desired_size=options.on_demand[1],
                max_size=options.on_demand[2],
            ),
            spot=PoolSize(
                min_size=options.spot[0], desired_size=options.spot[1], max_size=options.spot[2]
            ),
            labels=options.node_labels,
            instance_tags=TAGS,
        ),
    )
    account = ServiceAccountRole(
        stack,
        "serving-identity",
        ServiceAccountRoleProps(
            name_prefix=options.cluster_name,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer_url=cluster.oidc_issuer_url,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            model_s3_uri=MODEL_S3_URI,
        ),
    )
    TerraformOutput(stack, "cluster_name", value=cluster.name)
    TerraformOutput(stack, "serving_role_arn", value=account.role.arn)
    for key, group in pools.groups.items():
        TerraformOutput(stack, f"node_group_{key.replace('-', '_')}", value=group.node_group_name)
    app.synth()
    return outdir / "stacks" / "eks"
