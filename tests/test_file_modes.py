"""Who may read what the toolkit writes. The workspace (state, plans, logs, the configuration)
is the user's alone: folders 0700, files 0600, Terraform run with umask 077 (here a fake
terraform that writes its files as the real one does, through the umask). Files written for the
user (`-o` reports, profile scaffolds, CI workflows) follow the user's umask like any other."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.files import write_atomically
from orchestrator import workflow
from orchestrator.terraform import TerraformBinary, TerraformRunner
from orchestrator.workflow import Deployment
from orchestrator.workspace import Workspace, open_private
from planner.deployment import RECORD_OUTPUT, DeploymentSpec, spec_as_json
from tests import test_fleet_stack as fleet
from tests.conftest import Cli, profile_dict, write_profile
from tests.cost_fixtures import fleet_plan

FAKE_TERRAFORM = """\
#!{python}
# Writes what Terraform writes, with the modes a new file gets from the umask.
import json, sys
args = sys.argv[1:]
if args[0] == "version":
    print(json.dumps({{"terraform_version": "1.10.5"}}))
    sys.exit(0)
for arg in args:
    if arg.startswith("-out="):
        open(arg[len("-out="):], "w").write("a plan")
if args[0] == "apply":
    state = json.load(open("cdk.tf.json"))["terraform"]["backend"]["local"]["path"]
    open(state, "w").write("{{}}")
    open(state + ".backup", "w").write("{{}}")
if args[:2] == ["state", "list"]:
    sys.exit(0)  # no resources yet
print({{"show": json.dumps({{"resource_changes": []}}), "output": "{{}}"}}.get(args[0], "done"))
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o027], ids=["umask-022", "umask-027"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The user's umask for the test (restored after)."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


@pytest.fixture
def fake_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TerraformBinary:
    path = tmp_path / "bin" / "terraform"
    path.parent.mkdir()
    path.write_text(FAKE_TERRAFORM.format(python=sys.executable))
    path.chmod(0o755)
    monkeypatch.setenv("INFRA_TERRAFORM", str(path))
    monkeypatch.delenv("INFRA_PROVIDER_MIRROR", raising=False)
    return TerraformBinary(str(path), "terraform", "1.10.5")


def workspace_with_config(base: Path, spec: DeploymentSpec | None = None) -> Workspace:
    """A workspace whose configuration keeps its local state where the stacks put it (and, given
    a spec, records it as every stack does)."""
    workspace = Workspace.for_deployment(base, "chat", "prod")
    workspace.ensure()
    workspace.stack_dir.mkdir(parents=True)
    backend = {"local": {"path": str(workspace.state_file)}}
    config: dict[str, object] = {"terraform": {"backend": backend}}
    if spec is not None:
        config["output"] = {RECORD_OUTPUT: {"value": spec_as_json(spec)}}
    workspace.config_file.write_text(json.dumps(config))
    return workspace


# ---------------------------------------------------------------------------------------------
# The workspace: private


def test_workspace_folders_are_the_users_alone(tmp_path: Path, umask: int) -> None:
    workspace = Workspace.for_deployment(tmp_path, "chat", "prod")
    workspace.ensure()
    for folder in (workspace.root, workspace.data_dir, workspace.log_dir):
        assert mode(folder) == 0o700, folder


def test_a_workspace_made_before_is_tightened(tmp_path: Path, umask: int) -> None:
    workspace = Workspace.for_deployment(tmp_path, "chat", "prod")
    workspace.root.mkdir(parents=True, mode=0o755)
    workspace.root.chmod(0o755)
    workspace.ensure()
    assert mode(workspace.root) == 0o700


def test_terraform_state_plans_and_logs_are_private(
    tmp_path: Path, umask: int, fake_terraform: TerraformBinary
) -> None:
    workspace = workspace_with_config(tmp_path)
    runner = TerraformRunner(fake_terraform, workspace)
    tfplan = workspace.root / "tfplan"
    runner.run("plan", ["plan", f"-out={tfplan}"])
    runner.run("apply", ["apply", str(tfplan)])
    state = workspace.state_file
    written = [tfplan, state, state.with_name(state.name + ".backup")]
    written += sorted(workspace.log_dir.iterdir())
    assert len(written) == 5
    assert {path.name: mode(path) for path in written} == {path.name: 0o600 for path in written}


def test_a_saved_plan_is_private(
    tmp_path: Path, umask: int, fake_terraform: TerraformBinary, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`infra plan --out FILE`: the archive holds the plan, which holds what the state will."""
    spec = fleet.make_spec("chat")
    workspace = workspace_with_config(tmp_path, spec)
    monkeypatch.setattr(workflow, "synth", lambda deployment: workspace.config_file)
    deployment = Deployment(spec, workspace)
    out = tmp_path / "saved" / "plan.bin"
    out.parent.mkdir()
    summary = workflow.plan(deployment, out)
    assert summary.plan_file == out
    assert mode(out) == 0o600
    assert [path.name for path in out.parent.iterdir()] == ["plan.bin"]  # no partial left
    _, tfplan = workflow.load_plan_archive(out)
    assert mode(tfplan) == 0o600


def test_private_files_are_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "spec.yaml"
    write_atomically(path, "name: chat\n")
    assert mode(path) == 0o600
    path.chmod(0o644)  # written before: replaced by a private file
    write_atomically(path, "name: chat\n")
    assert mode(path) == 0o600
    log = tmp_path / "step.log"
    log.write_text("old")
    log.chmod(0o644)
    with open_private(log) as stream:
        stream.write("new")
    assert (mode(log), log.read_text()) == (0o600, "new")


# ---------------------------------------------------------------------------------------------
# Files written for the user: their umask


def test_shared_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "report.csv"
    path.write_text("old")
    path.chmod(0o600)  # written by an earlier version
    write_atomically(path, "new", private=False)
    assert (mode(path), path.read_text()) == (0o666 & ~umask, "new")
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


def test_cost_output_follows_the_umask(cli: Cli, tmp_path: Path, umask: int) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(fleet_plan()))
    out = tmp_path / "cost.csv"
    result = cli("cost", "--plan", plan, "--format", "csv", "-o", out)
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o666 & ~umask


def test_profile_scaffold_follows_the_umask(cli: Cli, tmp_path: Path, umask: int) -> None:
    out = tmp_path / "chat.yaml"
    result = cli("profile", "init", "chat", "-o", out)
    assert result.exit_code == 0, result.output
    assert mode(out) == 0o666 & ~umask


def test_ci_workflow_follows_the_umask(cli: Cli, tmp_path: Path, umask: int) -> None:
    backend = {"s3_bucket": "my-terraform-state", "region": "us-east-1"}
    data = profile_dict(deploy={"environments": {"prod": {"backend": backend}}})
    (tmp_path / "profiles").mkdir()
    write_profile(tmp_path / "profiles", data, "chat.yaml")
    result = cli("ci", "init", "--provider", "github", "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert mode(tmp_path / ".github" / "workflows" / "infra.yml") == 0o666 & ~umask
