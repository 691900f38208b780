"""AksServingStack (`kind: kubernetes` on AKS): assertions on the synthesized Terraform JSON, and
the CLI's synth and cost of examples/chat-8b-kubernetes.yaml.

Synthesis goes through orchestrator.synth.synthesize exactly as the CLI does, every spec of the
module in one App. No AzureRM or Kubernetes Terraform provider is available offline here: the
bindings' own type checks and these JSON assertions stand in for `terraform validate` (the
rendered Kubernetes objects are validated against the API schemas in
tests/test_kubernetes_manifests.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from core.errors import InfraError
from modules.azure.aks import GPU_TAINT, SPOT_TAINT, TOKEN_AUDIENCE
from modules.azure.identity import BLOB_READER
from modules.azure.kubernetes_workload import CLIENT_ID_ANNOTATION, DOWNLOADER_IMAGE
from modules.azure.spec_checks import check_aks
from planner.deployment import CapacitySpec, DeploymentSpec, RuntimeSpec, ScalingSpec
from planner.profile import AzureOptions, KubernetesOptions, Network
from planner.secrets import find_secrets
from stacks.aks_kubernetes import AKS_SERVER_ID, CLUSTER_ADMIN_ROLE, KUBERNETES_PROVIDER_VERSION
from stacks.kubernetes_common import DEPLOYMENT_LABEL, workload_name
from tests.conftest import EXAMPLES, Cli
from tests.kubernetes_created import assert_serves_on_the_created_cluster
from tests.stack_json import (
    Synthesized,
    assert_records_its_spec,
    data_sources,
    empty_structs,
    one_sentence,
    only,
    ref,
    resources,
    service_outputs,
    synthesize_specs,
)

SUBSCRIPTION = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
ARM = f"/subscriptions/{SUBSCRIPTION}/resourceGroups"
CONTAINER_ID = (
    f"{ARM}/rg-models/providers/Microsoft.Storage/storageAccounts/mymodels"
    "/blobServices/default/containers/weights"
)
CLUSTER, GROUP = "gpu-serving", "gpu-serving-rg"
TAGS = {"team": "ml-platform", "cost-center": "cc-4242", "env": "prod"}
SPOT_TOLERATION = {
    "key": "kubernetes.azure.com/scalesetpriority",
    "operator": "Equal",
    "value": "spot",
    "effect": "NoSchedule",
}


def make_spec(
    name: str,
    *,
    kubernetes: dict[str, Any],
    azure: dict[str, Any] | None = None,
    capacity: dict[str, Any] | None = None,
    runtime: dict[str, Any] | None = None,
    **fields: Any,
) -> DeploymentSpec:
    """Llama 3.1 8B on Standard_NC24ads_A100_v4 nodes: one on-demand node, spot above it."""
    capacity_fields: dict[str, Any] = {
        "min_size": 1,
        "desired": 2,
        "max_size": 4,
        "on_demand_base": 1,
        "spot_percentage_above_base": 100,
        "health_check_grace_s": 900,
    }
    runtime_fields: dict[str, Any] = {
        "engine": "vllm",
        "image": "vllm/vllm-openai:v0.10.2",
        "model_id": "meta-llama/Llama-3.1-8B-Instruct",
        "precision": "bf16",
        "tensor_parallel": 1,
        "max_batch": 64,
        "health_path": "/health",
    }
    spec_fields: dict[str, Any] = {
        "name": name,
        "env": "prod",
        "cloud": "azure",
        "kind": "kubernetes",
        "region": "eastus",
        "zones": ["1", "2"],
        "instance_type": "Standard_NC24ads_A100_v4",
        "accelerator": "A100-80GB",
        "accelerators_per_instance": 1,
        "root_volume_gib": 130,
        "tags": dict(TAGS),
        "required_tags": ["team", "cost-center", "env"],
    }
    capacity_fields.update(capacity or {})
    runtime_fields.update(runtime or {})
    spec_fields.update(fields)
    return DeploymentSpec(
        capacity=CapacitySpec(**capacity_fields),
        runtime=RuntimeSpec(**runtime_fields),
        scaling=ScalingSpec(signal="requests_in_flight_per_replica", target=12.5),
        kubernetes=KubernetesOptions(**kubernetes),
        azure=AzureOptions(**{"subscription_id": SUBSCRIPTION, **(azure or {})}),
        **spec_fields,
    )


KSERVE = make_spec(
    "kserve",
    kubernetes={"cluster": CLUSTER, "kserve": True, "hf_token_secret": "hf-token"},
    azure={
        "resource_group": GROUP,
        "model_blob_container_id": CONTAINER_ID,
        "model_blob_prefix": "llama/8b",
    },
)
"""An existing cluster with KServe, weights from a blob container, spot above one node."""
PLAIN = make_spec(
    "plain",
    kubernetes={"cluster": CLUSTER, "namespace": "models"},
    azure={"resource_group": GROUP},
    capacity={"spot_percentage_above_base": 0, "on_demand_base": 0},
    zones=[""],
)
"""An existing cluster without KServe, all on-demand, regional, the hub model."""
CREATED = make_spec(
    "created",
    kubernetes={"create_cluster": True, "kubernetes_version": "1.33"},
    azure={"model_blob_container_id": CONTAINER_ID},
)
"""A new private cluster in a new resource group: pools and identity, no workload."""
SPECS = (KSERVE, PLAIN, CREATED)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize_specs(list(SPECS), tmp_path_factory.mktemp("aks"), emulated=False)


def pools_by_role(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = resources(doc, "azurerm_kubernetes_cluster_node_pool")
    return {
        role: body
        for key, body in found.items()
        for role in ("on-demand", "spot")
        if f"_pool-{role}_" in key
    }


def manifests(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The applied Kubernetes objects by kind."""
    objects = [body["manifest"] for body in resources(doc, "kubernetes_manifest").values()]
    by_kind = {obj["kind"]: obj for obj in objects}
    assert len(by_kind) == len(objects)
    return by_kind


