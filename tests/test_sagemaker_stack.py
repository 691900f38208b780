"""SagemakerEndpointStack: assertions on the synthesized Terraform JSON, and the refusals that
keep secrets and unpullable images out of a SageMaker model.

Synthesis goes through orchestrator.synth.synthesize as the CLI does, once per module. Every
expectation is derived from the spec or from the constants the stack is meant to use.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from modules.aws.sagemaker import (
    BLUE_GREEN_TIMEOUT_RANGE_S,
    LOCAL_STORAGE_FAMILIES,
    MODEL_LATENCY_UNIT_PER_S,
)
from modules.aws.sagemaker_container import (
    SagemakerContainerError,
    check_container,
    container_environment,
)
from orchestrator.synth import synthesize
from planner.deployment import (
    CapacitySpec,
    DeploymentSpec,
    RuntimeSpec,
    ScalingSpec,
)
from planner.images import DLC_REGISTRY, SAGEMAKER_IMAGES
from planner.profile import Challenger, DataCapture, Network, SagemakerOptions, TrafficShift
from providers.aws import SAGEMAKER_HEALTH_PATH, SAGEMAKER_PORT
from tests.stack_json import (
    Synthesized,
    assert_records_its_spec,
    binding_supports_tags,
    empty_structs,
    only,
    ref,
    resources,
    synthesize_specs,
    written,
)

TAGS = {"team": "ml-platform", "cost-center": "cc-4242", "env": "prod"}
IMAGE = f"{DLC_REGISTRY.format(region='us-east-1')}/{SAGEMAKER_IMAGES['vllm']}"
MODEL_URI = "s3://models-bucket/llama/8b"
CAPTURE_URI = "s3://capture-bucket/chat"
SUBNETS = ["subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"]


def make_spec(
    name: str,
    *,
    runtime: dict[str, Any] | None = None,
    sagemaker: SagemakerOptions | None = None,
    **fields: Any,
) -> DeploymentSpec:
    """Two ml.g5.12xlarge behind a SageMaker endpoint, model from the hub."""
    runtime_fields: dict[str, Any] = {
        "engine": "vllm",
        "image": IMAGE,
        "model_id": "meta-llama/Llama-3.1-8B-Instruct",
        "precision": "bf16",
        "tensor_parallel": 4,
        "max_batch": 64,
        "max_model_len": 8192,
        "port": SAGEMAKER_PORT,
        "health_path": SAGEMAKER_HEALTH_PATH,
    }
    runtime_fields.update(runtime or {})
    spec_fields: dict[str, Any] = {
        "name": name,
        "env": "prod",
        "cloud": "aws",
        "kind": "sagemaker",
        "region": "us-east-1",
        "instance_type": "ml.g5.12xlarge",
        "accelerator": "A10G",
        "accelerators_per_instance": 4,
        "root_volume_gib": 80,
        "capacity": CapacitySpec(
            min_size=1, desired=2, max_size=5, on_demand_base=2, spot_percentage_above_base=0
        ),
        "scaling": ScalingSpec(
            signal="invocations_per_instance", target=120.5, p99_latency_alarm_s=30.0
        ),
        "tags": dict(TAGS),
        "required_tags": ["team", "cost-center", "env"],
        "sagemaker": sagemaker or SagemakerOptions(),
    }
    spec_fields.update(fields)
    return DeploymentSpec(runtime=RuntimeSpec(**runtime_fields), **spec_fields)


HUB = make_spec("hub")
FULL = make_spec(
    "full",
    runtime={"model_s3_uri": MODEL_URI, "precision": "fp8", "kv_cache_dtype": "fp8"},
    sagemaker=SagemakerOptions(
        traffic_shift=TrafficShift(mode="linear", step_percent=25, wait_s=300, final_bake_s=900),
        challenger=Challenger(instance_type="ml.g6.12xlarge", weight_percent=20, instances=2),
        data_capture=DataCapture(s3_uri=CAPTURE_URI, sample_percent=5),
        environment={"OPTION_GPU_MEMORY_UTILIZATION": "0.9"},
        startup_timeout_s=1800,
    ),
)
IN_VPC = make_spec("invpc", network=Network(vpc_id="vpc-0123456789abcdef0", subnet_ids=SUBNETS))
EBS_VOLUME = make_spec(
    "ebs",
    instance_type="ml.p3.8xlarge",
    accelerator="V100",
    runtime={
        "engine": "tgi",
        "image": f"{DLC_REGISTRY.format(region='us-east-1')}/{SAGEMAKER_IMAGES['tgi']}",
    },
)
ALL_AT_ONCE = make_spec(
    "allatonce", sagemaker=SagemakerOptions(traffic_shift=TrafficShift(mode="all_at_once"))
)
SPECS = [HUB, FULL, IN_VPC, EBS_VOLUME, ALL_AT_ONCE]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize_specs(SPECS, tmp_path_factory.mktemp("sagemaker"), emulated=False)


def variants(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    _, configuration = only(doc, "aws_sagemaker_endpoint_configuration")
    return {variant["variant_name"]: variant for variant in configuration["production_variants"]}


def policy_statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    _, policy = only(doc, "aws_iam_role_policy")
    return json.loads(policy["policy"])["Statement"]


# ---------------------------------------------------------------------------------------------
# Model


def test_model_runs_the_ecr_image_with_the_engine_settings(synthesized: Synthesized) -> None:
    _, model = only(synthesized[HUB], "aws_sagemaker_model")
    container = model["primary_container"]
    assert container["image"] == IMAGE and container["mode"] == "SingleModel"
    environment = container["environment"]
    assert environment == container_environment(HUB)
    assert environment["HF_MODEL_ID"] == HUB.runtime.model_id
    assert environment["OPTION_TENSOR_PARALLEL_DEGREE"] == "4"
    assert environment["OPTION_MAX_ROLLING_BATCH_SIZE"] == "64"
    assert environment["OPTION_MAX_MODEL_LEN"] == "8192"
    assert environment["OPTION_DTYPE"] == "bf16"
    assert "model_data_source" not in container
    assert model["enable_network_isolation"] is False  # the hub download needs the network
    assert "vpc_config" not in model
    assert model["lifecycle"] == {"create_before_destroy": True}


def test_model_from_s3_is_network_isolated(synthesized: Synthesized) -> None:
    _, model = only(synthesized[FULL], "aws_sagemaker_model")
    container = model["primary_container"]
    assert container["model_data_source"] == {
        "s3_data_source": [
            {"s3_uri": MODEL_URI + "/", "s3_data_type": "S3Prefix", "compression_type": "None"}
        ]
    }
    assert model["enable_network_isolation"] is True
    environment = container["environment"]
    assert environment["HF_MODEL_ID"] == "/opt/ml/model"
    assert environment["OPTION_QUANTIZE"] == "fp8" and "OPTION_DTYPE" not in environment
    assert environment["OPTION_KV_CACHE_DTYPE"] == "fp8"
    assert environment["OPTION_MODEL_LOADING_TIMEOUT"] == "1800"
    assert environment["OPTION_GPU_MEMORY_UTILIZATION"] == "0.9"


def test_tgi_settings(synthesized: Synthesized) -> None:
    _, model = only(synthesized[EBS_VOLUME], "aws_sagemaker_model")
    environment = model["primary_container"]["environment"]
    assert environment == {
        "HF_MODEL_ID": EBS_VOLUME.runtime.model_id,
        "SM_NUM_GPUS": "4",
        "MAX_CONCURRENT_REQUESTS": "64",
        "MAX_TOTAL_TOKENS": "8192",
        "MAX_INPUT_TOKENS": "8191",
        "DTYPE": "bfloat16",
    }


def test_model_waits_for_its_role_policy(synthesized: Synthesized) -> None:
    doc = synthesized[HUB]
    _, model = only(doc, "aws_sagemaker_model")
    policy_key, _ = only(doc, "aws_iam_role_policy")
    assert model["depends_on"] == [f"aws_iam_role_policy.{policy_key}"]
    role_key, _ = only(doc, "aws_iam_role")
    assert model["execution_role_arn"] == ref("aws_iam_role", role_key, "arn")


def test_model_in_given_subnets_has_a_group_without_ingress(synthesized: Synthesized) -> None:
    doc = synthesized[IN_VPC]
    _, model = only(doc, "aws_sagemaker_model")
    group_key, group = only(doc, "aws_security_group")
    assert model["vpc_config"] == {
        "subnets": SUBNETS,
        "security_group_ids": [ref("aws_security_group", group_key, "id")],
    }
    assert "ingress" not in group
    assert resources(doc, "aws_vpc_security_group_ingress_rule") == {}
    (egress,) = resources(doc, "aws_vpc_security_group_egress_rule").values()
    assert (egress["from_port"], egress["to_port"], egress["ip_protocol"]) == (443, 443, "tcp")
    actions = {a for s in policy_statements(doc) for a in _actions(s)}
    assert "ec2:CreateNetworkInterface" in actions


# ---------------------------------------------------------------------------------------------
# Endpoint configuration and deployment


def test_one_primary_variant_with_all_traffic(synthesized: Synthesized) -> None:
    doc = synthesized[HUB]
    model_key, _ = only(doc, "aws_sagemaker_model")
    assert variants(doc) == {
        "primary": {
            "variant_name": "primary",
            "model_name": ref("aws_sagemaker_model", model_key, "name"),
            "instance_type": "ml.g5.12xlarge",
            "initial_instance_count": 2,
            "initial_variant_weight": 100,
            "container_startup_health_check_timeout_in_seconds": 900,
            "model_data_download_timeout_in_seconds": 900,
        }
    }
    _, configuration = only(doc, "aws_sagemaker_endpoint_configuration")
    assert configuration["name_prefix"] == f"{HUB.stack_name}-"
    assert configuration["lifecycle"] == {"create_before_destroy": True}


def test_challenger_takes_its_share(synthesized: Synthesized) -> None:
    found = variants(synthesized[FULL])
    assert set(found) == {"primary", "challenger"}
    assert found["primary"]["initial_variant_weight"] == 80
    assert found["challenger"]["initial_variant_weight"] == 20
    assert found["challenger"]["instance_type"] == "ml.g6.12xlarge"
    assert found["challenger"]["initial_instance_count"] == 2
    assert found["challenger"]["container_startup_health_check_timeout_in_seconds"] == 1800


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_volume_key_only_where_the_instance_has_ebs(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    """SageMaker refuses a volume KMS key for instance types with local NVMe storage."""
    doc = synthesized[spec]
    _, configuration = only(doc, "aws_sagemaker_endpoint_configuration")
    local = all(
        v["instance_type"].split(".")[1] in LOCAL_STORAGE_FAMILIES for v in variants(doc).values()
    )
    keys = resources(doc, "aws_kms_key")
    if local:
        assert "kms_key_arn" not in configuration
    else:
        (key_name,) = keys
        assert configuration["kms_key_arn"] == ref("aws_kms_key", key_name, "arn")
    wants_key = not local or spec.sagemaker.data_capture is not None
    assert bool(keys) == wants_key
    for key in keys.values():
        assert key["enable_key_rotation"] is True
        assert key["deletion_window_in_days"] == 30


def test_data_capture_is_encrypted_with_the_stack_key(synthesized: Synthesized) -> None:
    doc = synthesized[FULL]
    _, configuration = only(doc, "aws_sagemaker_endpoint_configuration")
    key_name, _ = only(doc, "aws_kms_key")
    assert configuration["data_capture_config"] == {
        "enable_capture": True,
        "destination_s3_uri": CAPTURE_URI,
        "initial_sampling_percentage": 5,
        "kms_key_id": ref("aws_kms_key", key_name, "arn"),
        "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
    }
    _, alias = only(doc, "aws_kms_alias")
    assert alias["name"] == f"alias/{FULL.stack_name}-sagemaker"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_blue_green_rolls_back_on_every_alarm(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    _, endpoint = only(doc, "aws_sagemaker_endpoint")
    config_key, _ = only(doc, "aws_sagemaker_endpoint_configuration")
    assert endpoint["name"] == spec.stack_name
    assert endpoint["endpoint_config_name"] == ref(
        "aws_sagemaker_endpoint_configuration", config_key, "name"
    )
    deployment = endpoint["deployment_config"]
    alarms = {  # the variants' 5xx and p99 alarms; the observability ones only notify
        ref("aws_cloudwatch_metric_alarm", key, "alarm_name")
        for key, body in resources(doc, "aws_cloudwatch_metric_alarm").items()
        if body["alarm_name"].endswith(("-5xx-rate", "-p99-latency"))
    }
    assert len(alarms) == 2 * len(variants(doc))
    rollback = {a["alarm_name"] for a in deployment["auto_rollback_configuration"]["alarms"]}
    assert rollback == alarms
    policy = deployment["blue_green_update_policy"]
    shift = spec.sagemaker.traffic_shift
    routing = policy["traffic_routing_configuration"]
    assert routing["type"] == shift.mode.upper()
    assert routing["wait_interval_in_seconds"] == shift.wait_s
    assert policy["termination_wait_in_seconds"] == shift.final_bake_s
    low, high = BLUE_GREEN_TIMEOUT_RANGE_S
    assert low <= policy["maximum_execution_timeout_in_seconds"] <= high
    size = {"type": "CAPACITY_PERCENT", "value": shift.step_percent}
    assert routing.get("canary_size") == (size if shift.mode == "canary" else None)
    assert routing.get("linear_step_size") == (size if shift.mode == "linear" else None)


def test_linear_deployment_time_covers_every_step(synthesized: Synthesized) -> None:
    _, endpoint = only(synthesized[FULL], "aws_sagemaker_endpoint")
    policy = endpoint["deployment_config"]["blue_green_update_policy"]
    # 1800 s to start, 4 steps of 25% baking 300 s each, 900 s final bake.
    assert policy["maximum_execution_timeout_in_seconds"] == 1800 + 4 * 300 + 900


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_no_struct_lost_to_jsii(synthesized: Synthesized, spec: DeploymentSpec) -> None:
    assert empty_structs(synthesized[spec]["resource"]) == []


# ---------------------------------------------------------------------------------------------
# Alarms and autoscaling


def test_variant_alarms(synthesized: Synthesized) -> None:
    doc = synthesized[FULL]
    alarms = {
        body["alarm_name"]: body for body in resources(doc, "aws_cloudwatch_metric_alarm").values()
    }
    for variant in ("primary", "challenger"):
        dimensions = {"EndpointName": FULL.stack_name, "VariantName": variant}
        latency = alarms[f"{FULL.stack_name}-{variant}-p99-latency"]
        assert latency["namespace"] == "AWS/SageMaker" and latency["metric_name"] == "ModelLatency"
        assert latency["dimensions"] == dimensions and latency["extended_statistic"] == "p99"
        assert latency["threshold"] == FULL.scaling.p99_latency_alarm_s * MODEL_LATENCY_UNIT_PER_S
        rate = alarms[f"{FULL.stack_name}-{variant}-5xx-rate"]
        metrics = {q["id"]: q for q in rate["metric_query"]}
        assert metrics["errors"]["metric"]["metric_name"] == "Invocation5XXErrors"
        assert metrics["invocations"]["metric"]["dimensions"] == dimensions
        assert metrics["rate"]["return_data"] is True


def test_autoscaling_per_variant_on_invocations(synthesized: Synthesized) -> None:
    doc = synthesized[FULL]
    endpoint_key, _ = only(doc, "aws_sagemaker_endpoint")
    targets = {
        target["resource_id"].rsplit("/", 1)[1]: target
        for target in resources(doc, "aws_appautoscaling_target").values()
    }
    assert set(targets) == {"primary", "challenger"}
    limits = {"primary": (1, 5), "challenger": (1, 5)}
    for variant, target in targets.items():
        assert target["resource_id"] == (
            f"endpoint/{ref('aws_sagemaker_endpoint', endpoint_key, 'name')}/variant/{variant}"
        )
        assert target["scalable_dimension"] == "sagemaker:variant:DesiredInstanceCount"
        assert (target["min_capacity"], target["max_capacity"]) == limits[variant]
    policies = resources(doc, "aws_appautoscaling_policy").values()
    assert len(policies) == 2
    for policy in policies:
        assert policy["policy_type"] == "TargetTrackingScaling"
        tracking = policy["target_tracking_scaling_policy_configuration"]
        assert tracking["target_value"] == FULL.scaling.target
        assert tracking["predefined_metric_specification"] == {
            "predefined_metric_type": "SageMakerVariantInvocationsPerInstance"
        }


# ---------------------------------------------------------------------------------------------
# IAM, tags, outputs


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_execution_role_is_least_privilege(synthesized: Synthesized, spec: DeploymentSpec) -> None:
    doc = synthesized[spec]
    _, role = only(doc, "aws_iam_role")
    trust = json.loads(role["assume_role_policy"])["Statement"]
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]
    assert resources(doc, "aws_iam_role_policy_attachment") == {}
    statements = policy_statements(doc)
    for statement in statements:
        assert all("*" not in action for action in _actions(statement)), statement
    by_sid = {s["Sid"]: s for s in statements}
    repository = SAGEMAKER_IMAGES[spec.runtime.engine].split(":")[0]
    assert by_sid["PullServingImage"]["Resource"].endswith(
        f":ecr:us-east-1:763104351884:repository/{repository}"
    )
    assert by_sid["EndpointLogs"]["Resource"].endswith(
        f":log-group:/aws/sagemaker/Endpoints/{spec.stack_name}:*"
    )
    wildcard = {s["Sid"] for s in statements if s["Resource"] == "*"}
    assert wildcard <= {"EcrLogin", "EndpointNetworkInterfaces"}
    assert ("ReadModelObjects" in by_sid) == bool(spec.runtime.model_s3_uri)
    assert ("WriteCapturedData" in by_sid) == bool(spec.sagemaker.data_capture)


def test_model_and_capture_access_is_scoped(synthesized: Synthesized) -> None:
    by_sid = {s["Sid"]: s for s in policy_statements(synthesized[FULL])}
    assert by_sid["ReadModelObjects"]["Resource"].endswith(":s3:::models-bucket/llama/8b/*")
    assert by_sid["WriteCapturedData"]["Resource"].endswith(":s3:::capture-bucket/chat/*")
    assert by_sid["UseStackKey"]["Resource"].startswith("${aws_kms_key.")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_taggable_resource_carries_the_cost_tags(
    synthesized: Synthesized, spec: DeploymentSpec
) -> None:
    doc = synthesized[spec]
    for rtype, bodies in doc["resource"].items():
        if not binding_supports_tags(rtype):
            continue
        for key, body in bodies.items():
            assert body.get("tags", {}) | TAGS == body.get("tags"), f"{rtype}.{key}"


def test_outputs(synthesized: Synthesized) -> None:
    doc = synthesized[HUB]
    endpoint_key, _ = only(doc, "aws_sagemaker_endpoint")
    outputs = doc["output"]
    assert outputs["endpoint_name"]["value"] == ref("aws_sagemaker_endpoint", endpoint_key, "name")
    assert outputs["invoke_url"]["value"] == (
        f"https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/{HUB.stack_name}/invocations"
    )


# ---------------------------------------------------------------------------------------------
# Refusals: one sentence, nothing written


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"runtime": {"image": "vllm/vllm-openai:v0.10.2"}}, "from Amazon ECR only"),
        ({"runtime": {"extra_args": ["--enable-prefix-caching"]}}, "deploy.sagemaker.environment"),
        ({"runtime": {"hf_token_ssm_parameter": "/serving/hf"}}, "deploy.model_s3_uri"),
        ({"runtime": {"engine": "triton"}}, "model repository"),
        ({"runtime": {"engine": "tgi", "precision": "fp32"}}, "fp32"),
        ({"runtime": {"tensor_parallel": 8}}, "tensor parallel 8"),
        ({"runtime": {"tensor_parallel": 2, "replicas_per_instance": 2}}, "one replica"),
        ({"sagemaker": SagemakerOptions(environment={"HF_TOKEN": "hf_x"})}, "looks like a secret"),
        ({"sagemaker": SagemakerOptions(environment={"BAD-NAME": "1"})}, "not a valid variable"),
    ],
    ids=[
        "docker-hub",
        "extra-args",
        "hub-token",
        "triton",
        "tgi-fp32",
        "tp",
        "replicas",
        "secret",
        "env-name",
    ],
)
def test_refusals(tmp_path: Path, change: dict[str, Any], words: str) -> None:
    runtime = change.pop("runtime", {})
    spec = make_spec("refused", runtime=runtime, **change)
    outdir = tmp_path / "out"
    with pytest.raises(SagemakerContainerError) as caught:
        synthesize([(spec, tmp_path / "state")], outdir, emulated=True)
    message = str(caught.value)
    assert words in message and spec.stack_name in message
    assert "\n" not in message and message.endswith(".")
    assert written(outdir) == []


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("HF_AUTH", "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567", "a Hugging Face token (hf_A…)"),
        ("UPSTREAM", "https://user:Tr0ub4dor3xyz@example.com", "a password in a URL (Tr0…)"),
        ("UPSTREAM", "https://models.example.com/v1", None),
        ("AWS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", "an AWS access key ID (AKIA…)"),
    ],
    ids=["hub-token", "url-with-password", "aws-key", "url"],
)
def test_secret_values_are_refused_whatever_their_name(
    name: str, value: str, kind: str | None
) -> None:
    """Not only names that look like a secret: a token under an innocent name is refused too
    (the spec scan in synthesize catches it first; this guard holds for the stack alone)."""
    spec = make_spec("valued", sagemaker=SagemakerOptions(environment={name: value}))
    if kind is None:
        check_container(spec)  # a plain URL is a reference, not a secret
        return
    with pytest.raises(SagemakerContainerError) as caught:
        check_container(spec)
    message = str(caught.value)
    assert f"deploy.sagemaker.environment: {name} holds what looks like {kind}" in message
    assert value not in message and message.endswith(".") and "\n" not in message


def test_hub_token_is_fine_when_weights_come_from_s3() -> None:
    spec = make_spec("token", runtime={"hf_token_ssm_parameter": "/x", "model_s3_uri": MODEL_URI})
    environment = container_environment(spec)
    assert not any(re.search("TOKEN", name) for name in environment)


def test_spec_round_trips_with_sagemaker_options() -> None:
    import yaml

    from planner.deployment import dump_spec

    data = yaml.safe_load(dump_spec(FULL))
    assert msgspec.convert(data, DeploymentSpec) == FULL


def test_the_stack_records_its_spec(synthesized: Synthesized) -> None:
    assert_records_its_spec(synthesized[HUB], HUB)
