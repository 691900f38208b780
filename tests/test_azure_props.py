"""The Azure constructs' props: each construct built with its required props alone synthesizes
the secure configuration, relaxing one default shows in the JSON, and every props field says
what it is and, when optional, what it defaults to."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from typing import Any

import pytest

from modules.azure import (
    autoscale,
    dashboard,
    fleet_alerts,
    identity,
    load_balancer,
    ml_workspace,
    network,
    resource_group,
    scale_set,
)
from modules.azure.identity import (
    BLOB_READER,
    Grant,
    ServingIdentity,
    ServingIdentityProps,
)
from modules.azure.load_balancer import ServingLoadBalancer, ServingLoadBalancerProps
from modules.azure.ml_workspace import MlWorkspace, MlWorkspaceProps
from modules.azure.network import (
    LOWEST_PRIORITY,
    ServingNetwork,
    ServingNetworkProps,
    ServingSecurityGroup,
    ServingSecurityGroupProps,
)
from modules.azure.resource_group import ResourceGroupProps, StackResourceGroup
from modules.azure.scale_set import UNUSABLE_SSH_KEY, GpuScaleSet, GpuScaleSetProps
from tests.stack_json import data_sources, only, resources
from tests.stack_json import synth_construct as synth

PLACED = {"resource_group_name": "rg-test", "location": "eastus"}
ARM = "/subscriptions/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/resourceGroups"
SUBNET_ID = f"{ARM}/rg-net/providers/Microsoft.Network/virtualNetworks/hub/subnets/serving"
CONTAINER_ID = (
    f"{ARM}/rg-models/providers/Microsoft.Storage/storageAccounts/mymodels"
    "/blobServices/default/containers/weights"
)
OPS_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdvb2Qga2V5IGZvciB0aGUgc2NhZmZvbGQ= ops"
PROPS_MODULES = (
    autoscale,
    dashboard,
    fleet_alerts,
    identity,
    load_balancer,
    ml_workspace,
    network,
    resource_group,
    scale_set,
)


def scale_set_props(**relaxed: Any) -> GpuScaleSetProps:
    required = {
        "name": "fleet",
        "instance_type": "Standard_NC24ads_A100_v4",
        "instances": 1,
        "os_disk_size_gib": 130,
        "health_check_grace_s": 840,
        "subnet_id": SUBNET_ID,
        "security_group_id": "nsg-id",
        "backend_pool_id": "pool-id",
        "health_probe_id": "probe-id",
        "identity_id": "identity-id",
        "custom_data": "#!/bin/sh\n",
        **PLACED,
    }
    return GpuScaleSetProps(**{**required, **relaxed})


def the_scale_set(doc: dict[str, Any]) -> dict[str, Any]:
    return only(doc, "azurerm_linux_virtual_machine_scale_set")[1]


def test_a_scale_set_from_required_props_is_encrypted_keyless_private_and_fixed() -> None:
    vmss = the_scale_set(synth(lambda scope: GpuScaleSet(scope, "vmss", scale_set_props())))
    assert vmss["encryption_at_host_enabled"] is True
    assert vmss["disable_password_authentication"] is True
    assert "admin_password" not in vmss
    assert [key["public_key"] for key in vmss["admin_ssh_key"]] == [UNUSABLE_SSH_KEY]
    assert vmss["identity"] == {"type": "UserAssigned", "identity_ids": ["identity-id"]}
    (interface,) = vmss["network_interface"]
    assert interface["network_security_group_id"] == "nsg-id"
    assert all("public_ip_address" not in ip for ip in interface["ip_configuration"])
    assert vmss["priority"] == "Regular"
    assert "max_bid_price" not in vmss and "eviction_policy" not in vmss
    assert "zones" not in vmss
    assert "lifecycle" not in vmss


def test_a_scale_set_shows_each_relaxed_default() -> None:
    props = scale_set_props(
        encryption_at_host=False,
        admin_ssh_public_key=OPS_KEY,
        priority="Spot",
        zones=("1", "2"),
        autoscaled=True,
        public_ip_per_instance=True,
    )
    vmss = the_scale_set(synth(lambda scope: GpuScaleSet(scope, "vmss", props)))
    assert vmss["encryption_at_host_enabled"] is False
    assert [key["public_key"] for key in vmss["admin_ssh_key"]] == [OPS_KEY]
    assert (vmss["priority"], vmss["eviction_policy"]) == ("Spot", "Delete")
    assert vmss["zones"] == ["1", "2"]
    assert vmss["lifecycle"] == {"ignore_changes": ["instances"]}
    (ip,) = vmss["network_interface"][0]["ip_configuration"]
    assert ip["public_ip_address"] == [{"name": "public"}]
    # Relaxing some defaults leaves the others as they were.
    assert vmss["disable_password_authentication"] is True


def inbound_sources(doc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Source of each inbound rule: (access, port)."""
    rules = resources(doc, "azurerm_network_security_rule").values()
    return {
        rule["source_address_prefix"]: (rule["access"], rule["destination_port_range"])
        for rule in rules
        if rule["direction"] == "Inbound"
    }


