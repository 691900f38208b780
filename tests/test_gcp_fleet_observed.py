"""The GCP fleet is observed (issue 15): alert policies whose thresholds are the profile's targets
and the plan's queue, notifying deploy.alerts.notification_channel; a Cloud Monitoring dashboard
with the same thresholds drawn; only what the instances publish is watched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.errors import ProfileError
from modules.gcp.alert_policies import ERROR_RATE_PERCENT, GPU_MEMORY_ALERT_PERCENT
from modules.gcp.engine_metrics import scrape_job
from modules.gcp.instance_group import base_instance_name, group_plans
from modules.gcp.load_balancer import load_balancer_name
from planner.cost.plan_resources import from_configuration
from planner.cost.pricing import price_plan
from planner.decision import decide
from planner.deployment import DeploymentSpec, spec_as_data, spec_from_decision
from planner.optimizer import Filters, recommend
from planner.profile import load_profile
from providers.catalog import load_catalog
from stacks.common import GCP_PROJECT_ENV
from tests.conftest import EXAMPLES, profile_dict, write_profile
from tests.decided import decided_spec
from tests.stack_json import Synthesized, only, resources, synthesize_specs

PUBLIC_CHAT = EXAMPLES / "public-chat.yaml"
OFFICE_HOURS = EXAMPLES / "chat-8b-office-hours.yaml"
CHANNEL = "projects/partner-serving/notificationChannels/4242424242424242"


def fleet_spec(path: Path, env: str = "prod") -> DeploymentSpec:
    return decided_spec(path, "gcp", "fleet", env)


@pytest.fixture(scope="module")
def specs() -> dict[str, DeploymentSpec]:
    public = fleet_spec(PUBLIC_CHAT)
    office = fleet_spec(OFFICE_HOURS)
    tgi = msgspec.structs.replace(
        office,
        name="tgi-chat",
        runtime=msgspec.structs.replace(office.runtime, engine="tgi"),
        alerts=msgspec.structs.replace(office.alerts, notification_channel=None),
    )
    triton = msgspec.structs.replace(
        office,
        name="triton-chat",
        runtime=msgspec.structs.replace(office.runtime, engine="triton"),
        gcp=msgspec.structs.replace(office.gcp, model_gcs_uri="gs://weights-bucket/triton/8b"),
    )
    return {"public": public, "office": office, "tgi": tgi, "triton": triton}


@pytest.fixture(scope="module")
def synthesized(
    specs: dict[str, DeploymentSpec], tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(GCP_PROJECT_ENV, "serving-project-1")
        return synthesize_specs(
            list(specs.values()), tmp_path_factory.mktemp("gcp-observed"), emulated=False
        )


def policies(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The alert policies by what they watch (the display name's suffix)."""
    found = resources(doc, "google_monitoring_alert_policy").values()
    return {policy["display_name"].rsplit(": ", 1)[1]: policy for policy in found}


def condition(policy: dict[str, Any]) -> dict[str, Any]:
    (only_condition,) = policy["conditions"]
    return only_condition["condition_prometheus_query_language"]


def threshold(policy: dict[str, Any]) -> float:
    return float(condition(policy)["query"].rsplit(" > ", 1)[1])


