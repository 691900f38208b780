"""The AWS constructs' props: a props object built with only its required fields synthesizes the
secure settings (IMDSv2 on the host only, an encrypted root volume, no ingress, an internal load
balancer, least-privilege roles, a rotated key), a caller relaxing one sees it in the JSON, and
every props class keeps the convention (frozen, keyword-only, a docstring on each field naming its
default; no construct takes the whole DeploymentSpec).

Each construct is synthesized alone in a cdktn Testing app; the provider binding loads once per
module (seconds), so all of them share one module-scoped synthesis.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from tests.stack_json import only, resources
from tests.stack_json import synth_construct as _synth

MODULES = Path(__file__).resolve().parent.parent / "modules" / "aws"
LAUNCH_TEMPLATE = {
    "name_prefix": "chat-prod-",
    "image_parameter": "/aws/service/example",
    "instance_type": "g5.xlarge",
    "user_data": "#!/bin/bash\n",
    "security_group_ids": ("sg-0123",),
    "instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/chat",
    "root_volume_gib": 200,
}
LOAD_BALANCER = {
    "name": "chat-prod",
    "vpc_id": "vpc-0123",
    "subnet_ids": ("subnet-a", "subnet-b"),
    "security_group_id": "sg-lb",
    "port": 8000,
    "health_path": "/health",
}
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/serving:1"


@pytest.fixture(scope="module")
def launch_templates() -> dict[str, dict[str, Any]]:
    from modules.aws.fleet import GpuLaunchTemplate, LaunchTemplateProps

    def build(relaxed: dict[str, Any]) -> Any:
        def add(stack: Any) -> None:
            GpuLaunchTemplate(stack, "lt", LaunchTemplateProps(**LAUNCH_TEMPLATE, **relaxed))

        return add

    cases = {
        "defaults": {},
        "imdsv1": {"http_tokens": "optional"},
        "hops": {"metadata_hop_limit": 2},
        "tags": {"metadata_tags": True},
        "unencrypted": {"root_volume_encrypted": False},
    }
    return {
        case: only(_synth(build(relaxed)), "aws_launch_template")[1]
        for case, relaxed in cases.items()
    }


def test_a_launch_template_defaults_to_imdsv2_on_the_host_and_an_encrypted_root_volume(
    launch_templates: dict[str, dict[str, Any]],
) -> None:
    template = launch_templates["defaults"]
    assert template["metadata_options"] == {
        "http_endpoint": "enabled",
        "http_tokens": "required",
        "http_put_response_hop_limit": 1,
        "instance_metadata_tags": "disabled",
    }
    (root,) = template["block_device_mappings"]
    assert root["ebs"]["encrypted"] == "true"
    assert "network_interfaces" not in template  # no public address of its own


@pytest.mark.parametrize(
    ("case", "path", "value"),
    [
        ("imdsv1", ("metadata_options", "http_tokens"), "optional"),
        ("hops", ("metadata_options", "http_put_response_hop_limit"), 2),
        ("tags", ("metadata_options", "instance_metadata_tags"), "enabled"),
    ],
)
def test_relaxing_a_metadata_default_shows_in_the_template(
    launch_templates: dict[str, dict[str, Any]], case: str, path: tuple[str, str], value: Any
) -> None:
    section, key = path
    assert launch_templates[case][section][key] == value
    assert launch_templates["defaults"][section][key] != value


def test_an_unencrypted_root_volume_must_be_asked_for(
    launch_templates: dict[str, dict[str, Any]],
) -> None:
    (root,) = launch_templates["unencrypted"]["block_device_mappings"]
    assert root["ebs"]["encrypted"] == "false"


@pytest.fixture(scope="module")
def security_groups() -> dict[str, dict[str, Any]]:
    from modules.aws.security import ServingSecurityGroups, ServingSecurityGroupsProps

    def build(**given: Any) -> Any:
        props = ServingSecurityGroupsProps(vpc_id="vpc-0123", serving_port=8000, **given)
        return lambda stack: ServingSecurityGroups(stack, "sg", props)

    return {
        "defaults": _synth(build()),
        "one-network": _synth(build(ingress_cidrs=("10.1.0.0/16",))),
    }


def _cidr_ingress(doc: dict[str, Any]) -> list[tuple[str, int]]:
    rules = resources(doc, "aws_vpc_security_group_ingress_rule").values()
    return sorted((rule["cidr_ipv4"], rule["from_port"]) for rule in rules if "cidr_ipv4" in rule)


def test_security_groups_default_to_no_ingress_but_the_load_balancers(
    security_groups: dict[str, dict[str, Any]],
) -> None:
    doc = security_groups["defaults"]
    assert _cidr_ingress(doc) == []
    rules = list(resources(doc, "aws_vpc_security_group_ingress_rule").values())
    assert [rule["from_port"] for rule in rules] == [8000]
    assert all("referenced_security_group_id" in rule for rule in rules)


def test_security_groups_let_in_only_the_networks_given(
    security_groups: dict[str, dict[str, Any]],
) -> None:
    assert _cidr_ingress(security_groups["one-network"]) == [("10.1.0.0/16", 80)]


@pytest.fixture(scope="module")
def load_balancers() -> dict[str, dict[str, Any]]:
    from modules.aws.load_balancer import ServingLoadBalancer, ServingLoadBalancerProps

    def build(**given: Any) -> dict[str, Any]:
        props = ServingLoadBalancerProps(**LOAD_BALANCER, **given)
        return _synth(lambda stack: ServingLoadBalancer(stack, "lb", props))

    certificate = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    return {
        "defaults": build(),
        "public": build(public=True, certificate_arn=certificate),
        "https": build(certificate_arn=certificate),
        "old-tls": build(certificate_arn=certificate, ssl_policy="ELBSecurityPolicy-2016-08"),
    }


def test_a_load_balancer_defaults_to_internal_and_strict_headers(
    load_balancers: dict[str, dict[str, Any]],
) -> None:
    _, balancer = only(load_balancers["defaults"], "aws_lb")
    assert balancer["internal"] is True
    assert balancer["drop_invalid_header_fields"] is True
    assert balancer["enable_deletion_protection"] is False
    _, public = only(load_balancers["public"], "aws_lb")
    assert public["internal"] is False


def test_https_listeners_default_to_the_recommended_tls_policy(
    load_balancers: dict[str, dict[str, Any]],
) -> None:
    from modules.aws.load_balancer import TLS_POLICY

    def policies(doc: dict[str, Any]) -> list[str]:
        listeners = resources(doc, "aws_lb_listener").values()
        return [item["ssl_policy"] for item in listeners if item["protocol"] == "HTTPS"]

    assert policies(load_balancers["defaults"]) == []
    assert policies(load_balancers["https"]) == [TLS_POLICY]
    assert policies(load_balancers["old-tls"]) == ["ELBSecurityPolicy-2016-08"]


def _statements(doc: dict[str, Any]) -> dict[str, list[str]]:
    """Sids of each inline policy, by the policy's construct id."""
    return {
        key: [statement["Sid"] for statement in json.loads(policy["policy"])["Statement"]]
        for key, policy in resources(doc, "aws_iam_role_policy").items()
    }


