"""Every example under examples/: what `infra recommend --env prod` chooses is what
`infra synth --env prod` builds, unchanged (cloud, kind, region, zones, instance type and count,
on-demand base, tensor parallel, replicas per instance), and `infra cost`'s pricing of the
synthesized configuration carries at least the recommendation's instances.

A profile the deploy path cannot serve on some accelerator (a Neuron pick with what the Neuron
images lack) has that accelerator left out of both commands alike."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.cost.plan_resources import from_configuration
from planner.cost.pricing import price_plan
from planner.deployment import load_spec
from providers.catalog import load_catalog
from tests.conftest import EXAMPLES, Cli

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.fixture
def cloud_accounts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The project and subscription a user's environment names (no example hard-codes them)."""
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo-project-1")
    monkeypatch.setenv("ARM_SUBSCRIPTION_ID", "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0")


def test_the_new_examples_are_here() -> None:
    """The issue's set: 8B, 70B, 405B at fp8, a MoE, an encoder, tiny traffic, one cloud."""
    profiles = {path.name: yaml.safe_load(path.read_text()) for path in EXAMPLE_FILES}
    models = {data["model"].get("name") for data in profiles.values()}
    assert {"llama-3.1-8b", "llama-3.3-70b", "llama-3.1-405b", "qwen3-30b-a3b"} <= models
    assert profiles["llama-405b-fp8.yaml"]["model"]["precision"] == "fp8"
    assert profiles["embeddings-bge.yaml"]["model"]["name"] == "bert-large-uncased"
    assert profiles["tiny-traffic.yaml"]["workload"]["requests_per_second"] == 0.2
    assert profiles["single-cloud-aws.yaml"]["placement"]["clouds"] == ["aws"]
    for name in profiles:
        assert (EXAMPLES / name).read_text().startswith("# "), f"{name}: no comment header"


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_recommend_for_prod_is_what_synth_builds(
    cli: Cli, tmp_path: Path, example: Path, cloud_accounts: None
) -> None:
    profile = tmp_path / example.name
    shutil.copy(example, profile)
    result, recommended = cli.json("recommend", profile, "--env", "prod", "--top", "0")
    assert result.exit_code == 0, result.output
    chosen = recommended["chosen"]
    result, synthesized = cli.json("synth", profile, "--env", "prod")
    assert result.exit_code == 0, result.output
    name = yaml.safe_load(example.read_text())["name"]
    spec = load_spec(tmp_path / ".infra" / name / "prod" / "spec.yaml")
    assert (
        spec.cloud,
        spec.kind,
        spec.region,
        spec.zones,
        spec.instance_type,
        spec.capacity.desired,
        spec.capacity.on_demand_base,
        spec.runtime.tensor_parallel,
        spec.runtime.replicas_per_instance,
    ) == (
        chosen["cloud"],
        chosen["kind"],
        chosen["region"],
        chosen["zones"],
        chosen["instance_type"],
        chosen["instances"],
        chosen["on_demand_instances"],
        chosen["tensor_parallel"],
        chosen["model_replicas_per_instance"],
    )
    if chosen["hourly_sizes"] is None:
        assert spec.expected_hourly_usd == chosen["hourly_usd"]
    else:  # the month over the week's hours (examples/chat-8b-office-hours.yaml)
        monthly = chosen["hourly_sizes"]["expected_monthly_usd"]
        assert spec.expected_monthly_usd == pytest.approx(monthly, abs=0.01)
    assert_priced(json.loads(Path(synthesized["config"]).read_text()), chosen, spec.stack_name)


def assert_priced(document: dict[str, Any], chosen: dict[str, Any], source: str) -> None:
    """The configuration names the chosen instance type, and pricing it costs at least the
    recommendation's instances (the deployment adds its load balancer, network and logs)."""
    assert chosen["instance_type"] in json.dumps(document)
    report = price_plan(from_configuration(document), load_catalog(), source=source)
    assert report.monthly_usd.expected >= chosen["monthly_usd"] * 0.999, (
        report.monthly_usd,
        chosen["monthly_usd"],
    )
