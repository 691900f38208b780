"""AwsGpuFleetStack: assertions on the synthesized Terraform JSON (cdktf.out/stacks/*/cdk.tf.json).

Synthesis goes through orchestrator.synth.synthesize exactly as the CLI does. Loading the AWS
provider binding costs seconds, once per process: the specs share one synthesize call where they
can, and the fixtures are module-scoped. Every expectation is derived from the DeploymentSpec (or
from the constants the stack is meant to use), so a change in the stack's behaviour fails a test.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from modules.aws.latency_service import runs_exporter
from modules.aws.load_balancer import TLS_POLICY
from modules.aws.spec_checks import AwsSpecError
from modules.tag_keys import STACK_TAG
from modules.tagging import MissingTagsError
from modules.user_data import UserDataError, render_user_data
from orchestrator.synth import UnsupportedTarget, synthesize
from planner.deployment import HEALTH_PATHS, CapacitySpec, DeploymentSpec, RuntimeSpec, ScalingSpec
from planner.images import DEFAULT_IMAGES, NEURON_IMAGES
from planner.profile import Network, StateBackend
from providers.aws.amis import GPU_AMI_PARAMETER, NEURON_AMI_PARAMETER, ami_parameter
from providers.aws.neuron import COMPILE_GRACE_S
from tests.stack_json import (
    Synthesized,
    assert_records_its_spec,
    binding_supports_tags,
    data_sources,
    empty_structs,
    only,
    ref,
    resources,
    synthesize_specs,
    validate_with_mirror,
    written,
)

AWS_PROVIDER_VERSION = ">= 5.100, < 7"
TAGS = {"team": "ml-platform", "cost-center": "cc-4242", "env": "prod", "project": "chat"}
REQUIRED_TAGS = ["team", "cost-center", "env"]
MANAGED_POLICIES = {"AmazonEC2ContainerRegistryReadOnly"}
SSM_AGENT_ACTIONS = {
    # AWS's documented minimal Session Manager policy
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "s3:GetEncryptionConfiguration",
    # Run Command
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
}
MODEL_BUCKET = "models-bucket"
MODEL_PREFIX = "llama/8b"
HF_PARAMETER = "/serving/hf-token"
PUBLIC_CIDRS = ["203.0.113.0/24", "198.51.100.7/32"]
EXISTING_SUBNETS = ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"]
WORLD = "0.0.0.0/0"
CERTIFICATE_ARN = (
    "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
)


def make_spec(
    name: str,
    *,
    capacity: dict[str, Any] | None = None,
    runtime: dict[str, Any] | None = None,
    scaling: dict[str, Any] | None = None,
    **fields: Any,
) -> DeploymentSpec:
    """A private spot fleet of g5.12xlarge in two zones; sections and fields overridable."""
    capacity_fields: dict[str, Any] = {
        "min_size": 1,
        "desired": 2,
        "max_size": 4,
        "on_demand_base": 1,
        "spot_percentage_above_base": 70,
        "health_check_grace_s": 840,
    }
    runtime_fields: dict[str, Any] = {
        "engine": "vllm",
        "image": DEFAULT_IMAGES["vllm"],
        "model_id": "meta-llama/Llama-3.1-8B-Instruct",
        "precision": "bf16",
        "tensor_parallel": 1,
        "max_batch": 64,
        "health_path": HEALTH_PATHS["vllm"],
    }
    scaling_fields: dict[str, Any] = {
        "signal": "alb_requests_per_target",
        "target": 42.5,
        "p99_latency_alarm_s": 33.0,
    }
    spec_fields: dict[str, Any] = {
        "name": name,
        "env": "prod",
        "cloud": "aws",
        "kind": "fleet",
        "region": "us-east-1",
        "zones": ["use1-az1", "use1-az2"],
        "instance_type": "g5.12xlarge",
        "equivalent_instance_types": ["g6.12xlarge", "g5.24xlarge"],
        "accelerator": "A10G",
        "accelerators_per_instance": 4,
        "root_volume_gib": 130,
        "tags": dict(TAGS),
        "required_tags": list(REQUIRED_TAGS),
    }
    capacity_fields.update(capacity or {})
    runtime_fields.update(runtime or {})
    scaling_fields.update(scaling or {})
    spec_fields.update(fields)
    return DeploymentSpec(
        capacity=CapacitySpec(**capacity_fields),
        runtime=RuntimeSpec(**runtime_fields),
        scaling=ScalingSpec(**scaling_fields),
        **spec_fields,
    )


PRIVATE = make_spec("private")
PUBLIC = make_spec(
    "public",
    network=Network(public=True, ingress_cidrs=list(PUBLIC_CIDRS), certificate_arn=CERTIFICATE_ARN),
    root_volume_gib=250,
    capacity={"on_demand_base": 0, "spot_percentage_above_base": 100, "min_size": 0},
    runtime={
        "port": 8080,
        "model_s3_uri": f"s3://{MODEL_BUCKET}/{MODEL_PREFIX}/",
        "hf_token_ssm_parameter": HF_PARAMETER,
    },
    scaling={"target": 90.5, "p99_latency_alarm_s": 12.5},
)
OPEN = make_spec(
    "open", network=Network(public=True, ingress_cidrs=[WORLD], certificate_arn=CERTIFICATE_ARN)
)
INTERNAL_TLS = make_spec("internaltls", network=Network(certificate_arn=CERTIFICATE_ARN))
EXISTING = make_spec(
    "existing",
    network=Network(subnet_ids=list(EXISTING_SUBNETS)),
    equivalent_instance_types=[],
    capacity={
        "min_size": 2,
        "desired": 2,
        "max_size": 3,
        "on_demand_base": 2,
        "spot_percentage_above_base": 0,
    },
)
NEURON = make_spec(
    "neuron",
    instance_type="inf2.xlarge",
    equivalent_instance_types=[],
    accelerator="Inferentia2",
    accelerators_per_instance=1,
    capacity={"health_check_grace_s": COMPILE_GRACE_S},
    runtime={"image": NEURON_IMAGES["vllm"], "max_model_len": 4096},
)
ONE_ZONE = make_spec("onezone", zones=["use1-az4"])
PROTECTED = make_spec("guarded", protected=True)
EMULATED_SPECS = [PRIVATE, PUBLIC, OPEN, EXISTING, ONE_ZONE, INTERNAL_TLS]
ALL_SPECS = [*EMULATED_SPECS]

S3_STATE = make_spec(
    "remote",
    state_backend=StateBackend(
        s3_bucket="tf-state-bucket", region="eu-west-1", key_prefix="/t/ml/"
    ),
)
S3_STATE_DEFAULT_REGION = make_spec(
    "remote2", region="us-west-2", zones=[], state_backend=StateBackend(s3_bucket="tf-state-bucket")
)


# ---------------------------------------------------------------------------------------------
# Synthesis (one provider load for the whole module)


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize_specs(EMULATED_SPECS, tmp_path_factory.mktemp("emulated"), emulated=True)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory, emulated: Synthesized) -> Synthesized:
    """The private spec, and a protected one, synthesized for real AWS (after `emulated`: the
    binding is loaded)."""
    return synthesize_specs([PRIVATE, PROTECTED], tmp_path_factory.mktemp("real"), emulated=False)


@pytest.fixture(scope="module")
def s3_state(tmp_path_factory: pytest.TempPathFactory, emulated: Synthesized) -> Synthesized:
    root = tmp_path_factory.mktemp("s3-state")
    try:
        return synthesize_specs([S3_STATE, S3_STATE_DEFAULT_REGION], root, emulated=False)
    except RuntimeError as error:  # how a jsii validation error surfaces
        message = str(error).strip()
    pytest.fail(f"a stack with an S3 state backend does not synthesize: {message}", pytrace=False)


# ---------------------------------------------------------------------------------------------
# Helpers over the Terraform JSON


def lb_security_group(doc: dict[str, Any]) -> str:
    """The key of the security group the load balancer uses."""
    _, alb = only(doc, "aws_lb")
    (group,) = alb["security_groups"]
    match = re.fullmatch(r"\$\{aws_security_group\.([^.]+)\.id\}", group)
    assert match, group
    return match[1]


def instance_security_group(doc: dict[str, Any]) -> str:
    _, template = only(doc, "aws_launch_template")
    (group,) = template["vpc_security_group_ids"]
    match = re.fullmatch(r"\$\{aws_security_group\.([^.]+)\.id\}", group)
    assert match, group
    return match[1]


def ingress_rules(doc: dict[str, Any], group_key: str) -> list[dict[str, Any]]:
    group_id = ref("aws_security_group", group_key, "id")
    return [
        rule
        for rule in resources(doc, "aws_vpc_security_group_ingress_rule").values()
        if rule["security_group_id"] == group_id
    ]


def policy_documents(doc: dict[str, Any]) -> list[dict[str, Any]]:
    documents = [
        json.loads(body["policy"]) for body in resources(doc, "aws_iam_role_policy").values()
    ]
    documents += [json.loads(body["policy"]) for body in resources(doc, "aws_iam_policy").values()]
    return documents


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return found if isinstance(found, list) else [found]


def actions(statement: dict[str, Any]) -> list[str]:
    found = statement.get("Action", [])
    return [found] if isinstance(found, str) else list(found)


def user_data(doc: dict[str, Any]) -> str:
    _, template = only(doc, "aws_launch_template")
    return base64.b64decode(template["user_data"]).decode()


# ---------------------------------------------------------------------------------------------
# Provider and backend


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_provider_pinned_by_range_and_local_state_in_state_dir(
    emulated: Synthesized, spec: DeploymentSpec
) -> None:
    doc = emulated[spec]
    aws = doc["terraform"]["required_providers"]["aws"]
    assert aws["version"] == AWS_PROVIDER_VERSION
    assert aws["source"] == "hashicorp/aws"
    assert list(doc["terraform"]["backend"]) == ["local"]
    path = Path(doc["terraform"]["backend"]["local"]["path"])
    assert path.parent == emulated.state_dir(spec)
    assert path.name == "terraform.tfstate"
    (provider,) = doc["provider"]["aws"]
    assert provider["region"] == spec.region


def test_emulated_provider_uses_test_credentials(emulated: Synthesized) -> None:
    (provider,) = emulated[PRIVATE]["provider"]["aws"]
    assert provider["access_key"] == "test"
    assert provider["secret_key"] == "test"
    assert provider["skip_credentials_validation"] is True
    assert provider["s3_use_path_style"] is True


def test_real_provider_carries_no_credentials(real: Synthesized) -> None:
    (provider,) = real[PRIVATE]["provider"]["aws"]
    assert provider == {"region": PRIVATE.region}


@pytest.mark.parametrize(
    ("spec", "key", "region"),
    [
        (S3_STATE, "t/ml/remote/prod/terraform.tfstate", "eu-west-1"),
        (S3_STATE_DEFAULT_REGION, "infra/remote2/prod/terraform.tfstate", "us-west-2"),
    ],
    ids=["explicit-region", "spec-region"],
)
def test_s3_backend_locks_and_encrypts(
    s3_state: Synthesized, spec: DeploymentSpec, key: str, region: str
) -> None:
    backend = s3_state[spec]["terraform"]["backend"]
    assert list(backend) == ["s3"]
    assert backend["s3"] == {
        "bucket": "tf-state-bucket",
        "key": key,
        "region": region,
        "encrypt": True,
        "use_lockfile": True,
    }


# ---------------------------------------------------------------------------------------------
# Launch template


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_launch_template_secure_defaults(emulated: Synthesized, spec: DeploymentSpec) -> None:
    doc = emulated[spec]
    _, template = only(doc, "aws_launch_template")
    assert template["instance_type"] == spec.instance_type
    metadata = template["metadata_options"]
    assert metadata["http_tokens"] == "required"
    assert metadata["http_endpoint"] == "enabled"
    assert metadata["http_put_response_hop_limit"] == 1  # the host only, not its containers
    (device,) = template["block_device_mappings"]
    ebs = device["ebs"]
    assert ebs["volume_size"] == spec.root_volume_gib
    assert ebs["volume_type"] == "gp3"
    assert ebs["encrypted"] == "true"
    profile_key, _ = only(doc, "aws_iam_instance_profile")
    assert template["iam_instance_profile"]["arn"] == ref(
        "aws_iam_instance_profile", profile_key, "arn"
    )
    assert "network_interfaces" not in template  # no public IP path around the security group


def test_image_from_dlami_ssm_parameter(emulated: Synthesized) -> None:
    doc = emulated[PRIVATE]
    _, template = only(doc, "aws_launch_template")
    parameters = data_sources(doc, "aws_ssm_parameter")
    (key,) = [key for key, body in parameters.items() if body["name"] == GPU_AMI_PARAMETER]
    assert template["image_id"] == ref("data.aws_ssm_parameter", key, "value")


@pytest.fixture(scope="module")
def neuron(tmp_path_factory: pytest.TempPathFactory, emulated: Synthesized) -> dict[str, Any]:
    """The Inferentia2 fleet (after `emulated`: the binding is loaded)."""
    return synthesize_specs([NEURON], tmp_path_factory.mktemp("neuron"), emulated=True)[NEURON]


def test_inferentia_fleet_boots_the_neuron_image_from_the_neuron_dlami(
    neuron: dict[str, Any],
) -> None:
    assert ami_parameter("Inferentia2") == NEURON_AMI_PARAMETER
    _, template = only(neuron, "aws_launch_template")
    parameters = data_sources(neuron, "aws_ssm_parameter")
    (key,) = [key for key, body in parameters.items() if body["name"] == NEURON_AMI_PARAMETER]
    assert template["image_id"] == ref("data.aws_ssm_parameter", key, "value")
    assert all(body["name"] != GPU_AMI_PARAMETER for body in parameters.values())
    user_data = base64.b64decode(template["user_data"]).decode()
    assert user_data == render_user_data(NEURON)
    assert f"readonly IMAGE={NEURON_IMAGES['vllm']}\n" in user_data
    assert "--device neuron" in user_data and "neuron-ls" in user_data
    assert "nvidia" not in user_data.lower() and "--gpus" not in user_data
    # The GPU fleet's security defaults hold on Inferentia too.
    assert template["metadata_options"]["http_tokens"] == "required"
    assert template["metadata_options"]["http_put_response_hop_limit"] == 1
    (device,) = template["block_device_mappings"]
    assert device["ebs"]["encrypted"] == "true"
    _, group = only(neuron, "aws_autoscaling_group")
    assert group["health_check_grace_period"] == COMPILE_GRACE_S
    overrides = group["mixed_instances_policy"]["launch_template"]["override"]
    assert [override["instance_type"] for override in overrides] == ["inf2.xlarge"]


def test_what_neuron_cannot_serve_is_refused_before_synthesis() -> None:
    triton = make_spec(
        "neurontriton",
        instance_type="inf2.xlarge",
        accelerator="Inferentia2",
        accelerators_per_instance=1,
        runtime={"engine": "triton", "model_s3_uri": f"s3://{MODEL_BUCKET}/repo/"},
    )
    with pytest.raises(UserDataError, match=r"^neurontriton-prod: inf2\.xlarge has Inferentia2"):
        render_user_data(triton)


@pytest.mark.parametrize("spec", [PRIVATE, PUBLIC], ids=lambda s: s.name)
def test_user_data_is_the_rendered_script(emulated: Synthesized, spec: DeploymentSpec) -> None:
    script = user_data(emulated[spec])
    assert script == render_user_data(spec)
    assert script.startswith("#!/bin/bash\n")


def test_user_data_names_the_secret_parameter_never_a_secret(emulated: Synthesized) -> None:
    doc = emulated[PUBLIC]
    script = user_data(doc)
    assert HF_PARAMETER in script
    assert "aws ssm get-parameter" in script
    assert not re.search(r"hf_[A-Za-z0-9]{20,}", script)
    # The token only ever goes from `aws ssm get-parameter` through sed into a root-only file.
    assert script.count("HF_TOKEN=") == script.count("s/^/HF_TOKEN=/") == 1
    assert not re.search(r"hf_[A-Za-z0-9]{20,}", json.dumps(doc))


def test_lists_of_structs_keep_their_fields(emulated: Synthesized) -> None:
    """DESIGN trap: jsii turns a list of structs passed as plain dicts into `{}`."""
    for spec in ALL_SPECS:
        doc = emulated[spec]
        assert empty_structs(doc["resource"]) == [], spec.name
        _, template = only(doc, "aws_launch_template")
        (device,) = template["block_device_mappings"]
        assert device["device_name"] == "/dev/sda1"  # the DLAMI's root device
        assert device["ebs"]["volume_size"] == spec.root_volume_gib
        assert {entry["resource_type"] for entry in template["tag_specifications"]} == {
            "instance",
            "volume",
            "network-interface",
        }
        for entry in template["tag_specifications"]:
            assert entry["tags"] == spec.tags
        _, group = only(doc, "aws_autoscaling_group")
        overrides = group["mixed_instances_policy"]["launch_template"]["override"]
        assert all(entry.get("instance_type") for entry in overrides)
        assert all(entry.get("key") and "value" in entry for entry in group["tag"])
        for listener in resources(doc, "aws_lb_listener").values():
            assert listener["default_action"][0]["type"] in ("forward", "redirect")


# ---------------------------------------------------------------------------------------------
# Network and security


def test_new_vpc_in_the_spec_zone_ids(emulated: Synthesized) -> None:
    doc = emulated[PRIVATE]
    vpc_key, _ = only(doc, "aws_vpc")
    subnets = resources(doc, "aws_subnet")
    assert len(subnets) == 4
    for subnet in subnets.values():
        assert subnet["vpc_id"] == ref("aws_vpc", vpc_key, "id")
        assert subnet["map_public_ip_on_launch"] is False
    zone_ids = sorted(subnet["availability_zone_id"] for subnet in subnets.values())
    assert zone_ids == sorted(PRIVATE.zones * 2)


def test_single_zone_spec_keeps_its_priced_zone(emulated: Synthesized) -> None:
    """The planner priced spot in `zones`; the fleet's subnets must include that zone (the ALB
    needs a second one, which may be any)."""
    doc = emulated[ONE_ZONE]
    zone_ids = {
        subnet.get("availability_zone_id") for subnet in resources(doc, "aws_subnet").values()
    }
    assert ONE_ZONE.zones[0] in zone_ids


def test_existing_subnets_create_no_network(emulated: Synthesized) -> None:
    doc = emulated[EXISTING]
    for rtype in ("aws_vpc", "aws_subnet", "aws_nat_gateway", "aws_internet_gateway", "aws_eip"):
        assert resources(doc, rtype) == {}, rtype
    _, alb = only(doc, "aws_lb")
    assert alb["subnets"] == EXISTING_SUBNETS
    _, group = only(doc, "aws_autoscaling_group")
    assert group["vpc_zone_identifier"] == EXISTING_SUBNETS
    (given,) = data_sources(doc, "aws_subnet").values()
    assert given["id"] == EXISTING_SUBNETS[0]
    # Ingress defaults to the given VPC's own range.
    (vpc_key,) = data_sources(doc, "aws_vpc")
    (rule,) = ingress_rules(doc, lb_security_group(doc))
    assert rule["cidr_ipv4"] == ref("data.aws_vpc", vpc_key, "cidr_block")


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_new_vpc_default_security_group_allows_nothing(
    emulated: Synthesized, spec: DeploymentSpec
) -> None:
    """The VPC's default group is adopted with no rules; a user's own VPC is left alone."""
    doc = emulated[spec]
    groups = resources(doc, "aws_default_security_group")
    if spec.network.subnet_ids:
        assert groups == {}
        return
    vpc_key, _ = only(doc, "aws_vpc")
    (group,) = groups.values()
    assert group["vpc_id"] == ref("aws_vpc", vpc_key, "id")
    assert (group["ingress"], group["egress"]) == ([], [])


@pytest.mark.parametrize(
    ("spec", "cidrs"),
    [
        (PRIVATE, ["10.40.0.0/16"]),
        (INTERNAL_TLS, ["10.40.0.0/16"]),
        (PUBLIC, PUBLIC_CIDRS),
        (OPEN, [WORLD]),
    ],
    ids=["vpc-cidr-by-default", "vpc-cidr-over-https", "listed-cidrs", "world-when-asked"],
)
def test_load_balancer_ingress_only_from_allowed_cidrs(
    emulated: Synthesized, spec: DeploymentSpec, cidrs: list[str]
) -> None:
    """Port 80 from each allowed range; with a certificate, 443 from each as well."""
    doc = emulated[spec]
    rules = ingress_rules(doc, lb_security_group(doc))
    ports = [80, 443] if spec.network.certificate_arn else [80]
    assert sorted((rule["cidr_ipv4"], rule["from_port"]) for rule in rules) == sorted(
        (cidr, port) for cidr in cidrs for port in ports
    )
    for rule in rules:
        assert (rule["ip_protocol"], rule["to_port"]) == ("tcp", rule["from_port"])
        assert "referenced_security_group_id" not in rule


def listeners(doc: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {body["port"]: body for body in resources(doc, "aws_lb_listener").values()}


def test_without_a_certificate_port_80_forwards_http(emulated: Synthesized) -> None:
    doc = emulated[PRIVATE]
    target_key, _ = only(doc, "aws_lb_target_group")
    (http,) = listeners(doc).values()
    assert (http["port"], http["protocol"]) == (80, "HTTP")
    assert http["default_action"] == [
        {"type": "forward", "target_group_arn": ref("aws_lb_target_group", target_key, "arn")}
    ]


@pytest.mark.parametrize("spec", [PUBLIC, OPEN, INTERNAL_TLS], ids=lambda s: s.name)
def test_with_a_certificate_https_serves_and_http_redirects(
    emulated: Synthesized, spec: DeploymentSpec
) -> None:
    doc = emulated[spec]
    target_key, _ = only(doc, "aws_lb_target_group")
    found = listeners(doc)
    assert set(found) == {80, 443}
    https, http = found[443], found[80]
    assert (https["protocol"], https["certificate_arn"]) == ("HTTPS", CERTIFICATE_ARN)
    assert https["ssl_policy"] == TLS_POLICY
    assert https["default_action"] == [
        {"type": "forward", "target_group_arn": ref("aws_lb_target_group", target_key, "arn")}
    ]
    assert http["protocol"] == "HTTP" and "certificate_arn" not in http
    assert http["default_action"] == [
        {
            "type": "redirect",
            "redirect": {"protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"},
        }
    ]


def test_tls_policy_is_tls_1_2_and_up() -> None:
    """checkov's CKV_AWS_103 and AWS's naming: ELBSecurityPolicy-TLS13-1-2-* is TLS 1.2+."""
    assert TLS_POLICY.startswith("ELBSecurityPolicy-TLS13-1-2-")


@pytest.mark.parametrize(
    ("network", "expected"),
    [
        (
            Network(public=True, ingress_cidrs=PUBLIC_CIDRS),
            "needs a certificate: set deploy.network.certificate_arn to an ACM certificate ARN "
            "in us-east-1",
        ),
        (
            Network(certificate_arn=CERTIFICATE_ARN.replace("us-east-1", "eu-west-1")),
            "is an ACM certificate in eu-west-1, but a load balancer serves only certificates "
            "of its own region (us-east-1)",
        ),
    ],
    ids=["public-without-certificate", "certificate-of-another-region"],
)
def test_certificate_refusals_are_one_sentence_and_write_nothing(
    tmp_path: Path, emulated: Synthesized, network: Network, expected: str
) -> None:
    spec = make_spec("refused", network=network)
    with pytest.raises(AwsSpecError) as caught:
        synthesize([(spec, tmp_path / "state")], tmp_path / "out", emulated=True)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message and message.endswith(".")
    assert len(re.findall(r"[.;]\s+[A-Z]", message)) == 0
    assert written(tmp_path / "out") == []


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_instances_take_the_serving_port_from_the_load_balancer_only(
    emulated: Synthesized, spec: DeploymentSpec
) -> None:
    doc = emulated[spec]
    balancer, instances = lb_security_group(doc), instance_security_group(doc)
    assert balancer != instances
    (rule,) = ingress_rules(doc, instances)
    assert rule["referenced_security_group_id"] == ref("aws_security_group", balancer, "id")
    assert (rule["ip_protocol"], rule["from_port"], rule["to_port"]) == (
        "tcp",
        spec.runtime.port,
        spec.runtime.port,
    )
    assert "cidr_ipv4" not in rule and "cidr_ipv6" not in rule
    _, targets = only(doc, "aws_lb_target_group")
    assert targets["port"] == spec.runtime.port
    assert targets["health_check"]["path"] == spec.runtime.health_path


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_no_world_ingress_unless_public_and_asked(
    emulated: Synthesized, spec: DeploymentSpec
) -> None:
    doc = emulated[spec]
    world_allowed = spec.network.public and WORLD in spec.network.ingress_cidrs
    for group in resources(doc, "aws_security_group").values():
        assert "ingress" not in group  # all rules are separate resources, checked below
    for rtype in ("aws_vpc_security_group_ingress_rule", "aws_security_group_rule"):
        for rule in resources(doc, rtype).values():
            if rule.get("type", "ingress") != "ingress":
                continue
            assert rule.get("cidr_ipv6") != "::/0"
            assert "::/0" not in rule.get("ipv6_cidr_blocks", [])
            if not world_allowed:
                assert rule.get("cidr_ipv4") != WORLD
                assert WORLD not in rule.get("cidr_blocks", [])


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_load_balancer_internal_unless_public(emulated: Synthesized, spec: DeploymentSpec) -> None:
    doc = emulated[spec]
    _, alb = only(doc, "aws_lb")
    assert alb["internal"] is (not spec.network.public)
    assert alb["load_balancer_type"] == "application"
    assert alb["drop_invalid_header_fields"] is True
    assert alb["enable_deletion_protection"] is False
    if spec.network.subnet_ids:
        return
    kind = "public" if spec.network.public else "private"
    subnets = resources(doc, "aws_subnet")
    expected = sorted(ref("aws_subnet", key, "id") for key in subnets if f"_{kind}-" in key)
    assert sorted(alb["subnets"]) == expected and len(expected) == 2
    # Instances live in the private subnets of the zones they were priced in.
    _, group = only(doc, "aws_autoscaling_group")
    private = sorted(ref("aws_subnet", key, "id") for key in subnets if "_private-" in key)
    priced = private[: len(spec.zones) or len(private)]
    assert sorted(group["vpc_zone_identifier"]) == priced


def test_load_balancer_deletion_protection_in_protected_environments(real: Synthesized) -> None:
    _, alb = only(real[PROTECTED], "aws_lb")
    assert alb["enable_deletion_protection"] is True


# ---------------------------------------------------------------------------------------------
# IAM


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_instance_role_has_exactly_the_ecr_managed_policy(
    emulated: Synthesized, spec: DeploymentSpec
) -> None:
    doc = emulated[spec]
    role_key, role = only(doc, "aws_iam_role")
    assume = json.loads(role["assume_role_policy"])
    (statement,) = statements(assume)
    assert statement["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert "inline_policy" not in role and "managed_policy_arns" not in role
    attachments = resources(doc, "aws_iam_role_policy_attachment").values()
    names = sorted(body["policy_arn"].rsplit(":policy/", 1)[1] for body in attachments)
    assert names == sorted(MANAGED_POLICIES)
    for body in attachments:
        assert body["role"] == ref("aws_iam_role", role_key, "name")
        assert re.fullmatch(
            r"arn:\$\{data\.aws_partition\.[^}]+\}:iam::aws:policy/\w+", body["policy_arn"]
        )
    _, instance_profile = only(doc, "aws_iam_instance_profile")
    assert instance_profile["role"] == ref("aws_iam_role", role_key, "name")


def inline_policies(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The role's inline policy documents by construct id (ssm-agent, cloudwatch-agent, drain,
    model-access)."""
    role_key, _ = only(doc, "aws_iam_role")
    found = {}
    for body in resources(doc, "aws_iam_role_policy").values():
        assert body["role"] == ref("aws_iam_role", role_key, "id")
        found[body["//"]["metadata"]["path"].rsplit("/", 1)[1]] = json.loads(body["policy"])
    return found


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_ssm_agent_policy_is_session_manager_and_run_command_only(
    emulated: Synthesized, spec: DeploymentSpec
) -> None:
    """No ssm:GetParameter(s) or ssm:GetDocument on every resource (as the managed
    AmazonSSMManagedInstanceCore grants): the token parameter's grant is the only read."""
    document = inline_policies(emulated[spec])["ssm-agent"]
    granted = {action for statement in statements(document) for action in actions(statement)}
    assert granted == SSM_AGENT_ACTIONS
    assert all(statement["Effect"] == "Allow" for statement in statements(document))


