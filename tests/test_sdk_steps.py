"""Orchestration of the SDK steps: where the deploy workflow calls them (after apply, and after a
plan without changes; before destroy; in status; never for a cancelled deploy), what `plan`
refuses before synthesizing, and `infra rollback` through the CLI. Terraform is replaced by fake
outputs and a fake runner, the clouds by the fakes of tests/sdk_fakes.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

import orchestrator.workflow as workflow
from cli.endpoint_render import removed_text, rollout_text, status_text
from core.errors import InfraError
from orchestrator import sdk_steps
from orchestrator.applied import AppliedState
from orchestrator.errors import NotDeployed
from orchestrator.managed_container import ManagedContainerError
from orchestrator.rollout import RevisionMissing
from orchestrator.terraform import StepResult
from orchestrator.vertex_endpoint import VertexEndpoint, VertexOutputs
from orchestrator.workflow import Deployment, PlanSummary
from planner.deployment import DeploymentSpec, dump_spec
from providers.sdk_errors import first_line
from tests.conftest import REPO, Cli
from tests.sdk_fakes import (
    AZURE_OUTPUTS,
    AZURE_SDK_WARNINGS,
    VERTEX_ENDPOINT,
    VERTEX_OUTPUTS,
    FakeVertexApi,
    azureml_spec,
    deployment_of,
    vertex_spec,
    with_runtime,
)
from tests.test_user_data import make_spec as fleet_spec

pytestmark = AZURE_SDK_WARNINGS
SPEC = vertex_spec()


def summary(changes: bool) -> PlanSummary:
    return PlanSummary(changes, int(changes), 0, 0, 0, [], None, Path("plan.log"))


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeVertexApi:
    """The real driver over a fake Vertex AI, wherever the workflow builds one."""
    fake = FakeVertexApi()

    def driver(spec: DeploymentSpec, outputs: Any) -> VertexEndpoint:
        return VertexEndpoint(spec, VertexOutputs.read(spec.stack_name, outputs), fake)

    monkeypatch.setattr(sdk_steps, "cloud_driver", driver)
    return fake


class FakeTerraform:
    """Terraform replaced: plan answers `changes`, outputs are the Vertex stack's, and every
    plan and apply is recorded in `events`."""

    def __init__(self) -> None:
        self.changes = True
        self.events: list[str] = []

        self.applied: DeploymentSpec | None = None

    def plan(
        self, deployment: Deployment, out: Any = None, *, destroy: bool = False, gates: Any = None
    ) -> PlanSummary:
        self.events.append("plan -destroy" if destroy else "plan")
        return summary(self.changes)

    def apply_plan(self, deployment: Deployment, tfplan: Path, *, refresh: bool = True) -> Any:
        self.events.append("apply" if refresh else "apply -destroy")
        self.applied = deployment.spec if refresh else None
        return dict(VERTEX_OUTPUTS) if refresh else {}

    def applied_state(self, deployment: Deployment) -> AppliedState:
        return AppliedState(1 if self.applied else 0, self.applied)


@pytest.fixture
def terraform(monkeypatch: pytest.MonkeyPatch) -> FakeTerraform:
    fake = FakeTerraform()
    monkeypatch.setattr(workflow, "plan", fake.plan)
    monkeypatch.setattr(workflow, "_terraform_plan", fake.plan)
    monkeypatch.setattr(workflow, "synth", lambda deployment: deployment.workspace.config_file)
    monkeypatch.setattr(workflow, "_refuse_leftovers", lambda deployment: None)  # no AWS here
    monkeypatch.setattr(workflow, "applied_state", fake.applied_state)
    monkeypatch.setattr(workflow, "apply_plan", fake.apply_plan)
    monkeypatch.setattr(workflow, "outputs", lambda deployment: dict(VERTEX_OUTPUTS))
    return fake


def test_deploy_applies_then_deploys_the_model(
    terraform: FakeTerraform, api: FakeVertexApi, tmp_path: Path
) -> None:
    result = workflow.deploy(deployment_of(SPEC, tmp_path), confirm=lambda s: True)
    assert terraform.events == ["plan", "apply"]
    assert result["changed"] is True
    endpoint = result["endpoint"]
    assert endpoint["changed"] is True and endpoint["traffic"] == {endpoint["revision"]: 100}
    assert api.changing() == ["upload_model", "deploy_model"]


def test_a_plan_without_changes_still_finishes_the_sdk_steps(
    terraform: FakeTerraform, api: FakeVertexApi, tmp_path: Path
) -> None:
    terraform.changes = False
    api.fail_next("deploy_model")
    with pytest.raises(InfraError, match="the deploy_model call failed"):
        workflow.deploy(deployment_of(SPEC, tmp_path), confirm=lambda s: True)
    result = workflow.deploy(deployment_of(SPEC, tmp_path), confirm=lambda s: True)
    assert terraform.events == ["plan", "plan"], "no apply without changes"
    assert result["changed"] is False and result["endpoint"]["changed"] is True
    again = workflow.deploy(deployment_of(SPEC, tmp_path), confirm=lambda s: True)
    assert again["endpoint"]["changed"] is False


def test_a_cancelled_deploy_calls_no_sdk(
    terraform: FakeTerraform, api: FakeVertexApi, tmp_path: Path
) -> None:
    result = workflow.deploy(deployment_of(SPEC, tmp_path), confirm=lambda s: False)
    assert result["cancelled"] is True and "endpoint" not in result
    assert api.calls == []


def test_an_aws_deploy_has_no_endpoint_step(
    terraform: FakeTerraform, api: FakeVertexApi, tmp_path: Path
) -> None:
    result = workflow.deploy(deployment_of(fleet_spec(), tmp_path), confirm=lambda s: True)
    assert "endpoint" not in result and api.calls == []


def test_destroy_removes_what_the_sdk_made_before_terraform_destroys(
    terraform: FakeTerraform, api: FakeVertexApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflow.deploy(deployment_of(SPEC, tmp_path), confirm=lambda s: True)
    held_at_destroy: list[int] = []
    apply_plan = workflow.apply_plan

    def destroy_apply(deployment: Deployment, tfplan: Path, *, refresh: bool = True) -> Any:
        held_at_destroy.append(len(api.deployed) + len(api.models))
        return apply_plan(deployment, tfplan, refresh=refresh)

    monkeypatch.setattr(workflow, "apply_plan", destroy_apply)
    result = workflow.destroy(deployment_of(SPEC, tmp_path), confirm=lambda s: True)
    assert terraform.events[-2:] == ["plan -destroy", "apply -destroy"]
    assert held_at_destroy == [0]
    assert [line.split()[0] for line in result["removed_by_sdk"]] == ["deployed", "model"]


def test_an_aws_destroy_reads_no_outputs(
    terraform: FakeTerraform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    def no_outputs(deployment: Deployment) -> Any:
        raise AssertionError("outputs are read for managed endpoints only")

    monkeypatch.setattr(workflow, "outputs", no_outputs)
    result = workflow.destroy(deployment_of(fleet_spec(), tmp_path), confirm=lambda s: True)
    assert "removed_by_sdk" not in result


class FakeRunner:
    def run(self, step: str, args: list[str], ok_codes: Any = (0,)) -> StepResult:
        assert args == ["state", "list"]
        return StepResult(0, "google_vertex_ai_endpoint.endpoint\n", Path("state.log"))


def test_status_reads_the_live_endpoint(
    terraform: FakeTerraform, api: FakeVertexApi, tmp_path: Path
) -> None:
    workflow.deploy(deployment_of(SPEC, tmp_path), confirm=lambda s: True)
    deployment = deployment_of(SPEC, tmp_path)
    deployment._runner = FakeRunner()  # type: ignore[assignment]
    deployment._initialized = True
    deployment.workspace.config_file.parent.mkdir(parents=True)
    deployment.workspace.config_file.write_text("{}")
    status = workflow.status(deployment)
    endpoint = status["endpoint"]
    assert status["resources"] == 1 and endpoint["in_sync"] is True
    (row,) = endpoint["revisions"]
    assert row["traffic"] == 100 and row["replicas"] == {"min": 1, "max": 4, "available": 1}
    text = status_text(endpoint)
    assert f"Endpoint {VERTEX_ENDPOINT} (Vertex AI): serves this spec" in text
    assert f"  {row['name']}  100%  g2-standard-24, 1 running (1-4)  ← this spec" in text


# --- refused before anything is planned -----------------------------------------------------------


def test_plan_refuses_an_undeployable_container_before_synthesizing(tmp_path: Path) -> None:
    spec = azureml_spec("vllm", image="vllm/vllm-openai:v0.10.2")
    deployment = deployment_of(spec, tmp_path)
    with pytest.raises(ManagedContainerError, match="stock vLLM image"):
        workflow.plan(deployment)
    assert not deployment.workspace.root.exists()


def test_a_destroy_plan_is_not_refused_for_the_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Synthesized(Exception):
        pass

    def synth(deployment: Deployment) -> Path:
        raise Synthesized

    monkeypatch.setattr(workflow, "synth", synth)
    deployment = deployment_of(azureml_spec("vllm", image="vllm/vllm-openai:v0.10.2"), tmp_path)
    with pytest.raises(Synthesized):
        workflow.plan(deployment, destroy=True)


def test_the_local_emulator_has_no_managed_endpoints(tmp_path: Path) -> None:
    spec = msgspec.structs.replace(SPEC, env="local")
    with pytest.raises(InfraError, match="is the local emulated AWS, which has no vertex"):
        sdk_steps.check(deployment_of(spec, tmp_path))


def test_aws_specs_pass_the_check_untouched(tmp_path: Path) -> None:
    sdk_steps.check(deployment_of(fleet_spec(), tmp_path))


# --- infra rollback -------------------------------------------------------------------------------


def spec_file(tmp_path: Path, spec: DeploymentSpec) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(dump_spec(spec))
    return path


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            fleet_spec(),
            "a fleet deployment has no traffic split to shift back; re-deploy the previous "
            "profile to go back.",
        ),
        (
            msgspec.structs.replace(fleet_spec(), kind="sagemaker"),
            "a SageMaker endpoint rolls back by itself when a variant's alarm fires during its "
            "traffic shift; after that, re-deploy the previous profile to go back.",
        ),
    ],
)
def test_rollback_of_other_kinds_says_how_they_roll_back(
    cli: Cli, tmp_path: Path, spec: DeploymentSpec, message: str
) -> None:
    result = cli("rollback", "--spec", spec_file(tmp_path, spec), "--json")
    assert result.exit_code == 1 and result.stderr == ""
    assert json.loads(result.stdout) == {"error": message, "exit_code": 1}


def test_rollback_before_any_deploy_says_so(cli: Cli, tmp_path: Path) -> None:
    result = cli("rollback", "--spec", spec_file(tmp_path, SPEC), "--json")
    assert result.exit_code == 1
    assert "has not been deployed from here" in json.loads(result.stdout)["error"]


def human_error(result: Any) -> str:
    """The deployment line, then one `error:` line; no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    header, error = result.stderr.splitlines()
    assert header.startswith("chat-prod: ")
    assert error.startswith("error: ")
    return error