def test_a_security_group_from_required_props_admits_no_public_range() -> None:
    props = ServingSecurityGroupProps(name="fleet", serving_port=8000, **PLACED)
    doc = synth(lambda scope: ServingSecurityGroup(scope, "security", props))
    assert inbound_sources(doc) == {
        "AzureLoadBalancer": ("Allow", "8000"),
        "VirtualNetwork": ("Allow", "8000"),
        "*": ("Deny", "*"),
    }
    deny = [
        rule
        for rule in resources(doc, "azurerm_network_security_rule").values()
        if rule["direction"] == "Inbound" and rule["access"] == "Deny"
    ]
    assert [rule["priority"] for rule in deny] == [LOWEST_PRIORITY]


def test_a_security_group_admits_exactly_the_ingress_ranges_given() -> None:
    props = ServingSecurityGroupProps(
        name="fleet", serving_port=8000, ingress_cidrs=("203.0.113.0/24",), **PLACED
    )
    doc = synth(lambda scope: ServingSecurityGroup(scope, "security", props))
    assert inbound_sources(doc)["203.0.113.0/24"] == ("Allow", "8000")
    assert len(inbound_sources(doc)) == 4


def test_a_network_from_required_props_leaves_only_through_its_nat_gateway() -> None:
    props = ServingNetworkProps(name="fleet", **PLACED)
    doc = synth(lambda scope: ServingNetwork(scope, "network", props))
    assert only(doc, "azurerm_subnet")[1]["default_outbound_access_enabled"] is False
    nat_key, _ = only(doc, "azurerm_nat_gateway")
    association = only(doc, "azurerm_subnet_nat_gateway_association")[1]
    assert association["nat_gateway_id"] == f"${{azurerm_nat_gateway.{nat_key}.id}}"
    # The NAT gateway's address is the only public one.
    address_key, _ = only(doc, "azurerm_public_ip")
    link = only(doc, "azurerm_nat_gateway_public_ip_association")[1]
    assert link["public_ip_address_id"] == f"${{azurerm_public_ip.{address_key}.id}}"


def test_a_network_given_a_subnet_makes_nothing() -> None:
    props = ServingNetworkProps(name="fleet", existing_subnet_id=SUBNET_ID, **PLACED)
    made: list[ServingNetwork] = []
    doc = synth(lambda scope: made.append(ServingNetwork(scope, "network", props)))
    assert "resource" not in doc
    assert made[0].subnet_id == SUBNET_ID


def test_an_identity_from_required_props_holds_no_role() -> None:
    props = ServingIdentityProps(name="fleet-serving", **PLACED)
    doc = synth(lambda scope: ServingIdentity(scope, "identity", props))
    only(doc, "azurerm_user_assigned_identity")
    assert resources(doc, "azurerm_role_assignment") == {}


def test_an_identity_holds_exactly_the_roles_granted() -> None:
    grant = Grant("weights", BLOB_READER, CONTAINER_ID)
    props = ServingIdentityProps(name="fleet-serving", grants=(grant,), **PLACED)
    doc = synth(lambda scope: ServingIdentity(scope, "identity", props))
    role = only(doc, "azurerm_role_assignment")[1]
    assert (role["role_definition_name"], role["scope"]) == (BLOB_READER, CONTAINER_ID)


def workspace_props(**relaxed: Any) -> MlWorkspaceProps:
    return MlWorkspaceProps(
        name="chat", tenant_id="tenant", subscription_id="subscription", **PLACED, **relaxed
    )


def public_access(doc: dict[str, Any]) -> dict[str, bool]:
    return {
        rtype: only(doc, rtype)[1]["public_network_access_enabled"]
        for rtype in (
            "azurerm_machine_learning_workspace",
            "azurerm_key_vault",
            "azurerm_storage_account",
        )
    }