@pytest.mark.parametrize("spec", [PRIVATE, EXISTING], ids=lambda s: s.name)
def test_no_model_access_policy_without_model_or_secret(
    emulated: Synthesized, spec: DeploymentSpec
) -> None:
    # latency-exporter: the exporter's own code (tests/test_engine_metrics.py), no model access.
    assert set(inline_policies(emulated[spec])) - {"latency-exporter"} == {
        "ssm-agent",
        "cloudwatch-agent",
        "drain",
    }


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_parameters_are_read_only_where_the_spec_names_one(
    emulated: Synthesized, spec: DeploymentSpec
) -> None:
    reads = [
        statement["Resource"]
        for document in policy_documents(emulated[spec])
        for statement in statements(document)
        if any(
            action.startswith(("ssm:GetParameter", "ssm:GetDocument"))
            for action in actions(statement)
        )
    ]
    wanted = [spec.runtime.hf_token_ssm_parameter] if spec.runtime.hf_token_ssm_parameter else []
    own = [r for r in reads if r.startswith("${aws_ssm_parameter.")]  # the exporter's code
    assert len(own) == (1 if runs_exporter(spec) else 0)
    named = [r for r in reads if r not in own]
    assert [resource.partition(":parameter")[2] for resource in named] == wanted


def test_inline_policy_scoped_to_model_prefix_and_token_parameter(emulated: Synthesized) -> None:
    document = inline_policies(emulated[PUBLIC])["model-access"]
    by_action: dict[str, dict[str, Any]] = {}
    for statement in statements(document):
        assert statement["Effect"] == "Allow"
        for action in actions(statement):
            by_action[action] = statement
    assert sorted(by_action) == ["s3:GetObject", "s3:ListBucket", "ssm:GetParameter"]
    partition = r"arn:\$\{data\.aws_partition\.[^}]+\}"
    listing = by_action["s3:ListBucket"]
    assert re.fullmatch(rf"{partition}:s3:::{MODEL_BUCKET}", listing["Resource"])
    assert listing["Condition"] == {"StringLike": {"s3:prefix": f"{MODEL_PREFIX}/*"}}
    objects = by_action["s3:GetObject"]["Resource"]
    assert re.fullmatch(rf"{partition}:s3:::{MODEL_BUCKET}/{re.escape(MODEL_PREFIX)}/\*", objects)
    parameter = by_action["ssm:GetParameter"]["Resource"]
    assert isinstance(parameter, str)
    assert parameter.endswith(f":parameter{HF_PARAMETER}")
    assert "*" not in parameter.rsplit(":parameter", 1)[1]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_no_wildcard_actions(emulated: Synthesized, spec: DeploymentSpec) -> None:
    doc = emulated[spec]
    documents = policy_documents(doc)
    documents += [
        json.loads(role["assume_role_policy"]) for role in resources(doc, "aws_iam_role").values()
    ]
    for document in documents:
        for statement in statements(document):
            assert "NotAction" not in statement
            for action in actions(statement):
                assert "*" not in action, action