def test_the_thresholds_are_the_profiles_targets_and_the_planned_queue(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    spec = specs["public"]
    found = policies(synthesized[spec])
    assert set(found) == {"errors", "queue", "gpu-memory", "ttft", "tpot"}
    assert spec.targets.ttft_ms_p95 is not None and spec.targets.tpot_ms is not None
    assert threshold(found["ttft"]) == spec.targets.ttft_ms_p95 / 1000
    assert threshold(found["tpot"]) == spec.targets.tpot_ms / 1000
    assert threshold(found["queue"]) == spec.runtime.max_batch
    assert threshold(found["gpu-memory"]) == GPU_MEMORY_ALERT_PERCENT
    assert threshold(found["errors"]) == ERROR_RATE_PERCENT
    job = scrape_job(spec.stack_name)
    assert f'infra_requests_waiting{{job="{job}"}}' in condition(found["queue"])["query"]
    assert "histogram_quantile(0.95, " in condition(found["ttft"])["query"]
    assert f'{{job="{job}"}}' in condition(found["ttft"])["query"]
    for name in ("queue", "gpu-memory", "ttft", "tpot"):
        assert condition(found[name])["duration"] == "300s"
    assert condition(found["errors"])["duration"] == "600s"
    for policy in found.values():
        assert condition(policy)["disable_metric_validation"] is True  # metrics come later


def test_every_policy_notifies_the_profiles_channel(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    spec = specs["public"]
    assert spec.alerts.notification_channel == CHANNEL
    for policy in policies(synthesized[spec]).values():
        assert policy["notification_channels"] == [CHANNEL]
    for policy in policies(synthesized[specs["tgi"]]).values():
        assert "notification_channels" not in policy


def test_the_load_balancers_5xx_are_read_where_its_kind_reports_them(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    public = condition(policies(synthesized[specs["public"]])["errors"])["query"]
    internal = condition(policies(synthesized[specs["office"]])["errors"])["query"]
    assert 'monitored_resource="https_lb_rule"' in public
    assert 'monitored_resource="internal_http_lb_rule"' in internal
    url_map = load_balancer_name(specs["public"].stack_name)
    assert f'url_map_name="{url_map}",response_code_class="500"' in public
    doc = synthesized[specs["office"]]
    (url_maps,) = (resources(doc, "google_compute_region_url_map").values(),)
    assert [m["name"] for m in url_maps] == [load_balancer_name(specs["office"].stack_name)]


def test_the_gpu_policy_watches_the_fleets_own_vms(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    spec = specs["office"]
    doc = synthesized[spec]
    query = condition(policies(doc)["gpu-memory"])["query"]
    groups = resources(doc, "google_compute_region_instance_group_manager").values()
    bases = {group["base_instance_name"] for group in groups}
    roles = [plan.role for plan in group_plans(spec.capacity, spec.hourly)]
    assert bases == {base_instance_name(spec.stack_name, role) for role in roles}
    names = "|".join(base_instance_name(spec.stack_name, role) for role in roles)
    assert f'metadata_system_name=~"({names})-[a-z0-9]+"' in query


def test_an_engine_gets_a_latency_policy_for_each_histogram_it_has(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    # TGI has a time per token histogram and no time to first token one (as on AWS).
    assert set(policies(synthesized[specs["tgi"]])) == {"errors", "queue", "gpu-memory", "tpot"}
    assert set(policies(synthesized[specs["triton"]])) == {"errors", "gpu-memory"}


def dashboard(doc: dict[str, Any]) -> dict[str, Any]:
    _, board = only(doc, "google_monitoring_dashboard")
    return json.loads(board["dashboard_json"])


def charts(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tiles = dashboard(doc)["mosaicLayout"]["tiles"]
    return {tile["widget"]["title"]: tile["widget"]["xyChart"] for tile in tiles}


def test_the_dashboard_draws_the_targets_and_the_planned_queue(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    spec = specs["public"]
    doc = synthesized[spec]
    board = dashboard(doc)
    assert board["displayName"] == spec.stack_name
    drawn = charts(doc)
    queue = drawn["Requests per replica"]["thresholds"]
    assert [(t["label"], t["value"]) for t in queue] == [("planned queue", spec.runtime.max_batch)]
    latency = drawn["Time to first token and per output token (seconds)"]["thresholds"]
    assert [(t["label"], t["value"]) for t in latency] == [
        ("TTFT target (p95)", spec.targets.ttft_ms_p95 / 1000),
        ("TPOT target", spec.targets.tpot_ms / 1000),
    ]
    assert "GPU (percent)" in drawn and "Instances reporting, by group" in drawn
    tiles = board["mosaicLayout"]["tiles"]
    placed = {(t["xPos"], t["yPos"]) for t in tiles}
    assert len(placed) == len(tiles)
    assert all(t["xPos"] + t["width"] <= board["mosaicLayout"]["columns"] for t in tiles)


def test_the_dashboard_leaves_out_what_is_not_published(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    drawn = charts(synthesized[specs["triton"]])
    assert "Requests per replica" not in drawn
    assert not any(title.startswith("Time to first token") for title in drawn)
    tgi = charts(synthesized[specs["tgi"]])["Time to first token and per output token (seconds)"]
    assert [line["legendTemplate"] for line in tgi["dataSets"]] == ["TPOT (mean)"]
    assert [t["label"] for t in tgi["thresholds"]] == ["TPOT target"]


def test_only_the_gcp_fleets_record_carries_alerts_and_targets(
    specs: dict[str, DeploymentSpec],
) -> None:
    data = spec_as_data(specs["public"])
    assert data["alerts"]["notification_channel"] == CHANNEL
    assert data["targets"]["ttft_ms_p95"] == specs["public"].targets.ttft_ms_p95
    profile = load_profile(PUBLIC_CHAT).profile
    aws = recommend(
        profile,
        load_catalog(),
        Filters(environment="prod", clouds=frozenset({"aws"}), kinds=frozenset({"fleet"})),
    )
    aws_data = spec_as_data(spec_from_decision(profile, decide(profile, aws), "prod"))
    assert "alerts" not in aws_data and "targets" not in aws_data


@pytest.mark.parametrize(
    "channel",
    [
        "projects/partner-serving/alertPolicies/42",
        "projects/Partner/notificationChannels/42",
        "notificationChannels/42",
        "projects/partner-serving/notificationChannels/forty-two",
    ],
)
def test_a_channel_that_is_not_a_notification_channel_is_one_sentence(
    tmp_path: Path, channel: str
) -> None:
    data = profile_dict()
    data.setdefault("deploy", {})["alerts"] = {"notification_channel": channel}
    with pytest.raises(ProfileError) as caught:
        load_profile(write_profile(tmp_path, data))
    message = str(caught.value)
    assert "deploy.alerts.notification_channel" in message and "notification channel" in message
    assert "\n" not in message


def test_infra_cost_prices_each_alerting_condition_and_not_the_dashboard(
    synthesized: Synthesized, specs: dict[str, DeploymentSpec]
) -> None:
    spec = specs["public"]
    report = price_plan(from_configuration(synthesized[spec]), load_catalog(), source="test")
    costs: dict[str, list[Any]] = {}
    for resource in report.resources:
        costs.setdefault(resource.address.split(".")[0], []).append(resource)
    alerts = costs["google_monitoring_alert_policy"]
    assert len(alerts) == 5 and all(a.status == "priced" for a in alerts)
    for alert in alerts:
        (component,) = alert.components
        assert component.unit_price == 1.50 and component.quantity.expected == 1
        assert component.category == "monitoring"
    (board,) = costs["google_monitoring_dashboard"]
    assert board.status == "free"
