"""Draining a fleet instance before it goes: a termination lifecycle hook on the group, and a
watcher on each instance (templates/user_data/drain_aws.j2) that finishes the requests in flight
before it lets the termination continue.

How an instance goes (Amazon EC2 Auto Scaling user guide, "How lifecycle hooks work"): on a scale
in, the group first deregisters the instance from the target group, whose deregistration delay
(modules/aws/load_balancer.py) stops new requests and lets open connections finish; then the
termination hook holds it in Terminating:Wait. The watcher sees that through IMDSv2
(`autoscaling/target-lifecycle-state` turns `Terminated`), waits until the engine's requests
running and waiting are 0 on every replica, or until the hook's deadline, and calls
CompleteLifecycleAction. A spot interruption notice (`spot/instance-action`, two minutes ahead)
marks the instance unhealthy, so the group takes it out of the target group at once and
terminates it through the same hook; a rebalance recommendation needs nothing from the watcher:
the spot group's capacity rebalance launches a replacement first, then terminates the instance
through the hook.

The hook is its own resource (aws_autoscaling_lifecycle_hook), not the group's
initial_lifecycle_hook: destroy removes it before it empties the group, so a destroy never waits
for a drain. Its timeout's default result is CONTINUE: an instance whose watcher never answers
(its boot failed) still goes, after the timeout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cdktn_provider_aws.autoscaling_lifecycle_hook import AutoscalingLifecycleHook
from cdktn_provider_aws.iam_role_policy import IamRolePolicy
from constructs import Construct

from modules.aws.engine_metrics import ENGINE_GAUGES, fleet_group_name
from modules.drain import POLL_S, drain_deadline_s, drain_loop_values

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
HEARTBEAT_MIN_S = 30
HEARTBEAT_MAX_S = 7200
"""The range AWS accepts for a lifecycle hook's heartbeat timeout (PutLifecycleHook)."""
WATCHER_MARGIN_S = 30
"""The hook waits this much longer than the watcher's own deadline, so the watcher's
CompleteLifecycleAction (polled every 5 s, retried once) comes before the timeout."""


def drain_hook_name(stack_name: str) -> str:
    return f"{stack_name}-drain"


def heartbeat_timeout_s(spec: DeploymentSpec) -> int:
    """The hook's timeout: the watcher's deadline and its margin, within AWS's range."""
    wanted = drain_deadline_s(spec) + WATCHER_MARGIN_S
    return min(max(wanted, HEARTBEAT_MIN_S), HEARTBEAT_MAX_S)


def drain_values(spec: DeploymentSpec) -> dict[str, object]:
    """The watcher's values in the boot script: names, the deadline, where the gauges are (none
    for an engine without them: the load balancer's deregistration delay is its drain)."""
    return {
        "drain_group": fleet_group_name(spec.stack_name),
        "drain_hook": drain_hook_name(spec.stack_name),
        **drain_loop_values(
            spec,
            ENGINE_GAUGES.get(spec.runtime.engine, {}),
            min(drain_deadline_s(spec), heartbeat_timeout_s(spec) - POLL_S),
        ),
    }


def drain_policy_statements(group_arn: str) -> list[dict[str, object]]:
    """The instances' only Auto Scaling calls, on their own group: complete the hook's action,
    and mark themselves unhealthy on a spot interruption notice."""
    return [
        {
            "Sid": "DrainBeforeTermination",
            "Effect": "Allow",
            "Action": ["autoscaling:CompleteLifecycleAction", "autoscaling:SetInstanceHealth"],
            "Resource": group_arn,
        }
    ]


@dataclass(frozen=True, kw_only=True)
class DrainHookProps:
    """The termination hook of a fleet's group and the instances' grant to complete it."""

    name: str
    """Names the hook `<name>-drain` (drain_hook_name), as the boot script calls it. Required."""
    group_name: str
    """The Auto Scaling group the hook holds terminating instances of. Required."""
    group_arn: str
    """That group's ARN: the one resource the instances' grant covers. Required."""
    instance_role_id: str
    """The instances' role, which gets the grant as an inline policy. Required."""
    heartbeat_timeout_s: int
    """Seconds an instance may stay in Terminating:Wait (heartbeat_timeout_s). Required."""


class DrainHook(Construct):
    def __init__(self, scope: Construct, id: str, props: DrainHookProps) -> None:
        super().__init__(scope, id)
        if not HEARTBEAT_MIN_S <= props.heartbeat_timeout_s <= HEARTBEAT_MAX_S:
            raise ValueError(
                f"a lifecycle hook's heartbeat timeout is {HEARTBEAT_MIN_S}-{HEARTBEAT_MAX_S} "
                f"seconds, not {props.heartbeat_timeout_s}"
            )
        self.hook = AutoscalingLifecycleHook(
            self,
            "hook",
            name=drain_hook_name(props.name),
            autoscaling_group_name=props.group_name,
            lifecycle_transition=TERMINATING,
            heartbeat_timeout=props.heartbeat_timeout_s,
            default_result="CONTINUE",
        )
        IamRolePolicy(
            self,
            "drain",
            role=props.instance_role_id,
            policy=json.dumps(
                {"Version": "2012-10-17", "Statement": drain_policy_statements(props.group_arn)}
            ),
        )