# ---------------------------------------------------------------------------------------------
# Autoscaling group, scaling policy, alarms


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_autoscaling_group_mixes_spot_as_planned(
    emulated: Synthesized, spec: DeploymentSpec
) -> None:
    doc = emulated[spec]
    _, group = only(doc, "aws_autoscaling_group")
    capacity = spec.capacity
    assert (group["min_size"], group["max_size"], group["desired_capacity"]) == (
        capacity.min_size,
        capacity.max_size,
        capacity.desired,
    )
    policy = group["mixed_instances_policy"]
    distribution = policy["instances_distribution"]
    assert distribution["on_demand_base_capacity"] == capacity.on_demand_base
    assert distribution["on_demand_percentage_above_base_capacity"] == (
        100 - capacity.spot_percentage_above_base
    )
    assert distribution["spot_allocation_strategy"] == "price-capacity-optimized"
    overrides = [entry["instance_type"] for entry in policy["launch_template"]["override"]]
    assert overrides == [spec.instance_type, *spec.equivalent_instance_types]
    template_key, _ = only(doc, "aws_launch_template")
    specification = policy["launch_template"]["launch_template_specification"]
    assert specification["launch_template_id"] == ref("aws_launch_template", template_key, "id")
    assert specification["version"] == ref("aws_launch_template", template_key, "latest_version")
    assert "launch_template" not in group  # mixed policy only: the two are exclusive
    uses_spot = capacity.spot_percentage_above_base > 0
    assert group["capacity_rebalance"] is uses_spot
    assert group["health_check_type"] == "ELB"
    assert group["health_check_grace_period"] == capacity.health_check_grace_s
    assert group["lifecycle"]["ignore_changes"] == ["desired_capacity"]
    targets_key, _ = only(doc, "aws_lb_target_group")
    assert group["target_group_arns"] == [ref("aws_lb_target_group", targets_key, "arn")]


