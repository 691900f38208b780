"""The Azure fleet follows the week and is observed (issues 14 and 15): recurring autoscale
profiles from the planner's hourly sizes in the Windows time zone, rules on the engine's requests
in flight per replica, the instances' metrics publisher, and the metric alerts with the profile's
action group. The week the profiles give is replayed hour by hour from their recurrences,
independently of modules/week_schedule.py's grouping."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest

from modules.azure.autoscale import (
    MAX_PROFILES,
    SCALE_IN_FRACTION,
    AutoscaleError,
    windows_zone,
)
from modules.azure.engine_metrics import (
    CONFIG_PATH,
    GPU_MEMORY_METRIC,
    GPU_UTILIZATION_METRIC,
    IN_FLIGHT_METRIC,
    METRICS_NAMESPACE,
    PUBLISHER_PATH,
    RUNNING_METRIC,
    WAITING_METRIC,
)
from modules.azure.fleet_alerts import GPU_MEMORY_ALERT_PERCENT
from modules.user_data import render_user_data
from planner.deployment import DeploymentSpec
from planner.hourly import HourlySizes, hourly_sizes
from planner.profile import load_profile
from tests import test_azure_stacks as azure
from tests import test_user_data as boot_tests
from tests.conftest import EXAMPLES, Cli, profile_dict, write_profile
from tests.decided import decided_spec
from tests.stack_json import Synthesized, one_sentence, only, ref, resources, synthesize_specs

OFFICE_HOURS = EXAMPLES / "chat-8b-office-hours.yaml"
FLAT = EXAMPLES / "chat-8b.yaml"
ACTION_GROUP = (
    "/subscriptions/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/resourceGroups/rg-ops/providers/"
    "Microsoft.Insights/actionGroups/serving-oncall"
)
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
PUBLISHER = Path(__file__).parent.parent / "templates" / "user_data" / "azure_metrics.py"


def fleet_spec(path: Path, env: str = "prod", **fields: Any) -> DeploymentSpec:
    spec = decided_spec(path, "azure", "fleet", env)
    return msgspec.structs.replace(spec, **fields) if fields else spec


def week(sizes: list[int], zone: str = "Europe/Berlin") -> HourlySizes:
    return hourly_sizes(zone, [(n, 0) for n in sizes], [1.0] * 168, 1.0)


OFFICE = fleet_spec(OFFICE_HOURS)
QUIET = fleet_spec(OFFICE_HOURS, name="quiet", alerts_action_group_id=None)
FLAT_SPEC = fleet_spec(FLAT)
TRITON = azure.make_spec(
    "triton",
    runtime={
        "engine": "triton",
        "image": boot_tests.DEFAULT_IMAGES["triton"],
        "health_path": "/v2/health/ready",
    },
    azure={"model_blob_container_id": azure.CONTAINER_ID},
)
SPECS = [OFFICE, QUIET, FLAT_SPEC, TRITON]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARM_SUBSCRIPTION_ID", azure.SUBSCRIPTION)
        return synthesize_specs(SPECS, tmp_path_factory.mktemp("azure-week"), emulated=False)


@pytest.fixture
def subscription(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARM_SUBSCRIPTION_ID", azure.SUBSCRIPTION)


def setting(doc: dict[str, Any], suffix: str) -> dict[str, Any]:
    """The autoscale setting named `...-autoscale` (the scaled set's) or `...-od-schedule`."""
    (found,) = [
        body
        for body in resources(doc, "azurerm_monitor_autoscale_setting").values()
        if body["name"].endswith(suffix)
    ]
    return found


def replay(profiles: list[dict[str, Any]]) -> list[int]:
    """The setting's minimum in each hour of the week once its recurring profiles have run for a
    week (each runs from its start until the next one starts)."""
    fired: dict[int, int] = {}
    for profile in profiles:
        recurrence = profile["recurrence"]
        (hour,), (minute,) = recurrence["hours"], recurrence["minutes"]
        assert minute == 0
        for day in recurrence["days"]:
            fired[DAYS.index(day) * 24 + hour] = profile["capacity"]["minimum"]
    last = fired[max(fired)]
    minimum = []
    for hour in range(168):
        last = fired.get(hour, last)
        minimum.append(last)
    return minimum


# --- schedules ----------------------------------------------------------------------------------


def test_the_profiles_give_the_planners_week_in_the_windows_zone(synthesized: Synthesized) -> None:
    doc, spec = synthesized[OFFICE], OFFICE
    assert spec.hourly is not None and spec.hourly.timezone == "Europe/Berlin"
    assert spec.capacity.on_demand_base > 0  # spot above an on-demand base: two scale sets
    spot, on_demand = setting(doc, "-autoscale"), setting(doc, "-od-schedule")
    # Peak at 09:00 and trough at 18:00, Monday to Friday, for each set.
    assert [p["name"] for p in spot["profile"]] == ["0900-mon-fri", "1800-mon-fri"]
    assert [p["name"] for p in on_demand["profile"]] == ["0900-mon-fri", "1800-mon-fri"]
    assert replay(spot["profile"]) == spec.hourly.counts("spot")
    assert replay(on_demand["profile"]) == spec.hourly.counts("on_demand")
    pairs = zip(replay(spot["profile"]), replay(on_demand["profile"]), strict=True)
    together = [a + b for a, b in pairs]
    assert together == spec.hourly.counts("instances")
    sets = {
        body["name"]: ref("azurerm_linux_virtual_machine_scale_set", key, "id")
        for key, body in resources(doc, "azurerm_linux_virtual_machine_scale_set").items()
    }
    assert on_demand["target_resource_id"] == sets[f"{spec.stack_name}-od"]
    assert spot["target_resource_id"] == sets[f"{spec.stack_name}-spot"]
    for profile in [*spot["profile"], *on_demand["profile"]]:
        recurrence = profile["recurrence"]
        assert recurrence["timezone"] == "W. Europe Standard Time"
        assert recurrence["days"] == DAYS[:5] and recurrence["hours"] in ([9], [18])
        assert profile["capacity"]["default"] == profile["capacity"]["minimum"]
    for profile in spot["profile"]:
        assert profile["capacity"]["maximum"] == (
            spec.capacity.max_size - spec.capacity.on_demand_base
        )
    for profile in on_demand["profile"]:  # exactly the hour's size, no rules
        capacity = profile["capacity"]
        assert capacity["maximum"] == capacity["minimum"] and "rule" not in profile


def test_a_set_that_follows_the_week_leaves_its_count_to_autoscale(
    synthesized: Synthesized,
) -> None:
    for body in resources(synthesized[OFFICE], "azurerm_linux_virtual_machine_scale_set").values():
        assert body["lifecycle"] == {"ignore_changes": ["instances"]}


def test_a_flat_week_is_one_profile_without_recurrence(synthesized: Synthesized) -> None:
    _, flat = only(synthesized[FLAT_SPEC], "azurerm_monitor_autoscale_setting")
    (profile,) = flat["profile"]
    assert "recurrence" not in profile and profile["name"] == "requests-per-instance"


@pytest.mark.usefixtures("subscription")
def test_more_changes_than_an_autoscale_setting_holds_is_one_sentence(tmp_path: Path) -> None:
    # A different size every hour of the day, every day: 24 recurring changes.
    sizes = [1 + hour % 24 for hour in range(168)]
    spec = msgspec.structs.replace(OFFICE, name="busy", hourly=week(sizes))
    with pytest.raises(AutoscaleError) as caught:
        synthesize_specs([spec], tmp_path, emulated=False)
    message = str(caught.value)
    one_sentence(message)
    assert f"24 times a week, more than the {MAX_PROFILES} profiles" in message


@pytest.mark.usefixtures("subscription")
def test_twenty_changes_fit(tmp_path: Path) -> None:
    sizes = [1 + min(hour % 24, 19) for hour in range(168)]  # 20 changes a day, every day
    spec = msgspec.structs.replace(OFFICE, name="twenty", hourly=week(sizes))
    doc = synthesize_specs([spec], tmp_path, emulated=False)[spec]
    assert len(setting(doc, "-autoscale")["profile"]) == MAX_PROFILES


@pytest.mark.parametrize(
    ("iana", "windows"),
    [
        ("Europe/Berlin", "W. Europe Standard Time"),
        ("America/New_York", "Eastern Standard Time"),
        ("Asia/Kolkata", "India Standard Time"),  # CLDR's alias of Asia/Calcutta
        ("UTC", "UTC"),
        ("Australia/Sydney", "AUS Eastern Standard Time"),
    ],
)
def test_iana_zones_map_to_windows_names(iana: str, windows: str) -> None:
    assert windows_zone(iana) == windows


@pytest.mark.usefixtures("subscription")
def test_a_zone_cldr_does_not_map_is_one_sentence(tmp_path: Path) -> None:
    spec = msgspec.structs.replace(
        OFFICE, name="kyiv", hourly=msgspec.structs.replace(OFFICE.hourly, timezone="Europe/Kyiv")
    )
    with pytest.raises(AutoscaleError) as caught:
        synthesize_specs([spec], tmp_path, emulated=False)
    one_sentence(str(caught.value))
    assert "Europe/Kyiv" in str(caught.value) and "workload.traffic.timezone" in str(caught.value)


# --- the signal ---------------------------------------------------------------------------------


def test_in_flight_rules_use_the_planners_target_in_every_profile(
    synthesized: Synthesized,
) -> None:
    doc, spec = synthesized[OFFICE], OFFICE
    assert spec.scaling.in_flight_per_replica is not None
    set_keys = set(resources(doc, "azurerm_linux_virtual_machine_scale_set"))
    scaled = setting(doc, "-autoscale")
    for profile in scaled["profile"]:
        connections_out, connections_in, out, scale_in = profile["rule"]
        assert connections_out["metric_trigger"]["metric_name"] == "SYNCount"
        assert connections_in["metric_trigger"]["metric_name"] == "SYNCount"
        for rule in (out, scale_in):
            trigger = rule["metric_trigger"]
            assert trigger["metric_name"] == IN_FLIGHT_METRIC
            assert trigger["metric_namespace"] == METRICS_NAMESPACE
            assert trigger["statistic"] == "Average" and trigger["time_aggregation"] == "Average"
            assert "divide_by_instance_count" not in trigger  # already per replica
            assert trigger["metric_resource_id"] == scaled["target_resource_id"]
            assert trigger["metric_resource_id"] in {
                ref("azurerm_linux_virtual_machine_scale_set", key, "id") for key in set_keys
            }
        assert out["metric_trigger"]["threshold"] == round(spec.scaling.in_flight_per_replica, 2)
        assert out["metric_trigger"]["operator"] == "GreaterThan"
        assert out["scale_action"]["direction"] == "Increase"
        assert scale_in["metric_trigger"]["threshold"] == round(
            spec.scaling.in_flight_per_replica * SCALE_IN_FRACTION, 2
        )
        assert scale_in["scale_action"]["direction"] == "Decrease"


def test_the_recommendation_shows_the_in_flight_target_the_stack_is_written_with(
    cli: Cli,
) -> None:
    result, body = cli.json("recommend", OFFICE_HOURS, "--cloud", "azure", "--kind", "fleet")
    assert result.exit_code == 0, result.output
    assert (
        body["chosen"]["scaling"]["in_flight_per_replica"] == OFFICE.scaling.in_flight_per_replica
    )


def test_an_engine_without_gauges_scales_on_connections_alone(synthesized: Synthesized) -> None:
    _, flat = only(synthesized[TRITON], "azurerm_monitor_autoscale_setting")
    for profile in flat["profile"]:
        assert {rule["metric_trigger"]["metric_name"] for rule in profile["rule"]} == {"SYNCount"}


# --- the publisher on the instances -------------------------------------------------------------


def test_the_boot_script_installs_and_starts_the_publisher() -> None:
    script = render_user_data(OFFICE)
    assert PUBLISHER.read_text() in script
    config = json.loads(script.split("printf '%s\\n' '", 1)[1].split("'", 1)[0])
    assert config["namespace"] == METRICS_NAMESPACE and config["in_flight"] == IN_FLIGHT_METRIC
    assert config["gauges"] == {
        "vllm:num_requests_running": RUNNING_METRIC,
        "vllm:num_requests_waiting": WAITING_METRIC,
    }
    assert config["ports"] == [OFFICE.runtime.port]
    assert f"ExecStart=/usr/bin/python3 {PUBLISHER_PATH} {CONFIG_PATH}" in script
    assert "DynamicUser=yes" in script and "systemctl enable --now serving-metrics" in script


def test_the_triton_publisher_sends_gpu_metrics_only() -> None:
    script = render_user_data(TRITON)
    config = json.loads(script.split("printf '%s\\n' '", 1)[1].split("'", 1)[0])
    assert config["gauges"] == {} and config["ports"] == [] and config["in_flight"] is None
    assert config["gpu"] is True


@pytest.fixture(scope="module")
def publisher() -> ModuleType:
    spec = importlib.util.spec_from_file_location("azure_metrics", PUBLISHER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VLLM_METRICS = """\
# HELP vllm:num_requests_running Number of requests currently running on GPU.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="meta-llama/Llama-3.1-8B-Instruct"} 12.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
vllm:num_requests_swapped{model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
"""
GAUGES = {"vllm:num_requests_running": RUNNING_METRIC, "vllm:num_requests_waiting": WAITING_METRIC}


def test_the_publisher_reads_the_gauges_of_each_replica(publisher: ModuleType) -> None:
    other = VLLM_METRICS.replace(" 12.0", " 4.0").replace(" 3.0", " 0.0")
    samples = publisher.replica_samples([VLLM_METRICS, other], GAUGES, IN_FLIGHT_METRIC)
    assert samples == {
        RUNNING_METRIC: [12.0, 4.0],
        WAITING_METRIC: [3.0, 0.0],
        IN_FLIGHT_METRIC: [15.0, 4.0],
    }
    assert publisher.gauge_values("tgi_queue_size 7\n", {"tgi_queue_size": WAITING_METRIC}) == {
        WAITING_METRIC: 7.0
    }


def test_the_publisher_reads_each_gpu(publisher: ModuleType) -> None:
    samples = publisher.gpu_samples(
        "87, 60000, 81920\n12, 8192, 81920\n", GPU_UTILIZATION_METRIC, GPU_MEMORY_METRIC
    )
    assert samples[GPU_UTILIZATION_METRIC] == [87.0, 12.0]
    assert samples[GPU_MEMORY_METRIC] == pytest.approx([73.24, 10.0], abs=0.01)


def test_a_record_is_the_minutes_summary_in_the_custom_metrics_format(
    publisher: ModuleType,
) -> None:
    record = publisher.payload(
        METRICS_NAMESPACE, IN_FLIGHT_METRIC, [15.0, 4.0], datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    )
    assert record == {
        "time": "2026-12-03T09:00:00Z",
        "data": {
            "baseData": {
                "metric": IN_FLIGHT_METRIC,
                "namespace": METRICS_NAMESPACE,
                "series": [{"min": 4.0, "max": 15.0, "sum": 19.0, "count": 2}],
            }
        },
    }


# --- alerts -------------------------------------------------------------------------------------


def alerts(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {body["name"]: body for body in resources(doc, "azurerm_monitor_metric_alert").values()}


def test_alerts_on_the_planned_queue_gpu_memory_and_health(synthesized: Synthesized) -> None:
    doc, spec = synthesized[OFFICE], OFFICE
    found = alerts(doc)
    sets = {
        ref("azurerm_linux_virtual_machine_scale_set", key, "id")
        for key in resources(doc, "azurerm_linux_virtual_machine_scale_set")
    }
    lb_key, _ = only(doc, "azurerm_lb")
    queue = [a for name, a in found.items() if "requests-waiting" in name]
    memory = [a for name, a in found.items() if "gpu-memory" in name]
    assert len(queue) == len(memory) == len(sets)
    assert {a["scopes"][0] for a in queue} == {a["scopes"][0] for a in memory} == sets
    for alert in queue:
        (criteria,) = alert["criteria"]
        assert criteria["metric_name"] == WAITING_METRIC
        assert criteria["threshold"] == spec.runtime.max_batch == 128
        assert criteria["aggregation"] == "Average" and criteria["operator"] == "GreaterThan"
        assert criteria["metric_namespace"] == METRICS_NAMESPACE
        assert criteria["skip_metric_validation"] is True
        assert alert["window_size"] == "PT5M" and alert["frequency"] == "PT1M"
    for alert in memory:
        (criteria,) = alert["criteria"]
        assert (criteria["metric_name"], criteria["aggregation"]) == (GPU_MEMORY_METRIC, "Maximum")
        assert criteria["threshold"] == GPU_MEMORY_ALERT_PERCENT == 95
    (health,) = [a for name, a in found.items() if "unhealthy-backends" in name]
    assert health["scopes"] == [ref("azurerm_lb", lb_key, "id")]
    assert health["criteria"][0]["metric_name"] == "DipAvailability"


def test_every_alert_notifies_the_examples_action_group(synthesized: Synthesized) -> None:
    group = load_profile(OFFICE_HOURS).profile.deploy.alerts.action_group_id
    assert group is not None and OFFICE.alerts_action_group_id == group
    found = alerts(synthesized[OFFICE])
    assert len(found) == 5  # queue and GPU memory on each of the two sets, health
    assert all(a["action"] == [{"action_group_id": group}] for a in found.values())


def test_without_an_action_group_alerts_notify_nobody(synthesized: Synthesized) -> None:
    found = alerts(synthesized[QUIET])
    assert found and all("action" not in alert for alert in found.values())


def test_no_queue_alert_without_the_engines_gauges(synthesized: Synthesized) -> None:
    names = set(alerts(synthesized[TRITON]))
    assert not any("requests-waiting" in name for name in names)
    assert any("gpu-memory" in name for name in names)


def test_the_profile_action_group_reaches_the_spec(tmp_path: Path) -> None:
    data = profile_dict()
    data.setdefault("deploy", {})["alerts"] = {"action_group_id": ACTION_GROUP}
    loaded = load_profile(write_profile(tmp_path, data))
    assert loaded.profile.deploy.alerts.action_group_id == ACTION_GROUP


@pytest.mark.parametrize(
    "value",
    [
        "serving-oncall",
        ACTION_GROUP.replace("actionGroups", "scheduledQueryRules"),
        "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Insights/actionGroups/a",
    ],
)
def test_an_action_group_that_is_not_a_resource_id_is_one_sentence(
    tmp_path: Path, value: str
) -> None:
    from core.errors import ProfileError

    data = profile_dict()
    data.setdefault("deploy", {})["alerts"] = {"action_group_id": value}
    with pytest.raises(ProfileError) as caught:
        load_profile(write_profile(tmp_path, data))
    message = str(caught.value)
    assert "deploy.alerts.action_group_id" in message and "an action group's resource ID" in message
    assert "\n" not in message


# --- the dashboard ------------------------------------------------------------------------------


def dashboard_charts(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each chart's title -> its metrics."""
    _, board = only(doc, "azurerm_portal_dashboard")
    (lens,) = json.loads(board["dashboard_properties"])["lenses"].values()
    found = {}
    for part in lens["parts"].values():
        metadata = part["metadata"]
        assert metadata["type"] == "Extension/HubsExtension/PartType/MonitorChartPart"
        chart = metadata["settings"]["content"]["options"]["chart"]
        assert metadata["inputs"][0]["value"]["chart"] == chart
        found[chart["title"]] = chart["metrics"]
    return found


def test_the_dashboard_charts_the_queue_gpus_instances_and_load_balancer(
    synthesized: Synthesized,
) -> None:
    doc, spec = synthesized[OFFICE], OFFICE
    charts = dashboard_charts(doc)
    sets = {
        ref("azurerm_linux_virtual_machine_scale_set", key, "id")
        for key in resources(doc, "azurerm_linux_virtual_machine_scale_set")
    }
    settings = {
        ref("azurerm_monitor_autoscale_setting", key, "id")
        for key in resources(doc, "azurerm_monitor_autoscale_setting")
    }
    in_flight = f"Requests in flight per replica (target {spec.scaling.in_flight_per_replica:g})"
    queue = "Requests running and waiting per replica (alert: waiting above 128)"
    assert set(charts) == {
        in_flight,
        queue,
        "GPU utilization (%)",
        "Fullest GPU's memory (%, alert above 95)",
        "Instances (observed by autoscale)",
        "New connections per minute and health probe status (%)",
    }
    assert {m["resourceMetadata"]["id"] for m in charts[in_flight]} == sets
    assert {(m["namespace"], m["name"]) for m in charts[queue]} == {
        (METRICS_NAMESPACE, RUNNING_METRIC),
        (METRICS_NAMESPACE, WAITING_METRIC),
    }
    memory = charts["Fullest GPU's memory (%, alert above 95)"]
    assert {(m["name"], m["aggregationType"]) for m in memory} == {(GPU_MEMORY_METRIC, 3)}
    observed = charts["Instances (observed by autoscale)"]
    assert {m["resourceMetadata"]["id"] for m in observed} == settings and len(settings) == 2
    assert {m["name"] for m in observed} == {"ObservedCapacity"}


def test_without_engine_gauges_the_dashboard_has_no_queue_charts(
    synthesized: Synthesized,
) -> None:
    titles = set(dashboard_charts(synthesized[TRITON]))
    assert not any("per replica" in title for title in titles)
    assert "GPU utilization (%)" in titles
