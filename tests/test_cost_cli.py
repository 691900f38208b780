"""`infra cost` and `infra cost diff` from the command line, with the shipped catalog."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import msgspec
import pytest
import yaml

from planner.optimizer import HOURS_PER_MONTH
from tests.conftest import EXAMPLES, Cli
from tests.cost_fixtures import FLEET_VALUES, fleet_plan


def write_plan(path: Path, values=None) -> Path:
    path.write_text(json.dumps(fleet_plan(values)))
    return path


def test_cost_of_a_plan_file_as_json(cli: Cli, tmp_path: Path) -> None:
    result, data = cli.json("cost", "--plan", write_plan(tmp_path / "plan.json"))
    assert result.exit_code == 0, result.output
    assert data["region"] == "us-east-1" and data["currency"] == "USD"
    group = next(r for r in data["resources"] if r["type"] == "aws_autoscaling_group")
    assert group["priced"], group["reason"]
    # the shipped catalog's g5.xlarge on-demand price in us-east-1 (same in every zone)
    assert group["components"][0]["unit_price"] == 1.006
    items = sum(r["monthly_usd"] or 0 for r in data["resources"])
    assert data["monthly_usd"]["expected"] == pytest.approx(items, abs=1e-9)
    assert data["unpriced"][-1] == "aws_vpc_endpoint.s3"
    assert data["target_load"] is None and data["usd_per_million_output_tokens"] is None


def test_a_profile_with_a_plan_file_gives_the_load_and_the_budget(cli: Cli, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.json")
    result, data = cli.json("cost", EXAMPLES / "chat-8b.yaml", "--plan", plan)
    assert result.exit_code == 0, result.output
    assert data["target_load"] == {"requests_per_s": 10, "output_tokens_per_request": 256}
    assert data["budget_monthly_usd"] == 8000
    assert data["usd_per_million_output_tokens"] > 0


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown", "html", "infracost-json"])
def test_every_format_writes_to_a_file(cli: Cli, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"cost.{fmt}"
    plan = write_plan(tmp_path / "plan.json")
    result = cli("cost", "--plan", plan, "--format", fmt, "--output", out)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "aws_autoscaling_group.group" in text
    assert not list(tmp_path.glob(".cost.*"))  # written atomically, no leftovers


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plan", "missing.json"], "missing.json: no such file."),
        (["--plan", "PLAN", "--format", "pdf"], "unknown format 'pdf'; choose from table, json"),
        (["--plan", "PLAN", "--spec", "spec.yaml"], "give --plan with an optional PROFILE"),
        (["--plan", "NOT_JSON"], "is not JSON"),
        ([], "give either a PROFILE or --spec FILE"),
    ],
)
def test_bad_input_is_one_sentence_and_exit_1(
    cli: Cli, tmp_path: Path, args: list[str], message: str
) -> None:
    plan = write_plan(tmp_path / "plan.json")
    not_json = tmp_path / "notes.txt"
    not_json.write_text("hello")
    args = [str(plan) if a == "PLAN" else str(not_json) if a == "NOT_JSON" else a for a in args]
    result = cli("cost", "report", *args) if not args else cli("cost", *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_a_plan_without_a_region_needs_region(cli: Cli, tmp_path: Path) -> None:
    document = fleet_plan()
    del document["configuration"]["provider_config"]
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(document))
    result = cli("cost", "--plan", plan)
    assert result.exit_code == 1 and "pass --region" in result.stderr
    assert cli("cost", "--plan", plan, "--region", "us-east-1").exit_code == 0


def test_cost_diff_of_two_plans_as_markdown(cli: Cli, tmp_path: Path) -> None:
    values = copy.deepcopy(FLEET_VALUES)
    values["aws_autoscaling_group.group"][1]["desired_capacity"] = 4
    del values["aws_kms_key.key"]
    base = write_plan(tmp_path / "base.json")
    head = write_plan(tmp_path / "head.json", values)
    result = cli("cost", "diff", base, head, "--format", "markdown")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("### Monthly cost change")
    assert "| removed | `aws_kms_key.key` |" in result.stdout
    assert "| changed | `aws_autoscaling_group.group` |" in result.stdout
    result, data = cli.json("cost", "diff", base, head)
    changes = {r["address"]: r["change"] for r in data["resources"] if r["change"] != "unchanged"}
    assert changes == {"aws_autoscaling_group.group": "changed", "aws_kms_key.key": "removed"}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_cost_diff_reads_a_git_revision(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _git(tmp_path, "init", "-q")
    write_plan(tmp_path / "plan.json")
    _git(tmp_path, "add", "plan.json")
    _git(tmp_path, "commit", "-q", "-m", "base")
    values = copy.deepcopy(FLEET_VALUES)
    del values["aws_kms_key.key"]
    write_plan(tmp_path / "plan.json", values)
    monkeypatch.chdir(tmp_path)
    result, data = cli.json("cost", "diff", "HEAD:plan.json", "plan.json")
    assert result.exit_code == 0, result.output
    assert data["delta_monthly_usd"]["expected"] == pytest.approx(-1.0)
    assert data["base"]["source"].startswith("HEAD:plan.json")
    result = cli("cost", "diff", "nosuchrev:plan.json", "plan.json")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot read nosuchrev:plan.json from git:")
    result = cli("cost", "diff", "gone.json", "plan.json")
    assert result.exit_code == 1 and "gone.json: no such file" in result.stderr


@pytest.fixture(scope="module")
def chat_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """chat-8b with an environment budget, in a directory of its own (synth writes .infra/)."""
    data = yaml.safe_load((EXAMPLES / "chat-8b.yaml").read_text())
    data["deploy"] = {"environments": {"prod": {"budget_monthly_usd": 100}}}
    path = tmp_path_factory.mktemp("profile") / "chat-8b.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_cost_of_a_profile_agrees_with_the_recommendation(
    cli: Cli, chat_profile: Path, infra_home: Path
) -> None:
    """The synthesized fleet's instance cost is what the optimizer chose it for (the spec
    records the chosen candidate's expected hourly cost)."""
    from orchestrator.workflow import prepare
    from planner.optimizer import Filters

    pins = ("--env", "prod", "--cloud", "aws", "--kind", "fleet")
    result, data = cli.json("cost", chat_profile, *pins)
    assert result.exit_code == 0, result.output
    filters = Filters(clouds=frozenset({"aws"}), kinds=frozenset({"fleet"}))
    spec = msgspec.to_builtins(prepare(chat_profile, "prod", filters, what_if=True).spec)
    group = next(r for r in data["resources"] if r["type"] == "aws_autoscaling_group")
    instances = sum(
        c["monthly_usd"]["expected"]
        for c in group["components"]
        if c["category"].startswith("compute")
    )
    assert instances == pytest.approx(spec["expected_hourly_usd"] * HOURS_PER_MONTH, rel=1e-4)
    assert data["budget_monthly_usd"] == 100  # the environment's, not the profile's 8000
    assert data["over_budget_usd"] > 0
    assert data["usd_per_million_output_tokens"] > 0
    stack = f"chat-8b-prod-{spec['deployment_id']}"
    assert data["source"] == f"{stack} (aws/fleet, {spec['instance_type']})"