def test_spot_and_on_demand_only_specs_differ_as_expected() -> None:
    """Guard on the fixtures: the parametrized ASG test covers both branches."""
    assert PRIVATE.capacity.spot_percentage_above_base == 70
    assert EXISTING.capacity.spot_percentage_above_base == 0


def test_emulated_fleet_does_not_wait_for_capacity(
    emulated: Synthesized, real: Synthesized
) -> None:
    _, fake = only(emulated[PRIVATE], "aws_autoscaling_group")
    _, live = only(real[PRIVATE], "aws_autoscaling_group")
    assert fake["wait_for_capacity_timeout"] == "0"
    assert live["wait_for_capacity_timeout"] != "0"
    assert re.fullmatch(r"\d+[hms]", live["wait_for_capacity_timeout"])


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_autoscaling_tags_propagate_at_launch(emulated: Synthesized, spec: DeploymentSpec) -> None:
    _, group = only(emulated[spec], "aws_autoscaling_group")
    assert {entry["key"]: entry["value"] for entry in group["tag"]} == spec.tags
    assert all(entry["propagate_at_launch"] is True for entry in group["tag"])


@pytest.mark.parametrize("spec", [PRIVATE, PUBLIC], ids=lambda s: s.name)
def test_target_tracking_on_requests_per_target(
    emulated: Synthesized, spec: DeploymentSpec
) -> None:
    doc = emulated[spec]
    group_key, _ = only(doc, "aws_autoscaling_group")
    _, policy = only(doc, "aws_autoscaling_policy")
    assert policy["autoscaling_group_name"] == ref("aws_autoscaling_group", group_key, "name")
    assert policy["policy_type"] == "TargetTrackingScaling"
    tracking = policy["target_tracking_configuration"]
    assert tracking["target_value"] == spec.scaling.target
    metric = tracking["predefined_metric_specification"]
    assert metric["predefined_metric_type"] == "ALBRequestCountPerTarget"
    lb_key, _ = only(doc, "aws_lb")
    targets_key, _ = only(doc, "aws_lb_target_group")
    assert metric["resource_label"] == (
        f"{ref('aws_lb', lb_key, 'arn_suffix')}/"
        f"{ref('aws_lb_target_group', targets_key, 'arn_suffix')}"
    )


