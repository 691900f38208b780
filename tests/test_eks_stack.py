"""EksServingStack (`kind: kubernetes` on EKS): assertions on the synthesized Terraform JSON for an
existing cluster with and without KServe, a cluster the stack creates, and the emulated AWS; its
refusals; and the CLI's recommend and synth of the example on EKS.

Synthesis goes through orchestrator.synth.synthesize as the CLI does, the real-cloud specs in one
App. Expectations come from the specs and the constants the stack uses.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.errors import InfraError
from modules.aws.eks_node_pools import GPU_TAINT_KEY, IMDS_HOP_LIMIT, NODE_AMI_TYPE
from modules.aws.kubernetes_workload import ROLE_ANNOTATION
from planner.deployment import (
    HEALTH_PATHS,
    CapacitySpec,
    DeploymentSpec,
    RuntimeSpec,
    ScalingSpec,
)
from planner.profile import KubernetesOptions
from planner.secrets import find_secrets
from stacks.eks_kubernetes import (
    CONTROL_PLANE_LOG_DAYS,
    EXEC_API_VERSION,
    KUBERNETES_PROVIDER_VERSION,
)
from stacks.kubernetes_common import DEPLOYMENT_LABEL, NOT_APPLIED, workload_name
from tests.conftest import EXAMPLES
from tests.kubernetes_created import assert_serves_on_the_created_cluster
from tests.local_aws import Run
from tests.stack_json import (
    Synthesized,
    assert_records_its_spec,
    data_sources,
    one_sentence,
    only,
    ref,
    resources,
    service_outputs,
    synthesize_specs,
)

REGION = "us-east-1"
CLUSTER = "gpu-serving"
WEIGHTS = "s3://weights-bucket/llama-3.1-8b"
TAGS = {"team": "assistant", "cost-center": "cc-1234", "env": "prod"}


def make_spec(
    name: str,
    *,
    kubernetes: dict[str, Any],
    capacity: dict[str, Any] | None = None,
    runtime: dict[str, Any] | None = None,
    **fields: Any,
) -> DeploymentSpec:
    """Two replicas of TP 2 per g6e.12xlarge (4 L40S), one on-demand node under a spot range."""
    capacity_fields: dict[str, Any] = {
        "min_size": 2,
        "desired": 3,
        "max_size": 6,
        "on_demand_base": 1,
        "spot_percentage_above_base": 100,
    }
    runtime_fields: dict[str, Any] = {
        "engine": "vllm",
        "image": "vllm/vllm-openai:v0.10.2",
        "model_id": "meta-llama/Llama-3.1-8B-Instruct",
        "precision": "bf16",
        "tensor_parallel": 2,
        "replicas_per_instance": 2,
        "max_batch": 64,
        "health_path": HEALTH_PATHS["vllm"],
    }
    capacity_fields.update(capacity or {})
    runtime_fields.update(runtime or {})
    spec_fields: dict[str, Any] = {
        "name": name,
        "env": "prod",
        "cloud": "aws",
        "kind": "kubernetes",
        "region": REGION,
        "zones": ["use1-az1", "use1-az2"],
        "instance_type": "g6e.12xlarge",
        "equivalent_instance_types": ["g6e.24xlarge"],
        "accelerator": "L40S",
        "accelerators_per_instance": 4,
        "root_volume_gib": 150,
        "tags": dict(TAGS),
        "required_tags": list(TAGS),
        **fields,
    }
    return DeploymentSpec(
        capacity=CapacitySpec(**capacity_fields),
        runtime=RuntimeSpec(**runtime_fields),
        scaling=ScalingSpec(signal="requests_in_flight_per_replica", target=12.5),
        kubernetes=KubernetesOptions(**kubernetes),
        **spec_fields,
    )


KSERVE = make_spec(
    "kserve",
    kubernetes={"cluster": CLUSTER, "kserve": True, "hf_token_secret": "hf-token"},
    runtime={"model_s3_uri": WEIGHTS},
)
PLAIN = make_spec(
    "plain",
    kubernetes={"cluster": CLUSTER, "namespace": "models"},
    capacity={"min_size": 2, "desired": 2, "max_size": 4, "spot_percentage_above_base": 0},
)
CREATED = make_spec(
    "created",
    kubernetes={"create_cluster": True, "kubernetes_version": "1.33"},
    runtime={"model_s3_uri": WEIGHTS},
)
SPECS = [KSERVE, PLAIN, CREATED]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize_specs(SPECS, tmp_path_factory.mktemp("eks"), emulated=False)


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synthesize_specs([KSERVE], tmp_path_factory.mktemp("eks-local"), emulated=True)[KSERVE]


def manifests(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The workload's objects by kind."""
    return {
        body["manifest"]["kind"]: body for body in resources(doc, "kubernetes_manifest").values()
    }


