"""Draining an Azure fleet instance before it goes (issue 14): the scale set's terminate
notification (construct and stack), and the Scheduled Events watcher of the boot script run against
a fake instance metadata service, engine and iptables."""

from __future__ import annotations

import email.utils
import json
import subprocess
import time
from pathlib import Path

import msgspec
import pytest

from modules.azure.drain import (
    APPROVAL_MARGIN_S,
    EVENTS_URL,
    PROBE_DOWN_S,
    notification_minutes,
)
from modules.azure.scale_set import GpuScaleSet
from modules.user_data import render_user_data
from planner.deployment import DeploymentSpec
from planner.secrets import find_secrets
from tests.drain_scripts import drain_script, run_with_fakes, with_deadline
from tests.stack_json import synth_construct
from tests.test_azure_props import scale_set_props, the_scale_set
from tests.test_azure_stacks import MIXED

VM = "mixed-spot_3"
BUSY = 'vllm:num_requests_running{model_name="m"} 2.0'
IDLE = 'vllm:num_requests_running{model_name="m"} 0.0'


def test_a_regular_scale_set_waits_for_its_instances_approval() -> None:
    props = scale_set_props(termination_notification_minutes=7)
    vmss = the_scale_set(synth_construct(lambda scope: GpuScaleSet(scope, "vmss", props)))
    assert vmss["termination_notification"] == {"enabled": True, "timeout": "PT7M"}
    default = synth_construct(lambda scope: GpuScaleSet(scope, "vmss", scale_set_props()))
    assert "termination_notification" not in the_scale_set(default)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"priority": "Spot", "termination_notification_minutes": 5}, "no terminate notification"),
        ({"termination_notification_minutes": 4}, "5-15 minutes, not 4"),
        ({"termination_notification_minutes": 16}, "5-15 minutes, not 16"),
    ],
)
def test_a_notification_azure_refuses_is_one_sentence(fields: dict, message: str) -> None:
    props = scale_set_props(**fields)
    with pytest.raises(ValueError, match=message):
        synth_construct(lambda scope: GpuScaleSet(scope, "vmss", props))


def with_p99(seconds: float) -> DeploymentSpec:
    return msgspec.structs.replace(
        MIXED, scaling=msgspec.structs.replace(MIXED.scaling, p99_latency_alarm_s=seconds)
    )


def test_the_timeout_covers_the_probe_the_deadline_and_the_margin_within_azures_range() -> None:
    # 30 s for the probe, the p99 alarm's 60 s, 15 s of margin: the 5 minutes minimum.
    assert notification_minutes(MIXED) == 5
    assert notification_minutes(with_p99(500.0)) == 10  # (30 + 500 + 15) / 60, rounded up
    assert notification_minutes(with_p99(5000.0)) == 15


def watcher() -> str:
    return drain_script(MIXED)


def test_the_boot_script_installs_the_watcher_and_holds_no_secret() -> None:
    script = render_user_data(MIXED)
    assert "systemctl enable --now serving-drain.service" in script
    assert list(find_secrets(script)) == []
    text = watcher()
    assert f"EVENTS='{EVENTS_URL}'" in text
    assert "-H Metadata:true" in text and "Authorization" not in text
    assert f"PROBE_DOWN_S={PROBE_DOWN_S} MARGIN_S={APPROVAL_MARGIN_S}" in text
    assert "DEADLINE_S=60 " in text
    checked = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


FAKE_CURL = r"""#!/bin/bash
# Instance metadata and the engine, from files the test writes; each call is logged.
for arg in "$@"; do [[ "$arg" == http* ]] && url="$arg"; done
method=GET
for arg in "$@"; do [[ "$arg" == POST ]] && method=POST; done
printf '%s %s\n' "$method" "$url" >>"$FAKE/curl.log"
next() {  # the next line of a file of answers; its last line repeats
  local file="$FAKE/$1" count
  count=$(grep -c "GET $url" "$FAKE/curl.log")
  sed -n "$((count > $(wc -l <"$file") ? $(wc -l <"$file") : count))p" "$file"
}
case "$method $url" in
  "GET "*compute/name*) echo mixed-spot_3 ;;
  "GET "*scheduledevents*) next events ;;
  "POST "*scheduledevents*) cat >>"$FAKE/approved" ;;
  "GET "*/metrics) next metrics ;;
  *) exit 22 ;;
esac
"""
FAKE_IPTABLES = '#!/bin/bash\nprintf "%s\\n" "$*" >>"$FAKE/iptables.log"\n'


