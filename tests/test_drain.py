"""Draining an AWS fleet instance before it goes (issue 14): the termination lifecycle hook and its
grant in the synthesized JSON, and the watcher of the boot script run against a fake instance
metadata service and engine."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from modules.aws.drain import (
    HEARTBEAT_MAX_S,
    HEARTBEAT_MIN_S,
    WATCHER_MARGIN_S,
    drain_deadline_s,
    heartbeat_timeout_s,
)
from modules.user_data import render_user_data
from planner.secrets import find_secrets
from tests.drain_scripts import drain_script, run_with_fakes, with_deadline
from tests.stack_json import Synthesized, only, ref, resources, synthesize_specs
from tests.test_fleet_stack import PRIVATE, make_spec

SLOW_TAIL = make_spec("slow-tail", scaling={"p99_latency_alarm_s": 12_345.6})
FAST = make_spec("fast", scaling={"p99_latency_alarm_s": 0.4})


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize_specs([PRIVATE], tmp_path_factory.mktemp("drain"), emulated=True)


def test_the_group_has_a_termination_hook_with_the_plans_deadline(
    synthesized: Synthesized,
) -> None:
    doc = synthesized[PRIVATE]
    _, hook = only(doc, "aws_autoscaling_lifecycle_hook")
    group_key, _ = only(doc, "aws_autoscaling_group")
    assert hook["name"] == f"{PRIVATE.stack_name}-drain"
    assert hook["autoscaling_group_name"] == ref("aws_autoscaling_group", group_key, "name")
    assert hook["lifecycle_transition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert hook["default_result"] == "CONTINUE"  # a silent watcher never keeps an instance
    # The p95 answer's end-to-end latency with the p99 alarm's margin (33 s here), plus margin.
    assert hook["heartbeat_timeout"] == 33 + WATCHER_MARGIN_S
    assert "role_arn" not in hook and "notification_target_arn" not in hook


def test_the_instances_may_complete_only_their_own_groups_hook(synthesized: Synthesized) -> None:
    doc = synthesized[PRIVATE]
    group_key, _ = only(doc, "aws_autoscaling_group")
    policies = {
        body["//"]["metadata"]["path"].rsplit("/", 1)[1]: json.loads(body["policy"])
        for body in resources(doc, "aws_iam_role_policy").values()
    }
    (statement,) = policies["drain"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert sorted(statement["Action"]) == [
        "autoscaling:CompleteLifecycleAction",
        "autoscaling:SetInstanceHealth",
    ]
    assert statement["Resource"] == ref("aws_autoscaling_group", group_key, "arn")
    others = [s for name, p in policies.items() if name != "drain" for s in p["Statement"]]
    assert not any("autoscaling:" in json.dumps(s.get("Action")) for s in others)


def test_the_spot_group_rebalances_before_a_reclaim(synthesized: Synthesized) -> None:
    _, group = only(synthesized[PRIVATE], "aws_autoscaling_group")
    assert group["capacity_rebalance"] is True


def test_the_heartbeat_stays_within_what_aws_accepts() -> None:
    assert heartbeat_timeout_s(SLOW_TAIL) == HEARTBEAT_MAX_S
    assert heartbeat_timeout_s(FAST) == HEARTBEAT_MIN_S + 5  # the 5 s poll, then the margin
    assert drain_deadline_s(PRIVATE) == math.ceil(PRIVATE.scaling.p99_latency_alarm_s)


def watcher(spec: Any = PRIVATE) -> str:
    return drain_script(spec)


def test_the_boot_script_installs_the_watcher_and_holds_no_secret() -> None:
    script = render_user_data(make_spec("tokened", runtime={"hf_token_ssm_parameter": "/hf/t"}))
    assert "systemctl enable --now serving-drain.service" in script
    assert list(find_secrets(script)) == []
    text = watcher()
    assert f"GROUP={PRIVATE.stack_name}-fleet HOOK={PRIVATE.stack_name}-drain" in text
    assert "DEADLINE_S=33 " in text


FAKE_CURL = r"""#!/bin/bash
# Instance metadata and the engine, from files the test writes; each call is logged.
for arg in "$@"; do [[ "$arg" == http* ]] && url="$arg"; done
printf '%s\n' "$url" >>"$FAKE/curl.log"
next() {  # the next line of a file of answers; its last line repeats
  local file="$FAKE/$1" count
  count=$(grep -c "$url" "$FAKE/curl.log")
  sed -n "$((count > $(wc -l <"$file") ? $(wc -l <"$file") : count))p" "$file"
}
case "$url" in
  */api/token) echo token ;;
  */instance-id) echo i-0123456789abcdef0 ;;
  */placement/region) echo us-east-1 ;;
  */target-lifecycle-state) next states ;;
  */spot/instance-action) [[ -s "$FAKE/spot" ]] && cat "$FAKE/spot" || exit 22 ;;
  */metrics) next metrics ;;
  *) exit 22 ;;
