"""End to end through the CLI: real `terraform init/plan/apply/destroy` against the local emulated
AWS. One deployment is shared by the tests of this module, in order: deploy, the week's schedule,
idempotence, status, drift, saved plans, locks, a failed apply, destroy. The deployed profile is
chat-8b with a traffic shape (OFFICE_HOURS), so the fleet carries scheduled actions and the
in-flight policy through every step."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLES
from tests.local_aws import Run, aws_regions, boto, the_error

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(
        shutil.which("terraform") is None and shutil.which("tofu") is None,
        reason="needs terraform or tofu on the PATH",
    ),
]
HOLD_LOCK = """
import fcntl, sys
with open(sys.argv[1], "r+") as handle:
    fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("locked", flush=True)
    sys.stdin.read()
"""
OFFICE_HOURS = """  traffic:
    timezone: Europe/Berlin
    peak_hours: "09:00-18:00"
    days: weekdays
    trough_rps: 2
"""
"""chat-8b's 10 req/s in Berlin office hours, 2 otherwise: a fleet that follows the week."""


@pytest.fixture(scope="module")
def deployed(infra_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    workdir = tmp_path_factory.mktemp("project")
    text = (EXAMPLES / "chat-8b.yaml").read_text()
    anchor = "  output_tokens: {mean: 256, p95: 768}\n"
    assert anchor in text
    (workdir / "chat-8b.yaml").write_text(text.replace(anchor, anchor + OFFICE_HOURS))
    run = Run(workdir)
    result, body = run.json("deploy", "chat-8b.yaml", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert body["changed"] is True
    assert body["lock_file"] == "chat-8b.lock.yaml"  # beside the profile
    locked = yaml.safe_load((workdir / "chat-8b.lock.yaml").read_text())["environments"]["local"]
    assert body["decision"]["source"] == "new"
    run.resource_name = f"chat-8b-local-{locked['deployment_id']}-fleet"
    assert body["outputs"]["autoscaling_group_name"] == run.resource_name
    run.region = locked["decision"]["region"]
    yield run
    run("destroy", "chat-8b.yaml", "--auto-approve")


def test_deploy_created_the_fleet(deployed: Run) -> None:
    groups = boto("autoscaling", deployed.region).describe_auto_scaling_groups(
        AutoScalingGroupNames=[deployed.resource_name]
    )
    (group,) = groups["AutoScalingGroups"]
    distribution = group["MixedInstancesPolicy"]["InstancesDistribution"]
    assert distribution["SpotAllocationStrategy"] == "price-capacity-optimized"
    assert group["HealthCheckType"] == "ELB"
    balancers = boto("elbv2", deployed.region).describe_load_balancers()["LoadBalancers"]
    assert [b["Scheme"] for b in balancers] == ["internal"]
    # Draining: the termination hook the instances' watcher completes, as the emulator holds it.
    hooks = boto("autoscaling", deployed.region).describe_lifecycle_hooks(
        AutoScalingGroupName=deployed.resource_name
    )["LifecycleHooks"]
    assert [
        (h["LifecycleHookName"], h["LifecycleTransition"], h["DefaultResult"]) for h in hooks
    ] == [
        (
            deployed.resource_name.removesuffix("-fleet") + "-drain",
            "autoscaling:EC2_INSTANCE_TERMINATING",
            "CONTINUE",
        )
    ]


def test_the_fleet_follows_the_week_and_tracks_requests_in_flight(deployed: Run) -> None:
    """What the emulated API holds: the recurring actions in Berlin time, and the target-tracking
    policy on the engine's metric at the locked spec's value."""
    lock = yaml.safe_load((deployed.workdir / "chat-8b.lock.yaml").read_text())
    decision = lock["environments"]["local"]["decision"]
    sizes = {change["instances"] for change in decision["hourly"]["changes"]}
    autoscaling = boto("autoscaling", deployed.region)
    actions = autoscaling.describe_scheduled_actions(AutoScalingGroupName=deployed.resource_name)
    found = {a["Recurrence"]: a for a in actions["ScheduledUpdateGroupActions"]}
    assert set(found) == {"0 9 * * 1-5", "0 18 * * 1-5"}
    assert {a["TimeZone"] for a in found.values()} == {"Europe/Berlin"}
    assert found["0 9 * * 1-5"]["MinSize"] == max(sizes)
    assert found["0 18 * * 1-5"]["MinSize"] == min(sizes) < max(sizes)
    policies = autoscaling.describe_policies(AutoScalingGroupName=deployed.resource_name)
    (in_flight,) = [
        p["TargetTrackingConfiguration"]
        for p in policies["ScalingPolicies"]
        if p["PolicyName"].endswith("-requests-in-flight")
    ]
    queries = {q["Id"]: q for q in in_flight["CustomizedMetricSpecification"]["Metrics"]}
    assert queries["requestsinflight"]["Expression"] == "running + waiting"
    for query_id, name in (("running", "RequestsRunning"), ("waiting", "RequestsWaiting")):
        metric = queries[query_id]["MetricStat"]["Metric"]
        assert (metric["Namespace"], metric["MetricName"]) == ("InfraServing", name)
        assert metric["Dimensions"] == [
            {"Name": "AutoScalingGroupName", "Value": deployed.resource_name}
        ]
        assert queries[query_id]["MetricStat"]["Stat"] == "Average"
    assert in_flight["TargetValue"] > 0  # the spec's value: tests/test_fleet_schedule.py


def test_the_dashboard_and_the_alarms_carry_the_profiles_thresholds(deployed: Run) -> None:
    """The alarms' thresholds are the decision's and the profile's; the dashboard draws them."""
    stack = deployed.resource_name.removesuffix("-fleet")
    locked = yaml.safe_load((deployed.workdir / "chat-8b.lock.yaml").read_text())
    decision = locked["environments"]["local"]["decision"]
    profile = yaml.safe_load((deployed.workdir / "chat-8b.yaml").read_text())
    cloudwatch = boto("cloudwatch", deployed.region)
    found = {
        alarm["AlarmName"]: alarm
        for alarm in cloudwatch.describe_alarms(AlarmNamePrefix=f"{stack}-")["MetricAlarms"]
    }
    assert found[f"{stack}-p99-latency"]["Threshold"] == decision["p99_latency_alarm_s"]
    queue = found[f"{stack}-requests-waiting"]
    assert queue["Threshold"] == profile["runtime"]["max_batch"]
    assert queue["Namespace"] == "InfraServing"
    assert queue["Dimensions"] == [
        {"Name": "AutoScalingGroupName", "Value": deployed.resource_name}
    ]
    assert found[f"{stack}-gpu-memory"]["Threshold"] == 95
    assert found[f"{stack}-ttft"]["Threshold"] == profile["targets"]["ttft_ms_p95"]
    assert found[f"{stack}-tpot"]["Threshold"] == profile["targets"]["tpot_ms"]
    assert found[f"{stack}-ttft"]["MetricName"] == "TimeToFirstTokenP95Ms"
    assert all(alarm["AlarmActions"] == [] for alarm in found.values())  # no deploy.alerts
    board = json.loads(cloudwatch.get_dashboard(DashboardName=stack)["DashboardBody"])
    lines = [
        line
        for widget in board["widgets"]
        for line in widget["properties"].get("annotations", {}).get("horizontal", [])
    ]
    assert {"label": "p99 alarm", "value": decision["p99_latency_alarm_s"]} in lines
    assert {"label": "planned queue", "value": profile["runtime"]["max_batch"]} in lines
    assert {"label": "TTFT p95 target", "value": profile["targets"]["ttft_ms_p95"]} in lines
    assert {"label": "TPOT target", "value": profile["targets"]["tpot_ms"]} in lines
    exporter = boto("ssm", deployed.region).get_parameter(Name=f"/infra/{stack}/latency-exporter")
    assert exporter["Parameter"]["Type"] == "SecureString"


def test_the_state_and_the_logs_are_the_users_alone(deployed: Run) -> None:
    """Real terraform under umask 077: its state, backup and plan are 0600, as are the logs."""
    root = deployed.workdir / ".infra" / "chat-8b" / "local"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    private = [root / "terraform.tfstate", root / "tfplan", *(root / "logs").iterdir()]
    modes = {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in private}
    assert modes == {path.name: "0o600" for path in private}


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
    # Nothing publishes on the emulator: every measured figure reads as no data, beside the plan.
    figures = body["measured"]["figures"]
    assert {figure["measured"] for figure in figures.values()} == {None}
    assert figures["ttft_ms_p95"]["predicted"] > 0


def test_drift_then_a_saved_plan_repairs_it(deployed: Run) -> None:
    result, body = deployed.json("drift", "chat-8b.yaml")
    assert (result.exit_code, body["changes"]) == (0, False), result.output
    boto("autoscaling", deployed.region).update_auto_scaling_group(
        AutoScalingGroupName=deployed.resource_name, MaxSize=40
    )
    result, body = deployed.json("drift", "chat-8b.yaml")
    assert result.exit_code == 2, result.output
    assert [r["address"] for r in body["resources"]] == [
        next(a for a in (r["address"] for r in body["resources"]) if "autoscaling_group" in a)
    ]
    plan_file = deployed.workdir / "repair.plan"
    result, body = deployed.json("plan", "chat-8b.yaml", "--out", str(plan_file), "--skip-check")
    assert result.exit_code == 2, result.output
    assert body["update"] == 1 and stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    result = deployed("apply", str(plan_file))
    assert result.exit_code == 0, result.output
    groups = boto("autoscaling", deployed.region).describe_auto_scaling_groups(
        AutoScalingGroupNames=[deployed.resource_name]
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


def test_pins_against_the_lock_are_refused_and_change_nothing(deployed: Run) -> None:
    other = "us-east-1" if deployed.region != "us-east-1" else "us-west-2"
    for pin in (("--region", other), ("--kind", "sagemaker")):
        result = deployed("deploy", "chat-8b.yaml", *pin, "--auto-approve")
        assert result.exit_code == 1, result.output
        line = the_error(result)
        assert f"{pin[0]} {pin[1]} (locked: " in line and "add --replan" in line
    left = everything_left()
    assert list(left) == [deployed.region] and deployed.resource_name in left[deployed.region]


def test_a_profile_changed_since_the_lock_is_refused(deployed: Run) -> None:
    profile = deployed.workdir / "chat-8b.yaml"
    original = profile.read_text()
    profile.write_text(original.replace("requests_per_second: 10", "requests_per_second: 40"))
    try:
        result = deployed("plan", "chat-8b.yaml", "--skip-check")
        assert result.exit_code == 1, result.output
        line = the_error(result)
        assert "(workload differ)" in line and "--replan" in line
        result, body = deployed.json("status", "chat-8b.yaml")  # reading still works
        assert result.exit_code == 0 and body["decision"]["stale_sections"] == ["workload"]
    finally:
        profile.write_text(original)


def test_replan_to_another_region_moves_the_fleet(deployed: Run) -> None:
    """The old fleet is destroyed with the configuration it was applied with (its own region),
    then the new one created: nothing is left behind in the old region."""
    other = "us-east-1" if deployed.region != "us-east-1" else "us-west-2"
    result, body = deployed.json(
        "deploy", "chat-8b.yaml", "--replan", "--region", other, "--auto-approve", "--skip-check"
    )
    assert result.exit_code == 0, result.output
    assert body["moved_from"]["target"].startswith(f"aws/fleet in {deployed.region}")
    assert body["moved_from"]["destroyed"] > 30
    assert body["decision"]["change"]["reasons"] == [f"pinned --region {other}"]
    left = everything_left()
    assert list(left) == [other] and deployed.resource_name in left[other]
    deployed.region = other
    result, body = deployed.json("status", "chat-8b.yaml")
    assert body["region"] == other and body["matches_decision"] is True


def test_replan_to_another_kind_moves_to_sagemaker(deployed: Run) -> None:
    result, body = deployed.json(
        "deploy",
        "chat-8b.yaml",
        "--replan",
        "--kind",
        "sagemaker",
        "--auto-approve",
        "--skip-check",
        "--allow-over-budget",
        "--allow-large-fleet",
    )
    assert result.exit_code == 0, result.output
    assert body["moved_from"]["target"].startswith("aws/fleet in ")
    left = everything_left()
    assert list(left) == [body["decision"]["region"]]
    assert left[body["decision"]["region"]] == [f"endpoint {body['outputs']['endpoint_name']}"]
    result, body = deployed.json("status", "chat-8b.yaml")
    assert (body["kind"], body["matches_decision"]) == ("sagemaker", True)
    result, body = deployed.json("drift", "chat-8b.yaml")
    assert (result.exit_code, body["changes"]) == (0, False), result.output


def test_destroy_leaves_nothing_in_any_region(deployed: Run) -> None:
    result, body = deployed.json(
        "destroy", "chat-8b.yaml", "--region", "eu-north-1", "--auto-approve"
    )
    assert result.exit_code == 0, result.output
    assert body["destroyed"] > 0 and body["target"].startswith("aws/sagemaker")
    assert everything_left() == {}
    result, body = deployed.json("plan", "chat-8b.yaml", "--skip-check", "--allow-over-budget")
    assert body["create"] > 0 and body["move"] is None  # an empty state: no move


def everything_left() -> dict[str, list[str]]:
    """What the emulator holds in every region: ASGs, VPCs, NAT gateways, load balancers and
    SageMaker endpoints (ASG names, or `kind id` for the rest), by region."""
    left: dict[str, list[str]] = {}
    for region in aws_regions():
        found = [
            g["AutoScalingGroupName"]
            for g in boto("autoscaling", region).describe_auto_scaling_groups()["AutoScalingGroups"]
        ]
        ec2 = boto("ec2", region)
        found += [f"vpc {v['VpcId']}" for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]]
        found += [
            f"nat {n['NatGatewayId']}"
            for n in ec2.describe_nat_gateways()["NatGateways"]
            if n["State"] != "deleted"
        ]
        found += [
            f"lb {b['LoadBalancerName']}"
            for b in boto("elbv2", region).describe_load_balancers()["LoadBalancers"]
        ]
        found += [
            f"endpoint {e['EndpointName']}"
            for e in boto("sagemaker", region).list_endpoints()["Endpoints"]
        ]
        if found:
            left[region] = found
    return left


def test_a_failed_apply_names_the_log_and_the_next_run_continues(
    deployed: Run, tmp_path: Path
) -> None:
    """Runs last: it breaks the emulator's IAM. With a managed policy gone, the instance role's
    attachment fails half way through an apply; what was created stays in the state, and the
    next run (here a destroy) continues from it."""
    boto("iam").delete_policy(
        PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly"
    )
    profile = (EXAMPLES / "chat-8b.yaml").read_text().replace("name: chat-8b", "name: other")
    (tmp_path / "other.yaml").write_text(profile)
    other = Run(tmp_path)
    result = other("deploy", "other.yaml", "--auto-approve", "--skip-check")
    assert result.exit_code == 1, result.output
    line = the_error(result)
    assert line.startswith("error: terraform apply failed: attaching IAM Policy")
    log = Path(line.rsplit("full output in ", 1)[1].rstrip("."))
    assert "AmazonEC2ContainerRegistryReadOnly" in log.read_text()
    result, body = other.json("status", "other.yaml")
    assert result.exit_code == 0 and body["resources"] > 0, result.output
    result = other("destroy", "other.yaml", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert (
        boto("autoscaling", deployed.region).describe_auto_scaling_groups()["AutoScalingGroups"]
        == []
    )
