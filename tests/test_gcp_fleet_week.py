"""The GCP fleet follows the week and scales on requests in flight (issues 14 and 15): autoscaler
scaling schedules from the planner's hourly sizes, the in-flight gauge the autoscaler tracks, the
Ops Agent in the boot script. The week the schedules give is replayed hour by hour from their cron
recurrences and durations, independently of modules/gcp/fleet_schedule.py's grouping."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from modules.gcp.engine_metrics import (
    IN_FLIGHT_METRIC_TYPE,
    OPS_AGENT_CONFIG_PATH,
    RUNNING_METRIC,
    TPOT_METRIC,
    TTFT_METRIC,
    WAITING_METRIC,
    ops_agent_config,
    scrape_job,
)
from modules.gcp.fleet_schedule import (
    MAX_SCALING_SCHEDULES,
    ScalingScheduleError,
    checked_windows,
    size_windows,
)
from modules.gcp.instance_group import group_plans
from modules.user_data import render_user_data
from planner.deployment import DeploymentSpec
from planner.optimizer import Filters, recommend
from planner.profile import load_profile
from providers.catalog import load_catalog
from stacks.common import GCP_PROJECT_ENV
from tests.conftest import EXAMPLES
from tests.decided import decided_spec
from tests.stack_json import Synthesized, one_sentence, resources, synthesize_specs

OFFICE_HOURS = EXAMPLES / "chat-8b-office-hours.yaml"
FLAT = EXAMPLES / "chat-8b.yaml"


def fleet_spec(path: Path, env: str = "prod") -> DeploymentSpec:
    return decided_spec(path, "gcp", "fleet", env)


def cron_hours(recurrence: str) -> list[int]:
    """The hours of the week (Monday 00:00 first) a `0 H * * DAYS` recurrence starts at."""
    minute, hour, _, _, days = recurrence.split()
    assert minute == "0"
    numbers: set[int] = set()
    for part in days.split(","):
        first, _, last = part.partition("-")
        numbers |= set(range(int(first), int(last or first) + 1))
    return sorted(((number - 1) % 7) * 24 + int(hour) for number in numbers)


def replay(floor: int, schedules: list[dict[str, Any]]) -> list[int]:
    """The autoscaler's minimum in each hour of the week: the largest window open, else the
    floor."""
    minimum = [floor] * 168
    for schedule in schedules:
        assert schedule["duration_sec"] % 3600 == 0 and schedule["duration_sec"] >= 300
        for start in cron_hours(schedule["schedule"]):
            for offset in range(schedule["duration_sec"] // 3600):
                hour = (start + offset) % 168
                minimum[hour] = max(minimum[hour], schedule["min_required_replicas"])
    return minimum


def office_week(peak: int, trough: int) -> list[int]:
    return [peak if hour // 24 < 5 and 9 <= hour % 24 < 18 else trough for hour in range(168)]


# --- the week as windows ----------------------------------------------------------------------


def test_office_hours_are_one_window_on_weekdays() -> None:
    windows = size_windows(office_week(6, 2), floor=2)
    assert [(w.cron, w.duration_sec, w.instances, w.name) for w in windows] == [
        ("0 9 * * 1-5", 9 * 3600, 6, "at-0900-mon-to-fri")
    ]


def test_a_night_shift_across_sunday_midnight_is_one_window() -> None:
    week = [4 if hour % 24 >= 20 or hour % 24 < 6 else 1 for hour in range(168)]
    windows = size_windows(week, floor=1)
    assert [(w.hour, w.days, w.hours) for w in windows] == [
        (20, ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), 10)
    ]
    schedules = [
        {"schedule": w.cron, "duration_sec": w.duration_sec, "min_required_replicas": w.instances}
        for w in windows
    ]
    assert replay(1, schedules) == week


def test_a_weekday_curve_and_a_quieter_weekend_replay_exactly() -> None:
    day = [1, 1, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 5, 6, 6, 5, 4, 3, 3, 2, 2, 1, 1, 1]
    weekend = [max(1, round(n * 0.3)) for n in day]
    week = day * 5 + weekend * 2
    windows = size_windows(week, floor=1)
    schedules = [
        {"schedule": w.cron, "duration_sec": w.duration_sec, "min_required_replicas": w.instances}
        for w in windows
    ]
    assert replay(1, schedules) == week
    assert len({w.name for w in windows}) == len(windows)
    assert all(re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", w.name) for w in windows)


def test_a_flat_week_needs_no_window() -> None:
    assert size_windows([3] * 168, floor=3) == []


def test_more_windows_than_an_autoscaler_holds_are_refused() -> None:
    windows = size_windows([2 + hour for hour in range(168)], floor=1)
    assert len(windows) > MAX_SCALING_SCHEDULES
    with pytest.raises(ScalingScheduleError) as refused:
        checked_windows("spot", windows)
    one_sentence(str(refused.value))
    assert str(MAX_SCALING_SCHEDULES) in str(refused.value)


# --- the synthesized fleet --------------------------------------------------------------------


@pytest.fixture(scope="module")
def specs() -> dict[str, DeploymentSpec]:
    return {"office": fleet_spec(OFFICE_HOURS), "flat": fleet_spec(FLAT)}


@pytest.fixture(scope="module")
def synthesized(
    specs: dict[str, DeploymentSpec], tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(GCP_PROJECT_ENV, "serving-project-1")
        return synthesize_specs(
            list(specs.values()), tmp_path_factory.mktemp("gcp-week"), emulated=False
        )


def autoscalers(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The autoscalers by their group's role (the name's suffix)."""
    found = resources(doc, "google_compute_region_autoscaler").values()
    return {
        a["name"].rsplit("-", 1)[-1] if not a["name"].endswith("-base") else "base": a
        for a in found
    }


