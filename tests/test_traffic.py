"""Traffic over the week (issue 14): the profile's shape and the environments' schedules, the fleet
sized for each of the 168 hours, the expected month as the sum over them, and `infra cost`
integrating over the same hours. The hand computations here are written from the profile's
words, independently of planner/hourly.py."""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
import yaml

from core.errors import ProfileError
from planner.decision import decide, decision_data
from planner.deployment import spec_as_data, spec_from_decision
from planner.optimizer import Candidate, Filters, recommend
from planner.profile import load_profile
from providers.catalog import load_catalog
from tests.conftest import EXAMPLES, Cli, profile_dict, write_profile

EXAMPLE = EXAMPLES / "chat-8b-office-hours.yaml"
BERLIN = ZoneInfo("Europe/Berlin")
AWS_FLEET = {"clouds": frozenset({"aws"}), "kinds": frozenset({"fleet"})}


def example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def local_week() -> list[datetime]:
    """The 168 local hours of a week in Berlin, Monday 00:00 first (a week without a change)."""
    monday = datetime(2026, 11, 30, tzinfo=BERLIN)
    return [monday + timedelta(hours=hour) for hour in range(168)]


def hand_month(candidate: Candidate, rate_at: Any, min_replicas: int, headroom: float) -> float:
    """The expected month of `candidate` added up hour by hour from the profile's words."""
    per_instance = candidate.replicas_per_instance * candidate.replica.requests_per_s
    least = math.ceil(min_replicas / candidate.replicas_per_instance)
    spot = candidate.spot_usd if candidate.spot_usd is not None else candidate.ondemand_usd
    total = 0.0
    for moment in local_week():
        rate = rate_at(moment)
        if rate is None:  # outside the schedule, scaled to zero
            total += candidate.fixed_usd
            continue
        instances = max(least, math.ceil(rate * (1 + headroom) / per_instance - 1e-9))
        on_demand = min(instances, candidate.on_demand_instances)
        total += (
            on_demand * candidate.ondemand_usd
            + (instances - on_demand) * spot
            + candidate.fixed_usd
        )
    return total * 730 / 168


def office_rate(moment: datetime) -> float:
    return 40.0 if moment.weekday() < 5 and 9 <= moment.hour < 18 else 4.0


# --- done when: the daily shape, by hand ----------------------------------------------------


def test_a_daily_shape_is_priced_as_its_168_hours_add_up() -> None:
    profile = load_profile(EXAMPLE).profile
    result = recommend(profile, load_catalog(), Filters(environment="prod"))
    chosen = result.chosen
    decision = decide(profile, result)
    assert decision.hourly is not None and decision.hourly.timezone == "Europe/Berlin"
    by_hand = hand_month(chosen, office_rate, 1, 0.2)
    assert decision.hourly.expected_monthly_usd == pytest.approx(by_hand, rel=0.01)
    assert decision.instances_monthly_usd == decision.hourly.expected_monthly_usd
    # Lower than the flat fleet by about what the shape implies: 45 of 168 hours at the peak,
    # the rest at a tenth of it (instances come whole, and the on-demand base stays, so the
    # saving is below the 1 - (45 + 123 / 10) / 168 = 66% of a fleet that scaled perfectly).
    flat = chosen.hourly_usd * 730
    assert decision.hourly.flat_monthly_usd == pytest.approx(flat, abs=0.01)
    share = decision.hourly.expected_monthly_usd / flat
    assert (45 + 123 / 10) / 168 <= share < 0.6
    peak_hours = [h for h, moment in enumerate(local_week()) if office_rate(moment) == 40]
    sizes = decision.hourly.per_hour()
    assert {sizes[h][0] for h in peak_hours} == {decision.instances}
    assert decision.hourly.min_monthly_usd < decision.hourly.expected_monthly_usd
    assert decision.hourly.max_monthly_usd == pytest.approx(flat, abs=0.01)


def test_the_optimizer_ranks_by_the_expected_month_not_the_peak() -> None:
    profile = load_profile(EXAMPLE).profile
    result = recommend(profile, load_catalog(), Filters(environment="prod"))
    expected = [c.expected_hourly_usd for c in result.candidates]
    assert expected == sorted(expected)
    cheapest_at_peak = min(result.candidates, key=lambda c: c.hourly_usd)
    assert result.chosen.expected_hourly_usd <= cheapest_at_peak.expected_hourly_usd