@pytest.mark.parametrize("spec", [PRIVATE, PUBLIC], ids=lambda s: s.name)
def test_three_serving_alarms(emulated: Synthesized, spec: DeploymentSpec) -> None:
    """The load balancer's alarms (the engine's: tests/test_engine_metrics.py)."""
    doc = emulated[spec]
    alarms = [
        alarm
        for alarm in resources(doc, "aws_cloudwatch_metric_alarm").values()
        if "/alarms/" in alarm["//"]["metadata"]["path"]
    ]
    assert len(alarms) == 3
    by_metric = {alarm.get("metric_name", "metric-math"): alarm for alarm in alarms}
    assert sorted(by_metric) == ["TargetResponseTime", "UnHealthyHostCount", "metric-math"]

    rate = by_metric["metric-math"]
    queries = {query["id"]: query for query in rate["metric_query"]}
    metrics = {query["metric"]["metric_name"] for query in queries.values() if "metric" in query}
    assert metrics == {"HTTPCode_Target_5XX_Count", "RequestCount"}
    (expression,) = [query for query in queries.values() if "expression" in query]
    assert expression["return_data"] is True
    for query_id, query in queries.items():
        if "metric" in query:
            assert query_id in expression["expression"]
            assert query["metric"]["namespace"] == "AWS/ApplicationELB"
            assert query.get("return_data") in (None, False)
    assert rate["comparison_operator"] == "GreaterThanThreshold"
    assert 0 < rate["threshold"] < 100

    latency = by_metric["TargetResponseTime"]
    assert latency["extended_statistic"] == "p99"
    assert latency["threshold"] == spec.scaling.p99_latency_alarm_s
    assert latency["namespace"] == "AWS/ApplicationELB"

    unhealthy = by_metric["UnHealthyHostCount"]
    assert unhealthy["threshold"] == 0
    assert unhealthy["comparison_operator"] == "GreaterThanThreshold"

    lb_key, _ = only(doc, "aws_lb")
    for alarm in (latency, unhealthy):
        assert alarm["dimensions"]["LoadBalancer"] == ref("aws_lb", lb_key, "arn_suffix")


