"""Draining a Compute Engine fleet instance before it goes (issue 14): the backend service's
connection draining (construct), and the boot script's drain unit run against a fake metadata
server and engine."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import msgspec
import pytest

from modules.gcp.drain import connection_draining_s, drain_values
from modules.gcp.load_balancer import ServingLoadBalancer
from modules.user_data import render_user_data
from planner.deployment import DeploymentSpec
from planner.secrets import find_secrets
from tests.drain_scripts import drain_script, run_with_fakes, with_deadline
from tests.stack_json import only, synth_construct
from tests.test_gcp_props import balancer_props
from tests.test_gcp_stacks import NEW

BUSY = 'vllm:num_requests_waiting{model_name="m"} 3.0'
IDLE = 'vllm:num_requests_running{model_name="m"} 0.0'


def with_p99(seconds: float) -> DeploymentSpec:
    return msgspec.structs.replace(
        NEW, scaling=msgspec.structs.replace(NEW.scaling, p99_latency_alarm_s=seconds)
    )


def test_the_backend_service_drains_a_removed_instance_for_the_given_time() -> None:
    doc = synth_construct(lambda s: ServingLoadBalancer(s, "lb", balancer_props(draining_s=42)))
    _, service = only(doc, "google_compute_region_backend_service")
    assert service["connection_draining_timeout_sec"] == 42


@pytest.mark.parametrize("seconds", [-1, 3601])
def test_a_draining_time_google_refuses_is_one_sentence(seconds: int) -> None:
    props = balancer_props(draining_s=seconds)
    with pytest.raises(ValueError, match=f"0-3600 seconds, not {seconds}"):
        synth_construct(lambda s: ServingLoadBalancer(s, "lb", props))


def test_the_deadlines_follow_the_spec_within_compute_engines_limits() -> None:
    assert connection_draining_s(with_p99(12.3)) == 13
    assert connection_draining_s(with_p99(7200.0)) == 3600
    # The unit's wait stays inside the guest's 120 s (30 s on a Spot VM) less Docker's 10 s.
    slow = drain_values(with_p99(7200.0))
    assert (slow["drain_deadline_s"], slow["drain_preempted_s"]) == (110, 20)
    assert slow["drain_stop_timeout_s"] == 120
    fast = drain_values(with_p99(12.3))
    assert (fast["drain_deadline_s"], fast["drain_preempted_s"]) == (13, 13)


def unit_script(spec: DeploymentSpec = NEW) -> str:
    return drain_script(spec)


def test_the_boot_script_installs_a_unit_stopped_before_docker() -> None:
    script = render_user_data(NEW)
    assert list(find_secrets(script)) == []
    unit = script[script.index("'[Unit]'") : script.index(">/etc/systemd/system/serving-drain")]
    for line in ("'After=docker.service'", "'RemainAfterExit=yes'", "ExecStop=$STATE_DIR/drain"):
        assert line in unit
    assert '"TimeoutStopSec=$DRAIN_STOP_TIMEOUT_S"' in unit
    assert "readonly DRAIN_STOP_TIMEOUT_S=70\n" in script  # the p99 alarm's 60 s and 10 s
    assert "systemctl enable --now serving-drain.service" in script
    checked = subprocess.run(["bash", "-n"], input=unit_script(), capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


FAKE_CURL = r"""#!/bin/bash
for arg in "$@"; do [[ "$arg" == http* ]] && url="$arg"; done
printf '%s\n' "$url" >>"$FAKE/curl.log"
case "$url" in
  */instance/preempted) cat "$FAKE/preempted" ;;
  */metrics)
    count=$(grep -c /metrics "$FAKE/curl.log")
    lines=$(wc -l <"$FAKE/metrics")
    sed -n "$((count > lines ? lines : count))p" "$FAKE/metrics" ;;
  *) exit 22 ;;
esac
"""


def run_unit(
    tmp_path: Path, *, metrics: list[str], preempted: str = "FALSE", deadline: int = 60
) -> tuple[list[str], float]:
    """Run the unit's stop with fake tools; (the metrics it read, seconds it took)."""
    started = time.monotonic()
    run = run_with_fakes(
        with_deadline(unit_script(), deadline),
        tmp_path,
        tools={"curl": FAKE_CURL},
        files={"metrics": "\n".join(metrics) + "\n", "preempted": preempted},
    )
    assert run.returncode == 0, run.stderr
    reads = [url for url in (tmp_path / "curl.log").read_text().split() if url.endswith("/metrics")]
    return reads, time.monotonic() - started


def test_the_stop_waits_until_the_replicas_are_idle(tmp_path: Path) -> None:
    # NEW runs two replicas (ports 8001 and 8002): each look reads both, the gauges add up.
    reads, _ = run_unit(tmp_path, metrics=[BUSY, BUSY, BUSY, IDLE])
    assert reads[:2] == ["http://127.0.0.1:8001/metrics", "http://127.0.0.1:8002/metrics"]
    # Busy, busy + idle (still 3 in flight), idle: the wait ends; one more look for the log.
    assert len(reads) == 8


def test_the_stop_gives_up_at_the_deadline(tmp_path: Path) -> None:
    reads, took = run_unit(tmp_path, metrics=[BUSY], deadline=1)
    assert len(reads) >= 4 and took < 10


def test_a_preempted_instance_waits_its_short_budget_only(tmp_path: Path) -> None:
    # DEADLINE_S of 600 s, but a preemption leaves 20 s: the wait ends with the budget.
    text = unit_script()
    assert "PREEMPTED_S=20" in text
    _, took = run_unit(tmp_path, metrics=[BUSY], preempted="TRUE", deadline=600)
    assert 19 <= took < 40
