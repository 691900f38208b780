"""End to end through the CLI: real `terraform init/plan/apply/destroy` against the local emulated
AWS. One deployment is shared by the tests of this module, in order: deploy, idempotence,
status, drift, saved plans, locks, a failed apply, destroy."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.local_aws import Run, boto, the_error

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(
        shutil.which("terraform") is None and shutil.which("tofu") is None,
        reason="needs terraform or tofu on the PATH",
    ),
]
FLEET = "chat-8b-local-fleet"
HOLD_LOCK = """
import fcntl, sys
with open(sys.argv[1], "r+") as handle:
    fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("locked", flush=True)
    sys.stdin.read()
"""


@pytest.fixture(scope="module")
def deployed(infra_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    workdir = tmp_path_factory.mktemp("project")
    shutil.copy(EXAMPLES / "chat-8b.yaml", workdir / "chat-8b.yaml")
    run = Run(workdir)
    result, body = run.json("deploy", "chat-8b.yaml", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert body["changed"] is True
    assert body["outputs"]["autoscaling_group_name"] == FLEET
    run.region = json.loads(
        (
            workdir
            / ".infra"
            / "chat-8b"
            / "local"
            / "cdktf.out"
            / "stacks"
            / "chat-8b-local"
            / "cdk.tf.json"
        ).read_text()
    )["provider"]["aws"][0]["region"]
    yield run
    run("destroy", "chat-8b.yaml", "--auto-approve")


def test_deploy_created_the_fleet(deployed: Run) -> None:
    groups = boto("autoscaling", deployed.region).describe_auto_scaling_groups(
        AutoScalingGroupNames=[FLEET]
    )
    (group,) = groups["AutoScalingGroups"]
    distribution = group["MixedInstancesPolicy"]["InstancesDistribution"]
    assert distribution["SpotAllocationStrategy"] == "price-capacity-optimized"
    assert group["HealthCheckType"] == "ELB"
    balancers = boto("elbv2", deployed.region).describe_load_balancers()["LoadBalancers"]
    assert [b["Scheme"] for b in balancers] == ["internal"]


def test_second_plan_shows_no_changes(deployed: Run) -> None:
    result, body = deployed.json("plan", "chat-8b.yaml")
    assert result.exit_code == 0, result.output
    assert body["changes"] is False
    assert body["check"]["blocking"] == 0 and body["check"]["passed"] > 0  # scanned first
    assert body["cost"]["monthly_usd"]["expected"] > 0


def test_status_reports_the_state(deployed: Run) -> None:
    result, body = deployed.json("status", "chat-8b.yaml")
    assert result.exit_code == 0, result.output
    assert body["resources"] > 30
    assert body["outputs"]["endpoint_url"].startswith("http://")
    assert body["expected_monthly_usd"] > 0


def test_drift_then_a_saved_plan_repairs_it(deployed: Run) -> None:
    result, body = deployed.json("drift", "chat-8b.yaml")
    assert (result.exit_code, body["changes"]) == (0, False), result.output
    boto("autoscaling", deployed.region).update_auto_scaling_group(
        AutoScalingGroupName=FLEET, MaxSize=40
    )
    result, body = deployed.json("drift", "chat-8b.yaml")
    assert result.exit_code == 2, result.output
    assert [r["address"] for r in body["resources"]] == [
        next(a for a in (r["address"] for r in body["resources"]) if "autoscaling_group" in a)
    ]
    plan_file = deployed.workdir / "repair.plan"
    result, body = deployed.json("plan", "chat-8b.yaml", "--out", str(plan_file), "--skip-check")
    assert result.exit_code == 2, result.output
    assert body["update"] == 1 and plan_file.exists()
    result = deployed("apply", str(plan_file))
    assert result.exit_code == 0, result.output
    groups = boto("autoscaling", deployed.region).describe_auto_scaling_groups(
        AutoScalingGroupNames=[FLEET]
    )
    assert groups["AutoScalingGroups"][0]["MaxSize"] != 40
    assert deployed("drift", "chat-8b.yaml").exit_code == 0


def test_plan_over_the_budget_exits_4_and_saves_nothing(deployed: Run) -> None:
    profile = deployed.workdir / "chat-8b.yaml"
    original = profile.read_text()
    profile.write_text(
        original.replace("budget: {monthly_usd: 8000}", "budget: {monthly_usd: 100}")
    )
    try:
        plan_file = deployed.workdir / "over.plan"
        result = deployed("plan", "chat-8b.yaml", "--out", str(plan_file), "--skip-check")
        assert result.exit_code == 4, result.output
        line = the_error(result)
        assert line.startswith("error: the plan's expected cost of $")
        assert "exceeds the budget of $100.00 by $" in line and "was not saved" in line
        assert not plan_file.exists() and not list(deployed.workdir.glob(".over.plan*"))
        result, body = deployed.json("plan", "chat-8b.yaml", "--allow-over-budget", "--skip-check")
        assert result.exit_code == 0, result.output
        assert body["cost"]["budget_monthly_usd"] == 100
        assert body["cost"]["over_budget_usd"] > 0
        assert body["check"] is None  # --skip-check
    finally:
        profile.write_text(original)


def test_a_held_state_lock_is_one_clear_sentence(deployed: Run) -> None:
    """The lock is held by another process, as another run holds it: a POSIX lock taken in this
    process would be released by any read of the state file here (infra checks it is JSON)."""
    state = deployed.workdir / ".infra" / "chat-8b" / "local" / "terraform.tfstate"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(state)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        result = deployed("plan", "chat-8b.yaml", "--skip-check")
    finally:
        holder.communicate("")  # end of its input: it lets go and exits
    assert result.exit_code == 1
    line = the_error(result)
    assert line.startswith("error: the state is locked")
    assert "Traceback" not in result.output
    assert deployed("plan", "chat-8b.yaml", "--skip-check").exit_code == 0  # released


def test_destroy_refuses_without_approval_off_a_terminal(deployed: Run) -> None:
    result = deployed("destroy", "chat-8b.yaml")
    assert result.exit_code == 1
    assert "needs --auto-approve" in result.stderr


def test_destroy_leaves_nothing(deployed: Run) -> None:
    result, body = deployed.json("destroy", "chat-8b.yaml", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert body["destroyed"] > 30
    assert (
        boto("autoscaling", deployed.region).describe_auto_scaling_groups()["AutoScalingGroups"]
        == []
    )
    assert boto("elbv2", deployed.region).describe_load_balancers()["LoadBalancers"] == []
    vpcs = boto("ec2", deployed.region).describe_vpcs()["Vpcs"]
    assert [v for v in vpcs if not v.get("IsDefault")] == []
    result, body = deployed.json("plan", "chat-8b.yaml", "--skip-check")
    assert body["create"] > 30  # nothing left: a new plan creates everything again


def test_a_failed_apply_names_the_log_and_the_next_run_continues(
    deployed: Run, tmp_path: Path
) -> None:
    """Runs last: it breaks the emulator's IAM. With a managed policy gone, the instance role's
    attachment fails half way through an apply; what was created stays in the state, and the
    next run (here a destroy) continues from it."""
    boto("iam").delete_policy(PolicyArn="arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy")
    profile = (EXAMPLES / "chat-8b.yaml").read_text().replace("name: chat-8b", "name: other")
    (tmp_path / "other.yaml").write_text(profile)
    other = Run(tmp_path)
    result = other("deploy", "other.yaml", "--auto-approve", "--skip-check")
    assert result.exit_code == 1, result.output
    line = the_error(result)
    assert line.startswith("error: terraform apply failed: attaching IAM Policy")
    log = Path(line.rsplit("full output in ", 1)[1].rstrip("."))
    assert "CloudWatchAgentServerPolicy" in log.read_text()
    result, body = other.json("status", "other.yaml")
    assert result.exit_code == 0 and body["resources"] > 0, result.output
    result = other("destroy", "other.yaml", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert (
        boto("autoscaling", deployed.region).describe_auto_scaling_groups()["AutoScalingGroups"]
        == []
    )