def test_a_workspace_from_required_props_has_no_public_network_access() -> None:
    doc = synth(lambda scope: MlWorkspace(scope, "workspace", workspace_props()))
    assert set(public_access(doc).values()) == {False}
    assert only(doc, "azurerm_key_vault")[1]["network_acls"]["default_action"] == "Deny"
    assert resources(doc, "azurerm_private_endpoint") == {}


def test_a_workspace_given_a_subnet_is_reached_through_a_private_endpoint() -> None:
    props = workspace_props(private_endpoint_subnet_id=SUBNET_ID)
    doc = synth(lambda scope: MlWorkspace(scope, "workspace", props))
    assert only(doc, "azurerm_private_endpoint")[1]["subnet_id"] == SUBNET_ID


def test_a_workspace_with_public_network_access_shows_it_everywhere() -> None:
    props = workspace_props(public_network_access=True, private_endpoint_subnet_id=SUBNET_ID)
    doc = synth(lambda scope: MlWorkspace(scope, "workspace", props))
    assert set(public_access(doc).values()) == {True}
    assert only(doc, "azurerm_key_vault")[1]["network_acls"]["default_action"] == "Allow"
    assert resources(doc, "azurerm_private_endpoint") == {}


def test_a_load_balancer_has_only_a_private_frontend() -> None:
    props = ServingLoadBalancerProps(
        name="fleet", subnet_id=SUBNET_ID, port=8000, health_path="/health", **PLACED
    )
    doc = synth(lambda scope: ServingLoadBalancer(scope, "lb", props))
    (frontend,) = only(doc, "azurerm_lb")[1]["frontend_ip_configuration"]
    assert frontend["subnet_id"] == SUBNET_ID
    assert not {"public_ip_address_id", "public_ip_prefix_id"} & set(frontend)
    assert resources(doc, "azurerm_public_ip") == {}


def test_a_resource_group_is_made_unless_an_existing_one_is_named() -> None:
    props = ResourceGroupProps(name="chat", location="eastus")
    made = synth(lambda scope: StackResourceGroup(scope, "rg", props))
    assert only(made, "azurerm_resource_group")[1]["name"] == "chat"
    existing_props = dataclasses.replace(props, existing_name="rg-serving")
    found = synth(lambda scope: StackResourceGroup(scope, "rg", existing_props))
    assert "resource" not in found
    (existing,) = data_sources(found, "azurerm_resource_group").values()
    assert existing["name"] == "rg-serving"


def props_classes() -> list[type]:
    return [
        cls
        for module in PROPS_MODULES
        for name, cls in vars(module).items()
        if name.endswith("Props") and inspect.isclass(cls) and cls.__module__ == module.__name__
    ]


def field_docstrings(cls: type) -> dict[str, str]:
    """Each field's attribute docstring: the string statement right after its annotation."""
    (node,) = ast.parse(inspect.getsource(cls)).body
    assert isinstance(node, ast.ClassDef)
    docs = {}
    for field, after in zip(node.body, node.body[1:], strict=False):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(field.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[field.target.id] = after.value.value
    return docs


def test_every_azure_construct_taking_props_is_covered() -> None:
    assert {cls.__name__ for cls in props_classes()} == {
        "FleetAlertsProps",
        "FleetAutoscaleProps",
        "GpuScaleSetProps",
        "MlWorkspaceProps",
        "ResourceGroupProps",
        "ScheduledSizeProps",
        "ServingDashboardProps",
        "ServingIdentityProps",
        "ServingLoadBalancerProps",
        "ServingNetworkProps",
        "ServingSecurityGroupProps",
    }


@pytest.mark.parametrize("cls", props_classes(), ids=lambda cls: cls.__name__)
def test_props_are_frozen_keyword_only_and_every_field_documents_its_default(cls: type) -> None:
    params = getattr(cls, "__dataclass_params__", None)
    assert params is not None and params.frozen, f"{cls.__name__} is not a frozen dataclass"
    docs = field_docstrings(cls)
    for field in dataclasses.fields(cls):
        assert field.kw_only, f"{cls.__name__}.{field.name} is positional"
        doc = " ".join(docs.get(field.name, "").split())
        if field.default is dataclasses.MISSING:
            assert doc.startswith("(Required) "), f"{cls.__name__}.{field.name}: {doc!r}"
        else:
            assert doc.startswith("(Optional) ") and "Defaults to" in doc, (
                f"{cls.__name__}.{field.name} does not say its default: {doc!r}"
            )


def test_props_cannot_be_changed_after_they_are_made() -> None:
    props = ServingSecurityGroupProps(name="fleet", serving_port=8000, **PLACED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        props.ingress_cidrs = ("0.0.0.0/0",)  # type: ignore[misc]
