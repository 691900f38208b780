"""GkeNodePools and AksNodePools: small test stacks synthesized in one App (each provider binding
loads once), their JSON asserted: the on-demand and spot pools, GPUs and driver installation,
taints, autoscaling, zones, the secure defaults of the nodes and of a new private cluster, and the
workload identity that reads only the model's weights; their refusals; what `infra cost` makes of
the pools. No Google or AzureRM Terraform provider is available offline: `terraform validate`
runs only when one is in the provider mirror; the bindings' type checks and these JSON
assertions stand in for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.errors import InfraError
from modules.node_pools import NodeRange
from planner.cost.plan_resources import from_configuration
from planner.cost.pricing import price_plan
from providers.catalog import load_catalog
from tests.stack_json import (
    data_sources,
    empty_structs,
    one_sentence,
    only,
    ref,
    resources,
    validate_with_mirror,
)

PROJECT = "serving-project-1"
REGION = "us-central1"
GCP_ZONES = ("us-central1-a", "us-central1-c")
WEIGHTS_URI = "gs://weights-bucket/llama/8b"
AR_IMAGE = "us-docker.pkg.dev/images-project-7/serving/vllm-openai:v0.10.2"
NAMESPACE, KSA = "serving", "chat-8b"
AZURE_GROUP = "chat-8b-prod-rg"
AZURE_LOCATION = "eastus"
SUBSCRIPTION = "/subscriptions/00000000-0000-0000-0000-000000000000"
CLUSTER_NAME, CLUSTER_GROUP = "platform-aks", "platform-rg"
CONTAINER_ID = (
    f"{SUBSCRIPTION}/resourceGroups/data-rg/providers/Microsoft.Storage/storageAccounts/"
    "weights/blobServices/default/containers/llama"
)
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}


def gke_props(name: str, **fields: Any) -> Any:
    from modules.gcp.gke import GkeNodePoolsProps

    values: dict[str, Any] = {
        "name": name,
        "project": PROJECT,
        "region": REGION,
        "zones": GCP_ZONES,
        "machine_type": "g2-standard-24",
        "accelerator": "L4",
        "accelerators_per_node": 2,
        "on_demand": NodeRange(min_nodes=1, max_nodes=2),
        "spot": NodeRange(min_nodes=0, max_nodes=6),
        "kubernetes_namespace": NAMESPACE,
        "kubernetes_service_account": KSA,
        "model_gcs_uri": WEIGHTS_URI,
        "image": AR_IMAGE,
        "cluster_name": "platform",
        **fields,
    }
    return GkeNodePoolsProps(**values)


def aks_props(name: str, **fields: Any) -> Any:
    from modules.azure.aks import AksNodePoolsProps

    values: dict[str, Any] = {
        "name": name,
        "resource_group_name": AZURE_GROUP,
        "location": AZURE_LOCATION,
        "zones": ("1", "2"),
        "vm_size": "Standard_NC24ads_A100_v4",
        "on_demand": NodeRange(min_nodes=1, max_nodes=2),
        "spot": NodeRange(min_nodes=0, max_nodes=4),
        "kubernetes_namespace": NAMESPACE,
        "kubernetes_service_account": KSA,
        "model_blob_container_id": CONTAINER_ID,
        "cluster_name": CLUSTER_NAME,
        "cluster_resource_group": CLUSTER_GROUP,
        "node_labels": {"infra.dev/deployment": name},
        **fields,
    }
    return AksNodePoolsProps(**values)


GKE_STACKS: dict[str, dict[str, Any]] = {
    "gke-existing": {},
    "gke-new": {
        "create_cluster": True,
        "cluster_name": None,
        "machine_type": "n1-standard-8",
        "accelerator": "T4",
        "accelerators_per_node": 1,
        "on_demand": None,
        "image": None,
    },
    "gke-public": {
        "create_cluster": True,
        "cluster_name": None,
        "public_endpoint": True,
        "authorized_networks": ("203.0.113.0/24",),
        "model_gcs_uri": None,
    },
}
AKS_STACKS: dict[str, dict[str, Any]] = {
    "aks-existing": {},
    "aks-new": {
        "create_cluster": True,
        "cluster_name": None,
        "on_demand": None,
        "initial_nodes": {"spot": 2},
    },
    "aks-free": {
        "create_cluster": True,
        "cluster_name": None,
        "encryption_at_host": False,
        "sku_tier": "Free",
        "model_blob_container_id": None,
        "admin_group_object_ids": ("11111111-2222-3333-4444-555555555555",),
    },
}


def _synthesize(outdir: Path) -> None:
    from cdktn import App, TerraformStack
    from cdktn_provider_azurerm.provider import AzurermProvider, AzurermProviderFeatures
    from cdktn_provider_google.provider import GoogleProvider

    from modules.azure.aks import AksNodePools
    from modules.gcp.gke import GkeNodePools

    app = App(outdir=str(outdir))
    for name, fields in GKE_STACKS.items():
        stack = TerraformStack(app, name)
        GoogleProvider(stack, "google", project=PROJECT, region=REGION)
        GkeNodePools(stack, "gpu", gke_props(name, **fields))
    for name, fields in AKS_STACKS.items():
        stack = TerraformStack(app, name)
        AzurermProvider(stack, "azurerm", features=[AzurermProviderFeatures()])
        AksNodePools(stack, "gpu", aks_props(name, **fields))
    app.synth()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], dict[str, Any]]:
    outdir = tmp_path_factory.mktemp("pools")
    _synthesize(outdir)

    def read(name: str) -> dict[str, Any]:
        return json.loads((outdir / "stacks" / name / "cdk.tf.json").read_text())

    return read


def pools(doc: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    """Pools by role: their keys hold the construct ids pool-on-demand / pool-spot."""
    found = resources(doc, rtype)
    return {
        role: body
        for key, body in found.items()
        for role in ("on-demand", "spot")
        if f"_pool-{role}_" in key
    }


def key_of(doc: dict[str, Any], rtype: str, fragment: str) -> str:
    (key,) = [k for k in resources(doc, rtype) if fragment in k]
    return key


# --- GKE -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*GKE_STACKS, *AKS_STACKS])
def test_lists_of_structs_keep_their_fields(stack: Callable[..., Any], name: str) -> None:
    assert empty_structs(stack(name)["resource"]) == []


def test_gke_on_demand_and_spot_pools_join_the_named_cluster(stack: Callable[..., Any]) -> None:
    doc = stack("gke-existing")
    found = pools(doc, "google_container_node_pool")
    assert set(found) == {"on-demand", "spot"}
    assert "google_container_cluster" not in doc.get("resource", {})
    for role, pool in found.items():
        assert pool["cluster"] == f"projects/{PROJECT}/locations/{REGION}/clusters/platform"
        assert pool["location"] == REGION
        assert pool["node_locations"] == list(GCP_ZONES)
        assert pool["management"] == {"auto_repair": True, "auto_upgrade": True}
        assert pool["node_config"]["spot"] is (role == "spot")
        assert pool["node_config"]["labels"] == {"infra.dev/pool": role}
    # Per zone, the fewest nodes that meet the minimum: 1 of 2 on-demand, none of the spot.
    assert found["on-demand"]["initial_node_count"] == 1
    assert found["spot"]["initial_node_count"] == 0
    assert found["on-demand"]["autoscaling"] == {
        "total_min_node_count": 1,
        "total_max_node_count": 2,
        "location_policy": "BALANCED",
    }
    assert found["spot"]["autoscaling"] == {
        "total_min_node_count": 0,
        "total_max_node_count": 6,
        "location_policy": "ANY",
    }


def test_gke_nodes_gpus_with_automatic_drivers_and_secure_defaults(
    stack: Callable[..., Any],
) -> None:
    doc = stack("gke-existing")
    account = key_of(doc, "google_service_account", "node")
    for pool in pools(doc, "google_container_node_pool").values():
        config = pool["node_config"]
        assert config["machine_type"] == "g2-standard-24"
        assert config["guest_accelerator"] == [
            {
                "type": "nvidia-l4",
                "count": 2,
                "gpu_driver_installation_config": {"gpu_driver_version": "LATEST"},
            }
        ]
        assert config["shielded_instance_config"] == {
            "enable_secure_boot": True,
            "enable_integrity_monitoring": True,
        }
        assert config["workload_metadata_config"] == {"mode": "GKE_METADATA"}
        assert config["taint"] == [GPU_TAINT]
        assert config["service_account"] == ref("google_service_account", account, "email")
        assert config["metadata"] == {"disable-legacy-endpoints": "true"}
        assert config["disk_type"] == "pd-balanced"
        assert config["disk_size_gb"] == 200


def test_gke_n1_nodes_attach_their_gpus(stack: Callable[..., Any]) -> None:
    found = pools(stack("gke-new"), "google_container_node_pool")
    assert set(found) == {"spot"}
    accelerator = found["spot"]["node_config"]["guest_accelerator"][0]
    assert (accelerator["type"], accelerator["count"]) == ("nvidia-tesla-t4", 1)


def test_gke_node_account_has_the_node_role_and_the_image_only(stack: Callable[..., Any]) -> None:
    doc = stack("gke-existing")
    node = key_of(doc, "google_service_account", "node")
    member = ref("google_service_account", node, "member")
    _, grant = only(doc, "google_project_iam_member")
    assert (grant["role"], grant["member"]) == ("roles/container.defaultNodeServiceAccount", member)
    _, reader = only(doc, "google_artifact_registry_repository_iam_member")
    assert (reader["repository"], reader["member"]) == ("serving", member)
    assert reader["role"] == "roles/artifactregistry.reader"
    # The node account reads no weights: the workload does, through Workload Identity.
    (bucket_grant,) = resources(doc, "google_storage_bucket_iam_member").values()
    assert bucket_grant["member"] != member


def test_gke_workload_reads_only_the_model_prefix_through_workload_identity(
    stack: Callable[..., Any],
) -> None:
    doc = stack("gke-existing")
    workload = key_of(doc, "google_service_account", "workload")
    _, binding = only(doc, "google_service_account_iam_member")
    assert {k: v for k, v in binding.items() if k != "//"} == {
        "service_account_id": ref("google_service_account", workload, "name"),
        "role": "roles/iam.workloadIdentityUser",
        "member": f"serviceAccount:{PROJECT}.svc.id.goog[{NAMESPACE}/{KSA}]",
    }
    _, grant = only(doc, "google_storage_bucket_iam_member")
    assert grant["bucket"] == "weights-bucket"
    assert grant["role"] == "roles/storage.objectViewer"
    assert grant["member"] == ref("google_service_account", workload, "member")
    expression = grant["condition"]["expression"]
    assert 'startsWith("projects/_/buckets/weights-bucket/objects/llama/8b/")' in expression
    assert '"storage.googleapis.com/objectListPrefix", "").startsWith("llama/8b/")' in expression


def test_gke_without_weights_the_workload_reads_no_storage(stack: Callable[..., Any]) -> None:
    doc = stack("gke-public")
    assert resources(doc, "google_storage_bucket_iam_member") == {}
    assert len(resources(doc, "google_service_account_iam_member")) == 1


def test_gke_new_cluster_is_private_with_workload_identity(stack: Callable[..., Any]) -> None:
    doc = stack("gke-new")
    key, cluster = only(doc, "google_container_cluster")
    assert cluster["private_cluster_config"] == {
        "enable_private_nodes": True,
        "enable_private_endpoint": True,
        "master_ipv4_cidr_block": "172.16.0.0/28",
    }
    assert cluster["master_authorized_networks_config"] == {}
    assert cluster["workload_identity_config"] == {"workload_pool": f"{PROJECT}.svc.id.goog"}
    assert cluster["enable_shielded_nodes"] is True
    assert cluster["enable_legacy_abac"] is False
    assert cluster["remove_default_node_pool"] is True
    assert cluster["release_channel"] == {"channel": "REGULAR"}
    assert cluster["networking_mode"] == "VPC_NATIVE"
    assert cluster["deletion_protection"] is False
    network = key_of(doc, "google_compute_network", "vpc")
    subnet = key_of(doc, "google_compute_subnetwork", "subnet")
    assert cluster["network"] == ref("google_compute_network", network, "self_link")
    assert cluster["subnetwork"] == ref("google_compute_subnetwork", subnet, "self_link")
    assert "google_compute_router_nat" in doc["resource"]
    (pool,) = resources(doc, "google_container_node_pool").values()
    assert pool["cluster"] == ref("google_container_cluster", key, "id")


def test_gke_public_endpoint_admits_the_listed_ranges_only(stack: Callable[..., Any]) -> None:
    _, cluster = only(stack("gke-public"), "google_container_cluster")
    assert cluster["private_cluster_config"]["enable_private_endpoint"] is False
    assert cluster["private_cluster_config"]["enable_private_nodes"] is True
    assert cluster["master_authorized_networks_config"] == {
        "cidr_blocks": [{"cidr_block": "203.0.113.0/24", "display_name": "authorized-0"}]
    }


def test_gke_validates_when_a_google_provider_is_mirrored(
    stack: Callable[..., Any], tmp_path: Path
) -> None:
    validate_with_mirror(stack("gke-new"), tmp_path, ("google",))


# --- AKS -------------------------------------------------------------------------------------


def test_aks_regular_and_spot_pools_join_the_given_cluster(stack: Callable[..., Any]) -> None:
    doc = stack("aks-existing")
    found = pools(doc, "azurerm_kubernetes_cluster_node_pool")
    assert set(found) == {"on-demand", "spot"}
    assert "azurerm_kubernetes_cluster" not in doc.get("resource", {})
    (lookup,) = data_sources(doc, "azurerm_kubernetes_cluster")
    for role, pool in found.items():
        assert pool["kubernetes_cluster_id"] == f"${{data.azurerm_kubernetes_cluster.{lookup}.id}}"
        assert pool["node_labels"] == {
            "infra.dev/deployment": "aks-existing",
            "infra.dev/pool": role,
        }
        assert pool["vm_size"] == "Standard_NC24ads_A100_v4"
        assert pool["zones"] == ["1", "2"]
        assert pool["auto_scaling_enabled"] is True
        assert pool["host_encryption_enabled"] is True
        assert pool["node_public_ip_enabled"] is False
        assert pool["gpu_driver"] == "Install"
        assert pool["mode"] == "User"
        assert "node_count" not in pool  # none planned: AKS starts at the minimum
        assert pool["lifecycle"] == {"ignore_changes": ["node_count"]}  # the autoscaler's
    regular, spot = found["on-demand"], found["spot"]
    assert (regular["min_count"], regular["max_count"]) == (1, 2)
    assert (spot["min_count"], spot["max_count"]) == (0, 4)
    assert regular["priority"] == "Regular"
    assert "eviction_policy" not in regular and "spot_max_price" not in regular
    assert regular["node_taints"] == ["nvidia.com/gpu=present:NoSchedule"]
    assert regular["upgrade_settings"] == {"max_surge": "10%"}
    assert (spot["priority"], spot["eviction_policy"], spot["spot_max_price"]) == (
        "Spot",
        "Delete",
        -1,
    )
    assert spot["node_taints"] == [
        "nvidia.com/gpu=present:NoSchedule",
        "kubernetes.azure.com/scalesetpriority=spot:NoSchedule",
    ]
    assert "upgrade_settings" not in spot


def test_aks_workload_identity_is_federated_and_reads_the_container_only(
    stack: Callable[..., Any],
) -> None:
    doc = stack("aks-existing")
    (lookup,) = data_sources(doc, "azurerm_kubernetes_cluster").items()
    assert (lookup[1]["name"], lookup[1]["resource_group_name"]) == (CLUSTER_NAME, CLUSTER_GROUP)
    identity, _ = only(doc, "azurerm_user_assigned_identity")
    _, federation = only(doc, "azurerm_federated_identity_credential")
    assert federation["subject"] == f"system:serviceaccount:{NAMESPACE}:{KSA}"
    assert federation["audience"] == ["api://AzureADTokenExchange"]
    assert federation["issuer"] == (
        f"${{data.azurerm_kubernetes_cluster.{lookup[0]}.oidc_issuer_url}}"
    )
    assert federation["user_assigned_identity_id"] == ref(
        "azurerm_user_assigned_identity", identity, "id"
    )
    _, grant = only(doc, "azurerm_role_assignment")
    assert (grant["scope"], grant["role_definition_name"]) == (
        CONTAINER_ID,
        "Storage Blob Data Reader",
    )
    assert grant["principal_id"] == ref("azurerm_user_assigned_identity", identity, "principal_id")


def test_aks_new_cluster_is_private_with_workload_identity(stack: Callable[..., Any]) -> None:
    doc = stack("aks-new")
    key, cluster = only(doc, "azurerm_kubernetes_cluster")
    assert cluster["private_cluster_enabled"] is True
    assert cluster["private_cluster_public_fqdn_enabled"] is False
    assert cluster["oidc_issuer_enabled"] is True
    assert cluster["workload_identity_enabled"] is True
    assert cluster["local_account_disabled"] is True
    assert cluster["role_based_access_control_enabled"] is True
    assert cluster["azure_active_directory_role_based_access_control"] == {
        "azure_rbac_enabled": True
    }
    assert cluster["sku_tier"] == "Standard"
    assert cluster["identity"] == {"type": "SystemAssigned"}
    system = cluster["default_node_pool"]
    assert system["only_critical_addons_enabled"] is True
    assert system["host_encryption_enabled"] is True
    assert system["node_public_ip_enabled"] is False
    subnet = key_of(doc, "azurerm_subnet", "subnet")
    assert system["vnet_subnet_id"] == ref("azurerm_subnet", subnet, "id")
    assert cluster["network_profile"]["outbound_type"] == "userAssignedNATGateway"
    assert "azurerm_nat_gateway" in doc["resource"]
    (pool,) = resources(doc, "azurerm_kubernetes_cluster_node_pool").values()
    assert pool["kubernetes_cluster_id"] == ref("azurerm_kubernetes_cluster", key, "id")
    assert (pool["min_count"], pool["node_count"], pool["max_count"]) == (0, 2, 4)
    assert pool["lifecycle"] == {"ignore_changes": ["node_count"]}
    _, federation = only(doc, "azurerm_federated_identity_credential")
    assert federation["issuer"] == ref("azurerm_kubernetes_cluster", key, "oidc_issuer_url")


def test_aks_tier_admins_and_no_weights(stack: Callable[..., Any]) -> None:
    doc = stack("aks-free")
    _, cluster = only(doc, "azurerm_kubernetes_cluster")
    assert cluster["sku_tier"] == "Free"
    assert cluster["azure_active_directory_role_based_access_control"][
        "admin_group_object_ids"
    ] == list(AKS_STACKS["aks-free"]["admin_group_object_ids"])
    assert resources(doc, "azurerm_role_assignment") == {}
    for pool in resources(doc, "azurerm_kubernetes_cluster_node_pool").values():
        assert pool["host_encryption_enabled"] is False  # asked for: the default is True


def test_aks_pool_names_differ_per_deployment_within_the_limit(stack: Callable[..., Any]) -> None:
    """Pool names are unique within a cluster: two deployments sharing one get their own."""
    names = {
        (name, role): pool["name"]
        for name in AKS_STACKS
        for role, pool in pools(stack(name), "azurerm_kubernetes_cluster_node_pool").items()
    }
    assert len(set(names.values())) == len(names)
    assert all(re.fullmatch(r"(gpu|spot)[0-9a-f]+", n) and len(n) <= 12 for n in names.values())


def test_aks_validates_when_an_azurerm_provider_is_mirrored(
    stack: Callable[..., Any], tmp_path: Path
) -> None:
    validate_with_mirror(stack("aks-new"), tmp_path, ("azurerm",))


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"on_demand": None, "spot": None}, "neither an on-demand nor a spot node pool"),
        ({"spot": NodeRange(min_nodes=3, max_nodes=2)}, "range 3..2"),
        ({"spot": NodeRange(min_nodes=0, max_nodes=0)}, "range 0..0"),
        ({"cluster_name": None}, "name the existing cluster"),
        ({"public_endpoint": True, "create_cluster": True}, "CIDRs allowed to reach it"),
        ({"model_gcs_uri": "s3://weights/llama"}, "is not a gs:// URI"),
        ({"machine_type": "e2-standard-8"}, "is not a GPU machine type"),
        ({"accelerator": "MI300X"}, "GKE has no accelerator type for MI300X"),
    ],
)
def test_gke_refusals_are_one_sentence(fields: dict[str, Any], message: str) -> None:
    from modules.gcp.gke import check_props, gke_accelerator

    props = gke_props("refused", **fields)
    with pytest.raises(InfraError) as error:
        check_props(props)
        gke_accelerator(props.machine_type, props.accelerator, "stack refused")
    assert message in str(error.value)
    one_sentence(str(error.value))


def test_gke_a3_mega_has_its_own_h100() -> None:
    from modules.gcp.gke import gke_accelerator

    assert gke_accelerator("a3-megagpu-8g", "H100", "s") == "nvidia-h100-mega-80gb"
    assert gke_accelerator("a3-highgpu-8g", "H100", "s") == "nvidia-h100-80gb"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"on_demand": None, "spot": None}, "neither an on-demand nor a spot node pool"),
        ({"cluster_name": None}, "name the existing cluster and its resource group"),
        ({"cluster_resource_group": None}, "name the existing cluster and its resource group"),
        ({"create_cluster": True}, "not both"),
        ({"initial_nodes": {"spot": 5}}, "spot pool cannot start at 5 nodes outside its range"),
        ({"initial_nodes": {"on-demand": 1}, "on_demand": None}, "on-demand pool cannot start"),
        ({"node_labels": {"infra.dev/pool": "x"}}, "is the construct's own"),
        ({"sku_tier": "Paid"}, "sku_tier 'Paid' is not one of Free, Standard, Premium"),
    ],
)
def test_aks_refusals_are_one_sentence(fields: dict[str, Any], message: str) -> None:
    from modules.azure.aks import check_props

    with pytest.raises(InfraError) as error:
        check_props(aks_props("refused", **fields))
    assert message in str(error.value)
    one_sentence(str(error.value))


# --- cost ------------------------------------------------------------------------------------


def _priced(doc: dict[str, Any], region: str) -> dict[str, Any]:
    """Every resource by address; none of them is a type the cost report does not know."""
    report = price_plan(from_configuration(doc), load_catalog(), source="test", region=region)
    unknown = [r.type for r in report.resources if r.reason == "no price rule for this type"]
    assert unknown == []
    return {resource.address: resource for resource in report.resources}


def test_gke_pools_and_cluster_are_priced(stack: Callable[..., Any]) -> None:
    priced = _priced(stack("gke-new"), REGION)
    (cluster,) = [r for a, r in priced.items() if a.startswith("google_container_cluster.")]
    assert cluster.status == "priced"
    assert cluster.components[0].unit_price == 0.10
    assert cluster.monthly_usd.expected == 73.0
    (pool,) = [r for a, r in priced.items() if a.startswith("google_container_node_pool.")]
    assert pool.status == "priced", pool.reason
    nodes = pool.components[0]
    assert nodes.category == "compute (spot)"
    assert nodes.name == "spot nodes (n1-standard-8, 1x T4)"
    assert (nodes.quantity.min, nodes.quantity.max) == (0.0, 6 * 730.0)


def test_aks_pools_and_cluster_tier_are_priced(stack: Callable[..., Any]) -> None:
    priced = _priced(stack("aks-new"), AZURE_LOCATION)
    (cluster,) = [r for a, r in priced.items() if a.startswith("azurerm_kubernetes_cluster.")]
    management = cluster.components[0]
    assert management.name == "cluster management (Standard tier)"
    assert management.unit_price == 0.10
    (pool,) = [
        r for a, r in priced.items() if a.startswith("azurerm_kubernetes_cluster_node_pool.")
    ]
    assert pool.status == "priced", pool.reason
    assert pool.components[0].category == "compute (spot)"
    assert (pool.components[0].quantity.min, pool.components[0].quantity.max) == (0.0, 4 * 730.0)


# --- props convention ------------------------------------------------------------------------


def _field_docs(cls: type) -> dict[str, tuple[bool, str]]:
    """Field → (has a default, its docstring), read from the class body."""
    import ast
    import inspect

    body = ast.parse(inspect.getsource(cls)).body[0]
    assert isinstance(body, ast.ClassDef)
    docs = {}
    for index, statement in enumerate(body.body):
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            following = body.body[index + 1]
            assert isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
            docs[statement.target.id] = (
                statement.value is not None,
                " ".join(str(following.value.value).split()),
            )
    return docs


def test_props_are_frozen_keyword_only_and_say_their_defaults() -> None:
    """GCP's convention for the GKE props (Required. / Default:), Azure's for the AKS props and
    the shared node range ((Required) / (Optional) ... Defaults to)."""
    import dataclasses

    from modules.azure.aks import AksNodePoolsProps
    from modules.gcp.gke import GkeNodePoolsProps

    for cls in (GkeNodePoolsProps, AksNodePoolsProps, NodeRange):
        params = cls.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen and all(f.kw_only for f in dataclasses.fields(cls)), cls
        docs = _field_docs(cls)
        assert set(docs) == {f.name for f in dataclasses.fields(cls)}
        for name, (has_default, doc) in docs.items():
            if cls is GkeNodePoolsProps:
                assert ("Default:" in doc) == has_default, name
                assert ("Required" in doc) != has_default, name
            elif has_default:
                assert doc.startswith("(Optional) ") and "Defaults to" in doc, name
            else:
                assert doc.startswith("(Required) "), name