# ---------------------------------------------------------------------------------------------
# Tags, outputs


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_every_taggable_resource_carries_the_cost_tags(
    emulated: Synthesized, spec: DeploymentSpec
) -> None:
    doc = emulated[spec]
    untagged = []
    for rtype, bodies in doc["resource"].items():
        taggable = binding_supports_tags(rtype)
        for key, body in bodies.items():
            if "tags" in body:
                missing = {k: v for k, v in spec.tags.items() if body["tags"].get(k) != v}
                assert not missing, f"{rtype}.{key} lacks {missing}"
                assert body["tags"][STACK_TAG] == spec.stack_name, f"{rtype}.{key}"
            elif taggable:
                untagged.append(f"{rtype}.{key}")
    assert untagged == []
    for rtype in ("aws_security_group", "aws_lb", "aws_lb_target_group", "aws_launch_template"):
        assert all("tags" in body for body in resources(doc, rtype).values()), rtype
    assert all("tags" in body for body in resources(doc, "aws_iam_role").values())
    if not spec.network.subnet_ids:
        for rtype in ("aws_vpc", "aws_subnet", "aws_nat_gateway"):
            bodies = resources(doc, rtype).values()
            assert bodies and all("tags" in body for body in bodies), rtype


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_outputs(emulated: Synthesized, spec: DeploymentSpec) -> None:
    doc = emulated[spec]
    outputs = doc["output"]
    lb_key, _ = only(doc, "aws_lb")
    group_key, _ = only(doc, "aws_autoscaling_group")
    scheme = "https" if spec.network.certificate_arn else "http"
    assert outputs["endpoint_url"]["value"] == f"{scheme}://{ref('aws_lb', lb_key, 'dns_name')}"
    assert outputs["autoscaling_group_name"]["value"] == ref(
        "aws_autoscaling_group", group_key, "name"
    )


