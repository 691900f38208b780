"""AzureGpuFleetStack and AzureMlWorkspaceStack: assertions on the synthesized Terraform JSON.

Synthesis goes through orchestrator.synth.synthesize exactly as the CLI does, every spec of the
module in one App (the provider bindings load once). Expectations are derived from the specs and
from the constants the stacks are meant to use, so a change in behaviour fails a test. No Azure
Terraform provider is available offline here: `terraform validate` runs only when one is in the
provider mirror; the bindings' own type checks and these JSON assertions stand in for it.
"""

from __future__ import annotations

import base64
import importlib
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import msgspec
import pytest

from modules.azure.identity import BLOB_READER, IMAGE_PULLER, METRICS_PUBLISHER, SECRET_READER
from modules.azure.ml_workspace import BLOB_SOFT_DELETE_DAYS, SAS_EXPIRATION_PERIOD, unique_name
from modules.azure.network import LOWEST_PRIORITY, SUBNET_CIDR, VNET_CIDR
from modules.azure.scale_set import SPOT_PRICE_CAP, UNUSABLE_SSH_KEY
from modules.azure.spec_checks import AzureSpecError
from modules.tag_keys import STACK_TAG
from modules.user_data import render_user_data
from orchestrator.synth import synthesize
from planner.deployment import CapacitySpec, DeploymentSpec, RuntimeSpec, ScalingSpec
from planner.profile import AzureOptions, Network
from providers.azure.images import GPU_IMAGE, supports_trusted_launch
from stacks.azureml_workspace import online_endpoint_name
from stacks.common import AZURERM_PROVIDER_VERSION
from tests.stack_json import (
    Synthesized,
    assert_records_its_spec,
    empty_structs,
    one_sentence,
    only,
    ref,
    resources,
    service_outputs,
    synthesize_specs,
    validate_with_mirror,
    written,
)

SUBSCRIPTION = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
ARM = f"/subscriptions/{SUBSCRIPTION}/resourceGroups"
SECRET_ID = f"{ARM}/rg-secrets/providers/Microsoft.KeyVault/vaults/kv-serving/secrets/hf-token"
CONTAINER_ID = (
    f"{ARM}/rg-models/providers/Microsoft.Storage/storageAccounts/mymodels"
    "/blobServices/default/containers/weights"
)
REGISTRY_ID = f"{ARM}/rg-acr/providers/Microsoft.ContainerRegistry/registries/myregistry"
SUBNET_ID = f"{ARM}/rg-net/providers/Microsoft.Network/virtualNetworks/hub/subnets/serving"
CLIENT_CIDRS = ["203.0.113.0/24", "198.51.100.7/32"]
OPS_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdvb2Qga2V5IGZvciB0aGUgc2NhZmZvbGQ= ops"
TAGS = {"team": "ml-platform", "cost-center": "cc-4242", "env": "prod", "project": "chat"}
FORBIDDEN_ROLES = {"Owner", "Contributor", "User Access Administrator"}


def make_spec(
    name: str,
    *,
    kind: str = "fleet",
    capacity: dict[str, Any] | None = None,
    runtime: dict[str, Any] | None = None,
    azure: dict[str, Any] | None = None,
    **fields: Any,
) -> DeploymentSpec:
    """A private Azure fleet of NC24ads_A100_v4: one on-demand instance, spot above it."""
    capacity_fields: dict[str, Any] = {
        "min_size": 1,
        "desired": 2,
        "max_size": 4,
        "on_demand_base": 1,
        "spot_percentage_above_base": 100,
        "health_check_grace_s": 840,
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
        "kind": kind,
        "region": "eastus",
        "zones": [""],
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
        scaling=ScalingSpec(signal="alb_requests_per_target", target=42.5),
        azure=AzureOptions(**{"subscription_id": SUBSCRIPTION, **(azure or {})}),
        **spec_fields,
    )


MIXED = make_spec(
    "mixed", azure={"hf_token_secret_id": SECRET_ID, "model_blob_container_id": CONTAINER_ID}
)
REGULAR = make_spec(
    "regular",
    instance_type="Standard_ND96isr_H100_v5",
    accelerator="H100",
    accelerators_per_instance=8,
    network=Network(subnet_ids=[SUBNET_ID]),
    capacity={
        "min_size": 2,
        "desired": 2,
        "max_size": 3,
        "on_demand_base": 2,
        "spot_percentage_above_base": 0,
    },
    azure={
        "resource_group": "rg-serving",
        "admin_ssh_public_key": OPS_KEY,
        "encryption_at_host": False,
    },
)
LISTED = make_spec(
    "listed",
    zones=["1", "2"],
    network=Network(ingress_cidrs=list(CLIENT_CIDRS)),
    capacity={"on_demand_base": 0, "min_size": 0},
    runtime={"image": "myregistry.azurecr.io/serving/vllm:0.10.2", "port": 8080},
    azure={"container_registry_id": REGISTRY_ID},
)
ENV_SUBSCRIPTION = make_spec("envsub", azure={"subscription_id": None})
ML_PUBLIC = make_spec("mlpub", kind="azureml")
ML_PRIVATE = make_spec(
    "mlpriv",
    kind="azureml",
    network=Network(subnet_ids=[SUBNET_ID]),
    azure={"hf_token_secret_id": SECRET_ID, "model_blob_container_id": CONTAINER_ID},
)
FLEETS = [MIXED, REGULAR, LISTED, ENV_SUBSCRIPTION]
WORKSPACES = [ML_PUBLIC, ML_PRIVATE]
ALL_SPECS = [*FLEETS, *WORKSPACES]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARM_SUBSCRIPTION_ID", SUBSCRIPTION)
        return synthesize_specs(ALL_SPECS, tmp_path_factory.mktemp("azure"), emulated=False)