def test_recommend_json_and_text_show_the_week(cli: Cli) -> None:
    result, body = cli.json("recommend", EXAMPLE, "--top", "1")
    assert result.exit_code == 0, result.output
    chosen = body["chosen"]
    hourly = chosen["hourly_sizes"]
    assert hourly["changes"][0]["at"] == "mon 00:00"
    assert chosen["monthly_usd"] == pytest.approx(hourly["expected_monthly_usd"], abs=0.01)
    assert chosen["flat_monthly_usd"] == hourly["flat_monthly_usd"]
    assert hourly["saving_monthly_usd"] > 0
    assert body["traffic"]["timezone"] == "Europe/Berlin"
    text = cli("recommend", EXAMPLE, "--top", "1")
    assert "Over the week (Europe/Berlin" in text.stdout
    assert "flat at the peak, saving" in text.stdout


# --- flat traffic is today's plan, number for number ------------------------------------------


def test_without_traffic_nothing_changes() -> None:
    profile = load_profile(EXAMPLES / "chat-8b.yaml").profile
    result = recommend(profile, load_catalog(), Filters(environment="prod"))
    assert result.week is None and all(c.hours is None for c in result.candidates)
    decision = decide(profile, result)
    assert decision.hourly is None and "hourly" not in decision_data(decision)
    assert decision.instances_monthly_usd == decision.hourly_usd * 730
    spec = spec_from_decision(profile, decision, "prod")
    assert "hourly" not in spec_as_data(spec)


def test_a_shape_flat_at_the_peak_plans_and_prices_as_without_one(tmp_path: Path) -> None:
    plain = profile_dict()
    flat = profile_dict()
    flat["workload"]["traffic"] = {"hourly": [1.0] * 24}
    catalog = load_catalog()
    without = recommend(load_profile(write_profile(tmp_path, plain)).profile, catalog)
    with_flat = recommend(load_profile(write_profile(tmp_path, flat, "f.yaml")).profile, catalog)
    assert [(c.offering.instance_type, c.instances) for c in without.candidates[:20]] == [
        (c.offering.instance_type, c.instances) for c in with_flat.candidates[:20]
    ]
    chosen = with_flat.chosen
    assert chosen.expected_hourly_usd == pytest.approx(without.chosen.hourly_usd, rel=1e-12)
    assert set(chosen.hours or ()) == {(chosen.instances, chosen.on_demand_instances)}


# --- done when: a dev schedule with scale to zero ----------------------------------------------


def dev_rate(moment: datetime) -> float | None:
    if moment.weekday() >= 5 or not 8 <= moment.hour < 20:
        return None
    return office_rate(moment)


def test_a_dev_schedule_with_scale_to_zero_prices_the_scheduled_hours_only() -> None:
    profile = load_profile(EXAMPLE).profile
    result = recommend(profile, load_catalog(), Filters(environment="dev", **AWS_FLEET))
    decision = decide(profile, result)
    assert decision.hourly is not None
    sizes = decision.hourly.per_hour()
    for moment, (instances, _) in zip(local_week(), sizes, strict=True):
        assert (instances == 0) == (dev_rate(moment) is None)
    by_hand = hand_month(result.chosen, dev_rate, 1, 0.2)
    assert decision.hourly.expected_monthly_usd == pytest.approx(by_hand, rel=0.01)
    assert decision.hourly.min_monthly_usd == 0


def test_a_managed_endpoint_keeps_one_instance_outside_the_schedule() -> None:
    """SageMaker as the toolkit deploys it cannot scale to zero (its Kind says so): the dev
    schedule's off hours cost one instance, not none."""
    profile = load_profile(EXAMPLE).profile
    pins = Filters(environment="dev", clouds=frozenset({"aws"}), kinds=frozenset({"sagemaker"}))
    result = recommend(profile, load_catalog(), pins)
    sizes = result.chosen.hours
    assert sizes is not None
    for moment, (instances, _) in zip(local_week(), sizes, strict=True):
        assert instances >= 1
        if dev_rate(moment) is None:
            assert instances == 1


