"""The GCP constructs' props: each construct built from its required props alone synthesizes the
secure configuration (Shielded VM, no external IP, OS Login, no public ingress, telemetry-only
identity, a rotated customer-managed key), and a caller who relaxes one setting sees exactly that
setting change. Also: every props class is frozen and keyword-only, and every field says what it
defaults to or that it is required.

Constructs are synthesized in a bare stack (cdktn's Testing app), without a spec or a stack of
this project: what they do is what their props say.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from typing import Any

import pytest
from constructs import Construct

from modules.gcp import (
    firewall,
    https_frontend,
    instance_group,
    instance_template,
    load_balancer,
    network,
    service_account,
    vertex,
)
from modules.gcp.firewall import (
    GOOGLE_LOAD_BALANCER_RANGES,
    LoadBalancerFirewall,
    LoadBalancerFirewallProps,
)
from modules.gcp.https_frontend import PublicHttpsFrontend, PublicHttpsFrontendProps
from modules.gcp.instance_group import GroupPlan, ServingInstanceGroup, ServingInstanceGroupProps
from modules.gcp.instance_template import GpuInstanceTemplate, GpuInstanceTemplateProps
from modules.gcp.load_balancer import (
    ServingHealthCheck,
    ServingHealthCheckProps,
    ServingLoadBalancer,
    ServingLoadBalancerProps,
)
from modules.gcp.network import PROXY_ONLY_CIDR, ServingNetwork, ServingNetworkProps
from modules.gcp.service_account import (
    TELEMETRY_ROLES,
    ServingServiceAccount,
    ServingServiceAccountProps,
)
from modules.gcp.vertex import (
    EndpointEncryptionKey,
    EndpointEncryptionKeyProps,
    ServingEndpoint,
    ServingEndpointProps,
)
from tests.stack_json import only, resources
from tests.stack_json import synth_construct as synth

STACK = "props-test"
PROJECT = "props-project-1"
REGION = "us-central1"
SERVICE_ACCOUNT = "serving@props-project-1.iam.gserviceaccount.com"
SUBNET = "projects/props-project-1/regions/us-central1/subnetworks/serving"
PROPS_MODULES = (
    firewall,
    https_frontend,
    instance_group,
    instance_template,
    load_balancer,
    network,
    service_account,
    vertex,
)


def template_props(**relaxed: Any) -> GpuInstanceTemplateProps:
    return GpuInstanceTemplateProps(
        stack_name=STACK,
        machine_type="g2-standard-8",
        accelerator="L4",
        accelerators_per_instance=1,
        engine="vllm",
        boot_disk_gib=200,
        startup_script="#!/bin/bash\n",
        subnetwork=SUBNET,
        subnetwork_project=PROJECT,
        service_account_email=SERVICE_ACCOUNT,
        **relaxed,
    )


def template_json(**relaxed: Any) -> dict[str, Any]:
    doc = synth(lambda stack: GpuInstanceTemplate(stack, "template", template_props(**relaxed)))
    return only(doc, "google_compute_instance_template")[1]


def balancer_props(**relaxed: Any) -> ServingLoadBalancerProps:
    return ServingLoadBalancerProps(
        stack_name=STACK,
        region=REGION,
        network="projects/props-project-1/global/networks/net",
        subnetwork=SUBNET,
        health_check_id="health",
        instance_groups=("group",),
        requests_per_minute=120,
        **relaxed,
    )


# ---------------------------------------------------------------------------------------------
# Every props class


def props_classes() -> list[type]:
    return [
        value
        for module in PROPS_MODULES
        for name, value in vars(module).items()
        if name.endswith("Props") and dataclasses.is_dataclass(value)
    ]


def test_every_construct_of_the_package_takes_one_props_object() -> None:
    constructs = [
        value
        for module in PROPS_MODULES
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Construct)
        and value.__module__ == module.__name__
    ]
    assert len(constructs) == 10
    for construct in constructs:
        parameters = list(inspect.signature(construct.__init__).parameters)
        assert parameters == ["self", "scope", "id", "props"], construct.__name__
        assert f"{construct.__name__}Props" in {cls.__name__ for cls in props_classes()}


@pytest.mark.parametrize("props", props_classes(), ids=lambda cls: cls.__name__)
def test_props_are_frozen_keyword_only_and_document_every_default(props: type) -> None:
    params = props.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen and all(field.kw_only for field in dataclasses.fields(props))
    body = ast.parse(inspect.getsource(props)).body[0]
    assert isinstance(body, ast.ClassDef)
    statements = body.body
    documented = {}
    for index, statement in enumerate(statements):
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            following = statements[index + 1] if index + 1 < len(statements) else None
            assert isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
            documented[statement.target.id] = (statement.value is not None, following.value.value)
    assert set(documented) == {field.name for field in dataclasses.fields(props)}
    for name, (has_default, doc) in documented.items():
        assert ("Default:" in doc) == has_default and ("Required" in doc) != has_default, name


def test_props_cannot_be_changed_or_given_by_position() -> None:
    props = template_props()
    with pytest.raises(dataclasses.FrozenInstanceError):
        props.secure_boot = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        EndpointEncryptionKeyProps(STACK, REGION)  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Instance template


def test_instance_template_defaults_are_the_secure_ones() -> None:
    template = template_json()
    assert template["shielded_instance_config"] == {
        "enable_secure_boot": True,
        "enable_vtpm": True,
        "enable_integrity_monitoring": True,
    }
    (interface,) = template["network_interface"]
    assert interface == {"subnetwork": SUBNET, "subnetwork_project": PROJECT}  # no access_config
    assert template["can_ip_forward"] is False
    metadata = template["metadata"]
    assert metadata["enable-oslogin"] == "TRUE"
    assert metadata["block-project-ssh-keys"] == "TRUE"
    assert metadata["serial-port-enable"] == "FALSE"
    assert template["service_account"]["email"] == SERVICE_ACCOUNT
    assert template["scheduling"]["provisioning_model"] == "STANDARD"
    assert template["disk"][0]["labels"] == {}
    assert "guest_accelerator" not in template  # a G2 machine carries its GPU


def leaves(node: Any, path: tuple[str | int, ...] = ()) -> dict[tuple[str | int, ...], Any]:
    """Every value of a JSON document by its path (an empty object or list is a value)."""
    if isinstance(node, dict) and node:
        return {k: v for key, value in node.items() for k, v in leaves(value, (*path, key)).items()}
    if isinstance(node, list) and node:
        return {k: v for i, value in enumerate(node) for k, v in leaves(value, (*path, i)).items()}
    return {path: node}


RELAXED_TEMPLATE = {
    "secure_boot": ({"shielded_instance_config", "enable_secure_boot"}, False),
    "vtpm": ({"shielded_instance_config", "enable_vtpm"}, False),
    "integrity_monitoring": ({"shielded_instance_config", "enable_integrity_monitoring"}, False),
    "can_ip_forward": ({"can_ip_forward"}, True),
    "os_login": ({"metadata", "enable-oslogin"}, "FALSE"),
    "block_project_ssh_keys": ({"metadata", "block-project-ssh-keys"}, "FALSE"),
    "serial_port_access": ({"metadata", "serial-port-enable"}, "TRUE"),
}


@pytest.mark.parametrize("setting", sorted(RELAXED_TEMPLATE))
def test_relaxing_one_instance_template_setting_changes_that_setting_only(setting: str) -> None:
    keys, value = RELAXED_TEMPLATE[setting]
    secure = leaves(template_json())
    relaxed = leaves(template_json(**{setting: not getattr(template_props(), setting)}))
    changed = {path: relaxed.get(path) for path in secure.keys() | relaxed.keys()}
    changed = {path: found for path, found in changed.items() if secure.get(path) != found}
    assert [(set(path), found) for path, found in changed.items()] == [(keys, value)]


def test_an_external_ip_is_asked_for() -> None:
    (interface,) = template_json(external_ip=True)["network_interface"]
    assert interface["access_config"] == [{}]  # one ephemeral address


def test_guest_accelerators_of_an_n1_machine_come_from_the_props() -> None:
    n1 = synth(
        lambda stack: GpuInstanceTemplate(
            stack,
            "template",
            dataclasses.replace(template_props(), machine_type="n1-standard-8", accelerator="T4"),
        )
    )
    (_, found) = only(n1, "google_compute_instance_template")
    assert found["guest_accelerator"] == [{"type": "nvidia-tesla-t4", "count": 1}]


def test_spot_is_asked_for() -> None:
    scheduling = template_json(spot=True)["scheduling"]
    assert scheduling["provisioning_model"] == "SPOT"
    assert scheduling["instance_termination_action"] == "DELETE"


# ---------------------------------------------------------------------------------------------
# Identity, firewall, network


def test_service_account_defaults_to_telemetry_only() -> None:
    doc = synth(
        lambda stack: ServingServiceAccount(
            stack,
            "identity",
            ServingServiceAccountProps(stack_name=STACK, project=PROJECT, purpose="tests"),
        )
    )
    members = resources(doc, "google_project_iam_member")
    assert sorted(member["role"] for member in members.values()) == sorted(TELEMETRY_ROLES)
    granted = {
        rtype for rtype in doc["resource"] if rtype.endswith(("_iam_member", "_iam_binding"))
    }
    assert granted == {"google_project_iam_member"}


def test_service_account_reads_what_it_is_given_and_no_more() -> None:
    doc = synth(
        lambda stack: ServingServiceAccount(
            stack,
            "identity",
            ServingServiceAccountProps(
                stack_name=STACK, project=PROJECT, purpose="tests", model_gcs_uri="gs://w/m"
            ),
        )
    )
    _, reader = only(doc, "google_storage_bucket_iam_member")
    assert (reader["bucket"], reader["role"]) == ("w", "roles/storage.objectViewer")
    assert "google_secret_manager_secret_iam_member" not in doc["resource"]
    assert "google_artifact_registry_repository_iam_member" not in doc["resource"]


def firewall_sources(**relaxed: Any) -> list[str]:
    doc = synth(
        lambda stack: LoadBalancerFirewall(
            stack,
            "firewall",
            LoadBalancerFirewallProps(
                stack_name=STACK,
                project=PROJECT,
                network="net",
                port=8000,
                service_account_email=SERVICE_ACCOUNT,
                **relaxed,
            ),
        )
    )
    _, rule = only(doc, "google_compute_firewall")
    assert rule["target_service_accounts"] == [SERVICE_ACCOUNT]
    assert rule["allow"] == [{"protocol": "tcp", "ports": ["8000"]}]
    return rule["source_ranges"]


def test_firewall_admits_google_load_balancer_ranges_only_by_default() -> None:
    assert firewall_sources() == list(GOOGLE_LOAD_BALANCER_RANGES)
    assert firewall_sources(proxy_only_cidr=PROXY_ONLY_CIDR) == [
        *GOOGLE_LOAD_BALANCER_RANGES,
        PROXY_ONLY_CIDR,
    ]


def test_network_defaults_to_a_private_one_of_its_own() -> None:
    doc = synth(
        lambda stack: ServingNetwork(
            stack, "network", ServingNetworkProps(stack_name=STACK, project=PROJECT, region=REGION)
        )
    )
    subnets = resources(doc, "google_compute_subnetwork")
    purposes = sorted(subnet.get("purpose", "PRIVATE") for subnet in subnets.values())
    assert purposes == ["PRIVATE", "REGIONAL_MANAGED_PROXY"]  # internal load balancer by default
    assert all(
        subnet["private_ip_google_access"] for subnet in subnets.values() if "purpose" not in subnet
    )
    only(doc, "google_compute_router_nat")
    assert "google_compute_firewall" not in doc["resource"]  # no ingress of its own


# ---------------------------------------------------------------------------------------------
# Load balancer, health check, HTTPS frontend


def test_load_balancer_defaults_to_internal_and_regional() -> None:
    doc = synth(lambda stack: ServingLoadBalancer(stack, "lb", balancer_props()))
    _, rule = only(doc, "google_compute_forwarding_rule")
    assert rule["load_balancing_scheme"] == "INTERNAL_MANAGED"
    assert rule["allow_global_access"] is False
    assert "google_compute_global_forwarding_rule" not in doc["resource"]
    assert "google_compute_global_address" not in doc["resource"]


def test_global_access_is_asked_for() -> None:
    doc = synth(lambda stack: ServingLoadBalancer(stack, "lb", balancer_props(global_access=True)))
    assert only(doc, "google_compute_forwarding_rule")[1]["allow_global_access"] is True


def test_a_public_load_balancer_without_ranges_admits_nobody() -> None:
    doc = synth(
        lambda stack: ServingLoadBalancer(
            stack, "lb", balancer_props(public=True, certificate_name="cert")
        )
    )
    _, policy = only(doc, "google_compute_security_policy")
    (rule,) = policy["rule"]
    assert rule["action"] == "deny(403)"
    assert rule["match"]["config"]["src_ip_ranges"] == ["*"]
    _, backend = only(doc, "google_compute_backend_service")
    assert backend["security_policy"].startswith("${google_compute_security_policy.")


def test_given_ranges_are_admitted_before_the_deny() -> None:
    doc = synth(
        lambda stack: ServingLoadBalancer(
            stack,
            "lb",
            balancer_props(public=True, certificate_name="cert", ingress_cidrs=("192.0.2.0/24",)),
        )
    )
    _, policy = only(doc, "google_compute_security_policy")
    allow, deny = policy["rule"]
    assert allow["action"] == "allow"
    assert allow["match"]["config"]["src_ip_ranges"] == ["192.0.2.0/24"]
    assert deny["action"] == "deny(403)"


def test_health_check_defaults_to_regional() -> None:
    props = ServingHealthCheckProps(stack_name=STACK, region=REGION, port=8000, path="/health")
    doc = synth(lambda stack: ServingHealthCheck(stack, "health", props))
    _, check = only(doc, "google_compute_region_health_check")
    assert check["http_health_check"] == {"port": 8000, "request_path": "/health"}
    global_doc = synth(
        lambda stack: ServingHealthCheck(
            stack, "health", dataclasses.replace(props, regional=False)
        )
    )
    only(global_doc, "google_compute_health_check")


def tls_policy(**relaxed: Any) -> dict[str, Any]:
    doc = synth(
        lambda stack: PublicHttpsFrontend(
            stack,
            "https",
            PublicHttpsFrontendProps(stack_name=STACK, url_map_id="map", **relaxed),
        )
    )
    return only(doc, "google_compute_ssl_policy")[1]


def test_https_frontend_defaults_to_restricted_tls_1_2_and_can_be_relaxed() -> None:
    secure = tls_policy()
    assert (secure["profile"], secure["min_tls_version"]) == ("RESTRICTED", "TLS_1_2")
    relaxed = tls_policy(min_tls_version="TLS_1_0", ssl_profile="COMPATIBLE")
    assert (relaxed["profile"], relaxed["min_tls_version"]) == ("COMPATIBLE", "TLS_1_0")


# ---------------------------------------------------------------------------------------------
# Instance group


def test_instance_group_never_takes_an_instance_away_to_update() -> None:
    plan = GroupPlan("on-demand", False, 2, 1, 4, True)
    props = ServingInstanceGroupProps(
        stack_name=STACK,
        plan=plan,
        region=REGION,
        instance_template_id="template",
        port=8000,
        health_check_id="health",
        health_check_grace_s=600,
    )
    doc = synth(lambda stack: ServingInstanceGroup(stack, "group", props))
    _, group = only(doc, "google_compute_region_instance_group_manager")
    assert group["update_policy"]["max_unavailable_fixed"] == 0
    assert "distribution_policy_zones" not in group
    assert "max_surge_fixed" not in group["update_policy"]
    zoned = synth(
        lambda stack: ServingInstanceGroup(
            stack, "group", dataclasses.replace(props, zones=("us-central1-a", "us-central1-b"))
        )
    )
    _, group = only(zoned, "google_compute_region_instance_group_manager")
    assert group["distribution_policy_zones"] == ["us-central1-a", "us-central1-b"]
    assert group["update_policy"]["max_surge_fixed"] == 2


# ---------------------------------------------------------------------------------------------
# Vertex AI


def vertex_json(**relaxed: Any) -> dict[str, Any]:
    def build(stack: Construct) -> None:
        key = EndpointEncryptionKey(
            stack, "encryption", EndpointEncryptionKeyProps(stack_name=STACK, region=REGION)
        )
        ServingEndpoint(
            stack,
            "endpoint",
            ServingEndpointProps(
                stack_name=STACK, project=PROJECT, region=REGION, encryption_key=key, **relaxed
            ),
        )

    return synth(build)


def test_vertex_endpoint_defaults_to_a_rotated_key_of_its_own() -> None:
    doc = vertex_json()
    key_id, key = only(doc, "google_kms_crypto_key")
    assert key["rotation_period"] == "7776000s"  # 90 days
    _, endpoint = only(doc, "google_vertex_ai_endpoint")
    assert endpoint["encryption_spec"] == {
        "kms_key_name": f"${{google_kms_crypto_key.{key_id}.id}}"
    }
    assert "private_service_connect_config" not in endpoint


def test_a_private_vertex_endpoint_admits_its_project_only() -> None:
    network_path = f"projects/{PROJECT}/global/networks/net"
    _, endpoint = only(vertex_json(private_network=network_path), "google_vertex_ai_endpoint")
    config = endpoint["private_service_connect_config"]
    assert config["project_allowlist"] == [PROJECT]
    assert config["psc_automation_configs"] == [{"project_id": PROJECT, "network": network_path}]
