"""Draining an Azure fleet instance before it goes: the scale set's terminate notification, and a
watcher on each instance (templates/user_data/drain_azure.j2) that finishes the requests in
flight before it lets the deletion go on.

How an instance goes ("Terminate notification for Azure Virtual Machine Scale Set instances",
"Azure Metadata Service: Scheduled Events for Linux VMs", learn.microsoft.com): with the scale
set's terminate notification on (azurerm `termination_notification`, 5 to 15 minutes), every
delete of an instance, autoscale's scale-in included, is first a `Terminate` scheduled event
naming the VM (`{scale set}_{instance id}`, IMDS compute/name); the deletion waits until the VM
approves the event (POST `StartRequests` to the same endpoint) or until its NotBefore time. A
spot eviction is a `Preempt` event, best effort and 30 seconds ahead. Scheduled Events need no
credentials (IMDS, header Metadata:true, api-version 2020-07-01) and are enabled by the first
query, which may take up to two minutes to answer: the watcher polls from boot.

Azure's Standard load balancer keeps sending new flows to an instance until its health probe
fails, and lets the open ones continue when it does ("All probes down, all TCP flows continue";
a flow ends with the application, the idle timeout or the VM). So the watcher first makes the
probe fail (it drops the probe's packets, which come from 168.63.129.16, on the serving port),
waits the probe's interval times its threshold for the load balancer to take the instance out,
then waits until no replica has a request running or waiting, or the deadline, and approves.

Spot sets get no terminate notification: Azure cannot enable it on Spot instances. Their watcher
still drains on a Preempt event; an autoscale scale-in of a spot set deletes its instances
without notice. The scale-in policy (`scale_in.rule`: which instance goes) does not change
draining, so the scale sets keep Azure's default.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from modules.azure.engine_metrics import ENGINE_GAUGES
from modules.azure.load_balancer import PROBE_INTERVAL_S, PROBE_THRESHOLD
from modules.azure.scale_set import NOTIFICATION_MINUTES
from modules.drain import drain_deadline_s, drain_loop_values

if TYPE_CHECKING:
    from planner.deployment import DeploymentSpec

EVENTS_URL = "http://169.254.169.254/metadata/scheduledevents?api-version=2020-07-01"
PROBE_SOURCE = "168.63.129.16"
"""Where Azure's load balancer probes come from (the AzureLoadBalancer service tag)."""
PROBE_DOWN_S = PROBE_INTERVAL_S * PROBE_THRESHOLD
"""How long the load balancer takes to see the instance's probe fail."""
APPROVAL_MARGIN_S = 15
"""The watcher approves this long before the event's NotBefore time at the latest."""


def notification_minutes(spec: DeploymentSpec) -> int:
    """The terminate notification's timeout: the probe going down, the drain deadline and the
    margin, within Azure's range."""
    wanted = math.ceil((PROBE_DOWN_S + drain_deadline_s(spec) + APPROVAL_MARGIN_S) / 60)
    return min(max(wanted, NOTIFICATION_MINUTES[0]), NOTIFICATION_MINUTES[1])


def drain_values(spec: DeploymentSpec) -> dict[str, object]:
    """The watcher's values in the boot script. Its deadline is also cut to the event's
    NotBefore time, so a Preempt's 30 seconds bound it too."""
    return {
        "drain_events_url": EVENTS_URL,
        "drain_probe_source": PROBE_SOURCE,
        "drain_probe_down_s": PROBE_DOWN_S,
        "drain_margin_s": APPROVAL_MARGIN_S,
        **drain_loop_values(spec, ENGINE_GAUGES.get(spec.runtime.engine, {})),
    }