def test_infra_cost_of_the_dev_environment_counts_the_scheduled_hours(cli: Cli) -> None:
    args = ("cost", EXAMPLE, "--env", "dev", "--cloud", "aws", "--kind", "fleet")
    result, body = cli.json(*args)
    assert result.exit_code == 0, result.output
    (group,) = [r for r in body["resources"] if r["type"] == "aws_autoscaling_group"]
    hours = sum(c["quantity"]["expected"] for c in group["components"] if c["unit"] == "hours")
    week = body["week"]["hours"]
    instance_hours = sum(h["on_demand_instances"] + h["spot_instances"] for h in week)
    assert hours == pytest.approx(instance_hours * 730 / 168, rel=1e-6)
    off = [h for h, moment in enumerate(local_week()) if dev_rate(moment) is None]
    assert all(week[h]["on_demand_instances"] + week[h]["spot_instances"] == 0 for h in off)
    minimum = [c["quantity"]["min"] for c in group["components"] if c["unit"] == "hours"]
    assert minimum == [0, 0] or minimum == [0]
    total = sum(h["usd"] for h in week) * 730 / 168
    assert total == pytest.approx(body["monthly_usd"]["expected"], abs=0.05)


def test_the_html_report_charts_the_week(cli: Cli, tmp_path: Path) -> None:
    page = tmp_path / "cost.html"
    args = ("cost", EXAMPLE, "--env", "prod", "--cloud", "aws", "--kind", "fleet")
    result = cli(*args, "--format", "html", "--output", page)
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert "Fleet size by hour of the week (Europe/Berlin)" in html
    assert "Cost by hour of the week (Europe/Berlin)" in html
    assert "mon 09:00 on-demand" in html and "spot" in html
    flat = cli(
        "cost",
        EXAMPLES / "chat-8b.yaml",
        "--env",
        "prod",
        "--cloud",
        "aws",
        "--kind",
        "fleet",
        "--format",
        "html",
        "--output",
        tmp_path / "flat.html",
    )
    assert flat.exit_code == 0, flat.output
    assert "by hour of the week" not in (tmp_path / "flat.html").read_text()


# --- the CSV export --------------------------------------------------------------------------


def csv_week(start: datetime, days: int, rate_at: Any, *, epoch: bool = False) -> str:
    lines = ["timestamp,requests_per_second"]
    for hour in range(days * 24):
        moment = start + timedelta(hours=hour)
        stamp = str(int(moment.timestamp())) if epoch else moment.isoformat().replace("+00:00", "Z")
        lines.append(f"{stamp},{rate_at(moment)}")
    return "\n".join(lines) + "\n"


def csv_profile(tmp_path: Path, text: str, peak: float = 40) -> Path:
    (tmp_path / "traffic.csv").write_text(text)
    data = profile_dict()
    data["workload"]["requests_per_second"] = peak
    data["workload"]["traffic"] = {"csv": "traffic.csv", "timezone": "Europe/Berlin"}
    return write_profile(tmp_path, data)


def test_a_csv_is_averaged_into_local_hours_across_a_daylight_saving_change(
    tmp_path: Path,
) -> None:
    # Two weeks around the change of 2026-03-29: 07:00 UTC is 08:00 in Berlin before it and
    # 09:00 after. A rate that is busy at 09:00-18:00 Berlin time must stay at 09:00.
    start = datetime(2026, 3, 23, tzinfo=UTC)
    text = csv_week(start, 14, lambda m: office_rate(m.astimezone(BERLIN)), epoch=True)
    rates = load_profile(csv_profile(tmp_path, text)).profile.workload.traffic.csv_rates
    assert len(rates) == 168
    for moment, rate in zip(local_week(), rates, strict=True):
        assert rate == pytest.approx(office_rate(moment)), moment


def test_a_csv_plan_matches_the_same_shape_given_as_peak_hours(tmp_path: Path) -> None:
    start = datetime(2026, 11, 29, 23, tzinfo=UTC)  # Monday 00:00 in Berlin
    text = csv_week(start, 7, lambda m: office_rate(m.astimezone(BERLIN)))
    from_csv = load_profile(csv_profile(tmp_path, text)).profile
    shaped = msgspec.structs.replace(
        from_csv,
        workload=msgspec.structs.replace(
            from_csv.workload, traffic=load_profile(EXAMPLE).profile.workload.traffic
        ),
    )
    catalog = load_catalog()
    one, other = recommend(from_csv, catalog), recommend(shaped, catalog)
    assert one.chosen.hours == other.chosen.hours
    assert one.chosen.expected_hourly_usd == pytest.approx(other.chosen.expected_hourly_usd)


