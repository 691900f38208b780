"""The cold start of a replica (issue 14): its parts from the registry's and the published figures,
shown by `infra recommend` for an environment that scales to zero, and scale_to_zero refused where
the latency target cannot survive it unless the environment allows it. The expected seconds are
computed here from the figures' own words (bytes over a rate), not by planner/cold_start.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from core.errors import ProfileError
from planner.cold_start import candidate_cold_start
from planner.optimizer import Filters, recommend
from planner.profile import load_profile
from providers import targets
from providers.catalog import load_catalog
from tests.conftest import EXAMPLES, Cli, write_profile

EXAMPLE = EXAMPLES / "chat-8b-office-hours.yaml"
LLAMA_8B_BF16_BYTES = 8.03e9 * 2
"""The example's weights (Llama 3.1 8B in BF16), as the figures were measured with."""
SHARED_S = 5.2e9 / (20.2e9 / 540) + 33 + (10 + 42 + 54 + 94)
"""Image pull (5.2 GB at 20.2 GB in 9 minutes), load (33 s for these weights) and warm-up."""


def example(**dev: Any) -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["deploy"]["environments"]["dev"] = {
        "schedule": "weekdays 08:00-20:00 Europe/Berlin",
        "scale_to_zero": True,
        **dev,
    }
    return data


def dev_recommendation(cloud: str, kind: str, path: Path = EXAMPLE) -> Any:
    profile = load_profile(path).profile
    pins = Filters(environment="dev", clouds=frozenset({cloud}), kinds=frozenset({kind}))
    return recommend(profile, load_catalog(), pins)


def test_an_aws_fleet_replica_downloads_at_the_gp3_default() -> None:
    result = dev_recommendation("aws", "fleet")
    start = candidate_cold_start(result, result.chosen)
    assert start is not None
    assert start.instance_s == 25.8
    # S3 and the Hub give more than the root volume takes: 125 MiB/s caps the download.
    assert start.weights_download_s == pytest.approx(LLAMA_8B_BF16_BYTES / (125 * 2**20))
    assert start.total_s == pytest.approx(25.8 + LLAMA_8B_BF16_BYTES / (125 * 2**20) + SHARED_S)


def test_a_gcp_fleet_on_spot_keeps_its_spot_vm_so_nobody_waits() -> None:
    """The GCP spot group keeps one VM every hour (Target.spot_floor): no hour at zero."""
    result = dev_recommendation("gcp", "fleet")
    assert candidate_cold_start(result, result.chosen) is None


def test_a_gcp_fleet_replica_starts_with_its_own_boot_figure(tmp_path: Path) -> None:
    data = example()
    data["placement"]["spot"] = {"policy": "never"}  # no spot group: the fleet reaches zero
    result = dev_recommendation("gcp", "fleet", write_profile(tmp_path, data))
    start = candidate_cold_start(result, result.chosen)
    assert start is not None
    assert start.instance_s == 25.0
    assert start.weights_download_s == pytest.approx(61.0)  # the measured download, uncapped
    assert start.total_s == pytest.approx(25.0 + 61.0 + SHARED_S)


def test_a_managed_endpoint_has_no_cold_start() -> None:
    """SageMaker as deployed here keeps one instance in its zero hours: nobody waits."""
    result = dev_recommendation("aws", "sagemaker")
    assert candidate_cold_start(result, result.chosen) is None


def test_every_kind_that_scales_to_zero_has_a_sourced_instance_start() -> None:
    for cloud, target in targets.targets():
        if not target.kind.scales_to_zero:
            continue
        figure = target.instance_start
        assert figure is not None, f"{cloud.name}/{target.kind.name}"
        assert figure.value > 0 and figure.source and figure.retrieved


def test_scale_to_zero_below_the_ttft_target_is_refused(cli: Cli, tmp_path: Path) -> None:
    path = write_profile(tmp_path, example())
    result = cli("recommend", path, "--env", "dev", "--cloud", "aws", "--kind", "fleet")
    assert result.exit_code == 1
    message = result.output.strip()
    assert "Traceback" not in message and message.count("\n") == 0
    assert "deploy.environments.dev.scale_to_zero" in message
    assert "targets.ttft_ms_p95 of 1500 ms" in message
    assert "about 8.7 minutes" in message and "allow_cold_start: true" in message


def test_the_refusal_names_the_end_to_end_target_without_a_ttft_one(
    cli: Cli, tmp_path: Path
) -> None:
    data = example()
    data["targets"] = {"tpot_ms": 50, "e2e_ms_p95": 20000}
    path = write_profile(tmp_path, data)
    result = cli("recommend", path, "--env", "dev", "--cloud", "aws", "--kind", "fleet")
    assert result.exit_code == 1
    assert "targets.e2e_ms_p95 of 20000 ms" in result.output


def test_a_target_longer_than_the_cold_start_survives_it(cli: Cli, tmp_path: Path) -> None:
    data = example()
    data["targets"] = {"tpot_ms": 50, "e2e_ms_p95": 600_000}
    path = write_profile(tmp_path, data)
    result, body = cli.json("recommend", path, "--env", "dev", "--cloud", "aws", "--kind", "fleet")
    assert result.exit_code == 0, result.output
    assert body["chosen"]["cold_start"]["total_s"] < 600


def test_allow_cold_start_shows_the_parts(cli: Cli, tmp_path: Path) -> None:
    path = write_profile(tmp_path, example(allow_cold_start=True))
    args = ("recommend", path, "--env", "dev", "--cloud", "aws", "--kind", "fleet")
    result, body = cli.json(*args)
    assert result.exit_code == 0, result.output
    parts = body["chosen"]["cold_start"]
    steps = ("instance_s", "image_pull_s", "weights_download_s", "load_s", "warmup_s")
    assert parts["total_s"] == pytest.approx(sum(parts[step] for step in steps), abs=0.3)
    assert parts["weights_gb"] == 16.1
    text = cli(*args)
    assert text.exit_code == 0
    assert "Cold start after an hour at zero: about 8.7 minutes (instance 26 s" in text.output


def test_without_an_environment_nothing_scales_to_zero(cli: Cli, tmp_path: Path) -> None:
    path = write_profile(tmp_path, example())
    result, body = cli.json("recommend", path, "--cloud", "aws", "--kind", "fleet")
    assert result.exit_code == 0, result.output
    assert body["chosen"]["cold_start"] is None


def test_allow_cold_start_needs_scale_to_zero(tmp_path: Path) -> None:
    data = example()
    data["deploy"]["environments"]["dev"] = {"allow_cold_start": True}
    with pytest.raises(ProfileError, match="allow_cold_start needs scale_to_zero"):
        load_profile(write_profile(tmp_path, data))