def events(*found: tuple[str, str, str, float]) -> str:
    """One Scheduled Events document: (id, type, resource, seconds to NotBefore) each."""
    return json.dumps(
        {
            "DocumentIncarnation": len(found),
            "Events": [
                {
                    "EventId": event_id,
                    "EventType": kind,
                    "ResourceType": "VirtualMachine",
                    "Resources": [resource],
                    "EventStatus": "Scheduled",
                    "NotBefore": email.utils.formatdate(time.time() + ahead, usegmt=True),
                    "EventSource": "Platform",
                }
                for event_id, kind, resource, ahead in found
            ],
        }
    )


def run_watcher(
    tmp_path: Path, *, documents: list[str], metrics: list[str], deadline: int = 60
) -> tuple[int, list[str], str]:
    """Run the watcher with fake tools (the probe's wait cut to 1 s); (its exit status, the
    calls it made in order, what it approved)."""
    text = watcher().replace(f"PROBE_DOWN_S={PROBE_DOWN_S} ", "PROBE_DOWN_S=1 ")
    run = run_with_fakes(
        with_deadline(text, deadline),
        tmp_path,
        tools={"curl": FAKE_CURL, "iptables": FAKE_IPTABLES},
        files={"events": "\n".join(documents) + "\n", "metrics": "\n".join(metrics) + "\n"},
    )
    calls = (
        [f"iptables {line}" for line in (tmp_path / "iptables.log").read_text().splitlines()]
        if (tmp_path / "iptables.log").exists()
        else []
    )
    log = (tmp_path / "curl.log").read_text().splitlines()
    approved = (tmp_path / "approved").read_text() if (tmp_path / "approved").exists() else ""
    return run.returncode, calls + log, approved


def test_a_terminate_event_is_approved_once_nothing_is_in_flight(tmp_path: Path) -> None:
    mine = ("e-1", "Terminate", VM, 300)
    other = ("e-0", "Terminate", "mixed-spot_1", 300)  # another VM's: not this watcher's
    status, calls, approved = run_watcher(
        tmp_path,
        documents=[events(), events(other), events(other, mine)],
        metrics=[BUSY, BUSY, IDLE],
    )
    assert status == 0
    assert json.loads(approved) == {"StartRequests": [{"EventId": "e-1"}]}
    # The probe fails first (the load balancer sends no new flows), nothing is left behind.
    assert calls[0] == "iptables -t raw -D PREROUTING -s 168.63.129.16 -p tcp --dport 8000 -j DROP"
    assert calls[1] == "iptables -t raw -I PREROUTING -s 168.63.129.16 -p tcp --dport 8000 -j DROP"
    reads = [i for i, call in enumerate(calls) if call.endswith("/metrics")]
    post = calls.index(f"POST {EVENTS_URL}")
    assert len(reads) >= 3 and post > reads[2]  # approved only after the replica was idle


def test_requests_still_running_at_the_deadline_do_not_keep_the_instance(tmp_path: Path) -> None:
    status, calls, approved = run_watcher(
        tmp_path, documents=[events(("e-2", "Terminate", VM, 300))], metrics=[BUSY], deadline=1
    )
    assert status == 0 and json.loads(approved)["StartRequests"] == [{"EventId": "e-2"}]
    assert sum(call.endswith("/metrics") for call in calls) >= 1


def test_a_preempt_event_is_bounded_by_its_notice(tmp_path: Path) -> None:
    # 16 s of notice less the 15 s margin: approved within about a second, requests or not.
    started = time.monotonic()
    status, _, approved = run_watcher(
        tmp_path, documents=[events(("e-3", "Preempt", VM, 16))], metrics=[BUSY], deadline=600
    )
    assert status == 0 and json.loads(approved)["StartRequests"] == [{"EventId": "e-3"}]
    assert time.monotonic() - started < 20


def test_a_withdrawn_event_puts_the_instance_back_in_service(tmp_path: Path) -> None:
    mine = events(("e-4", "Terminate", VM, 300))
    status, calls, approved = run_watcher(tmp_path, documents=[mine, events()], metrics=[IDLE])
    assert status == 1 and approved == ""  # systemd restarts it (Restart=on-failure)
    assert [c.split()[3] for c in calls if c.startswith("iptables")] == ["-D", "-I", "-D"]
