"""Draining a Compute Engine fleet instance before it goes: the backend service's connection
draining, and a systemd unit on each instance (templates/user_data/drain_gcp.j2) that holds the
replicas at shutdown until their requests in flight finish.

How an instance goes: when the autoscaler (or an update, or a resize) deletes an instance of a
managed instance group, the backend service's connection draining starts first ("Enable
connection draining", cloud.google.com/load-balancing/docs): the load balancer sends the
instance no new requests, gives the open ones `connection_draining_timeout_sec` (0 to 3600) to
finish, and the instance is deleted after that (up to 60 s later). That timeout is the spec's
drain deadline (modules/drain.py), as AWS's lifecycle hook is. Deleting the instance then shuts
its guest down; the unit, ordered after Docker, is stopped before it, and waits until no replica
has requests running or waiting (none, after the draining) or the deadline, so the replicas are
never stopped under a request. Compute Engine gives a guest 120 seconds between the ACPI soft
off and the hard one, 30 for a Spot VM (the google provider's `skip_guest_os_shutdown`); the
unit's wait stays 10 seconds inside them, leaving Docker the rest to stop the replicas.

A spot VM's preemption is that soft off, and the load balancer learns of it only from failing
health checks: the unit gives the requests in flight 20 of the 30 seconds, best effort.

Checked and not used: the instance template's graceful shutdown (`scheduling.graceful_shutdown`,
up to an hour) is a Preview feature, only in the google-beta provider, and not available to
managed instance groups; `scheduling.preemption_notice_duration` (a longer notice before a spot
VM's soft off) is a Beta feature too. The autoscaler's `scale_in_control` only slows scale-in (at
most N instances per window) and drains nothing: connection draining already covers every
instance it removes, so the groups keep Compute Engine's default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modules.drain import drain_deadline_s, drain_loop_values
from modules.gcp.engine_metrics import ENGINE_GAUGES

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

CONNECTION_DRAINING_MAX_S = 3600
"""The longest connection draining timeout a backend service accepts."""
GUEST_SHUTDOWN_S = 120
SPOT_GUEST_SHUTDOWN_S = 30
"""Compute Engine's time between the ACPI soft off and the hard one, standard and Spot VMs."""
STOP_MARGIN_S = 10
"""What the unit leaves of that time to Docker stopping the replicas; systemd also lets the
unit's stop run this much longer than its wait before it kills it."""


def connection_draining_s(spec: DeploymentSpec) -> int:
    """The backend service's connection draining timeout: the drain deadline, within range."""
    return min(drain_deadline_s(spec), CONNECTION_DRAINING_MAX_S)


def drain_values(spec: DeploymentSpec) -> dict[str, object]:
    """The unit's values in the boot script."""
    deadline = min(connection_draining_s(spec), GUEST_SHUTDOWN_S - STOP_MARGIN_S)
    return {
        "drain_preempted_s": min(SPOT_GUEST_SHUTDOWN_S - STOP_MARGIN_S, deadline),
        "drain_stop_timeout_s": deadline + STOP_MARGIN_S,
        **drain_loop_values(spec, ENGINE_GAUGES.get(spec.runtime.engine, {}), deadline),
    }
