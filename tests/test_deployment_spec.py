"""spec_from_recommendation: what the planner's choice becomes, per deployment kind, and the
profile mistakes it refuses (one sentence, exit 1 through the CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

import planner.images as images
from core.errors import ProfileError
from planner.accelerators import accelerators
from planner.deployment import (
    HEALTH_PATHS,
    MODEL_LOAD_GRACE_S,
    DeploymentSpec,
    spec_from_recommendation,
)
from planner.images import (
    DEFAULT_IMAGES,
    DLC_REGISTRY,
    NEURON_IMAGES,
    SAGEMAKER_IMAGES,
    SAGEMAKER_NEURON_IMAGES,
)
from planner.optimizer import Filters
from planner.service import recommend_for_profile
from providers.aws import SAGEMAKER_HEALTH_PATH, SAGEMAKER_PORT
from providers.aws.neuron import COMPILE_GRACE_S, NEURON_ACCELERATORS
from tests.conftest import EXAMPLES, Cli

GPUS = frozenset(name.lower() for name in set(accelerators()) - NEURON_ACCELERATORS)
SAGEMAKER = Filters(clouds=frozenset({"aws"}), kinds=frozenset({"sagemaker"}), accelerators=GPUS)
FLEET = Filters(clouds=frozenset({"aws"}), kinds=frozenset({"fleet"}), accelerators=GPUS)
INFERENTIA = frozenset({"inferentia2"})


def profile_file(tmp_path: Path, regions: list[str] | None = None, **deploy: Any) -> Path:
    profile = yaml.safe_load((EXAMPLES / "chat-8b.yaml").read_text())
    if deploy:
        profile["deploy"] = deploy
    if regions:
        profile["placement"]["regions"] = regions
    path = tmp_path / "chat.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path


def spec_for(path: Path, filters: Filters) -> DeploymentSpec:
    recommendation = recommend_for_profile(path, filters)
    return spec_from_recommendation(recommendation.profile, recommendation, "prod")


def test_sagemaker_spec_uses_the_aws_image_and_container_contract(tmp_path: Path) -> None:
    options = {"traffic_shift": {"mode": "linear", "step_percent": 20}}
    spec = spec_for(profile_file(tmp_path, sagemaker=options), SAGEMAKER)
    assert (spec.cloud, spec.kind) == ("aws", "sagemaker")
    registry = DLC_REGISTRY.format(region=spec.region)
    assert spec.runtime.image == f"{registry}/{SAGEMAKER_IMAGES['vllm']}"
    assert (spec.runtime.port, spec.runtime.health_path) == (
        SAGEMAKER_PORT,
        SAGEMAKER_HEALTH_PATH,
    )
    assert spec.scaling.signal == "invocations_per_instance"
    assert spec.capacity.spot_percentage_above_base == 0  # endpoints have no spot capacity
    assert spec.sagemaker.traffic_shift.mode == "linear"
    assert spec.sagemaker.traffic_shift.step_percent == 20


def test_fleet_spec_keeps_the_public_image_and_port(tmp_path: Path) -> None:
    spec = spec_for(profile_file(tmp_path), FLEET)
    assert spec.kind == "fleet"
    assert spec.runtime.image == DEFAULT_IMAGES["vllm"]
    assert spec.runtime.health_path == HEALTH_PATHS["vllm"]
    assert spec.scaling.signal == "alb_requests_per_target"


def test_profile_image_wins(tmp_path: Path) -> None:
    path = profile_file(tmp_path)
    data = yaml.safe_load(path.read_text())
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-lmi:1"
    data["runtime"]["image"] = image
    path.write_text(yaml.safe_dump(data))
    assert spec_for(path, SAGEMAKER).runtime.image == image


def test_challenger_must_differ_from_the_primary(tmp_path: Path) -> None:
    primary = spec_for(profile_file(tmp_path), SAGEMAKER).instance_type
    path = profile_file(tmp_path, sagemaker={"challenger": {"instance_type": primary}})
    with pytest.raises(ProfileError, match="the primary variant's type"):
        spec_for(path, SAGEMAKER)


def test_challenger_must_be_a_feasible_choice(tmp_path: Path) -> None:
    """us-east-1 lists several feasible SageMaker types whatever the performance model's fit."""
    path = profile_file(
        tmp_path, ["us-east-1"], sagemaker={"challenger": {"instance_type": "ml.g4dn.xlarge"}}
    )
    with pytest.raises(ProfileError) as caught:
        spec_for(path, SAGEMAKER)
    message = str(caught.value)
    assert "ml.g4dn.xlarge cannot serve this model" in message
    assert "feasible: ml." in message and message.endswith(".")


def test_region_without_a_known_image_needs_runtime_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "DLC_REGIONS", frozenset())
    with pytest.raises(ProfileError, match=r"set runtime\.image to an ECR image URI"):
        spec_for(profile_file(tmp_path), SAGEMAKER)


def neuron(filters: Filters) -> Filters:
    return msgspec.structs.replace(filters, accelerators=INFERENTIA)


def test_inferentia_fleet_runs_the_neuron_image_and_waits_for_compilation(tmp_path: Path) -> None:
    spec = spec_for(profile_file(tmp_path), neuron(FLEET))
    assert (spec.accelerator, spec.instance_type.split(".")[0]) == ("Inferentia2", "inf2")
    assert spec.runtime.image == NEURON_IMAGES["vllm"]
    assert spec.capacity.health_check_grace_s == COMPILE_GRACE_S  # compiled at first boot
    compiled = spec_for(
        profile_file(tmp_path, model_s3_uri="s3://models/llama-neuron/"), neuron(FLEET)
    )
    assert compiled.capacity.health_check_grace_s == MODEL_LOAD_GRACE_S


def test_inferentia_endpoint_runs_the_lmi_neuron_image(tmp_path: Path) -> None:
    spec = spec_for(profile_file(tmp_path), neuron(SAGEMAKER))
    assert spec.instance_type.startswith("ml.inf2.")
    registry = DLC_REGISTRY.format(region=spec.region)
    assert spec.runtime.image == f"{registry}/{SAGEMAKER_NEURON_IMAGES['vllm']}"
    assert spec.sagemaker.startup_timeout_s == COMPILE_GRACE_S


def test_a_region_without_the_neuron_image_needs_runtime_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "DLC_NEURON_REGIONS", frozenset())
    with pytest.raises(
        ProfileError, match=r"no AWS-built Neuron vllm image is known for SageMaker"
    ):
        spec_for(profile_file(tmp_path), neuron(SAGEMAKER))


def test_cli_refuses_a_bad_challenger_in_one_sentence(tmp_path: Path, cli: Cli) -> None:
    path = profile_file(tmp_path, sagemaker={"challenger": {"instance_type": "ml.g4dn.xlarge"}})
    result = cli("synth", path, "--kind", "sagemaker", "--env", "prod")
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: deploy.sagemaker.challenger.instance_type")
    assert not (tmp_path / ".infra").exists()


def test_cli_refuses_a_bad_traffic_shift_with_file_line_field(tmp_path: Path, cli: Cli) -> None:
    path = profile_file(tmp_path, sagemaker={"traffic_shift": {"mode": "sideways"}})
    result = cli("synth", path, "--kind", "sagemaker")
    assert result.exit_code == 1
    assert "field deploy.sagemaker.traffic_shift.mode" in result.stderr
    assert "Traceback" not in result.output
