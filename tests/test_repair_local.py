"""A run cut off in the middle of an apply, end to end on the local emulated AWS.

What a killed apply leaves (resources that exist but that the state does not hold) is made here
deterministically: deploy, then `terraform state rm` some of what was created. In order: repair
finds exactly those, refuses without approval off a terminal, imports them (the next plan creates
nothing again), the check after destroy names what a destroy left behind, and repair --delete
removes it. Real terraform against the emulator: minutes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from modules.tag_keys import STACK_TAG
from orchestrator.leftovers import LeftoversRemain, find_leftovers, remaining_after_destroy
from orchestrator.terraform import TerraformRunner, find_terraform
from orchestrator.workspace import Workspace
from planner.deployment import DeploymentSpec, load_spec
from tests.conftest import EXAMPLES
from tests.local_aws import Run, boto, put_alarm, the_error

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(
        shutil.which("terraform") is None and shutil.which("tofu") is None,
        reason="needs terraform or tofu on the PATH",
    ),
]
CUT_OFF = (
    "aws_lb",
    "aws_lb_listener",
    "aws_lb_target_group",
    "aws_autoscaling_group",
    "aws_launch_template",
    "aws_iam_role",
)
"""Types whose (one) resource the state loses; plus the 5xx alarm, one of three."""


class Deployed:
    def __init__(self, workdir: Path) -> None:
        from providers.local.emulator import aws_environment, ensure_running

        self.run = Run(workdir)
        self.spec: DeploymentSpec = load_spec(
            workdir / ".infra" / "chat-8b" / "local" / "spec.yaml"
        )
        self.workspace = Workspace.for_deployment(workdir, "chat-8b", "local", self.spec.stack_name)
        region = self.spec.region
        self.run.region = region
        environment = {
            **aws_environment(ensure_running()),
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
        }
        self.runner = TerraformRunner(find_terraform(), self.workspace, environment)

    def state(self) -> dict[str, str]:
        """Address -> ID of every managed resource in the state."""
        shown = self.runner.json("show", ["show", "-json", "-no-color"])
        return {
            r["address"]: r["values"]["id"]
            for r in shown.get("values", {}).get("root_module", {}).get("resources", [])
            if r["mode"] == "managed"
        }

    def cut_off(self, addresses: list[str]) -> set[tuple[str, str]]:
        """Drop `addresses` from the state, as a killed apply would not have recorded them."""
        held = self.state()
        self.runner.run("state", ["state", "rm", *addresses])
        return {(address.split(".")[0], held[address]) for address in addresses}

    def leftovers(self) -> set[tuple[str, str]]:
        return {(o.resource.type, o.resource.id) for o in find_leftovers(self.spec, self.runner)}


@pytest.fixture(scope="module")
def deployed(infra_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    workdir = tmp_path_factory.mktemp("project")
    shutil.copy(EXAMPLES / "chat-8b.yaml", workdir / "chat-8b.yaml")
    result = Run(workdir)("deploy", "chat-8b.yaml", "--auto-approve", "--skip-check")
    assert result.exit_code == 0, result.output
    deployment = Deployed(workdir)
    yield deployment
    deployment.run("destroy", "chat-8b.yaml", "--auto-approve")


@pytest.fixture(scope="module")
def removed(deployed: Deployed) -> dict[str, str]:
    """Address -> ID of what the state lost."""
    held = deployed.state()
    addresses = [a for a in held if a.split(".")[0] in CUT_OFF]
    addresses += [a for a in held if a.startswith("aws_cloudwatch_metric_alarm.alarms_error-rate")]
    assert len(addresses) == len(CUT_OFF) + 1, addresses
    deployed.cut_off(addresses)
    return {address: held[address] for address in addresses}


def test_every_resource_carries_the_stack_tag(deployed: Deployed) -> None:
    stack = deployed.spec.stack_name
    balancers = boto("elbv2", deployed.spec.region).describe_load_balancers()["LoadBalancers"]
    (arn,) = [b["LoadBalancerArn"] for b in balancers if b["LoadBalancerName"] == stack]
    tags = boto("elbv2", deployed.spec.region).describe_tags(ResourceArns=[arn])
    assert {t["Key"]: t["Value"] for t in tags["TagDescriptions"][0]["Tags"]}[STACK_TAG] == stack


def test_repair_finds_exactly_what_the_state_lost(
    deployed: Deployed, removed: dict[str, str]
) -> None:
    leftovers = find_leftovers(deployed.spec, deployed.runner)
    assert {(o.resource.type, o.resource.id) for o in leftovers} == {
        (address.split(".")[0], id) for address, id in removed.items()
    }
    assert {o.address for o in leftovers} == set(removed)  # each has its address back


def test_repair_off_a_terminal_needs_approval_and_changes_nothing(
    deployed: Deployed, removed: dict[str, str]
) -> None:
    result = deployed.run("repair", "chat-8b.yaml")
    assert result.exit_code == 1
    assert the_error(result) == (
        "error: repair needs --auto-approve when not run at a terminal (nothing was changed)."
    )
    assert len(deployed.leftovers()) == len(removed)


def test_import_puts_them_back_and_says_what_it_could_not(
    deployed: Deployed, removed: dict[str, str]
) -> None:
    """A stray alarm of the stack (its address is the state's already) cannot be imported:
    the rest is, and the sentence says to delete it."""
    stray = f"{deployed.spec.stack_name}-stray"
    put_alarm(
        boto("cloudwatch", deployed.spec.region), stray, {STACK_TAG: deployed.spec.stack_name}
    )
    result, body = deployed.run.json("repair", "chat-8b.yaml", "--auto-approve")
    assert result.exit_code == 1, result.output
    assert {entry["address"] for entry in body["imported"]} == set(removed)
    assert [entry["id"] for entry in body["not_imported"]] == [stray]
    assert body["error"] == (
        "1 could not be imported, having no address of their own in the configuration "
        f"(aws_cloudwatch_metric_alarm {stray}); delete them with `infra repair chat-8b.yaml "
        "--env local --delete` (the next deploy creates what the stack needs)."
    )
    assert {address: deployed.state()[address] for address in removed} == removed
    assert deployed.leftovers() == {("aws_cloudwatch_metric_alarm", stray)}
    result, body = deployed.run.json("plan", "chat-8b.yaml", "--skip-check")
    assert result.exit_code in (0, 2), result.output
    assert (body["create"], body["replace"], body["delete"]) == (0, 0, 0), body["resources"]


def test_after_destroy_what_remains_is_named_and_delete_removes_it(
    deployed: Deployed, removed: dict[str, str]
) -> None:
    """The load balancer leaves the state again (as when an apply is killed while creating it);
    destroy removes the rest and the check names what is still there, the stray alarm too;
    repair --delete removes them, and the check passes."""
    balancer = next(a for a in removed if a.startswith("aws_lb."))
    deployed.cut_off([balancer])
    stack, region = deployed.spec.stack_name, deployed.spec.region
    expected = (
        f"the state is empty but 2 resources of {stack} remain in {region} "
        f"(aws_cloudwatch_metric_alarm {stack}-stray, aws_lb {stack}), left outside the state "
        "by a run that was cut off; delete them with `infra repair PROFILE --env local --delete`."
    )
    result = deployed.run("destroy", "chat-8b.yaml", "--auto-approve")
    assert result.exit_code == 1, result.output  # never a clean destroy with these left
    assert the_error(result) == f"error: {expected}"
    assert deployed.state() == {}
    with pytest.raises(LeftoversRemain) as raised:
        remaining_after_destroy(deployed.spec, deployed.runner)
    assert str(raised.value) == expected

    result, body = deployed.run.json("repair", "chat-8b.yaml", "--delete", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert [(entry["type"], entry["name"]) for entry in body["deleted"]] == [
        ("aws_cloudwatch_metric_alarm", f"{deployed.spec.stack_name}-stray"),
        ("aws_lb", deployed.spec.stack_name),
    ]
    remaining_after_destroy(deployed.spec, deployed.runner)
    elbv2 = boto("elbv2", deployed.spec.region)
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    result, body = deployed.run.json("repair", "chat-8b.yaml")
    assert (result.exit_code, body["leftovers"]) == (0, []), result.output
    assert deployed.run("destroy", "chat-8b.yaml", "--auto-approve").exit_code == 0  # clean now