# ---------------------------------------------------------------------------------------------
# Refusals before anything is written


def test_missing_required_tag_stops_before_writing(tmp_path: Path, emulated: Synthesized) -> None:
    tags = {key: value for key, value in TAGS.items() if key != "cost-center"}
    untagged = make_spec("untagged", tags=tags)
    good = make_spec("good")
    outdir = tmp_path / "out"
    with pytest.raises(MissingTagsError) as caught:
        synthesize(
            [(good, tmp_path / "good"), (untagged, tmp_path / "untagged")], outdir, emulated=True
        )
    message = str(caught.value)
    assert "cost-center" in message and untagged.stack_name in message
    assert "\n" not in message and message.endswith(".")
    assert len(re.findall(r"[.;]\s+[A-Z]", message)) == 0  # one sentence
    assert written(outdir) == []


def test_blank_required_tag_counts_as_missing(tmp_path: Path, emulated: Synthesized) -> None:
    spec = make_spec("blank", tags={**TAGS, "team": "  "})
    with pytest.raises(MissingTagsError, match="team"):
        synthesize([(spec, tmp_path / "state")], tmp_path / "out", emulated=True)
    assert written(tmp_path / "out") == []


@pytest.mark.parametrize(
    "target",
    [{"cloud": "gcp", "kind": "sagemaker"}, {"cloud": "aws", "kind": "vertex"}],
    ids=["gcp-sagemaker", "aws-vertex"],
)
def test_unsupported_target_is_refused_in_one_sentence(
    tmp_path: Path, target: dict[str, str]
) -> None:
    spec = msgspec.structs.replace(PRIVATE, **target)
    outdir = tmp_path / "out"
    with pytest.raises(UnsupportedTarget) as caught:
        synthesize([(PRIVATE, tmp_path / "ok"), (spec, tmp_path / "s")], outdir, emulated=True)
    message = str(caught.value)
    assert f"{target['cloud']}/{target['kind']}" in message
    assert "aws/fleet" in message and "aws/sagemaker" in message
    assert "\n" not in message and message.endswith(".")
    assert not outdir.exists()


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_the_stack_records_its_spec(emulated: Synthesized, spec: DeploymentSpec) -> None:
    assert_records_its_spec(emulated[spec], spec)


# ---------------------------------------------------------------------------------------------
# terraform validate against the offline AWS provider


@pytest.mark.terraform
@pytest.mark.parametrize("spec", [PRIVATE, PUBLIC], ids=lambda s: s.name)
def test_terraform_validate(tmp_path: Path, emulated: Synthesized, spec: DeploymentSpec) -> None:
    """HTTP forwarding, and HTTPS with the redirect, are valid for the pinned provider."""
    validate_with_mirror(emulated[spec], tmp_path, ("aws",))