esac
"""
FAKE_AWS = r"""#!/bin/bash
printf '%s\n' "$*" >>"$FAKE/aws.log"
"""


def run_watcher(
    tmp_path: Path, *, states: list[str], metrics: list[str], spot: str = "", deadline: int = 0
) -> tuple[list[str], list[str]]:
    """Run the watcher with fake tools; (the aws calls, the engine metrics reads)."""
    run = run_with_fakes(
        with_deadline(watcher(), deadline) if deadline else watcher(),
        tmp_path,
        tools={"curl": FAKE_CURL, "aws": FAKE_AWS},
        files={
            "states": "\n".join(states) + "\n",
            "metrics": "\n".join(metrics) + "\n",
            "spot": spot,
        },
    )
    assert run.returncode == 0, run.stderr
    aws = (tmp_path / "aws.log").read_text().splitlines() if (tmp_path / "aws.log").exists() else []
    reads = [u for u in (tmp_path / "curl.log").read_text().splitlines() if u.endswith("/metrics")]
    return aws, reads


def test_a_terminating_instance_finishes_its_requests_then_completes_the_hook(
    tmp_path: Path,
) -> None:
    # One gauge sample per line, as /metrics has them: the watcher sums running and waiting.
    busy = 'vllm:num_requests_running{model_name="m"} 2.0'
    idle = 'vllm:num_requests_running{model_name="m"} 0.0'
    aws, reads = run_watcher(
        tmp_path, states=["InService", "InService", "Terminated"], metrics=[busy, busy, idle]
    )
    assert len(reads) >= 3  # polled until the replica had nothing in flight
    (call,) = aws
    assert call.startswith("autoscaling complete-lifecycle-action")
    for part in (
        f"--auto-scaling-group-name {PRIVATE.stack_name}-fleet",
        f"--lifecycle-hook-name {PRIVATE.stack_name}-drain",
        "--lifecycle-action-result CONTINUE",
        "--instance-id i-0123456789abcdef0",
        "--region us-east-1",
    ):
        assert part in call


def test_requests_still_running_at_the_deadline_do_not_keep_the_instance(tmp_path: Path) -> None:
    stuck = 'vllm:num_requests_waiting{model_name="m"} 3.0'
    aws, _ = run_watcher(tmp_path, states=["Terminated"], metrics=[stuck], deadline=1)
    assert [c.split()[1] for c in aws] == ["complete-lifecycle-action"]


def test_a_spot_notice_marks_the_instance_unhealthy_once(tmp_path: Path) -> None:
    notice = '{"action": "terminate", "time": "2026-12-03T14:00:00Z"}'
    aws, _ = run_watcher(
        tmp_path,
        states=["InService", "InService", "InService", "Terminated"],
        metrics=['vllm:num_requests_running{model_name="m"} 0.0'],
        spot=notice,
    )
    assert [c.split()[1] for c in aws] == ["set-instance-health", "complete-lifecycle-action"]
    assert "--health-status Unhealthy --no-should-respect-grace-period" in aws[0]