def test_rollback_without_google_credentials_is_one_sentence(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    def no_credentials(**kwargs: Any) -> Any:
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    monkeypatch.setattr(sdk_steps, "terraform_outputs", lambda d: dict(VERTEX_OUTPUTS))
    error = human_error(cli("rollback", "--spec", spec_file(tmp_path, SPEC)))
    assert error.startswith("error: no Google Cloud credentials found: run `gcloud auth")


def test_rollback_without_azure_credentials_is_one_sentence(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azure.identity
    from azure.core.exceptions import ClientAuthenticationError

    class NoCredential:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            raise ClientAuthenticationError(message="DefaultAzureCredential failed.\nAttempted")

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", NoCredential)
    monkeypatch.setattr(sdk_steps, "terraform_outputs", lambda d: dict(AZURE_OUTPUTS))
    error = human_error(cli("rollback", "--spec", spec_file(tmp_path, azureml_spec())))
    assert error.startswith("error: no usable Azure credentials: sign in with `az login`")


def test_rollback_through_the_cli(
    cli: Cli, tmp_path: Path, api: FakeVertexApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sdk_steps, "terraform_outputs", lambda d: dict(VERTEX_OUTPUTS))
    old = deployment_of(SPEC, tmp_path)
    a = sdk_steps.after_apply(old, VERTEX_OUTPUTS, sleep=lambda s: None)["revision"]  # type: ignore[index]
    canary = with_runtime(SPEC, max_batch=96)

    def interrupt(seconds: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sdk_steps.after_apply(deployment_of(canary, tmp_path), VERTEX_OUTPUTS, sleep=interrupt)
    path = spec_file(tmp_path, canary)
    result = cli("rollback", "--spec", path)
    assert result.exit_code == 0, result.output
    b = sdk_steps.live_status(deployment_of(canary, tmp_path), VERTEX_OUTPUTS)["revision"]  # type: ignore[index]
    assert result.stdout == (
        f"Rolled back {b} on {VERTEX_ENDPOINT}: all traffic to {a} ({a} 100%).\n"
    )
    assert api.serving() == {a: 100}
    again = cli("rollback", "--spec", path, "--json")
    assert "has this profile's serving configuration" in json.loads(again.stdout)["error"]


# --- rendering and imports ------------------------------------------------------------------------


def test_rollout_and_destroy_text() -> None:
    assert rollout_text(None) == removed_text(None) == ""
    unchanged = {"endpoint": "e", "changed": False, "actions": [], "traffic": {"rev-a": 100}}
    assert rollout_text(unchanged) == "\nEndpoint e: no changes (rev-a 100%)."
    changed = {
        "endpoint": "e",
        "changed": True,
        "actions": ["deployed rev-b with 10% of the traffic"],
        "traffic": {"rev-a": 90, "rev-b": 10},
    }
    assert rollout_text(changed) == (
        "\nEndpoint e: rev-a 90%, rev-b 10%\n  - deployed rev-b with 10% of the traffic"
    )
    assert removed_text(["endpoint e"]) == "\nRemoved first (created by the SDK steps): endpoint e."


def test_azure_status_text() -> None:
    status = {
        "endpoint": "chat-prod",
        "cloud": "Azure ML",
        "revision": "rev-b",
        "in_sync": False,
        "revisions": [
            {
                "name": "rev-b",
                "traffic": 0,
                "ready": False,
                "this_spec": True,
                "instance_type": "Standard_NC24ads_A100_v4",
                "instances": 3,
                "state": "Failed",
            }
        ],
    }
    assert status_text(status) == (
        "\nEndpoint chat-prod (Azure ML): not yet serving rev-b\n"
        "  rev-b    0%  3× Standard_NC24ads_A100_v4, Failed, not ready  ← this spec"
    )


def test_the_cli_and_workflow_load_no_cloud_sdk() -> None:
    """(`google` and `google.cloud` themselves are namespace packages a .pth file creates at
    interpreter start.)"""
    probe = (
        "import sys, cli.main, orchestrator.workflow, orchestrator.sdk_steps; "
        "print(sorted(m for m in sys.modules if m.startswith(('google.cloud.', 'google.auth', "
        "'google.api_core', 'azure.'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_a_deployment_the_cloud_does_not_list_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Forgetful(FakeVertexApi):
        def deploy_model(self, *args: Any) -> None:
            self._record("deploy_model", args)

    fake = Forgetful()

    def driver(spec: DeploymentSpec, outputs: Any) -> VertexEndpoint:
        return VertexEndpoint(spec, VertexOutputs.read(spec.stack_name, outputs), fake)

    with pytest.raises(RevisionMissing, match="but it is not listed there; run the command again"):
        sdk_steps.after_apply(deployment_of(SPEC, tmp_path), VERTEX_OUTPUTS, driver)


def test_rollback_without_outputs_says_nothing_was_applied(tmp_path: Path) -> None:
    with pytest.raises(NotDeployed, match="has no applied vertex stack; nothing to roll back"):
        sdk_steps.rollback(deployment_of(SPEC, tmp_path), lambda d: {})


def test_an_empty_cloud_message_still_makes_a_sentence() -> None:
    assert first_line("\n  \n") == "no reason given"
    assert first_line("Denied.\nDetails") == "Denied"
