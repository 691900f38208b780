"""Azure ML follows the week and scales on its request metric (issue 14): the autoscale setting
the SDK steps apply with each deployment, asserted at the SDK boundary (tests/sdk_fakes.py), and
the azure-mgmt-monitor entity built from it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from core.errors import InfraError
from modules.week_schedule import size_changes
from orchestrator import sdk_steps
from orchestrator.azureml_autoscale import (
    MAX_PROFILES,
    REQUESTS_METRIC,
    AzureMlAutoscaleError,
    autoscale_settings,
)
from orchestrator.azureml_endpoint import AzureMlEndpoint, AzureMlOutputs
from planner.deployment import DeploymentSpec
from planner.hourly import HourlySizes, hourly_sizes
from providers.azure.azureml_api import AutoscaleSettings, autoscale_setting
from providers.sdk_errors import CloudCallFailed
from tests.sdk_fakes import (
    AZURE_OUTPUTS,
    AZURE_SDK_WARNINGS,
    TAGS,
    FakeAzureMlApi,
    Steps,
    azureml_spec,
    deployment_of,
)

pytestmark = AZURE_SDK_WARNINGS
ENDPOINT = str(AZURE_OUTPUTS["online_endpoint_name"])
FLAT = azureml_spec()
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


def week(sizes: list[int], zone: str = "Europe/Berlin") -> HourlySizes:
    return hourly_sizes(zone, [(n, n) for n in sizes], [1.0] * 168, 1.0)


def office_week(peak: int, trough: int) -> list[int]:
    return [peak if hour // 24 < 5 and 9 <= hour % 24 < 18 else trough for hour in range(168)]


OFFICE = msgspec.structs.replace(FLAT, hourly=week(office_week(6, 2)))


def deploy(api: FakeAzureMlApi, spec: DeploymentSpec, tmp_path: Path) -> str:
    def driver(spec: DeploymentSpec, outputs: Any) -> AzureMlEndpoint:
        return AzureMlEndpoint(spec, AzureMlOutputs.read(spec.stack_name, outputs), api)

    result = sdk_steps.after_apply(
        deployment_of(spec, tmp_path, Steps()), AZURE_OUTPUTS, driver, lambda _: None
    )
    assert result is not None
    return str(result["revision"])


def applied(api: FakeAzureMlApi) -> list[AutoscaleSettings]:
    return [payload for name, payload in api.calls if name == "apply_autoscale"]


def test_a_flat_deployment_scales_on_requests_per_minute_at_the_planners_target(
    tmp_path: Path,
) -> None:
    api = FakeAzureMlApi()
    revision = deploy(api, FLAT, tmp_path)
    (settings,) = applied(api)
    assert settings.deployment_name == revision and settings.endpoint_name == ENDPOINT
    assert settings.name == f"{ENDPOINT}-{revision}-autoscale"
    assert settings.tags == TAGS
    (profile,) = settings.profiles
    capacity = FLAT.capacity
    assert (profile.minimum, profile.default, profile.maximum) == (
        capacity.min_size,
        capacity.desired,
        capacity.max_size,
    )
    assert profile.days == ()
    out, in_ = settings.rules
    assert (out.metric_name, out.operator, out.direction) == (
        REQUESTS_METRIC,
        "GreaterThan",
        "Increase",
    )
    assert out.threshold == FLAT.scaling.target  # what the recommendation shows
    assert (in_.operator, in_.direction, in_.threshold) == (
        "LessThan",
        "Decrease",
        FLAT.scaling.target / 2,
    )
    assert out.cooldown_minutes == in_.cooldown_minutes == 14  # 840 s to load the model
    # The autoscale setting comes after the deployment it targets, before any traffic.
    names = api.changing()
    assert names.index("create_or_update_deployment") < names.index("apply_autoscale")
    assert names.index("apply_autoscale") < names.index("set_traffic")


def test_the_week_is_one_recurring_profile_per_change_in_the_windows_zone(
    tmp_path: Path,
) -> None:
    api = FakeAzureMlApi()
    deploy(api, OFFICE, tmp_path)
    (settings,) = applied(api)
    assert [
        (p.name, p.days, p.hour, p.minimum, p.default, p.maximum, p.time_zone)
        for p in settings.profiles
    ] == [
        ("0900-mon-fri", WEEKDAYS, 9, 6, 6, 6, "W. Europe Standard Time"),
        ("1800-mon-fri", WEEKDAYS, 18, 2, 2, 6, "W. Europe Standard Time"),
    ]


def test_a_change_of_schedule_is_a_new_deployment(tmp_path: Path) -> None:
    api = FakeAzureMlApi()
    flat = deploy(api, FLAT, tmp_path)
    office = deploy(api, OFFICE, tmp_path)
    assert office != flat and list(api.deployments) == [office]
    assert list(api.autoscale) == [f"{ENDPOINT}-{office}-autoscale"]  # the old one deleted


def test_a_run_stopped_before_the_autoscale_sets_it_next_time(tmp_path: Path) -> None:
    api = FakeAzureMlApi()
    api.fail_next("apply_autoscale")
    with pytest.raises(CloudCallFailed):
        deploy(api, FLAT, tmp_path)
    assert api.autoscale == {} and len(api.deployments) == 1
    api.calls.clear()
    revision = deploy(api, FLAT, tmp_path)
    assert api.changing() == ["create_or_update_deployment", "apply_autoscale", "set_traffic"]
    assert list(api.autoscale) == [f"{ENDPOINT}-{revision}-autoscale"]
    api.calls.clear()
    deploy(api, FLAT, tmp_path)
    assert api.changing() == []


def test_more_changes_than_profiles_is_one_sentence() -> None:
    every_other_hour = week([1 + hour % 2 for hour in range(168)])
    assert len(size_changes(every_other_hour)) > MAX_PROFILES
    busy = msgspec.structs.replace(FLAT, hourly=every_other_hour)
    with pytest.raises(AzureMlAutoscaleError) as raised:
        autoscale_settings(busy, ENDPOINT, "rev-1")
    message = str(raised.value)
    assert f"more than the {MAX_PROFILES} profiles an Azure autoscale setting holds" in message
    assert "\n" not in message and message.count(". ") == 0


def test_a_zone_without_a_windows_name_is_one_sentence() -> None:
    spec = msgspec.structs.replace(FLAT, hourly=week(office_week(6, 2), zone="Mars/Olympus"))
    with pytest.raises(InfraError, match="the time zone Mars/Olympus has no Windows"):
        autoscale_settings(spec, ENDPOINT, "rev-1")


def test_utc_aliases_have_a_windows_name() -> None:
    spec = msgspec.structs.replace(FLAT, hourly=week(office_week(6, 2), zone="UTC"))
    settings = autoscale_settings(spec, ENDPOINT, "rev-1")
    assert {p.time_zone for p in settings.profiles} == {"UTC"}


def test_the_monitor_entity() -> None:
    settings = autoscale_settings(OFFICE, ENDPOINT, "rev-1")
    deployment_id = (
        "/subscriptions/s/resourceGroups/rg/providers/x/onlineEndpoints/e/deployments/rev-1"
    )
    endpoint_id = "/subscriptions/s/resourceGroups/rg/providers/x/onlineEndpoints/e"
    resource = autoscale_setting(
        settings, deployment_id=deployment_id, endpoint_id=endpoint_id, location="eastus"
    )
    assert resource.target_resource_uri == deployment_id and resource.enabled is True
    assert resource.location == "eastus" and resource.tags == TAGS
    first = resource.profiles[0]
    assert (first.capacity.minimum, first.capacity.default, first.capacity.maximum) == (
        "6",
        "6",
        "6",
    )
    assert first.recurrence.frequency == "Week"
    schedule = first.recurrence.schedule
    assert (schedule.time_zone, schedule.days, schedule.hours, schedule.minutes) == (
        "W. Europe Standard Time",
        list(WEEKDAYS),
        [9],
        [0],
    )
    out, in_ = first.rules
    trigger = out.metric_trigger
    assert trigger.metric_name == "RequestsPerMinute"
    assert trigger.metric_resource_uri == endpoint_id
    assert trigger.divide_per_instance is True
    assert trigger.threshold == OFFICE.scaling.target
    assert trigger.time_window == timedelta(minutes=5)
    (dimension,) = trigger.dimensions
    assert (dimension.dimension_name, dimension.operator, dimension.values) == (
        "deployment",
        "Equals",
        ["rev-1"],
    )
    assert (out.scale_action.direction, out.scale_action.type, out.scale_action.value) == (
        "Increase",
        "ChangeCount",
        "1",
    )
    assert in_.scale_action.direction == "Decrease"
    assert in_.metric_trigger.time_window == timedelta(minutes=15)
    flat = autoscale_setting(
        autoscale_settings(FLAT, ENDPOINT, "rev-1"),
        deployment_id=deployment_id,
        endpoint_id=endpoint_id,
        location="eastus",
    )
    (only_profile,) = flat.profiles
    assert only_profile.recurrence is None