@pytest.fixture(scope="module")
def roles() -> dict[str, dict[str, Any]]:
    from modules.aws.iam import (
        SagemakerExecutionRole,
        SagemakerExecutionRoleProps,
        ServingInstanceRole,
        ServingInstanceRoleProps,
    )

    def instance(**given: Any) -> dict[str, Any]:
        props = ServingInstanceRoleProps(name_prefix="chat-prod", **given)
        return _synth(lambda stack: ServingInstanceRole(stack, "role", props))

    def sagemaker(**given: Any) -> dict[str, Any]:
        props = SagemakerExecutionRoleProps(
            name_prefix="chat-prod", endpoint_name="chat-prod", region="us-east-1", image=IMAGE
        )
        props = dataclasses.replace(props, **given)
        return _synth(lambda stack: SagemakerExecutionRole(stack, "role", props))

    return {
        "instance": instance(),
        "instance-reads": instance(model_s3_uri="s3://weights/chat", secret_parameter="/hf"),
        "sagemaker": sagemaker(),
        "sagemaker-vpc": sagemaker(in_vpc=True),
    }


def test_the_instance_role_reads_nothing_unless_given_a_prefix_or_a_parameter(
    roles: dict[str, dict[str, Any]],
) -> None:
    assert [sids for key, sids in _statements(roles["instance"]).items() if "model" in key] == []
    granted = [sids for key, sids in _statements(roles["instance-reads"]).items() if "model" in key]
    assert granted == [["ListModelPrefix", "ReadModelObjects", "ReadModelHubToken"]]


def test_the_sagemaker_role_pulls_its_image_and_writes_its_logs_only_by_default(
    roles: dict[str, dict[str, Any]],
) -> None:
    (sids,) = _statements(roles["sagemaker"]).values()
    assert sids == ["EcrLogin", "PullServingImage", "EndpointLogs"]
    (in_vpc,) = _statements(roles["sagemaker-vpc"]).values()
    assert in_vpc == [*sids, "EndpointNetworkInterfaces"]


def test_the_endpoint_key_rotates_and_waits_the_longest_before_deletion() -> None:
    from modules.aws.sagemaker import EndpointEncryptionKey, EndpointEncryptionKeyProps

    props = EndpointEncryptionKeyProps(name="chat-prod")
    _, key = only(_synth(lambda stack: EndpointEncryptionKey(stack, "key", props)), "aws_kms_key")
    assert key["enable_key_rotation"] is True
    assert key["deletion_window_in_days"] == 30


def _props_classes() -> dict[str, ast.ClassDef]:
    """Every *Props class of modules/aws, by file:class."""
    return {
        f"{path.name}:{node.name}": node
        for path in sorted(MODULES.glob("*.py"))
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.ClassDef) and node.name.endswith("Props")
    }


PROPS = _props_classes()


def test_the_aws_modules_have_props_classes() -> None:
    assert len(PROPS) >= 10


@pytest.mark.parametrize("where", sorted(PROPS))
def test_props_are_frozen_keyword_only_and_document_each_default(where: str) -> None:
    node = PROPS[where]
    (decorator,) = node.decorator_list
    assert ast.unparse(decorator) == "dataclass(frozen=True, kw_only=True)", where
    body = node.body
    for index, statement in enumerate(body):
        if not isinstance(statement, ast.AnnAssign):
            continue
        field = ast.unparse(statement.target)
        following = body[index + 1] if index + 1 < len(body) else None
        assert isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant), (
            f"{where}.{field} has no docstring"
        )
        doc = str(following.value.value)
        expected = "Required." if statement.value is None else "Default"
        assert expected in doc, f"{where}.{field}: the docstring does not say {expected!r}"


def test_no_aws_construct_takes_the_deployment_spec() -> None:
    for path in sorted(MODULES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base) == "Construct" for base in node.bases
            ):
                source = ast.unparse(node)
                assert "DeploymentSpec" not in source, f"{path.name}:{node.name}"
