"""The EKS constructs' secure defaults, asserted on the synthesized Terraform JSON, and their props
refusing what AWS would refuse, each in one sentence. One synthesis (a new private cluster in a
new VPC, plus pools in an existing cluster) serves the module; a few tests build a small App."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modules.aws.eks_cluster import CONTROL_PLANE_LOG_TYPES, EksClusterProps
from modules.aws.eks_node_pools import (
    GPU_TAINT_KEY,
    IMDS_HOP_LIMIT,
    NODE_AMI_TYPE,
    POOL_LABEL,
    EksNodePoolsProps,
    EksPropsError,
    PoolSize,
)
from modules.aws.eks_service_account_role import ServiceAccountRoleProps
from modules.aws.iam import model_read_statements
from tests.eks_stack import (
    CLUSTER,
    MODEL_S3_URI,
    NAMESPACE,
    SERVICE_ACCOUNT,
    TAGS,
    EksTestOptions,
    synthesize_eks_stack,
)
from tests.stack_json import (
    data_sources,
    empty_structs,
    one_sentence,
    resources,
    validate_with_mirror,
)

EXISTING = "platform"
NODE_POLICIES = {
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEKS_CNI_Policy",
}


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    options = EksTestOptions(
        existing_cluster=EXISTING, existing_subnet_ids=("subnet-a", "subnet-b")
    )
    out = synthesize_eks_stack(tmp_path_factory.mktemp("eks"), options, emulated=False)
    return json.loads((out / "cdk.tf.json").read_text())


def of_part(found: dict[str, dict[str, Any]], part: str) -> dict[str, dict[str, Any]]:
    """The resources of one part of the stack ("new" or "existing"), by construct path."""
    return {
        body["//"]["metadata"]["path"].split("/", 2)[2]: body
        for body in found.values()
        if body["//"]["metadata"]["path"].split("/")[1].startswith(f"{part}-")
    }


def address(doc: dict[str, Any], rtype: str, path: str) -> str:
    """`rtype.key` of the resource at construct path `path` (e.g. "new-cluster/cluster")."""
    (key,) = [
        key
        for key, body in resources(doc, rtype).items()
        if body["//"]["metadata"]["path"] == f"eks/{path}"
    ]
    return f"{rtype}.{key}"


def test_nothing_is_lost_between_python_and_the_json(doc: dict[str, Any]) -> None:
    assert empty_structs(doc) == []


def test_the_launch_template_requires_imdsv2_for_the_host_only(doc: dict[str, Any]) -> None:
    for part in ("new", "existing"):
        (template,) = of_part(resources(doc, "aws_launch_template"), part).values()
        assert template["metadata_options"] == {
            "http_endpoint": "enabled",
            "http_tokens": "required",
            "http_put_response_hop_limit": 1,
            "instance_metadata_tags": "disabled",
        }
    assert IMDS_HOP_LIMIT == 1


def test_the_launch_template_encrypts_the_root_volume_and_gives_no_public_ip(
    doc: dict[str, Any],
) -> None:
    (template,) = of_part(resources(doc, "aws_launch_template"), "new").values()
    (disk,) = template["block_device_mappings"]
    assert disk["device_name"] == "/dev/xvda"
    assert disk["ebs"] == {
        "volume_size": 200,
        "volume_type": "gp3",
        "encrypted": "true",
        "delete_on_termination": "true",
    }
    (interface,) = template["network_interfaces"]
    assert interface["associate_public_ip_address"] == "false"
    cluster = address(doc, "aws_eks_cluster", "new-cluster/cluster")
    assert interface["security_groups"] == [
        f"${{{cluster}.vpc_config[0].cluster_security_group_id}}"
    ]
    # EKS supplies the AMI (the node group's AMI type), its bootstrap user data, the instance
    # profile (from the node role) and the instance types (the node group's list).
    assert not {"image_id", "user_data", "instance_type", "iam_instance_profile"} & set(template)
    kinds = {spec["resource_type"]: spec["tags"] for spec in template["tag_specifications"]}
    assert kinds == {kind: TAGS for kind in ("instance", "volume", "network-interface")}


def test_one_on_demand_and_one_spot_group_per_cluster(doc: dict[str, Any]) -> None:
    for part, cluster in (("new", CLUSTER), ("existing", EXISTING)):
        groups = of_part(resources(doc, "aws_eks_node_group"), part)
        assert {path: g["capacity_type"] for path, g in groups.items()} == {
            "on-demand": "ON_DEMAND",
            "spot": "SPOT",
        }
        for group in groups.values():
            assert group["ami_type"] == NODE_AMI_TYPE == "AL2023_x86_64_NVIDIA"
            assert group["instance_types"] == ["g6.xlarge", "g5.xlarge"]
            assert group["taint"] == [
                {"key": GPU_TAINT_KEY, "value": "present", "effect": "NO_SCHEDULE"}
            ]
            assert group["labels"] == {POOL_LABEL: f"{cluster}-gpu"}
            assert group["update_config"] == {"max_unavailable": 1}
            assert group["lifecycle"] == {
                "create_before_destroy": True,
                "ignore_changes": ["scaling_config[0].desired_size"],
            }
            assert len(group["depends_on"]) == 3  # the node role's policies outlive the nodes
        assert groups["on-demand"]["scaling_config"] == {
            "min_size": 1,
            "desired_size": 1,
            "max_size": 2,
        }
        assert groups["spot"]["scaling_config"] == {"min_size": 0, "desired_size": 1, "max_size": 4}


def test_the_node_role_has_the_three_node_policies_only(doc: dict[str, Any]) -> None:
    attachments = of_part(resources(doc, "aws_iam_role_policy_attachment"), "new")
    node = [a["policy_arn"] for path, a in attachments.items() if path.startswith("node-")]
    assert {arn.rsplit("/", 1)[1] for arn in node} == NODE_POLICIES and len(node) == 3
    roles = of_part(resources(doc, "aws_iam_role"), "new")
    trust = json.loads(roles["node-role"]["assume_role_policy"])
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    inline = of_part(resources(doc, "aws_iam_role_policy"), "new")
    node_role = address(doc, "aws_iam_role", "new-gpu-pools/node-role")
    assert [p for p in inline.values() if node_role in p["role"]] == []


def test_a_new_cluster_is_private_encrypted_and_logged(doc: dict[str, Any]) -> None:
    (cluster,) = of_part(resources(doc, "aws_eks_cluster"), "new").values()
    assert cluster["vpc_config"]["endpoint_private_access"] is True
    assert cluster["vpc_config"]["endpoint_public_access"] is False
    assert "public_access_cidrs" not in cluster["vpc_config"]
    network = [f"${{{address(doc, 'aws_subnet', f'network/private-{i}')}.id}}" for i in range(2)]
    assert cluster["vpc_config"]["subnet_ids"] == network
    key = address(doc, "aws_kms_key", "new-cluster/secrets-key")
    assert cluster["encryption_config"] == {
        "resources": ["secrets"],
        "provider": {"key_arn": f"${{{key}.arn}}"},
    }
    (kms_key,) = of_part(resources(doc, "aws_kms_key"), "new").values()
    assert kms_key["enable_key_rotation"] is True and kms_key["deletion_window_in_days"] == 30
    assert cluster["enabled_cluster_log_types"] == list(CONTROL_PLANE_LOG_TYPES)
    assert cluster["access_config"] == {
        "authentication_mode": "API",
        "bootstrap_cluster_creator_admin_permissions": True,
    }
    (logs,) = of_part(resources(doc, "aws_cloudwatch_log_group"), "new").values()
    assert logs["name"] == f"/aws/eks/{CLUSTER}/cluster" and logs["retention_in_days"] == 90
    assert address(doc, "aws_cloudwatch_log_group", "new-cluster/logs") in cluster["depends_on"]


def test_the_cluster_role_has_the_cluster_policy_and_the_one_key(doc: dict[str, Any]) -> None:
    attachments = of_part(resources(doc, "aws_iam_role_policy_attachment"), "new")
    assert attachments["cluster-policy"]["policy_arn"].endswith(
        ":iam::aws:policy/AmazonEKSClusterPolicy"
    )
    assert [p for p in attachments if not p.startswith("node-")] == ["cluster-policy"]
    inline = of_part(resources(doc, "aws_iam_role_policy"), "new")
    (use,) = json.loads(inline["secrets-encryption"]["policy"])["Statement"]
    key = address(doc, "aws_kms_key", "new-cluster/secrets-key")
    assert use["Resource"] == f"${{{key}.arn}}"
    assert use["Action"] == ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]
    (deny,) = json.loads(inline["no-log-group-creation"]["policy"])["Statement"]
    assert (deny["Effect"], deny["Action"]) == ("Deny", "logs:CreateLogGroup")


def test_a_new_cluster_gets_an_oidc_provider_an_existing_one_is_read(doc: dict[str, Any]) -> None:
    (provider,) = resources(doc, "aws_iam_openid_connect_provider").values()
    cluster = address(doc, "aws_eks_cluster", "new-cluster/cluster")
    assert provider["url"] == f"${{{cluster}.identity[0].oidc[0].issuer}}"
    assert provider["client_id_list"] == ["sts.amazonaws.com"]
    assert [c["name"] for c in data_sources(doc, "aws_eks_cluster").values()] == [EXISTING]
    (found,) = data_sources(doc, "aws_iam_openid_connect_provider").values()
    assert found["url"].endswith(".identity[0].oidc[0].issuer}")
    assert of_part(resources(doc, "aws_eks_cluster"), "existing") == {}
    assert of_part(resources(doc, "aws_kms_key"), "existing") == {}


def test_the_serving_role_trusts_one_service_account_and_reads_the_model(
    doc: dict[str, Any],
) -> None:
    for part in ("new", "existing"):
        (trust,) = of_part(data_sources(doc, "aws_iam_policy_document"), part).values()
        (statement,) = trust["statement"]
        assert statement["actions"] == ["sts:AssumeRoleWithWebIdentity"]
        assert statement["principals"][0]["type"] == "Federated"
        conditions = {c["variable"].rsplit(":", 1)[1]: c for c in statement["condition"]}
        assert {k: (c["test"], c["values"]) for k, c in conditions.items()} == {
            "sub": ("StringEquals", [f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"]),
            "aud": ("StringEquals", ["sts.amazonaws.com"]),
        }
        assert all(c["variable"].startswith("${replace(") for c in conditions.values())
        inline = of_part(resources(doc, "aws_iam_role_policy"), part)
        policy = json.loads(inline["model-read"]["policy"])
        partition = policy["Statement"][0]["Resource"].split(":")[1]
        assert policy["Statement"] == json.loads(
            json.dumps(model_read_statements(partition, MODEL_S3_URI))
        )


@pytest.mark.terraform
def test_terraform_validates_the_eks_stack(doc: dict[str, Any], tmp_path: Path) -> None:
    validate_with_mirror(doc, tmp_path, ("aws",))


def small_app(tmp_path: Path, build: Callable[[Any], None]) -> dict[str, Any]:
    """Synthesize one construct (or a few) in a stack of their own."""
    from cdktn import App, TerraformStack
    from cdktn_provider_aws.provider import AwsProvider

    app = App(outdir=str(tmp_path))
    stack = TerraformStack(app, "small")
    AwsProvider(stack, "aws", region="us-east-1")
    build(stack)
    app.synth()
    return json.loads((tmp_path / "stacks" / "small" / "cdk.tf.json").read_text())


def pools_props(**changes: Any) -> EksNodePoolsProps:
    fields: dict[str, Any] = {
        "cluster_name": "c",
        "name_prefix": "c-gpu",
        "subnet_ids": ("subnet-a",),
        "cluster_security_group_id": "sg-1",
        "instance_types": ("g6.xlarge",),
        "on_demand": PoolSize(min_size=1, desired_size=1, max_size=1),
        "spot": PoolSize(min_size=0, desired_size=0, max_size=0),
    }
    return EksNodePoolsProps(**{**fields, **changes})


def test_what_a_caller_asks_for_less_or_more_is_what_it_gets(tmp_path: Path) -> None:
    """A public endpoint only for the given ranges; no spot group at max 0; no taint when asked;
    the volumes under the caller's key."""
    from modules.aws.eks_cluster import EksServingCluster
    from modules.aws.eks_node_pools import EksNodePools

    def build(stack: Any) -> None:
        EksServingCluster(
            stack,
            "cluster",
            EksClusterProps(
                name="c",
                create_cluster=True,
                subnet_ids=("subnet-a", "subnet-b"),
                endpoint_public_access=True,
                public_access_cidrs=("203.0.113.0/24",),
                log_types=("audit",),
            ),
        )
        EksNodePools(stack, "pools", pools_props(gpu_taint=False, kms_key_arn="arn:aws:kms:k"))

    small = small_app(tmp_path, build)
    (cluster,) = resources(small, "aws_eks_cluster").values()
    assert cluster["vpc_config"]["endpoint_public_access"] is True
    assert cluster["vpc_config"]["public_access_cidrs"] == ["203.0.113.0/24"]
    assert cluster["enabled_cluster_log_types"] == ["audit"]
    (group,) = resources(small, "aws_eks_node_group").values()
    assert group["capacity_type"] == "ON_DEMAND" and "taint" not in group
    (template,) = resources(small, "aws_launch_template").values()
    assert template["block_device_mappings"][0]["ebs"]["kms_key_id"] == "arn:aws:kms:k"
    assert "tag_specifications" not in template  # no instance tags given