# ---------------------------------------------------------------------------------------------
# Helpers over the Terraform JSON


def key_of(reference: str, rtype: str) -> str:
    match = re.fullmatch(rf"\$\{{{rtype}\.([^.]+)\.[a-z_]+\}}", reference)
    assert match, reference
    return match[1]


def scale_sets(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources(doc, "azurerm_linux_virtual_machine_scale_set")


def by_priority(doc: dict[str, Any], priority: str) -> list[tuple[str, dict[str, Any]]]:
    return [(k, v) for k, v in scale_sets(doc).items() if v["priority"] == priority]


def security_rules(doc: dict[str, Any], direction: str) -> list[dict[str, Any]]:
    rules = resources(doc, "azurerm_network_security_rule").values()
    return sorted((r for r in rules if r["direction"] == direction), key=lambda r: r["priority"])


def role_assignments(doc: dict[str, Any]) -> set[tuple[str, str]]:
    """The roles the profile names (the fleet's metrics publishing: metrics_grants)."""
    return {
        (body["role_definition_name"], body["scope"])
        for body in resources(doc, "azurerm_role_assignment").values()
    } - metrics_grants(doc)


def metrics_grants(doc: dict[str, Any]) -> set[tuple[str, str]]:
    """Monitoring Metrics Publisher on each of a fleet's scale sets, on nothing else."""
    return {
        (METRICS_PUBLISHER, ref("azurerm_linux_virtual_machine_scale_set", key, "id"))
        for key in resources(doc, "azurerm_linux_virtual_machine_scale_set")
    }


def azurerm_supports_tags(rtype: str) -> bool:
    module = importlib.import_module(f"cdktn_provider_azurerm.{rtype.removeprefix('azurerm_')}")
    for value in vars(module).values():
        if isinstance(value, type) and getattr(value, "TF_RESOURCE_TYPE", None) == rtype:
            return hasattr(value, "tags_input")
    raise AssertionError(f"no binding class for {rtype}")


def synthesize_one(tmp_path: Path, spec: DeploymentSpec, *, emulated: bool = False) -> Path:
    outdir = tmp_path / "out"
    synthesize([(spec, tmp_path / "state")], outdir, emulated=emulated)
    return outdir


# ---------------------------------------------------------------------------------------------
# Provider, version range, backend


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_provider_pinned_by_range_and_local_state(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    azurerm = doc["terraform"]["required_providers"]["azurerm"]
    assert azurerm == {"source": "hashicorp/azurerm", "version": AZURERM_PROVIDER_VERSION}
    assert "aws" not in doc["terraform"]["required_providers"]
    path = Path(doc["terraform"]["backend"]["local"]["path"])
    assert path == synthesized.state_dir(spec) / "terraform.tfstate"
    (provider,) = doc["provider"]["azurerm"]
    (features,) = provider["features"]
    assert features["resource_group"] == [{"prevent_deletion_if_contains_resources": True}]
    assert features["key_vault"][0]["purge_soft_delete_on_destroy"] is False


def test_pin_admits_the_provider_the_binding_was_generated_from() -> None:
    """The version range starts at the binding's provider and stays within its major version."""
    import cdktn_provider_azurerm

    (archive,) = (Path(cdktn_provider_azurerm.__file__).parent / "_jsii").glob("*.jsii.tgz")
    with tarfile.open(archive) as bundle:
        package = json.load(bundle.extractfile("package/package.json"))  # type: ignore[arg-type]
    version = package["cdktn"]["provider"]["version"]
    major, minor = (int(part) for part in version.split(".")[:2])
    assert f">= {major}.{minor}, < {major + 1}" == AZURERM_PROVIDER_VERSION


def test_subscription_from_the_profile_else_left_to_the_environment(
    synthesized: Synthesized,
) -> None:
    (provider,) = synthesized[MIXED]["provider"]["azurerm"]
    assert provider["subscription_id"] == SUBSCRIPTION
    (provider,) = synthesized[ENV_SUBSCRIPTION]["provider"]["azurerm"]
    assert "subscription_id" not in provider  # the provider reads ARM_SUBSCRIPTION_ID itself


def test_missing_subscription_is_one_sentence_and_writes_nothing(
    tmp_path: Path, synthesized: Synthesized, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARM_SUBSCRIPTION_ID", raising=False)
    with pytest.raises(AzureSpecError) as caught:
        synthesize_one(tmp_path, ENV_SUBSCRIPTION)
    message = str(caught.value)
    assert "deploy.azure.subscription_id" in message and "ARM_SUBSCRIPTION_ID" in message
    one_sentence(message)
    assert written(tmp_path / "out") == []


def test_the_local_emulator_is_not_azure(tmp_path: Path, synthesized: Synthesized) -> None:
    with pytest.raises(AzureSpecError, match="emulates AWS only"):
        synthesize_one(tmp_path, MIXED, emulated=True)


# ---------------------------------------------------------------------------------------------
# Resource group and network


def test_new_resource_group_named_after_the_stack(synthesized: Synthesized) -> None:
    _, group = only(synthesized[MIXED], "azurerm_resource_group")
    assert group["name"] == MIXED.stack_name and group["location"] == MIXED.region


def test_existing_resource_group_is_read_not_created(synthesized: Synthesized) -> None:
    doc = synthesized[REGULAR]
    assert resources(doc, "azurerm_resource_group") == {}
    (group,) = doc["data"]["azurerm_resource_group"].values()
    assert group["name"] == "rg-serving"


@pytest.mark.parametrize("spec", [MIXED, LISTED], ids=lambda s: s.name)
def test_new_network_egresses_through_a_nat_gateway(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    _, vnet = only(doc, "azurerm_virtual_network")
    assert vnet["address_space"] == [VNET_CIDR]
    subnet_key, subnet = only(doc, "azurerm_subnet")
    assert subnet["address_prefixes"] == [SUBNET_CIDR]
    assert subnet["default_outbound_access_enabled"] is False
    nat_key, nat = only(doc, "azurerm_nat_gateway")
    assert nat["sku_name"] == "Standard"
    _, nat_link = only(doc, "azurerm_subnet_nat_gateway_association")
    assert nat_link["subnet_id"] == ref("azurerm_subnet", subnet_key, "id")
    assert nat_link["nat_gateway_id"] == ref("azurerm_nat_gateway", nat_key, "id")
    _, address_link = only(doc, "azurerm_nat_gateway_public_ip_association")
    address = resources(doc, "azurerm_public_ip")[
        key_of(address_link["public_ip_address_id"], "azurerm_public_ip")
    ]
    assert address["sku"] == "Standard" and address["allocation_method"] == "Static"
    group_key, _ = only(doc, "azurerm_network_security_group")
    _, nsg_link = only(doc, "azurerm_subnet_network_security_group_association")
    assert nsg_link["network_security_group_id"] == ref(
        "azurerm_network_security_group", group_key, "id"
    )
    for _, scale_set in scale_sets(doc).items():
        configuration = scale_set["network_interface"][0]["ip_configuration"][0]
        assert configuration["subnet_id"] == ref("azurerm_subnet", subnet_key, "id")


def test_existing_subnet_creates_no_network_and_is_left_alone(synthesized: Synthesized) -> None:
    doc = synthesized[REGULAR]
    for rtype in (
        "azurerm_virtual_network",
        "azurerm_subnet",
        "azurerm_nat_gateway",
        "azurerm_public_ip",
        "azurerm_subnet_network_security_group_association",
        "azurerm_subnet_nat_gateway_association",
    ):
        assert resources(doc, rtype) == {}, rtype
    _, lb = only(doc, "azurerm_lb")
    assert lb["frontend_ip_configuration"][0]["subnet_id"] == SUBNET_ID
    for scale_set in scale_sets(doc).values():
        assert scale_set["network_interface"][0]["ip_configuration"][0]["subnet_id"] == SUBNET_ID


@pytest.mark.parametrize("spec", FLEETS, ids=lambda s: s.name)
def test_security_group_admits_the_serving_port_from_the_balancer_and_network_only(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    *allowed, denied = security_rules(doc, "Inbound")
    assert [rule["source_address_prefix"] for rule in allowed] == [
        "AzureLoadBalancer",
        "VirtualNetwork",
        *spec.network.ingress_cidrs,
    ]
    for rule in allowed:
        assert rule["access"] == "Allow" and rule["protocol"] == "Tcp"
        assert rule["destination_port_range"] == str(spec.runtime.port)
        assert rule["priority"] < LOWEST_PRIORITY
    assert denied["access"] == "Deny" and denied["priority"] == LOWEST_PRIORITY
    assert denied["source_address_prefix"] == "*" and denied["destination_port_range"] == "*"


@pytest.mark.parametrize("spec", FLEETS, ids=lambda s: s.name)
def test_no_internet_ingress_but_the_listed_ranges(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    sources = {
        rule["source_address_prefix"]
        for rule in security_rules(synthesized[spec], "Inbound")
        if rule["access"] == "Allow"
    }
    assert not sources & {"Internet", "*", "0.0.0.0/0"}
    external = sources - {"AzureLoadBalancer", "VirtualNetwork"}
    assert external == (set(CLIENT_CIDRS) if spec is LISTED else set())


@pytest.mark.parametrize("spec", FLEETS, ids=lambda s: s.name)
def test_only_https_leaves_for_the_internet(synthesized: Synthesized, spec: DeploymentSpec) -> None:
    allowed, denied = security_rules(synthesized[spec], "Outbound")
    assert (allowed["access"], allowed["protocol"], allowed["destination_port_range"]) == (
        "Allow",
        "Tcp",
        "443",
    )
    assert allowed["destination_address_prefix"] == "Internet"
    assert (denied["access"], denied["destination_address_prefix"]) == ("Deny", "Internet")
    assert denied["priority"] == LOWEST_PRIORITY


# ---------------------------------------------------------------------------------------------
# Identity


def test_identity_roles_scoped_to_the_named_secret_and_container(synthesized: Synthesized) -> None:
    doc = synthesized[MIXED]
    identity_key, _ = only(doc, "azurerm_user_assigned_identity")
    assert role_assignments(doc) == {(SECRET_READER, SECRET_ID), (BLOB_READER, CONTAINER_ID)}
    for body in resources(doc, "azurerm_role_assignment").values():
        assert body["principal_id"] == ref(
            "azurerm_user_assigned_identity", identity_key, "principal_id"
        )
        assert body["principal_type"] == "ServicePrincipal"


def test_registry_image_gets_acr_pull_on_that_registry_only(synthesized: Synthesized) -> None:
    assert role_assignments(synthesized[LISTED]) == {(IMAGE_PULLER, REGISTRY_ID)}


def test_nothing_named_means_no_roles(synthesized: Synthesized) -> None:
    assert role_assignments(synthesized[REGULAR]) == set()


@pytest.mark.parametrize("spec", FLEETS, ids=lambda s: s.name)
def test_the_identity_publishes_metrics_on_its_own_scale_sets_only(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    publishing = {
        (body["role_definition_name"], body["scope"])
        for body in resources(doc, "azurerm_role_assignment").values()
        if body["role_definition_name"] == METRICS_PUBLISHER
    }
    assert publishing == metrics_grants(doc)
    assert len(publishing) == len(scale_sets(doc))


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_no_broad_roles_anywhere(synthesized: Synthesized, spec: DeploymentSpec) -> None:
    for role, scope in role_assignments(synthesized[spec]):
        assert role not in FORBIDDEN_ROLES
        assert not re.fullmatch(r"/subscriptions/[^/]+(/resourceGroups/[^/]+)?", scope)


# ---------------------------------------------------------------------------------------------
# Scale sets


def test_on_demand_base_and_spot_above_it(synthesized: Synthesized) -> None:
    doc = synthesized[MIXED]
    ((_, regular),), ((spot_key, spot),) = by_priority(doc, "Regular"), by_priority(doc, "Spot")
    assert regular["instances"] == MIXED.capacity.on_demand_base
    assert "lifecycle" not in regular  # a fixed base: nothing autoscales it
    assert "eviction_policy" not in regular and "max_bid_price" not in regular
    assert spot["instances"] == MIXED.capacity.desired - MIXED.capacity.on_demand_base
    assert spot["eviction_policy"] == "Delete"
    assert spot["max_bid_price"] == SPOT_PRICE_CAP == -1
    assert spot["lifecycle"] == {"ignore_changes": ["instances"]}
    _, setting = only(doc, "azurerm_monitor_autoscale_setting")
    assert setting["target_resource_id"] == ref(
        "azurerm_linux_virtual_machine_scale_set", spot_key, "id"
    )


def test_all_regular_is_one_autoscaled_set(synthesized: Synthesized) -> None:
    doc = synthesized[REGULAR]
    key, regular = only(doc, "azurerm_linux_virtual_machine_scale_set")
    assert regular["priority"] == "Regular"
    assert regular["instances"] == REGULAR.capacity.desired
    _, setting = only(doc, "azurerm_monitor_autoscale_setting")
    capacity = setting["profile"][0]["capacity"]
    assert capacity == {"minimum": 2, "default": 2, "maximum": 3}
    assert setting["target_resource_id"] == ref(
        "azurerm_linux_virtual_machine_scale_set", key, "id"
    )


def test_regular_instances_drain_before_deletion_and_spot_ones_cannot(
    synthesized: Synthesized,
) -> None:
    # The terminate notification gives each Regular instance's drain watcher the probe's 30 s,
    # the p99 alarm's 60 s and 15 s of margin: Azure's 5 minutes minimum (modules/azure/drain.py).
    for spec in (MIXED, REGULAR):
        for _, regular in by_priority(synthesized[spec], "Regular"):
            assert regular["termination_notification"] == {"enabled": True, "timeout": "PT5M"}
    for spec in (MIXED, LISTED):
        for _, spot in by_priority(synthesized[spec], "Spot"):
            assert "termination_notification" not in spot  # Azure refuses it on Spot
        assert "serving-drain.service" in base64.b64decode(spot["custom_data"]).decode()


def test_spot_only_when_there_is_no_base(synthesized: Synthesized) -> None:
    doc = synthesized[LISTED]
    (_, spot) = only(doc, "azurerm_linux_virtual_machine_scale_set")
    assert spot["priority"] == "Spot" and spot["instances"] == LISTED.capacity.desired


@pytest.mark.parametrize("spec", FLEETS, ids=lambda s: s.name)
def test_autoscale_range_is_the_plans_above_the_base(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    capacity = spec.capacity
    spot = capacity.spot_percentage_above_base == 100
    base = capacity.on_demand_base if spot else 0
    _, setting = only(doc, "azurerm_monitor_autoscale_setting")
    (profile,) = setting["profile"]
    assert profile["capacity"] == {
        "minimum": max(capacity.min_size - base, 0),
        "default": capacity.desired - base,
        "maximum": capacity.max_size - base,
    }
    lb_key, _ = only(doc, "azurerm_lb")
    out, scale_in = profile["rule"]
    for rule, window, operator, direction in (
        (out, "PT5M", "GreaterThan", "Increase"),
        (scale_in, "PT15M", "LessThan", "Decrease"),
    ):
        trigger = rule["metric_trigger"]
        assert trigger["metric_name"] == "SYNCount"
        assert trigger["metric_resource_id"] == ref("azurerm_lb", lb_key, "id")
        assert trigger["divide_by_instance_count"] is True
        assert trigger["time_window"] == window and trigger["operator"] == operator
        assert rule["scale_action"]["direction"] == direction
        assert rule["scale_action"]["cooldown"] == "PT14M"  # the spec's 840 s grace
    assert out["metric_trigger"]["threshold"] == spec.scaling.target * 5
    assert scale_in["metric_trigger"]["threshold"] == spec.scaling.target * 15 * 0.5


@pytest.mark.parametrize("spec", FLEETS, ids=lambda s: s.name)
def test_scale_set_secure_defaults(synthesized: Synthesized, spec: DeploymentSpec) -> None:
    doc = synthesized[spec]
    identity_key, _ = only(doc, "azurerm_user_assigned_identity")
    probe_key, probe = only(doc, "azurerm_lb_probe")
    group_key, _ = only(doc, "azurerm_network_security_group")
    for scale_set in scale_sets(doc).values():
        assert scale_set["sku"] == spec.instance_type
        assert scale_set["disable_password_authentication"] is True
        assert "admin_password" not in scale_set
        (key,) = scale_set["admin_ssh_key"]
        assert key["public_key"] == (spec.azure.admin_ssh_public_key or UNUSABLE_SSH_KEY)
        assert scale_set["encryption_at_host_enabled"] is spec.azure.encryption_at_host
        assert scale_set["os_disk"]["disk_size_gb"] == spec.root_volume_gib
        assert scale_set["os_disk"]["storage_account_type"] == "Premium_LRS"
        assert scale_set["source_image_reference"] == GPU_IMAGE._asdict()
        assert scale_set["identity"] == {
            "type": "UserAssigned",
            "identity_ids": [ref("azurerm_user_assigned_identity", identity_key, "id")],
        }
        assert scale_set["overprovision"] is False
        assert scale_set["health_probe_id"] == ref("azurerm_lb_probe", probe_key, "id")
        assert scale_set["automatic_instance_repair"] == {
            "enabled": True,
            "grace_period": "PT14M",
            "action": "Replace",
        }
        assert scale_set["upgrade_mode"] == "Rolling"
        (interface,) = scale_set["network_interface"]
        assert interface["network_security_group_id"] == ref(
            "azurerm_network_security_group", group_key, "id"
        )
        for configuration in interface["ip_configuration"]:
            assert "public_ip_address" not in configuration  # no public IPs on instances
    assert probe["request_path"] == spec.runtime.health_path
    assert probe["port"] == spec.runtime.port and probe["protocol"] == "Http"


@pytest.mark.parametrize("spec", [MIXED, REGULAR], ids=lambda s: s.name)
def test_trusted_launch_where_the_family_supports_it(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    trusted = supports_trusted_launch(spec.instance_type)
    assert trusted is (spec is MIXED)  # NC A100 v4 is listed; ND H100 v5 is not
    for scale_set in scale_sets(synthesized[spec]).values():
        if trusted:
            assert scale_set["vtpm_enabled"] is True
            assert scale_set["secure_boot_enabled"] is False  # the DKMS driver is unsigned
        else:
            assert "vtpm_enabled" not in scale_set and "secure_boot_enabled" not in scale_set


@pytest.mark.parametrize(
    ("size", "trusted"),
    [
        ("Standard_NC4as_T4_v3", True),
        ("Standard_NC96ads_A100_v4", True),
        ("Standard_NV36adms_A10_v5", True),
        ("Standard_NV72ads_A10_v5", True),
        ("Standard_ND96asr_v4", False),
        ("Standard_ND96amsr_A100_v4", False),
        ("Standard_NC40ads_H100_v5", False),
    ],
)
def test_trusted_launch_families(size: str, trusted: bool) -> None:
    assert supports_trusted_launch(size) is trusted


def test_the_default_admin_key_has_no_private_key() -> None:
    """The all-zero Ed25519 encoding: a small-order point that no private scalar produces."""
    algorithm, blob = UNUSABLE_SSH_KEY.split()
    raw = base64.b64decode(blob)
    assert algorithm == "ssh-ed25519"
    assert raw == b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + bytes(32)


def test_zones_only_when_the_spec_names_azure_zones(synthesized: Synthesized) -> None:
    (zoned,) = scale_sets(synthesized[LISTED]).values()
    assert zoned["zones"] == ["1", "2"]
    for scale_set in scale_sets(synthesized[MIXED]).values():
        assert "zones" not in scale_set  # priced per region: a regional scale set


@pytest.mark.parametrize("spec", FLEETS, ids=lambda s: s.name)
def test_custom_data_is_the_rendered_boot_script(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    for scale_set in scale_sets(synthesized[spec]).values():
        script = base64.b64decode(scale_set["custom_data"]).decode()
        assert script == render_user_data(spec)
        assert script.startswith("#!/bin/bash\n")


def test_boot_script_fetches_the_secret_by_name_never_a_value(synthesized: Synthesized) -> None:
    doc = synthesized[MIXED]
    script = render_user_data(MIXED)
    assert "readonly HF_TOKEN_VAULT=kv-serving" in script
    assert "readonly HF_TOKEN_SECRET=hf-token" in script
    assert "https://${HF_TOKEN_VAULT}.vault.azure.net/secrets/${HF_TOKEN_SECRET}" in script
    assert "MODEL_BLOB_URL=https://mymodels.blob.core.windows.net/weights" in script
    assert "AZCOPY_AUTO_LOGIN_TYPE=MSI azcopy sync" in script
    assert "Authorization: Bearer $" not in script  # tokens travel through pipes only
    assert not re.search(r"hf_[A-Za-z0-9]{20,}", json.dumps(doc))


def test_boot_script_logs_in_to_the_registry_with_the_identity() -> None:
    script = render_user_data(LISTED)
    assert "readonly ACR_REGISTRY=myregistry.azurecr.io" in script
    assert "/oauth2/exchange" in script and "--password-stdin" in script
    assert "azcopy sync" not in script and "HF_TOKEN_SECRET" not in script


def test_weights_prefix_is_part_of_the_blob_url() -> None:
    spec = msgspec.structs.replace(
        MIXED,
        azure=msgspec.structs.replace(MIXED.azure, model_blob_prefix="llama/8b/"),
    )
    assert "MODEL_BLOB_URL=https://mymodels.blob.core.windows.net/weights/llama/8b\n" in (
        render_user_data(spec)
    )


# ---------------------------------------------------------------------------------------------
# Load balancer


def test_internal_load_balancer_by_default(synthesized: Synthesized) -> None:
    doc = synthesized[MIXED]
    _, lb = only(doc, "azurerm_lb")
    (frontend,) = lb["frontend_ip_configuration"]
    assert lb["sku"] == "Standard"
    assert "public_ip_address_id" not in frontend
    assert frontend["private_ip_address_allocation"] == "Dynamic"
    # The only public address is the NAT gateway's.
    _, link = only(doc, "azurerm_nat_gateway_public_ip_association")
    assert set(resources(doc, "azurerm_public_ip")) == {
        key_of(link["public_ip_address_id"], "azurerm_public_ip")
    }


@pytest.mark.parametrize("spec", FLEETS, ids=lambda s: s.name)
def test_load_balancer_is_always_internal(synthesized: Synthesized, spec: DeploymentSpec) -> None:
    """Listed client ranges reach it through the network (VPN, peering), never the internet."""
    _, lb = only(synthesized[spec], "azurerm_lb")
    (frontend,) = lb["frontend_ip_configuration"]
    assert "public_ip_address_id" not in frontend
    assert frontend["private_ip_address_allocation"] == "Dynamic"


@pytest.mark.parametrize("spec", FLEETS, ids=lambda s: s.name)
def test_rule_forwards_http_to_the_serving_port(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    pool_key, _ = only(doc, "azurerm_lb_backend_address_pool")
    probe_key, _ = only(doc, "azurerm_lb_probe")
    _, rule = only(doc, "azurerm_lb_rule")
    assert (rule["frontend_port"], rule["backend_port"]) == (80, spec.runtime.port)
    assert rule["probe_id"] == ref("azurerm_lb_probe", probe_key, "id")
    assert rule["backend_address_pool_ids"] == [
        ref("azurerm_lb_backend_address_pool", pool_key, "id")
    ]
    assert rule["disable_outbound_snat"] is True
    for scale_set in scale_sets(doc).values():
        configuration = scale_set["network_interface"][0]["ip_configuration"][0]
        assert configuration["load_balancer_backend_address_pool_ids"] == [
            ref("azurerm_lb_backend_address_pool", pool_key, "id")
        ]


# ---------------------------------------------------------------------------------------------
# Azure ML workspace


@pytest.mark.parametrize("spec", WORKSPACES, ids=lambda s: s.name)
def test_workspace_dependencies_secure_defaults(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    private = spec is ML_PRIVATE
    _, vault = only(doc, "azurerm_key_vault")
    assert vault["purge_protection_enabled"] is True
    assert vault["rbac_authorization_enabled"] is True
    assert vault["public_network_access_enabled"] is not private
    assert vault["network_acls"]["default_action"] == ("Deny" if private else "Allow")
    _, storage = only(doc, "azurerm_storage_account")
    assert storage["min_tls_version"] == "TLS1_2"
    assert storage["https_traffic_only_enabled"] is True
    assert storage["allow_nested_items_to_be_public"] is False
    assert storage["public_network_access_enabled"] is not private
    blobs = storage["blob_properties"]
    assert blobs["delete_retention_policy"] == {"days": BLOB_SOFT_DELETE_DAYS}
    assert blobs["container_delete_retention_policy"] == {"days": BLOB_SOFT_DELETE_DAYS}
    assert storage["sas_policy"] == {
        "expiration_period": SAS_EXPIRATION_PERIOD,
        "expiration_action": "Log",
    }
    logs_key, _ = only(doc, "azurerm_log_analytics_workspace")
    insights_key, insights = only(doc, "azurerm_application_insights")
    assert insights["workspace_id"] == ref("azurerm_log_analytics_workspace", logs_key, "id")
    _, workspace = only(doc, "azurerm_machine_learning_workspace")
    assert workspace["identity"] == {"type": "SystemAssigned"}
    assert workspace["public_network_access_enabled"] is not private
    assert workspace["application_insights_id"] == ref(
        "azurerm_application_insights", insights_key, "id"
    )
    for unique in (vault, storage):
        assert "sha1(join(" in unique["name"] and "subscription_id" in unique["name"]


@pytest.mark.parametrize("spec", WORKSPACES, ids=lambda s: s.name)
def test_globally_unique_names_follow_the_storage_naming_rule(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    """Lowercase letters and digits, 3 to 24 (CKV_AZURE_43 cannot evaluate the hash): a
    literal part, then `substr(sha1(...), 0, 8)`, 8 lowercase hex digits; long stack names are
    cut so that the whole stays within 24."""
    doc = synthesized[spec]
    for rtype, prefix in (("azurerm_storage_account", "st"), ("azurerm_key_vault", "kv")):
        _, body = only(doc, rtype)
        literal, _, rest = body["name"].partition("${")
        assert re.fullmatch(rf"{prefix}[a-z0-9]+", literal), literal
        assert rest.startswith("substr(sha1(") and rest.endswith(", 0, 8)}")
        assert len(literal) + 8 <= 24
    long_name = unique_name("st", "a-very-long-profile-name-x40-production-x1", "sub")
    literal = long_name.partition("$")[0]
    assert re.fullmatch(r"st[a-z0-9]+", literal) and len(literal) + 8 == 24


def test_private_workspace_is_reached_through_a_private_endpoint(synthesized: Synthesized) -> None:
    doc = synthesized[ML_PRIVATE]
    workspace_key, _ = only(doc, "azurerm_machine_learning_workspace")
    _, endpoint = only(doc, "azurerm_private_endpoint")
    assert endpoint["subnet_id"] == SUBNET_ID
    connection = endpoint["private_service_connection"]
    assert connection["private_connection_resource_id"] == ref(
        "azurerm_machine_learning_workspace", workspace_key, "id"
    )
    assert connection["subresource_names"] == ["amlworkspace"]
    assert resources(synthesized[ML_PUBLIC], "azurerm_private_endpoint") == {}


@pytest.mark.parametrize("spec", WORKSPACES, ids=lambda s: s.name)
def test_endpoint_identity_reads_workspace_storage_and_what_the_profile_names(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    storage_key, _ = only(doc, "azurerm_storage_account")
    expected = {(BLOB_READER, ref("azurerm_storage_account", storage_key, "id"))}
    if spec is ML_PRIVATE:
        expected |= {(SECRET_READER, SECRET_ID), (BLOB_READER, CONTAINER_ID)}
    assert role_assignments(doc) == expected


@pytest.mark.parametrize("spec", WORKSPACES, ids=lambda s: s.name)
def test_workspace_outputs_for_the_sdk_steps(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    outputs = {name: body["value"] for name, body in service_outputs(doc).items()}
    identity_key, _ = only(doc, "azurerm_user_assigned_identity")
    workspace_key, _ = only(doc, "azurerm_machine_learning_workspace")
    (client_key,) = doc["data"]["azurerm_client_config"]
    group_key, _ = only(doc, "azurerm_resource_group")
    assert outputs == {
        "subscription_id": ref("data.azurerm_client_config", client_key, "subscription_id"),
        "resource_group_name": ref("azurerm_resource_group", group_key, "name"),
        "workspace_name": ref("azurerm_machine_learning_workspace", workspace_key, "name"),
        "region": spec.region,
        "online_endpoint_name": spec.stack_name,
        "identity_id": ref("azurerm_user_assigned_identity", identity_key, "id"),
    }


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("chat-prod", "chat-prod"),
        ("a" * 30 + "-prod", "a" * 30 + "-p"),
        ("a" * 31 + "-prod", "a" * 31),  # no hyphen last
        ("8b-chat-prod", "e-8b-chat-prod"),  # a letter first
    ],
)
def test_online_endpoint_name(stack: str, expected: str) -> None:
    assert online_endpoint_name(stack) == expected
    assert re.fullmatch(r"[a-z][a-z0-9-]{1,30}[a-z0-9]", expected)


# ---------------------------------------------------------------------------------------------
# Every resource: tags, structs


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_every_taggable_resource_carries_the_cost_tags(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    untagged = []
    for rtype, bodies in doc["resource"].items():
        for key, body in bodies.items():
            if azurerm_supports_tags(rtype) and body.get("tags") != {
                **spec.tags,
                STACK_TAG: spec.stack_name,
            }:
                untagged.append(f"{rtype}.{key}")
    assert untagged == []
    for rtype in ("azurerm_user_assigned_identity",):
        assert all("tags" in body for body in resources(doc, rtype).values())


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_lists_of_structs_keep_their_fields(synthesized: Synthesized, spec: DeploymentSpec) -> None:
    """DESIGN trap: jsii turns a list of structs passed as plain dicts into `{}`."""
    doc = synthesized[spec]
    assert empty_structs(doc["resource"]) == []
    assert empty_structs(doc["provider"]) == []


def test_fleet_outputs(synthesized: Synthesized) -> None:
    doc = synthesized[MIXED]
    lb_key, _ = only(doc, "azurerm_lb")
    (spot_key, _), *_ = by_priority(doc, "Spot")
    outputs = {name: body["value"] for name, body in service_outputs(doc).items()}
    assert outputs["endpoint_url"] == (
        f"http://${{azurerm_lb.{lb_key}.frontend_ip_configuration[0].private_ip_address}}"
    )
    assert outputs["scale_set_name"] == ref(
        "azurerm_linux_virtual_machine_scale_set", spot_key, "name"
    )


# ---------------------------------------------------------------------------------------------
# Refusals, one sentence each, before anything is written


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"network": Network(vpc_id="vpc-0a1b2c3d", subnet_ids=[SUBNET_ID])}, "is an AWS VPC"),
        ({"network": Network(subnet_ids=[SUBNET_ID, SUBNET_ID])}, "give one subnet resource ID"),
        ({"network": Network(subnet_ids=["subnet-0a1b2c3d"])}, "not an Azure subnet resource ID"),
        (
            {
                "capacity": CapacitySpec(
                    **{**msgspec.to_builtins(MIXED.capacity), "spot_percentage_above_base": 70}
                )
            },
            "all spot or all regular",
        ),
        (
            {
                "runtime": msgspec.structs.replace(MIXED.runtime, model_s3_uri="s3://bucket/llama"),
                "azure": AzureOptions(subscription_id=SUBSCRIPTION),
            },
            "deploy.model_s3_uri is in S3",
        ),
        (
            {
                "runtime": msgspec.structs.replace(MIXED.runtime, hf_token_ssm_parameter="/hf"),
                "azure": AzureOptions(subscription_id=SUBSCRIPTION),
            },
            "is an AWS SSM parameter",
        ),
        (
            {"runtime": msgspec.structs.replace(MIXED.runtime, image="other.azurecr.io/vllm:1")},
            "set deploy.azure.container_registry_id",
        ),
        (
            {
                "azure": AzureOptions(
                    subscription_id=SUBSCRIPTION, container_registry_id=REGISTRY_ID
                )
            },
            "is not in that registry",
        ),
        (
            {"network": Network(public=True, ingress_cidrs=CLIENT_CIDRS)},
            "cannot terminate TLS, so it cannot be a public HTTPS endpoint; remove "
            "deploy.network.public",
        ),
    ],
    ids=[
        "vpc-id",
        "two-subnets",
        "aws-subnet",
        "spot-mix",
        "s3-weights",
        "ssm-token",
        "acr",
        "acr-mismatch",
        "public",
    ],
)
def test_refusals_are_one_sentence_and_write_nothing(
    tmp_path: Path, synthesized: Synthesized, changes: dict[str, Any], expected: str
) -> None:
    spec = msgspec.structs.replace(MIXED, **changes)
    with pytest.raises(AzureSpecError) as caught:
        synthesize_one(tmp_path, spec)
    message = str(caught.value)
    assert expected in message and spec.stack_name in message
    one_sentence(message)
    assert written(tmp_path / "out") == []


def test_workspace_refuses_a_foreign_subnet(tmp_path: Path, synthesized: Synthesized) -> None:
    spec = msgspec.structs.replace(ML_PRIVATE, network=Network(subnet_ids=["subnet-0a1b2c3d"]))
    with pytest.raises(AzureSpecError, match="not an Azure subnet resource ID"):
        synthesize_one(tmp_path, spec)


# ---------------------------------------------------------------------------------------------
# terraform validate, where an azurerm provider is available


@pytest.mark.terraform
@pytest.mark.parametrize("spec", [MIXED, REGULAR, LISTED, ML_PRIVATE], ids=lambda s: s.name)
def test_terraform_validate(tmp_path: Path, synthesized: Synthesized, spec: DeploymentSpec) -> None:
    validate_with_mirror(synthesized[spec], tmp_path, ("azurerm",))


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_the_stack_records_its_spec(synthesized: Synthesized, spec: DeploymentSpec) -> None:
    assert_records_its_spec(synthesized[spec], spec)