def node_groups(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["capacity_type"]: g for g in resources(doc, "aws_eks_node_group").values()}


def role_key(doc: dict[str, Any], part: str) -> str:
    (key,) = [k for k in resources(doc, "aws_iam_role") if k.startswith(part)]
    return key


def test_every_stack_records_its_spec_and_carries_the_cost_tags(synthesized) -> None:
    for spec in SPECS:
        doc = synthesized[spec]
        assert_records_its_spec(doc, spec)
        for group in node_groups(doc).values():
            assert {k: group["tags"][k] for k in TAGS} == TAGS
            assert group["tags"]["infra:stack"] == spec.stack_name


def test_the_kubernetes_provider_signs_in_with_exec_and_no_token_is_anywhere(
    synthesized,
) -> None:
    doc = synthesized[KSERVE]
    (cluster_key,) = data_sources(doc, "aws_eks_cluster")
    (provider,) = doc["provider"]["kubernetes"]
    assert provider["host"] == f"${{data.aws_eks_cluster.{cluster_key}.endpoint}}"
    assert provider["cluster_ca_certificate"] == (
        f"${{base64decode(data.aws_eks_cluster.{cluster_key}.certificate_authority[0].data)}}"
    )
    assert provider["exec"] == [
        {
            "api_version": EXEC_API_VERSION,
            "command": "aws",
            "args": [
                "eks",
                "get-token",
                "--cluster-name",
                f"${{data.aws_eks_cluster.{cluster_key}.name}}",
                "--region",
                REGION,
            ],
        }
    ]
    assert "token" not in provider
    assert "aws_eks_cluster_auth" not in doc.get("data", {})
    assert doc["terraform"]["required_providers"]["kubernetes"] == {
        "source": "hashicorp/kubernetes",
        "version": KUBERNETES_PROVIDER_VERSION,
    }
    for spec in SPECS:
        assert list(find_secrets(synthesized[spec])) == []


def test_an_existing_cluster_is_read_and_never_changed(synthesized) -> None:
    doc = synthesized[KSERVE]
    (cluster_key, cluster) = next(iter(data_sources(doc, "aws_eks_cluster").items()))
    assert cluster["name"] == CLUSTER
    assert "aws_eks_cluster" not in doc["resource"]
    assert "aws_iam_openid_connect_provider" not in doc["resource"]
    (oidc,) = data_sources(doc, "aws_iam_openid_connect_provider").values()
    assert oidc["url"] == f"${{data.aws_eks_cluster.{cluster_key}.identity[0].oidc[0].issuer}}"
    for group in node_groups(doc).values():
        assert group["cluster_name"] == f"${{data.aws_eks_cluster.{cluster_key}.name}}"
        assert group["subnet_ids"] == (
            f"${{tolist(data.aws_eks_cluster.{cluster_key}.vpc_config[0].subnet_ids)}}"
        )


def test_node_groups_are_an_on_demand_base_and_spot_above_it_on_gpu_nodes(synthesized) -> None:
    doc = synthesized[KSERVE]
    groups = node_groups(doc)
    assert groups["ON_DEMAND"]["scaling_config"] == {
        "min_size": 1,
        "desired_size": 1,
        "max_size": 1,
    }
    assert groups["SPOT"]["scaling_config"] == {"min_size": 1, "desired_size": 2, "max_size": 5}
    name = workload_name(KSERVE)
    for group in groups.values():
        assert group["ami_type"] == NODE_AMI_TYPE
        assert group["instance_types"] == ["g6e.12xlarge", "g6e.24xlarge"]
        assert group["labels"][DEPLOYMENT_LABEL] == name
        assert group["taint"] == [
            {"key": GPU_TAINT_KEY, "value": "present", "effect": "NO_SCHEDULE"}
        ]
        assert group["node_group_name_prefix"].startswith(f"{name}-")
    _, template = only(doc, "aws_launch_template")
    metadata = template["metadata_options"]
    assert (metadata["http_tokens"], metadata["http_put_response_hop_limit"]) == (
        "required",
        IMDS_HOP_LIMIT,
    )
    (disk,) = template["block_device_mappings"]
    assert disk["ebs"]["encrypted"] == "true" and disk["ebs"]["volume_size"] == 150
    # All on demand: one group over the whole range, no spot group.
    plain = node_groups(synthesized[PLAIN])
    assert list(plain) == ["ON_DEMAND"]
    assert plain["ON_DEMAND"]["scaling_config"] == {
        "min_size": 2,
        "desired_size": 2,
        "max_size": 4,
    }


