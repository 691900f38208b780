"""A test-only stack of the EKS constructs, put together as a `kind: kubernetes` stack will: a new
private cluster in ServingNetwork's network and/or an existing cluster found by name, each with
its GPU node pools and the serving workload's service account role. Synthesized for the JSON
tests and applied to the local emulated AWS by the terraform test (both parts in one
configuration, so that one apply, plan and destroy cover both)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from constructs import Construct

CLUSTER = "chat-gpu"
TAGS = {"team": "ml-platform", "env": "test"}
MODEL_S3_URI = "s3://weights-bucket/llama-3.1-8b"
NAMESPACE = "serving"
SERVICE_ACCOUNT = "chat"


@dataclass(frozen=True)
class EksTestOptions:
    new_cluster: str | None = CLUSTER
    """Create this cluster (outputs prefixed `new_`); None: none."""
    network_subnet_ids: tuple[str, ...] = ()
    """The new cluster's ServingNetwork uses these subnets; none: it makes a VPC."""
    existing_cluster: str | None = None
    """Also put pools into this existing cluster (outputs prefixed `existing_`)."""
    existing_subnet_ids: tuple[str, ...] = ()
    on_demand: tuple[int, int, int] = (1, 1, 2)
    spot: tuple[int, int, int] = (0, 1, 4)
    instance_types: tuple[str, ...] = ("g6.xlarge", "g5.xlarge")
    node_labels: dict[str, str] = field(default_factory=dict)


def _serving_on(
    scope: Construct, part: str, name: str, subnets: tuple[str, ...], options: EksTestOptions
) -> None:
    """Pools and the serving role on a cluster, with their outputs prefixed by `part`."""
    from cdktn import TerraformOutput

    from modules.aws.eks_cluster import EksClusterProps, EksServingCluster
    from modules.aws.eks_node_pools import EksNodePools, EksNodePoolsProps, PoolSize
    from modules.aws.eks_service_account_role import ServiceAccountRole, ServiceAccountRoleProps

    cluster = EksServingCluster(
        scope,
        f"{part}-cluster",
        EksClusterProps(name=name, create_cluster=part == "new", subnet_ids=subnets),
    )
    pools = EksNodePools(
        scope,
        f"{part}-gpu-pools",
        EksNodePoolsProps(
            cluster_name=cluster.name,
            name_prefix=f"{name}-gpu",
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
        scope,
        f"{part}-serving-identity",
        ServiceAccountRoleProps(
            name_prefix=name,
            oidc_provider_arn=cluster.oidc_provider_arn,
            oidc_issuer_url=cluster.oidc_issuer_url,
            namespace=NAMESPACE,
            service_account=SERVICE_ACCOUNT,
            model_s3_uri=MODEL_S3_URI,
        ),
    )
    TerraformOutput(scope, f"{part}_cluster_name", value=cluster.name)
    TerraformOutput(scope, f"{part}_serving_role_arn", value=account.role.arn)
    for key, group in pools.groups.items():
        output = f"{part}_node_group_{key.replace('-', '_')}"
        TerraformOutput(scope, output, value=group.node_group_name)


def synthesize_eks_stack(outdir: Path, options: EksTestOptions, *, emulated: bool) -> Path:
    """Write the stack's cdk.tf.json under outdir and return its directory."""
    from orchestrator.synth import ensure_jsii_node

    ensure_jsii_node()
    from cdktn import App, TerraformStack
    from cdktn_provider_aws.provider import AwsProvider

    from modules.aws.network import ServingNetwork, ServingNetworkProps
    from modules.tagging import apply_cost_allocation_tags
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
    if options.new_cluster:
        network = ServingNetwork(
            stack,
            "network",
            ServingNetworkProps(existing_subnet_ids=options.network_subnet_ids),
        )
        subnets = tuple(network.private_subnet_ids)
        _serving_on(stack, "new", options.new_cluster, subnets, options)
    if options.existing_cluster:
        _serving_on(
            stack, "existing", options.existing_cluster, options.existing_subnet_ids, options
        )
    app.synth()
    return outdir / "stacks" / "eks"