def pod_spec(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if "InferenceService" in objects:
        return objects["InferenceService"]["spec"]["predictor"]
    return objects["Deployment"]["spec"]["template"]["spec"]


def cluster_lookup(doc: dict[str, Any]) -> str:
    (key,) = data_sources(doc, "azurerm_kubernetes_cluster")
    return key


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_stack_records_its_spec_and_keeps_its_structs(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    assert_records_its_spec(doc, spec)
    # The manifests' own `emptyDir: {}` are meant; the azurerm structs keep their fields.
    azure = {rtype: body for rtype, body in doc["resource"].items() if rtype.startswith("azurerm")}
    assert empty_structs(azure) == []
    assert doc["terraform"]["required_providers"]["azurerm"]["version"]


def test_existing_cluster_is_looked_up_by_name_in_its_resource_group(
    synthesized: Synthesized,
) -> None:
    doc = synthesized[KSERVE]
    key = cluster_lookup(doc)
    lookup = data_sources(doc, "azurerm_kubernetes_cluster")[key]
    assert (lookup["name"], lookup["resource_group_name"]) == (CLUSTER, GROUP)
    # A cluster without the OIDC issuer the federation needs is refused at plan time.
    (check,) = lookup["lifecycle"]["postcondition"]
    assert check["condition"] == "${self.oidc_issuer_enabled}"
    assert "--enable-oidc-issuer --enable-workload-identity" in check["error_message"]
    one_sentence(check["error_message"])
    assert "azurerm_kubernetes_cluster" not in doc["resource"]
    assert "azurerm_resource_group" not in doc["resource"]
    for pool in pools_by_role(doc).values():
        assert pool["kubernetes_cluster_id"] == f"${{data.azurerm_kubernetes_cluster.{key}.id}}"


def test_regular_and_spot_gpu_pools_carry_the_deployment_label(synthesized: Synthesized) -> None:
    doc = synthesized[KSERVE]
    found = pools_by_role(doc)
    assert set(found) == {"on-demand", "spot"}
    regular, spot = found["on-demand"], found["spot"]
    # One on-demand node (the base), the rest of the range on spot.
    assert (regular["min_count"], regular["node_count"], regular["max_count"]) == (1, 1, 1)
    # The planned two nodes: the base and one spot node, the autoscaler's from then on.
    assert (spot["min_count"], spot["node_count"], spot["max_count"]) == (0, 1, 3)
    assert spot["lifecycle"] == {"ignore_changes": ["node_count"]}
    assert (spot["priority"], spot["eviction_policy"], spot["spot_max_price"]) == (
        "Spot",
        "Delete",
        -1,
    )
    assert regular["priority"] == "Regular"
    assert regular["node_taints"] == [GPU_TAINT]
    assert spot["node_taints"] == [GPU_TAINT, SPOT_TAINT]
    for role, pool in found.items():
        assert pool["vm_size"] == KSERVE.instance_type
        assert pool["gpu_driver"] == "Install"
        assert pool["zones"] == ["1", "2"]
        assert pool["os_disk_size_gb"] == KSERVE.root_volume_gib
        assert pool["host_encryption_enabled"] is True
        assert pool["node_public_ip_enabled"] is False
        assert pool["node_labels"] == {
            DEPLOYMENT_LABEL: workload_name(KSERVE),
            "infra.dev/pool": role,
        }
        assert pool["tags"]["team"] == TAGS["team"]


def test_all_on_demand_regional_deployment_has_one_pool(synthesized: Synthesized) -> None:
    doc = synthesized[PLAIN]
    (pool,) = resources(doc, "azurerm_kubernetes_cluster_node_pool").values()
    assert pool["priority"] == "Regular"
    assert (pool["min_count"], pool["node_count"], pool["max_count"]) == (1, 2, 4)
    assert "zones" not in pool
    assert pool["node_labels"][DEPLOYMENT_LABEL] == workload_name(PLAIN)


def test_workload_identity_is_federated_with_the_service_account(
    synthesized: Synthesized,
) -> None:
    doc = synthesized[KSERVE]
    identity_key, identity = only(doc, "azurerm_user_assigned_identity")
    assert identity["resource_group_name"] == GROUP
    _, federation = only(doc, "azurerm_federated_identity_credential")
    account = f"{workload_name(KSERVE)}-serving"
    assert federation["subject"] == f"system:serviceaccount:serving:{account}"
    assert federation["audience"] == [TOKEN_AUDIENCE]
    issuer = f"${{data.azurerm_kubernetes_cluster.{cluster_lookup(doc)}.oidc_issuer_url}}"
    assert federation["issuer"] == issuer
    assert federation["user_assigned_identity_id"] == ref(
        "azurerm_user_assigned_identity", identity_key, "id"
    )
    objects = manifests(doc)
    service_account = objects["ServiceAccount"]
    assert service_account["metadata"]["name"] == account
    assert service_account["metadata"]["annotations"] == {
        CLIENT_ID_ANNOTATION: ref("azurerm_user_assigned_identity", identity_key, "client_id")
    }
    pod = pod_spec(objects)
    assert pod["serviceAccountName"] == account
    assert pod["labels"]["azure.workload.identity/use"] == "true"


def test_the_identity_reads_the_model_container_only(synthesized: Synthesized) -> None:
    doc = synthesized[KSERVE]
    identity_key, _ = only(doc, "azurerm_user_assigned_identity")
    _, grant = only(doc, "azurerm_role_assignment")
    assert (grant["scope"], grant["role_definition_name"]) == (CONTAINER_ID, BLOB_READER)
    assert grant["principal_id"] == ref(
        "azurerm_user_assigned_identity", identity_key, "principal_id"
    )
    assert resources(synthesized[PLAIN], "azurerm_role_assignment") == {}


def test_kserve_workload_on_the_pools(synthesized: Synthesized) -> None:
    objects = manifests(synthesized[KSERVE])
    assert set(objects) == {
        "ServiceAccount",
        "InferenceService",
        "ScaledObject",
        "PodDisruptionBudget",
    }
    pod = pod_spec(objects)
    assert pod["nodeSelector"] == {DEPLOYMENT_LABEL: workload_name(KSERVE)}
    assert SPOT_TOLERATION in pod["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"key": "token", "name": "hf-token"}},
    } in container["env"]
    # Pods stay in the pools' zones, as AKS labels zonal nodes: <region>-<zone>.
    zone_terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert zone_terms["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["eastus-1", "eastus-2"]}
    ]
    # The weights: copied from the container by the Azure CLI as the workload identity.
    (init,) = pod["initContainers"]
    assert init["image"] == DOWNLOADER_IMAGE
    env = {item["name"]: item.get("value") for item in init["env"]}
    assert (env["WEIGHTS_ACCOUNT"], env["WEIGHTS_CONTAINER"], env["WEIGHTS_PATTERN"]) == (
        "mymodels",
        "weights",
        "llama/8b/*",
    )
    scaled = objects["ScaledObject"]["spec"]
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (1, 4)
    assert scaled["triggers"][0]["metadata"]["threshold"] == "12.5"


def test_plain_workload_without_kserve(synthesized: Synthesized) -> None:
    objects = manifests(synthesized[PLAIN])
    assert {"Deployment", "Service", "ScaledObject", "PodDisruptionBudget"} <= set(objects)
    assert "InferenceService" not in objects
    assert objects["Deployment"]["metadata"]["namespace"] == "models"
    pod = pod_spec(objects)
    assert SPOT_TOLERATION not in pod["tolerations"]  # no spot pool
    assert "affinity" not in pod  # a regional pool: any zone
    assert "initContainers" not in pod  # the hub model


@pytest.mark.parametrize("spec", [KSERVE, PLAIN], ids=lambda s: s.name)
def test_kubernetes_provider_signs_in_with_kubelogin_and_holds_no_secret(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    (provider,) = doc["provider"]["kubernetes"]
    kube_config = f"data.azurerm_kubernetes_cluster.{cluster_lookup(doc)}.kube_config[0]"
    assert provider == {
        "host": f"${{{kube_config}.host}}",
        "cluster_ca_certificate": f"${{base64decode({kube_config}.cluster_ca_certificate)}}",
        "exec": [
            {
                "api_version": "client.authentication.k8s.io/v1beta1",
                "command": "kubelogin",
                "args": ["get-token", "--login", "azurecli", "--server-id", AKS_SERVER_ID],
            }
        ],
    }
    required = doc["terraform"]["required_providers"]["kubernetes"]
    assert required["version"] == KUBERNETES_PROVIDER_VERSION
    for body in resources(doc, "kubernetes_manifest").values():
        assert body["provider"] == "kubernetes"
    text = json.dumps(doc)
    for credential in ("client_key", "client_certificate", "password", "kube_admin_config"):
        assert credential not in text
    assert '"token"' not in json.dumps(provider)
    assert list(find_secrets(doc)) == []


def test_created_cluster_holds_pools_identity_keda_and_the_workload(
    synthesized: Synthesized,
) -> None:
    doc = synthesized[CREATED]
    key, cluster = only(doc, "azurerm_kubernetes_cluster")
    assert cluster["private_cluster_enabled"] is True
    assert cluster["workload_identity_enabled"] is True
    assert cluster["oidc_issuer_enabled"] is True
    assert cluster["local_account_disabled"] is True
    assert cluster["kubernetes_version"] == "1.33"
    assert cluster["sku_tier"] == "Standard"  # the control plane the target prices
    group_key, _ = only(doc, "azurerm_resource_group")
    assert cluster["resource_group_name"] == ref("azurerm_resource_group", group_key, "name")
    assert data_sources(doc, "azurerm_kubernetes_cluster") == {}
    for pool in pools_by_role(doc).values():
        assert pool["kubernetes_cluster_id"] == ref("azurerm_kubernetes_cluster", key, "id")
    _, federation = only(doc, "azurerm_federated_identity_credential")
    assert federation["issuer"] == ref("azurerm_kubernetes_cluster", key, "oidc_issuer_url")
    assert_serves_on_the_created_cluster(doc, "azurerm_kubernetes_cluster")


def test_terraform_s_identity_may_write_the_new_cluster_s_objects(
    synthesized: Synthesized,
) -> None:
    """Local accounts are off: the identity Terraform runs as gets the cluster admin role on
    the new cluster (only that one), and KEDA and the namespace wait for it."""
    doc = synthesized[CREATED]
    key, _ = only(doc, "azurerm_kubernetes_cluster")
    ((admin_key, admin),) = [
        (key, body)
        for key, body in resources(doc, "azurerm_role_assignment").items()
        if body["role_definition_name"] == CLUSTER_ADMIN_ROLE
    ]
    assert admin["scope"] == ref("azurerm_kubernetes_cluster", key, "id")
    assert admin["role_definition_name"] == CLUSTER_ADMIN_ROLE
    (client,) = data_sources(doc, "azurerm_client_config")
    assert admin["principal_id"] == f"${{data.azurerm_client_config.{client}.object_id}}"
    _, release = only(doc, "helm_release")
    assert release["depends_on"] == [f"azurerm_role_assignment.{admin_key}"]
    (namespace,) = [
        body
        for body in resources(doc, "kubernetes_manifest").values()
        if body["manifest"]["kind"] == "Namespace"
    ]
    assert namespace["depends_on"] == [f"azurerm_role_assignment.{admin_key}"]
    for existing in (KSERVE, PLAIN):
        assigned = resources(synthesized[existing], "azurerm_role_assignment").values()
        assert all(a["role_definition_name"] != CLUSTER_ADMIN_ROLE for a in assigned)


def test_outputs_name_the_cluster_and_say_what_was_applied(synthesized: Synthesized) -> None:
    existing = service_outputs(synthesized[KSERVE])
    assert set(existing) == {"cluster_name", "kubernetes_workload"}
    assert existing["cluster_name"]["value"] == CLUSTER
    applied = existing["kubernetes_workload"]["value"]
    assert applied.startswith("applied: a KServe InferenceService")
    one_sentence(applied)
    plain = service_outputs(synthesized[PLAIN])["kubernetes_workload"]["value"]
    assert plain.startswith("applied: a Deployment and Service") and "namespace models" in plain
    doc = synthesized[CREATED]
    created = service_outputs(doc)
    key, _ = only(doc, "azurerm_kubernetes_cluster")
    assert created["cluster_name"]["value"] == ref("azurerm_kubernetes_cluster", key, "name")
    staged = created["kubernetes_workload"]["value"]
    assert staged.startswith("applied: a Deployment and Service") and "the new cluster" in staged
    one_sentence(staged)


# --- refusals --------------------------------------------------------------------------------


def _replace(spec: DeploymentSpec, **changes: Any) -> DeploymentSpec:
    import msgspec

    return msgspec.structs.replace(spec, **changes)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            _replace(PLAIN, azure=AzureOptions(subscription_id=SUBSCRIPTION)),
            "set deploy.azure.resource_group to it",
        ),
        (
            _replace(
                PLAIN,
                network=Network(
                    subnet_ids=[
                        f"{ARM}/rg-net/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
                    ]
                ),
            ),
            "remove deploy.network.subnet_ids",
        ),
        (
            _replace(CREATED, network=Network(subnet_ids=["subnet-0abc", "subnet-0def"])),
            "give one subnet resource ID",
        ),
        (
            _replace(PLAIN, runtime=_replace(PLAIN.runtime, model_s3_uri="s3://weights/llama")),
            "set deploy.azure.model_blob_container_id",
        ),
        (
            _replace(
                PLAIN, runtime=_replace(PLAIN.runtime, hf_token_ssm_parameter="/serving/hf-token")
            ),
            "set deploy.kubernetes.hf_token_secret",
        ),
    ],
)
def test_refusals_are_one_sentence(spec: DeploymentSpec, message: str) -> None:
    with pytest.raises(InfraError) as error:
        check_aks(spec)
    assert message in str(error.value)
    one_sentence(str(error.value))