def test_each_group_follows_its_share_of_the_planners_week(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    spec = specs["office"]
    assert spec.hourly is not None
    doc = synthesized[spec]
    scalers = autoscalers(doc)
    plans = {plan.role: plan for plan in group_plans(spec.capacity, spec.hourly)}
    base_hours = spec.hourly.counts("on_demand")
    assert min(base_hours) < spec.capacity.on_demand_base  # the base changes over the week
    base = scalers["base"]["autoscaling_policy"]
    assert base["min_replicas"] == min(base_hours)
    assert base["max_replicas"] == spec.capacity.on_demand_base
    assert replay(base["min_replicas"], base["scaling_schedules"]) == base_hours
    spot = scalers["spot"]["autoscaling_policy"]
    # the planner counts the spot group's one VM in every hour (Target.spot_floor), so the
    # group runs exactly the planned spot instances: what recommend and infra cost say
    assert plans["spot"].min_size == 1 == min(spec.hourly.counts("spot"))
    spot_hours = spec.hourly.counts("spot")
    assert replay(spot["min_replicas"], spot.get("scaling_schedules", [])) == spot_hours
    for policy in (base, spot):
        for schedule in policy.get("scaling_schedules", []):
            assert schedule["time_zone"] == spec.hourly.timezone == "Europe/Berlin"


def test_the_autoscalers_track_requests_in_flight_at_the_planners_target(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    spec = specs["office"]
    per_replica = spec.scaling.in_flight_per_replica
    assert per_replica is not None
    for scaler in autoscalers(synthesized[spec]).values():
        policy = scaler["autoscaling_policy"]
        assert policy["metric"] == [
            {
                "name": IN_FLIGHT_METRIC_TYPE,
                "type": "GAUGE",
                "target": round(per_replica * spec.runtime.replicas_per_instance, 2),
            }
        ]
        assert policy["load_balancing_utilization"] == {"target": 0.8}


def test_a_flat_fleet_keeps_the_load_balancer_signal_alone(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    spec = specs["flat"]
    assert spec.hourly is None
    for scaler in autoscalers(synthesized[spec]).values():
        policy = scaler["autoscaling_policy"]
        assert "metric" not in policy and "scaling_schedules" not in policy
    script = render_user_data(spec)
    assert "infra-in-flight" not in script  # nothing publishes a gauge nobody reads
    assert OPS_AGENT_CONFIG_PATH in script  # the dashboard's and alerts' metrics still flow


# --- the boot script --------------------------------------------------------------------------


def agent_config_in(script: str) -> dict[str, Any]:
    line = next(line for line in script.splitlines() if OPS_AGENT_CONFIG_PATH in line)
    quoted = re.search(r"printf '%s\\n' '(.*)' >", line)
    assert quoted, line
    return json.loads(quoted.group(1))


def test_the_boot_script_installs_the_signed_ops_agent_and_scrapes_every_replica(
    specs: dict[str, DeploymentSpec],
) -> None:
    spec = specs["office"]
    script = render_user_data(spec)
    assert "[signed-by=%s] https://packages.cloud.google.com/apt" in script
    assert "apt-get install -y google-cloud-ops-agent" in script
    config = agent_config_in(script)
    receiver = config["metrics"]["receivers"]["infra_engine"]
    assert receiver["type"] == "prometheus"
    scrape = only_item(receiver["config"]["scrape_configs"])
    assert scrape["job_name"] == scrape_job(spec.stack_name)
    assert scrape["static_configs"] == [{"targets": [f"127.0.0.1:{spec.runtime.port}"]}]
    kept = scrape["metric_relabel_configs"][-1]
    assert kept == {
        "source_labels": ["__name__"],
        "regex": f"{RUNNING_METRIC}|{WAITING_METRIC}|{TTFT_METRIC}(_bucket|_sum|_count)|"
        f"{TPOT_METRIC}(_bucket|_sum|_count)",
        "action": "keep",
    }
    renames = {
        (rule["regex"], rule["replacement"])
        for rule in scrape["metric_relabel_configs"]
        if "replacement" in rule
    }
    assert ("vllm:num_requests_waiting", WAITING_METRIC) in renames
    assert (
        "vllm:time_to_first_token_seconds(_bucket|_sum|_count)",
        f"{TTFT_METRIC}${{1}}",
    ) in renames
    assert config["metrics"]["service"]["pipelines"]["infra_engine"] == {
        "receivers": ["infra_engine"]
    }
    assert f"--setenv=IN_FLIGHT_METRIC={IN_FLIGHT_METRIC_TYPE}" in script
    assert f"--setenv=IN_FLIGHT_PORTS={spec.runtime.port}" in script


def test_several_replicas_are_scraped_and_summed_on_their_own_ports(
    specs: dict[str, DeploymentSpec],
) -> None:
    spec = specs["office"]
    runtime = msgspec.structs.replace(spec.runtime, replicas_per_instance=3)
    several = msgspec.structs.replace(spec, runtime=runtime, accelerators_per_instance=3)
    ports = [spec.runtime.port + 1 + index for index in range(3)]
    config = json.loads(ops_agent_config(several) or "{}")
    scrape = only_item(config["metrics"]["receivers"]["infra_engine"]["config"]["scrape_configs"])
    assert scrape["static_configs"] == [{"targets": [f"127.0.0.1:{port}" for port in ports]}]
    script = render_user_data(several)
    assert f"--setenv=IN_FLIGHT_PORTS='{' '.join(map(str, ports))}'" in script


def test_an_engine_without_gauges_gets_no_agent_receiver(specs: dict[str, DeploymentSpec]) -> None:
    spec = specs["office"]
    triton = msgspec.structs.replace(
        spec, runtime=msgspec.structs.replace(spec.runtime, engine="triton")
    )
    assert ops_agent_config(triton) is None


def only_item(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


def test_a_gcp_dev_fleet_that_scales_to_zero_is_planned_with_its_one_spot_vm() -> None:
    """The spot group cannot go below one VM (its autoscaler scales on per-instance metrics), so
    the planner keeps one spot instance in the dev environment's zero hours too, and prices it."""
    profile = load_profile(OFFICE_HOURS).profile
    pins = Filters(clouds=frozenset({"gcp"}), kinds=frozenset({"fleet"}), environment="dev")
    chosen = recommend(profile, load_catalog(), pins).candidates[0]
    assert chosen.hours is not None
    spot = [instances - on_demand for instances, on_demand in chosen.hours]
    assert chosen.instances > chosen.on_demand_instances  # the plan uses spot at the peak
    assert min(spot) == 1
    assert any(on_demand == 0 for _, on_demand in chosen.hours)  # outside the schedule