# --- hostile values: one sentence each, exit 1 -------------------------------------------------


def traffic(**fields: Any) -> dict[str, Any]:
    data = profile_dict()
    data["workload"]["traffic"] = fields
    return data


def environment(**fields: Any) -> dict[str, Any]:
    data = copy.deepcopy(example())
    data["deploy"]["environments"]["dev"] = fields
    return data


HOSTILE: dict[str, tuple[dict[str, Any], str]] = {
    "25 hourly values": (traffic(hourly=[0.5] * 25), "workload.traffic.hourly"),
    "a negative fraction": (traffic(hourly=[-0.1] + [0.5] * 23), "workload.traffic.hourly[0]"),
    "a fraction above the peak": (traffic(hourly=[1.5] * 24), "workload.traffic.hourly[0]"),
    "a negative trough": (traffic(peak_hours="09:00-18:00", trough_rps=-4), "trough_rps"),
    "a trough above the peak": (
        traffic(peak_hours="09:00-18:00", trough_rps=50),
        "above the peak",
    ),
    "an unknown time zone": (
        traffic(peak_hours="09:00-18:00", timezone="Mars/Olympus"),
        "unknown time zone 'Mars/Olympus'",
    ),
    "half hours": (traffic(peak_hours="09:30-18:00"), "not on the hour"),
    "not a range": (traffic(peak_hours="nine to six"), "not an hour range"),
    "an unknown day": (traffic(peak_hours="09:00-18:00", days=["mon", "funday"]), "days"),
    "two shapes": (
        traffic(peak_hours="09:00-18:00", hourly=[1.0] * 24),
        "give exactly one shape",
    ),
    "no shape": (traffic(timezone="UTC"), "give exactly one shape"),
    "rates by hand": (traffic(hourly=[1.0] * 24, csv_rates=[1.0]), "remove it"),
    "a weekly day of 23 values": (traffic(weekly={"mon": [1.0] * 23}), "weekly"),
    "a schedule without hours": (environment(schedule="weekdays"), "not a schedule"),
    "a schedule in an unknown zone": (
        environment(schedule="weekdays 08:00-20:00 Atlantis/Capital"),
        "unknown time zone",
    ),
    "a schedule in another zone than the traffic": (
        environment(schedule="weekdays 08:00-20:00 America/New_York"),
        "give both in one time zone",
    ),
    "off-schedule replicas without a schedule": (
        environment(off_schedule_replicas=2),
        "needs a schedule",
    ),
    "negative off-schedule replicas": (
        environment(schedule="daily 08:00-20:00", off_schedule_replicas=-1),
        "off_schedule_replicas",
    ),
}


def assert_one_sentence(message: str, fragment: str) -> None:
    assert fragment in message, message
    assert "\n" not in message.strip() and "Traceback" not in message, message


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_traffic_value_is_refused_in_one_sentence(tmp_path: Path, case: str) -> None:
    data, fragment = HOSTILE[case]
    with pytest.raises(ProfileError) as refused:
        load_profile(write_profile(tmp_path, data))
    assert_one_sentence(str(refused.value), fragment)


CSV_HOSTILE: dict[str, tuple[bytes | str, str]] = {
    "binary": (b"\x00\x01\x02PK\x03\x04" * 40, "binary, not a CSV export"),
    "not UTF-8": (b"\xff\xfe\xfa timestamp", "not UTF-8"),
    "one column": ("timestamp\n2026-11-30T00:00:00Z\n", "has 1 column"),
    "a bad row": (
        "timestamp,requests_per_second\n2026-11-30T00:00:00Z,4\nyesterday,lots\n",
        "row 3",
    ),
    "a negative rate": ("timestamp,rps\n2026-11-30T00:00:00Z,-4\n", "a rate is a number of 0"),
    "a part of the week": (
        "timestamp,rps\n2026-11-30T00:00:00Z,4\n2026-11-30T01:00:00Z,4\n",
        "no sample for 166 hours",
    ),
    "only a header": ("timestamp,requests_per_second\n", "not a traffic export"),
}