BAD_PROPS: list[tuple[str, Callable[[], object], str]] = [
    (
        "sizes",
        lambda: PoolSize(min_size=2, desired_size=1, max_size=3),
        "node pool sizes must satisfy 0 <= min (2) <= desired (1) <= max (3).",
    ),
    (
        "no types",
        lambda: pools_props(instance_types=()),
        "node pool c-gpu: a managed node group takes 1 to 20 instance types, not 0.",
    ),
    (
        "21 types",
        lambda: pools_props(instance_types=tuple(f"g6.{i}xlarge" for i in range(21))),
        "node pool c-gpu: a managed node group takes 1 to 20 instance types, not 21.",
    ),
    ("no subnet", lambda: pools_props(subnet_ids=()), "node pool c-gpu: no subnet is given."),
    (
        "label",
        lambda: pools_props(name_prefix="gpu pool"),
        "node pool 'gpu pool': the name prefix is also the infra/node-pool node label and must "
        "be a Kubernetes label value (up to 63 letters, digits, '-', '_' or '.', alphanumeric "
        "at both ends).",
    ),
    (
        "unavailable",
        lambda: pools_props(max_unavailable=0),
        "node pool c-gpu: max_unavailable must be at least 1, not 0.",
    ),
    (
        "no node",
        lambda: pools_props(on_demand=PoolSize(min_size=0, desired_size=0, max_size=0)),
        "node pool c-gpu: both groups have max_size 0; give one at least one node.",
    ),
    (
        "one zone",
        lambda: EksClusterProps(name="c", create_cluster=True, subnet_ids=("subnet-a",)),
        "cluster c: a new EKS cluster needs subnets in at least two zones, not 1.",
    ),
    (
        "open endpoint",
        lambda: EksClusterProps(
            name="c", create_cluster=True, subnet_ids=("a", "b"), endpoint_public_access=True
        ),
        "cluster c: a public API endpoint needs the client ranges allowed to reach it "
        "(public_access_cidrs).",
    ),
    (
        "key window",
        lambda: EksClusterProps(
            name="c", create_cluster=True, subnet_ids=("a", "b"), kms_deletion_window_days=3
        ),
        "cluster c: the key deletion window must be 7 to 30 days, not 3.",
    ),
    (
        "log type",
        lambda: EksClusterProps(
            name="c", create_cluster=True, subnet_ids=("a", "b"), log_types=("kubelet",)
        ),
        "cluster c: unknown control-plane log types kubelet (known: api, audit, authenticator, "
        "controllerManager, scheduler).",
    ),
    (
        "model uri",
        lambda: ServiceAccountRoleProps(
            name_prefix="c",
            oidc_provider_arn="arn",
            oidc_issuer_url="https://issuer",
            namespace="serving",
            service_account="chat",
            model_s3_uri="gs://bucket/model",
        ),
        "service account role c: the model location 'gs://bucket/model' is not an s3:// URI.",
    ),
]


@pytest.mark.parametrize(
    ("make", "message"), [p[1:] for p in BAD_PROPS], ids=[p[0] for p in BAD_PROPS]
)
def test_props_refuse_what_aws_would_in_one_sentence(
    make: Callable[[], object], message: str
) -> None:
    with pytest.raises(EksPropsError) as raised:
        make()
    assert str(raised.value) == message
    one_sentence(message)


def test_an_existing_cluster_needs_no_subnets_of_its_own() -> None:
    assert EksClusterProps(name="platform").subnet_ids == ()
