"""How Terraform's failures become one sentence: the lock holder and lock ID come from the
"Lock Info" block, whatever the backend printed above it; a stopped emulator, an unreadable state
and providers out of reach say what to do. Outputs recorded from Terraform 1.11."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import EmulatorStopped, StateLocked
from orchestrator.state_file import StateFileUnreadable
from orchestrator.terraform import TerraformBinary, TerraformRunner, _failure
from orchestrator.workspace import Workspace

RECORDED = Path(__file__).parent / "data" / "terraform_output"


def recorded(name: str) -> str:
    """Terraform 1.11's output as the runner's log holds it, without the command line."""
    return (RECORDED / name).read_text()


S3_LOCKED = """\
Error: Error acquiring the state lock

Error message: operation error S3: PutObject, https response error
StatusCode: 412, RequestID:
oaIKb41gsUkblakp4Qy5JRMzsgaik1IApeax7Ryttf2IxeBkfA6S, HostID:
9Gjjt1m+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=,
api error PreconditionFailed: At least one of the pre-conditions you specified did not hold
Lock Info:
  ID:        6f1c2e4a-5b3d-4c2e-9f1a-0b8d7e6c5a4b
  Path:      tf-state/infra/chat/prod/terraform.tfstate
  Operation: OperationTypeApply
  Who:       runner@ci-42
  Version:   1.11.4
  Created:   2026-11-23 09:12:00 +0000 UTC
  Info:
"""


def test_s3_lock_names_the_holder_and_the_lock_id(tmp_path: Path) -> None:
    log = tmp_path / "plan.log"
    error = _failure("terraform", "plan", S3_LOCKED, log)
    assert isinstance(error, StateLocked)
    message = str(error)
    assert "locked by runner@ci-42" in message
    assert "`terraform force-unlock 6f1c2e4a-5b3d-4c2e-9f1a-0b8d7e6c5a4b`" in message
    assert "oaIKb41" not in message and str(log) in message
    assert "\n" not in message and message.endswith(".")


def test_other_failures_quote_the_first_error(tmp_path: Path) -> None:
    output = "Error: creating SageMaker Endpoint: ValidationException: bad\n\nError: second\n"
    message = str(_failure("tofu", "apply", output, tmp_path / "apply.log"))
    assert message.startswith("tofu apply failed: creating SageMaker Endpoint")
    assert "(and 1 more)" in message


# Recorded: `infra local down` while `terraform apply` created a fleet (the VPC and the instance
# profile were waiting on the emulator when it went away).
EMULATOR_STOPPED = recorded("emulator-stopped-apply.txt")


def one_sentence(error: Exception) -> str:
    message = str(error)
    assert "\n" not in message and message.endswith("."), message
    return message


def test_a_stopped_emulator_says_how_to_restart_and_resume(tmp_path: Path) -> None:
    log = tmp_path / "apply.log"
    error = _failure("terraform", "apply", EMULATOR_STOPPED, log)
    assert isinstance(error, EmulatorStopped)
    message = one_sentence(error)
    assert message.startswith(
        "the local AWS emulator stopped answering during terraform apply "
        "(connection refused at 127.0.0.1:4566); start it again with `infra local up`, "
        "then run the same command again"
    )
    assert "`infra repair`" in message and str(log) in message


def test_connection_refused_elsewhere_is_not_the_emulator(tmp_path: Path) -> None:
    output = EMULATOR_STOPPED.replace("127.0.0.1:4566", "10.0.0.8:443")
    error = _failure("terraform", "apply", output, tmp_path / "apply.log")
    assert not isinstance(error, EmulatorStopped)
    assert str(error).startswith("terraform apply failed: waiting for IAM Instance Profile")


# Recorded: `terraform plan` (1.11) on a state file cut off after 100 bytes. Terraform reads the
# state while taking the lock, so the lock is what it says failed.
TRUNCATED_STATE_PLAN = recorded("truncated-state-plan.txt")
# Recorded: `terraform init` on the same file.
TRUNCATED_STATE_INIT = recorded("truncated-state-init.txt")
VALID_STATE = '{"version": 4, "terraform_version": "1.11.4", "serial": 3, "resources": []}'


def workspace_with_state(tmp_path: Path, state: str, backup: str | None) -> Workspace:
    workspace = Workspace(tmp_path / "ws", "chat-8b-local")
    workspace.ensure()
    workspace.state_file.write_text(state)
    if backup is not None:
        workspace.state_file.with_name("terraform.tfstate.backup").write_text(backup)
    return workspace


@pytest.mark.parametrize(
    ("step", "output"), [("plan", TRUNCATED_STATE_PLAN), ("init", TRUNCATED_STATE_INIT)]
)
def test_a_truncated_state_names_the_file_and_how_to_restore_the_backup(
    tmp_path: Path, step: str, output: str
) -> None:
    workspace = workspace_with_state(tmp_path, VALID_STATE[:40], backup=VALID_STATE)
    log = workspace.new_log(step)
    error = _failure("terraform", step, output, log)
    assert isinstance(error, StateFileUnreadable)  # not "the state is locked"
    message = one_sentence(error)
    state, backup = workspace.state_file, f"{workspace.state_file}.backup"
    assert message.startswith(f"the state file {state} is not a valid Terraform state")
    assert f"restore it with `cp {backup} {state}`" in message
    assert message.endswith(f"; details in {log}.")


def test_a_truncated_state_is_caught_before_terraform_runs(tmp_path: Path) -> None:
    workspace = workspace_with_state(tmp_path, VALID_STATE[:40], backup=None)
    binary = TerraformBinary("/nonexistent/terraform", "terraform", "1.11.4")
    with pytest.raises(StateFileUnreadable) as raised:
        TerraformRunner(binary, workspace)
    message = one_sentence(raised.value)
    assert str(workspace.state_file) in message
    assert f"its backup {workspace.state_file}.backup does not exist" in message


@pytest.mark.parametrize("state", ["", VALID_STATE])
def test_an_empty_or_valid_state_is_left_to_terraform(tmp_path: Path, state: str) -> None:
    workspace = workspace_with_state(tmp_path, state, backup="not json")
    binary = TerraformBinary("/nonexistent/terraform", "terraform", "1.11.4")
    assert TerraformRunner(binary, workspace).workspace == workspace


def test_an_unreadable_remote_state_says_to_restore_a_version(tmp_path: Path) -> None:
    log = tmp_path / "ws" / "logs" / "plan.log"  # no terraform.tfstate beside: state in S3
    message = one_sentence(_failure("terraform", "plan", TRUNCATED_STATE_PLAN, log))
    assert message.startswith("terraform plan could not read the state from the backend")
    assert "previous version" in message and str(log) in message


# Recorded: `terraform init` (1.11) offline, without a provider mirror.
INIT_OFFLINE = recorded("init-offline.txt")
# Recorded: `terraform init` with a filesystem mirror that holds no AWS provider.
INIT_MIRROR_WITHOUT_IT = recorded("init-mirror-without-provider.txt")


def test_offline_init_names_the_provider_mirror_variable(tmp_path: Path) -> None:
    log = tmp_path / "init.log"
    message = one_sentence(_failure("terraform", "init", INIT_OFFLINE, log))
    assert message.startswith(
        "terraform init could not reach registry.terraform.io to download hashicorp/aws "
        "(offline?); set INFRA_PROVIDER_MIRROR to a provider mirror directory"
    )
    assert "`terraform providers mirror DIR`" in message and str(log) in message


def test_a_mirror_without_the_provider_is_named(tmp_path: Path) -> None:
    message = one_sentence(_failure("tofu", "init", INIT_MIRROR_WITHOUT_IT, tmp_path / "i.log"))
    assert message.startswith(
        "tofu init found no version of hashicorp/aws that the configuration accepts in the "
        "provider mirror /srv/mirror; add one there with `tofu providers mirror DIR`"
    )
    assert "INFRA_PROVIDER_MIRROR" in message


def test_a_resource_left_by_a_cut_off_run_points_at_repair(tmp_path: Path) -> None:
    from orchestrator.terraform import _failure

    output = (
        "aws_lb.load-balancer_alb: Creating...\n"
        "╷\n│ Error: creating ELBv2 application Load Balancer (chat-8b-local-3f2a): operation "
        "error Elastic Load Balancing v2: CreateLoadBalancer, api error DuplicateLoadBalancerName: "
        "ELBv2 Load Balancer (chat-8b-local-3f2a) already exists\n│\n╵\n"
    )
    error = str(_failure("terraform", "apply", output, tmp_path / "apply.log"))
    assert error.startswith(
        "terraform apply failed: ELBv2 Load Balancer (chat-8b-local-3f2a) already exists but is "
        "not in the state"
    )
    assert "`infra repair PROFILE --env ENV`" in error
    assert "repair" not in str(_failure("terraform", "plan", output, tmp_path / "plan.log"))