@pytest.mark.parametrize("case", sorted(CSV_HOSTILE))
def test_a_csv_that_is_not_a_traffic_export_is_refused(tmp_path: Path, cli: Cli, case: str) -> None:
    content, fragment = CSV_HOSTILE[case]
    path = tmp_path / "traffic.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    data = profile_dict()
    data["workload"]["traffic"] = {"csv": "traffic.csv"}
    profile = write_profile(tmp_path, data)
    result = cli("recommend", profile)
    assert result.exit_code == 1, result.output
    assert_one_sentence(result.output, fragment)
    assert "field workload.traffic.csv" in result.output


def test_a_csv_outside_the_profiles_folder_is_refused(tmp_path: Path, cli: Cli) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (tmp_path / "traffic.csv").write_text("timestamp,rps\n")
    data = profile_dict()
    data["workload"]["traffic"] = {"csv": "../traffic.csv"}
    result = cli("recommend", write_profile(folder, data))
    assert result.exit_code == 1
    assert_one_sentence(result.output, "outside the profile's folder")
    data["workload"]["traffic"] = {"csv": "missing.csv"}
    result = cli("recommend", write_profile(folder, data))
    assert result.exit_code == 1
    assert_one_sentence(result.output, "no file missing.csv")


def test_a_csv_busier_than_the_peak_is_refused(tmp_path: Path) -> None:
    start = datetime(2026, 11, 30, tzinfo=UTC)
    text = csv_week(start, 7, lambda m: 60.0)
    with pytest.raises(ProfileError) as refused:
        load_profile(csv_profile(tmp_path, text, peak=40))
    assert_one_sentence(str(refused.value), "busiest hour averages 60 requests/s")


def test_the_lock_keeps_the_hourly_sizes_and_leaves_them_out_when_flat(tmp_path: Path) -> None:
    from planner.lock import LockedEnvironment, LockFile, read_lock, render_lock

    catalog = load_catalog()
    entries = {}
    for env, path in (("dev", EXAMPLE), ("prod", EXAMPLES / "chat-8b.yaml")):
        profile = load_profile(path).profile
        decision = decide(profile, recommend(profile, catalog, Filters(environment=env)))
        entries[env] = LockedEnvironment(
            deployment_id="ab12",
            decided_at="2026-12-03T10:00:00Z",
            profile_digest={},
            decision=decision,
        )
    text = render_lock(LockFile(profile="p", environments=entries))
    (tmp_path / "p.lock.yaml").write_text(text)
    read = read_lock(tmp_path / "p.lock.yaml")
    assert read.environments["dev"].decision == entries["dev"].decision
    assert read.environments["dev"].decision.hourly is not None
    assert "hourly" not in yaml.safe_load(text)["environments"]["prod"]["decision"]


def test_a_lock_taken_before_traffic_existed_stays_valid_and_a_schedule_change_is_named() -> None:
    import hashlib

    from planner.lock import LockedEnvironment, changed_sections, profile_digest

    flat = load_profile(EXAMPLES / "chat-8b.yaml").profile
    before = msgspec.to_builtins(flat.workload)
    del before["traffic"]  # the workload as a lock written before the field existed digested it
    text = json.dumps(before, sort_keys=True, separators=(",", ":"))
    assert (
        profile_digest(flat, "prod")["workload"] == hashlib.sha256(text.encode()).hexdigest()[:16]
    )
    assert "schedule" not in profile_digest(flat, "prod")

    profile = load_profile(EXAMPLE).profile
    decision = decide(profile, recommend(profile, load_catalog(), Filters(environment="dev")))
    entry = LockedEnvironment(
        deployment_id="ab12",
        decided_at="2026-12-03T10:00:00Z",
        profile_digest=profile_digest(profile, "dev"),
        decision=decision,
    )
    assert changed_sections(entry, profile, "dev") == []
    environments = dict(profile.deploy.environments)
    environments["dev"] = msgspec.structs.replace(
        environments["dev"], schedule="weekdays 07:00-20:00 Europe/Berlin"
    )
    moved = msgspec.structs.replace(
        profile, deploy=msgspec.structs.replace(profile.deploy, environments=environments)
    )
    assert changed_sections(entry, moved, "dev") == ["schedule"]
    environments["dev"] = msgspec.structs.replace(
        environments["dev"], schedule=None, scale_to_zero=False, allow_cold_start=False
    )
    dropped = msgspec.structs.replace(
        profile, deploy=msgspec.structs.replace(profile.deploy, environments=environments)
    )
    assert changed_sections(entry, dropped, "dev") == ["schedule"]