def test_html_alternatives_come_from_the_recommendation(chat_profile: Path) -> None:
    from cli.cost import _alternatives
    from orchestrator.workflow import prepare

    deployment = prepare(chat_profile, "prod")
    rows = _alternatives(deployment)
    assert rows[0]["chosen"] and not any(row["chosen"] for row in rows[1:])
    spec = deployment.spec
    assert rows[0]["label"].startswith(f"{spec.cloud}/{spec.kind} {spec.capacity.desired}× ")
    assert rows[0]["monthly_usd"] == pytest.approx(spec.expected_monthly_usd, rel=1e-4)
    assert all(row["latency_ms"] > 0 for row in rows)
    assert [row["monthly_usd"] for row in rows] == sorted(row["monthly_usd"] for row in rows)


def test_bare_cost_shows_its_help(cli: Cli) -> None:
    result = cli("cost")
    assert "report" in result.output and "diff" in result.output
    assert cli("cost", "--help").exit_code == 0


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_is_priced(cli: Cli, example: Path, tmp_path: Path) -> None:
    """Pricing is about hardware: an example that synth would refuse to serve as it stands is
    priced all the same, with the refusal in its notes, and pricing leaves no workspace behind."""
    profile = tmp_path / example.name
    profile.write_text(example.read_text())
    result, data = cli.json("cost", profile, "--env", "prod")
    assert result.exit_code == 0, result.output
    assert data["monthly_usd"]["expected"] > 0
    assert not (tmp_path / ".infra").exists()


def test_a_triton_profile_without_its_repository_is_priced_and_says_synth_refuses(
    cli: Cli, tmp_path: Path
) -> None:
    data = yaml.safe_load((EXAMPLES / "bert-classifier.yaml").read_text())
    data.get("deploy", {}).pop("model_s3_uri", None)
    profile = tmp_path / "bert.yaml"
    profile.write_text(yaml.safe_dump(data, sort_keys=False))
    pins = ("--env", "prod", "--cloud", "aws", "--kind", "fleet")
    result, report = cli.json("cost", profile, *pins)
    assert result.exit_code == 0, result.output
    group = next(r for r in report["resources"] if r["type"] == "aws_autoscaling_group")
    assert group["priced"] and group["monthly_usd"] > 0
    (note,) = [n for n in report["notes"] if "Triton" in n]
    assert note.startswith("synth and deploy refuse it as it stands: ")
    assert "deploy.model_s3_uri" in note
    refused = cli("synth", profile, *pins)
    assert refused.exit_code == 1 and "Triton serves a prebuilt" in refused.stderr
    assert "Traceback" not in refused.output


@pytest.mark.parametrize(
    ("cloud", "missing"), [("gcp", "no Google Cloud project"), ("azure", "no Azure subscription")]
)
def test_pricing_needs_no_cloud_account(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cloud: str, missing: str
) -> None:
    """A cost reviewer prices a GCP or Azure plan without naming a project or subscription; synth
    still refuses, with the same sentence the report notes."""
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    monkeypatch.delenv("ARM_SUBSCRIPTION_ID", raising=False)
    profile = tmp_path / "chat-8b.yaml"
    profile.write_text((EXAMPLES / "chat-8b.yaml").read_text())
    pins = ("--env", "prod", "--cloud", cloud, "--kind", "fleet")
    result, report = cli.json("cost", profile, *pins)
    assert result.exit_code == 0, result.output
    assert report["monthly_usd"]["expected"] > 0
    (note,) = [n for n in report["notes"] if missing in n]
    refused = cli("synth", profile, *pins)
    assert refused.exit_code == 1
    assert note.removeprefix("synth and deploy refuse it as it stands: ") in refused.stderr


def test_serving_readiness_is_deferred_only_while_pricing() -> None:
    from core.errors import InfraError
    from modules.readiness import pricing_only, refuse_to_serve

    with pytest.raises(InfraError, match="not ready"):
        refuse_to_serve(InfraError("not ready"))
    with pricing_only() as deferred:
        refuse_to_serve(InfraError("not ready"))
        refuse_to_serve(InfraError("not ready"))
    assert deferred == ["not ready"]
    with pytest.raises(InfraError):
        refuse_to_serve(InfraError("not ready"))
