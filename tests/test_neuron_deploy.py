"""Inferentia2 through the CLI: examples/chat-8b.yaml, which `recommend` puts on inf2.xlarge,
synthesizes as a Neuron fleet and as a SageMaker endpoint on the LMI Neuron image; `recommend`
says how long compilation takes; and a profile the Neuron images cannot serve is never deployed
there, with the reason in `recommend`'s environments and in the no-candidate error. Also the
SageMaker Neuron containers' settings for each engine."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from modules.aws.sagemaker_container import (
    SagemakerContainerError,
    check_container,
    container_environment,
)
from orchestrator.decisions import deployable_filters, undeployable, why_not_deployable
from planner.deployment import DeploymentSpec
from planner.images import DLC_REGISTRY, NEURON_IMAGES, SAGEMAKER_NEURON_IMAGES
from planner.optimizer import Filters
from planner.profile import load_profile
from providers.aws.amis import GPU_AMI_PARAMETER, NEURON_AMI_PARAMETER
from providers.aws.neuron import COMPILE_GRACE_S, COMPILE_TIME
from tests.conftest import EXAMPLES, Cli
from tests.stack_json import data_sources, only, resources
from tests.test_user_data_neuron import neuron_spec

EXAMPLE = EXAMPLES / "chat-8b.yaml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLE, tmp_path / EXAMPLE.name)
    return tmp_path / EXAMPLE.name


def without_max_model_len(project: Path) -> Path:
    data = yaml.safe_load(project.read_text())
    del data["runtime"]["max_model_len"]
    project.write_text(yaml.safe_dump(data, sort_keys=False))
    return project


def synthesized(cli: Cli, profile: Path, *pins: str) -> tuple[dict[str, Any], dict[str, Any]]:
    result, body = cli.json("synth", profile, "--env", "prod", *pins)
    assert result.exit_code == 0, result.output
    return body, json.loads(Path(body["config"]).read_text())


def test_recommend_chooses_inferentia_and_says_how_long_compiling_takes(
    cli: Cli, project: Path
) -> None:
    result, body = cli.json("recommend", project, "--accelerator", "Inferentia2")
    assert result.exit_code == 0, result.output
    assert body["chosen"]["accelerator"] == "Inferentia2"
    assert any(COMPILE_TIME in warning for warning in body["warnings"])
    (local,) = body["environments"]
    assert local["why_different"] == []  # deployable: the local environment takes it too


def test_chat_8b_on_inf2_is_a_neuron_fleet_without_nvidia(cli: Cli, project: Path) -> None:
    body, doc = synthesized(cli, project, "--instance-type", "inf2.xlarge")
    assert "inf2.xlarge (aws/fleet" in body["decision"]["summary"]
    names = {parameter["name"] for parameter in data_sources(doc, "aws_ssm_parameter").values()}
    assert NEURON_AMI_PARAMETER in names and GPU_AMI_PARAMETER not in names
    _, template = only(doc, "aws_launch_template")
    assert template["instance_type"] == "inf2.xlarge"
    user_data = base64.b64decode(template["user_data"]).decode()
    assert f"readonly IMAGE={NEURON_IMAGES['vllm']}\n" in user_data
    assert "--tensor-parallel-size 2\n" in user_data  # one chip, two NeuronCores
    assert "nvidia" not in user_data.lower() and "--gpus" not in user_data
    _, group = only(doc, "aws_autoscaling_group")
    assert group["health_check_grace_period"] == COMPILE_GRACE_S


def test_chat_8b_on_ml_inf2_is_an_lmi_neuron_endpoint(cli: Cli, project: Path) -> None:
    _, doc = synthesized(cli, project, "--kind", "sagemaker", "--instance-type", "ml.inf2.xlarge")
    (model,) = resources(doc, "aws_sagemaker_model").values()
    container = model["primary_container"]
    region = doc["provider"]["aws"][0]["region"]
    assert container["image"] == (
        f"{DLC_REGISTRY.format(region=region)}/{SAGEMAKER_NEURON_IMAGES['vllm']}"
    )
    environment = container["environment"]
    assert environment["OPTION_ENTRYPOINT"] == "djl_python.transformers_neuronx"
    assert environment["OPTION_TENSOR_PARALLEL_DEGREE"] == "2"
    assert environment["OPTION_N_POSITIONS"] == "4096"
    assert environment["OPTION_DTYPE"] == "bf16"
    assert environment["OPTION_MODEL_LOADING_TIMEOUT"] == str(COMPILE_GRACE_S)
    (configuration,) = resources(doc, "aws_sagemaker_endpoint_configuration").values()
    (variant,) = configuration["production_variants"]
    assert variant["instance_type"] == "ml.inf2.xlarge"
    assert variant["container_startup_health_check_timeout_in_seconds"] == COMPILE_GRACE_S


def test_what_neuron_cannot_serve_is_left_out_of_deploys_and_said(cli: Cli, project: Path) -> None:
    profile = without_max_model_len(project)
    excluded = undeployable(load_profile(profile).profile)
    assert set(excluded) == {"inferentia2", "trainium"}
    reason = excluded["inferentia2"]
    assert reason.startswith("Inferentia2 (Neuron) offerings are recommended but not deployed")
    assert "set runtime.max_model_len" in reason
    filters = deployable_filters("prod", Filters(), load_profile(profile).profile)
    assert filters.excluded_accelerators == {"inferentia2", "trainium"}
    assert filters.accelerators is None, "left out, not pinned: the rest stays open"
    assert why_not_deployable("prod", load_profile(profile).profile) == list(excluded.values())
    pins = ("--accelerator", "Inferentia2", "--accelerator", "A10G")
    result, body = cli.json("recommend", profile, *pins)
    assert result.exit_code == 0, result.output
    assert body["chosen"]["accelerator"] == "Inferentia2"  # still the optimum within the pins
    (local,) = body["environments"]
    assert reason in local["why_different"]
    assert "Inferentia2" not in local["decision"] and "inf2" not in local["decision"]
    result, body = cli.json("recommend", profile, "--env", "prod", *pins)
    assert result.exit_code == 0, result.output
    assert body["chosen"]["accelerator"] == "A10G"


def test_pinning_an_undeployable_inferentia_says_why_it_lost(cli: Cli, project: Path) -> None:
    profile = without_max_model_len(project)
    result = cli("synth", profile, "--env", "prod", "--instance-type", "inf2.xlarge")
    assert result.exit_code == 3
    assert "Inferentia2 (Neuron) offerings are recommended but not deployed" in result.stderr
    assert "Traceback" not in result.output


def test_a_deployable_profile_excludes_nothing(project: Path) -> None:
    profile = load_profile(project).profile
    assert undeployable(profile) == {}
    assert deployable_filters("prod", Filters(), profile) == Filters(environment="prod")
    assert why_not_deployable("prod", profile) == []


def sagemaker_neuron_spec(engine: str, **runtime: Any) -> DeploymentSpec:
    spec = neuron_spec(engine, chips=2, instance_type="ml.inf2.8xlarge", tensor_parallel=2)
    image = f"{DLC_REGISTRY.format(region='us-east-1')}/{SAGEMAKER_NEURON_IMAGES[engine]}"
    return msgspec.structs.replace(
        spec,
        kind="sagemaker",
        runtime=msgspec.structs.replace(spec.runtime, image=image, **runtime),
    )


def test_sagemaker_tgi_neuron_exports_for_the_neuron_cores() -> None:
    spec = sagemaker_neuron_spec("tgi", precision="fp16", max_batch=8)
    check_container(spec)
    assert container_environment(spec) == {
        "HF_MODEL_ID": spec.runtime.model_id,
        "HF_NUM_CORES": "4",
        "HF_AUTO_CAST_TYPE": "fp16",
        "MAX_BATCH_SIZE": "8",
        "MAX_TOTAL_TOKENS": "4096",
        "MAX_INPUT_TOKENS": "4095",
    }


def test_sagemaker_neuron_serves_compiled_weights_from_s3() -> None:
    spec = sagemaker_neuron_spec("vllm", model_s3_uri="s3://models-bucket/llama-neuron/")
    check_container(spec)
    assert container_environment(spec)["HF_MODEL_ID"] == "/opt/ml/model"


def test_sagemaker_refuses_what_neuron_cannot_serve() -> None:
    spec = sagemaker_neuron_spec("vllm", precision="int4")
    with pytest.raises(SagemakerContainerError, match=r"ml\.inf2\.8xlarge has Inferentia2 chips"):
        check_container(spec)


def test_sagemaker_neuron_environment_needs_a_sequence_length() -> None:
    spec = sagemaker_neuron_spec("tgi", max_model_len=None)
    with pytest.raises(SagemakerContainerError, match="fixed sequence length"):
        container_environment(spec)


def test_plan_and_deploy_notes_say_how_long_compiling_takes() -> None:
    from types import SimpleNamespace

    from cli.deploy import _notes, _notes_text

    compiling = neuron_spec()
    (note,) = _notes(SimpleNamespace(spec=compiling))  # type: ignore[arg-type]
    assert COMPILE_TIME in note and "deploy.model_s3_uri" in note
    assert _notes_text([note]) == f"\nnote: {note}"
    compiled = msgspec.structs.replace(
        compiling,
        runtime=msgspec.structs.replace(compiling.runtime, model_s3_uri="s3://models/compiled/"),
    )
    (note,) = _notes(SimpleNamespace(spec=compiled))  # type: ignore[arg-type]
    assert note.startswith("Neuron: the compiled model is taken from s3://models/compiled/")
    gpu = msgspec.structs.replace(compiling, accelerator="A10G")
    assert _notes(SimpleNamespace(spec=gpu)) == []  # type: ignore[arg-type]


def test_trainium_is_in_the_catalog_and_deploys_as_a_neuron_fleet(cli: Cli, project: Path) -> None:
    body, doc = synthesized(cli, project, "--instance-type", "trn1.2xlarge")
    assert "trn1.2xlarge (aws/fleet" in body["decision"]["summary"]
    names = {parameter["name"] for parameter in data_sources(doc, "aws_ssm_parameter").values()}
    assert names == {NEURON_AMI_PARAMETER}
    _, template = only(doc, "aws_launch_template")
    user_data = base64.b64decode(template["user_data"]).decode()
    assert f"readonly IMAGE={NEURON_IMAGES['vllm']}\n" in user_data
    assert "--tensor-parallel-size 2\n" in user_data  # one Trainium chip, two NeuronCores
    assert "nvidia" not in user_data.lower()