def test_the_serving_role_trusts_only_the_workloads_service_account(synthesized) -> None:
    doc = synthesized[KSERVE]
    (trust,) = data_sources(doc, "aws_iam_policy_document").values()
    (statement,) = trust["statement"]
    subject, audience = statement["condition"]
    assert subject["values"] == [f"system:serviceaccount:serving:{workload_name(KSERVE)}-serving"]
    assert subject["variable"].endswith(":sub") and audience["values"] == ["sts.amazonaws.com"]
    (oidc_key,) = data_sources(doc, "aws_iam_openid_connect_provider")
    assert statement["principals"][0]["identifiers"] == [
        f"${{data.aws_iam_openid_connect_provider.{oidc_key}.arn}}"
    ]
    policies = resources(doc, "aws_iam_role_policy")
    (read,) = [json.loads(p["policy"]) for k, p in policies.items() if "serving" in k]
    (partition,) = [k for k in data_sources(doc, "aws_partition") if "serving" in k]
    arn = f"arn:${{data.aws_partition.{partition}.partition}}:s3:::"
    assert [s["Resource"] for s in read["Statement"]] == [
        f"{arn}weights-bucket",
        f"{arn}weights-bucket/llama-3.1-8b/*",
    ]
    # No weights in S3: a role with no permissions at all.
    plain = synthesized[PLAIN]
    assert [k for k in resources(plain, "aws_iam_role_policy") if "serving" in k] == []
    (trust,) = data_sources(plain, "aws_iam_policy_document").values()
    assert trust["statement"][0]["condition"][0]["values"] == [
        f"system:serviceaccount:models:{workload_name(PLAIN)}-serving"
    ]


def test_kserve_serves_the_model_with_the_roles_identity_and_the_region(synthesized) -> None:
    doc = synthesized[KSERVE]
    objects = manifests(doc)
    assert set(objects) == {
        "ServiceAccount",
        "InferenceService",
        "PodDisruptionBudget",
        "ScaledObject",
    }
    for body in objects.values():
        assert body["provider"] == "kubernetes"
    account = objects["ServiceAccount"]["manifest"]
    role = role_key(doc, "serving-identity")
    assert account["metadata"]["annotations"] == {ROLE_ANNOTATION: ref("aws_iam_role", role, "arn")}
    assert account["metadata"]["name"] == f"{workload_name(KSERVE)}-serving"
    predictor = objects["InferenceService"]["manifest"]["spec"]["predictor"]
    (container,) = predictor["containers"]
    assert {"name": "AWS_REGION", "value": REGION} in container["env"]
    assert {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}},
    } in (container["env"])
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    (download,) = predictor["initContainers"]
    assert {"name": "AWS_REGION", "value": REGION} in download["env"]
    assert {"name": "WEIGHTS_URI", "value": WEIGHTS} in download["env"]
    assert predictor["nodeSelector"] == {DEPLOYMENT_LABEL: workload_name(KSERVE)}
    assert "affinity" not in predictor  # zone IDs are not topology.kubernetes.io/zone names
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (4, 12)