def test_synthesis_refuses_an_existing_cluster_without_its_resource_group(tmp_path: Path) -> None:
    spec = _replace(PLAIN, azure=AzureOptions(subscription_id=SUBSCRIPTION))
    with pytest.raises(InfraError) as error:
        synthesize_specs([spec], tmp_path, emulated=False)
    assert str(error.value) == (
        f"stack {spec.stack_name}: the existing AKS cluster {CLUSTER} is looked up in its "
        "resource group, so set deploy.azure.resource_group to it."
    )
    assert not list((tmp_path / "cdktf.out").rglob("cdk.tf.json"))


def test_the_local_emulator_refuses_aks(tmp_path: Path) -> None:
    with pytest.raises(InfraError) as error:
        synthesize_specs([PLAIN], tmp_path, emulated=True)
    assert "emulates AWS only" in str(error.value)
    one_sentence(str(error.value))


# --- the CLI ---------------------------------------------------------------------------------

PINS = ("--env", "prod", "--cloud", "azure", "--kind", "kubernetes")


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """examples/chat-8b-kubernetes.yaml in a directory of its own (synth writes .infra/), the
    subscription from the environment as the golden files have it."""
    monkeypatch.setenv("ARM_SUBSCRIPTION_ID", SUBSCRIPTION)
    return Path(shutil.copy(EXAMPLES / "chat-8b-kubernetes.yaml", tmp_path))


