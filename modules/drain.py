"""Draining a fleet instance before it goes, the part every cloud shares (issue 14): how long an
instance waits for its requests in flight, and the values of the boot script's drain loop
(templates/user_data/drain_idle.j2), which reads the engine's running and waiting gauges on every
replica and waits until they are 0 or the deadline passes.

What tells an instance that it is going differs per cloud, and lives with the cloud: AWS's
termination lifecycle hook (modules/aws/drain.py), Azure's Scheduled Events
(modules/azure/drain.py), Compute Engine's connection draining and shutdown
(modules/gcp/drain.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from modules.user_data import replica_ports

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

POLL_S = 5
"""How often the drain loop reads the replicas' gauges."""


def drain_deadline_s(spec: DeploymentSpec) -> int:
    """How long an instance waits for the requests in flight: the longest request the plan
    expects, the p95 answer's end-to-end latency with the p99 alarm's margin (the alarm's
    threshold, spec.scaling.p99_latency_alarm_s)."""
    return max(math.ceil(spec.scaling.p99_latency_alarm_s), POLL_S)


def gauge_pattern(gauges: Iterable[str]) -> str:
    """An awk pattern matching the sample lines of the engine's running and waiting gauges;
    empty for an engine without them (the drain loop then finds nothing in flight)."""
    names = sorted(gauges)
    return "^(" + "|".join(names) + ")[{ ]" if names else ""


def drain_loop_values(
    spec: DeploymentSpec, gauges: Iterable[str], deadline_s: int | None = None
) -> dict[str, object]:
    """The drain loop's values in the boot script: the deadline (the spec's unless the cloud's
    own limit is shorter), the poll, the replicas' ports and the gauges' pattern."""
    return {
        "drain_deadline_s": drain_deadline_s(spec) if deadline_s is None else deadline_s,
        "drain_poll_s": POLL_S,
        "drain_ports": replica_ports(spec),
        "drain_gauges": gauge_pattern(gauges),
    }