def test_without_kserve_a_deployment_and_a_service(synthesized) -> None:
    objects = manifests(synthesized[PLAIN])
    assert set(objects) == {
        "ServiceAccount",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ScaledObject",
    }
    pod = objects["Deployment"]["manifest"]["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    (container,) = pod["containers"]
    assert {"name": "AWS_REGION", "value": REGION} in container["env"]
    assert objects["Deployment"]["manifest"]["metadata"]["namespace"] == "models"


def test_outputs_say_what_was_applied(synthesized) -> None:
    outputs = service_outputs(synthesized[KSERVE])
    assert set(outputs) == {
        "cluster_name",
        "kubernetes_workload",
        "serving_role_arn",
        "node_group_on_demand",
        "node_group_spot",
    }
    sentence = outputs["kubernetes_workload"]["value"]
    assert sentence.startswith("applied: the KServe InferenceService")
    assert CLUSTER in sentence and sentence.count(".") == 1
    assert "Deployment" in service_outputs(synthesized[PLAIN])["kubernetes_workload"]["value"]
    assert "node_group_spot" not in service_outputs(synthesized[PLAIN])


def test_a_created_clusters_node_groups_are_untainted(synthesized: Synthesized) -> None:
    """Its only nodes: CoreDNS and KEDA must schedule there; the serving pods still select the
    deployment's label and request GPUs."""
    for group in node_groups(synthesized[CREATED]).values():
        assert group.get("taint", []) == []
        assert group["labels"][DEPLOYMENT_LABEL] == workload_name(CREATED)


def test_create_cluster_makes_a_private_cluster_with_keda_and_the_workload(synthesized) -> None:
    doc = synthesized[CREATED]
    key, cluster = only(doc, "aws_eks_cluster")
    assert cluster["name"] == CREATED.stack_name and cluster["version"] == "1.33"
    network = cluster["vpc_config"]
    assert (network["endpoint_private_access"], network["endpoint_public_access"]) == (True, False)
    _, logs = only(doc, "aws_cloudwatch_log_group")
    assert logs["retention_in_days"] == CONTROL_PLANE_LOG_DAYS
    kms_key, _ = only(doc, "aws_kms_key")
    assert logs["kms_key_id"] == ref("aws_kms_key", kms_key, "arn")
    oidc_key, _ = only(doc, "aws_iam_openid_connect_provider")
    subnets = {ref("aws_subnet", k, "id") for k in resources(doc, "aws_subnet") if "private" in k}
    for group in node_groups(doc).values():
        assert group["cluster_name"] == ref("aws_eks_cluster", key, "name")
        assert set(group["subnet_ids"]) == subnets and len(subnets) == 2
    (trust,) = data_sources(doc, "aws_iam_policy_document").values()
    assert trust["statement"][0]["principals"][0]["identifiers"] == [
        ref("aws_iam_openid_connect_provider", oidc_key, "arn")
    ]
    assert_serves_on_the_created_cluster(doc, "aws_eks_cluster")
    outputs = service_outputs(doc)
    assert outputs["cluster_name"]["value"] == ref("aws_eks_cluster", key, "name")
    assert outputs["kubernetes_workload"]["value"].startswith(
        f"applied: the Deployment {workload_name(CREATED)} in namespace serving of the new cluster"
    )


def test_the_emulated_aws_gets_the_pools_and_the_role_but_no_workload(emulated) -> None:
    assert emulated["provider"]["aws"][0]["access_key"] == "test"
    assert "kubernetes" not in emulated["provider"]
    assert "kubernetes_manifest" not in emulated["resource"]
    assert set(node_groups(emulated)) == {"ON_DEMAND", "SPOT"}
    assert service_outputs(emulated)["kubernetes_workload"]["value"] == NOT_APPLIED.format(
        reason="the local emulated AWS has no Kubernetes API, so only the node groups and the "
        f"IAM role of the workload {workload_name(KSERVE)} were made"
    )


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (
            msgspec.structs.replace(
                KSERVE,
                name="neuron",
                instance_type="inf2.xlarge",
                equivalent_instance_types=[],
                accelerator="Inferentia2",
            ),
            "EKS GPU node groups run the NVIDIA AMI, not Inferentia2",
        ),
        (
            msgspec.structs.replace(KSERVE, name="nocluster", kubernetes=KubernetesOptions()),
            "deploy.kubernetes names no cluster",
        ),
        (
            msgspec.structs.replace(KSERVE, name="unlisted", instance_type="g9.mega"),
            "g9.mega is not in the aws catalog",
        ),
    ],
    ids=["neuron", "no-cluster", "unlisted"],
)
def test_refusals_are_one_sentence(spec: DeploymentSpec, words: str, tmp_path: Path) -> None:
    with pytest.raises(InfraError) as raised:
        synthesize_specs([spec], tmp_path, emulated=False)
    message = str(raised.value)
    assert words in message and spec.stack_name in message
    one_sentence(message)


def test_recommend_picks_eks_for_the_example() -> None:
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(
        app,
        [
            "recommend",
            str(EXAMPLES / "chat-8b-kubernetes.yaml"),
            "--kind",
            "kubernetes",
            "--cloud",
            "aws",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    chosen = json.loads(result.stdout)["chosen"]
    assert (chosen["cloud"], chosen["kind"]) == ("aws", "kubernetes")


def test_synth_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFRA_HOME", str(tmp_path / "home"))
    shutil.copy(EXAMPLES / "chat-8b-kubernetes.yaml", tmp_path / "chat.yaml")
    result, body = Run(tmp_path).json(
        "synth", "chat.yaml", "--env", "prod", "--cloud", "aws", "--kind", "kubernetes"
    )
    assert result.exit_code == 0, result.output
    assert (body["decision"]["cloud"], body["decision"]["kind"]) == ("aws", "kubernetes")
    doc = json.loads(Path(body["config"]).read_text())
    assert {"aws_eks_node_group", "kubernetes_manifest"} <= set(doc["resource"])
    (cluster,) = data_sources(doc, "aws_eks_cluster").values()
    assert cluster["name"] == "gpu-serving"
    (service,) = [
        m["manifest"]
        for m in resources(doc, "kubernetes_manifest").values()
        if m["manifest"]["kind"] == "InferenceService"
    ]
    assert service["metadata"]["name"] == body["stack"]