def test_recommend_picks_the_aks_target(cli: Cli, example: Path) -> None:
    result, data = cli.json("recommend", example, "--cloud", "azure", "--kind", "kubernetes")
    assert result.exit_code == 0, result.output
    chosen = data["chosen"]
    assert (chosen["cloud"], chosen["kind"]) == ("azure", "kubernetes")
    assert chosen["instance_type"].startswith("Standard_N")  # a GPU size of the fleets' catalog
    assert chosen["cluster_usd_per_hour"] == 0.0  # the existing cluster's is paid already


def test_cli_synth_of_the_example(cli: Cli, example: Path) -> None:
    result = cli("synth", example, *PINS)
    assert result.exit_code == 0, result.output
    (path,) = (example.parent / ".infra").rglob("cdk.tf.json")
    doc = json.loads(path.read_text())
    assert set(pools_by_role(doc)) == {"on-demand", "spot"}
    assert {"InferenceService", "ScaledObject"} <= set(manifests(doc))
    assert service_outputs(doc)["cluster_name"]["value"] == "gpu-serving"
    lookup = data_sources(doc, "azurerm_kubernetes_cluster")[cluster_lookup(doc)]
    assert lookup["resource_group_name"] == "gpu-serving-rg"


def _by_type(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for resource in data["resources"]:
        found.setdefault(resource["type"], []).append(resource)
    return found


def test_cli_cost_of_the_example_prices_the_pools(cli: Cli, example: Path) -> None:
    result, data = cli.json("cost", example, *PINS)
    assert result.exit_code == 0, result.output
    found = _by_type(data)
    names = sorted(
        component["name"]
        for pool in found["azurerm_kubernetes_cluster_node_pool"]
        for component in pool["components"]
    )
    assert names == [
        "on-demand nodes (Standard_NC24ads_A100_v4)",
        "spot nodes (Standard_NC24ads_A100_v4)",
    ]
    assert all(r["status"] == "priced" for r in found["azurerm_kubernetes_cluster_node_pool"])
    assert {r["status"] for r in found["kubernetes_manifest"]} == {"free"}
    assert "azurerm_kubernetes_cluster" not in found  # an existing cluster is not this plan's
    assert data["unpriced"] == []
    assert data["monthly_usd"]["expected"] > 0


def test_cli_cost_of_a_created_cluster_prices_its_control_plane(cli: Cli, example: Path) -> None:
    import yaml

    profile = yaml.safe_load(example.read_text())
    profile["deploy"] = {"kubernetes": {"create_cluster": True}}
    example.write_text(yaml.safe_dump(profile, sort_keys=False))
    result, data = cli.json("cost", example, *PINS)
    assert result.exit_code == 0, result.output
    (cluster,) = _by_type(data)["azurerm_kubernetes_cluster"]
    management = cluster["components"][0]
    assert management["name"] == "cluster management (Standard tier)"
    assert management["unit_price"] == 0.10  # providers/azure/data/services.csv aks.standard.hour
    # The workload and KEDA on the new cluster run on its priced nodes.
    for free in ("kubernetes_manifest", "helm_release"):
        assert {r["status"] for r in _by_type(data)[free]} == {"free"}


def test_a_created_cluster_costs_in_the_decision_what_infra_cost_prices(
    cli: Cli, example: Path
) -> None:
    """The planner's fixed hourly cost of a created AKS cluster (control plane and system pool)
    is what `infra cost` prices for the cluster resource, a month of it."""
    import yaml

    from planner.optimizer import HOURS_PER_MONTH, Filters, recommend
    from planner.profile import load_profile
    from providers.azure import AKS_SYSTEM_NODE_COUNT, AKS_SYSTEM_VM_SIZE
    from providers.catalog import load_catalog

    profile = yaml.safe_load(example.read_text())
    profile["deploy"] = {"kubernetes": {"create_cluster": True}}
    example.write_text(yaml.safe_dump(profile, sort_keys=False))
    chosen = recommend(
        load_profile(example).profile,
        load_catalog(),
        Filters(clouds=frozenset({"azure"}), kinds=frozenset({"kubernetes"})),
    ).chosen
    result, data = cli.json("cost", example, *PINS)
    assert result.exit_code == 0, result.output
    assert data["region"] == chosen.offering.region
    (cluster,) = _by_type(data)["azurerm_kubernetes_cluster"]
    management, system_pool = cluster["components"]
    assert system_pool["name"] == f"on-demand default node pool ({AKS_SYSTEM_VM_SIZE})"
    assert system_pool["quantity"]["expected"] == AKS_SYSTEM_NODE_COUNT * HOURS_PER_MONTH
    assert system_pool["unit_price"] > 0 and management["unit_price"] > 0
    assert cluster["status"] == "priced"
    assert cluster["monthly_usd"] == pytest.approx(chosen.fixed_usd * HOURS_PER_MONTH, abs=0.01)
