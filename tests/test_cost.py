"""Pricing a plan: hand-computed costs for small plans, totals that add up, unpriced resources
listed as such, and diffs with added, removed and changed resources."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from planner.cost.diff import diff_costs
from planner.cost.plan_resources import (
    PlanInputError,
    from_configuration,
    from_plan,
    read_planned,
)
from planner.cost.pricing import RegionUnknown, price_plan
from planner.cost.report import CostReport, TargetLoad
from providers.service_prices import ServicePrice
from tests.cost_fixtures import (
    FLEET_ALL_ON_DEMAND,
    FLEET_GROUP,
    FLEET_TOTAL,
    FLEET_VALUES,
    SAGEMAKER_TOTAL,
    fleet_configuration,
    fleet_plan,
    priced_catalog,
    sagemaker_configuration,
    service_prices,
)

LOAD = TargetLoad(requests_per_s=10, output_tokens_per_request=200)


def price(planned, **options) -> CostReport:
    options.setdefault("service_prices", service_prices())
    return price_plan(planned, priced_catalog(), source="test", **options)


def by_address(report: CostReport) -> dict:
    return {r["address"]: r for r in report.to_dict()["resources"]}


@pytest.mark.parametrize("form", ["plan", "configuration"])
def test_fleet_costs_match_the_hand_computed_figures(form: str) -> None:
    planned = (
        from_plan(fleet_plan()) if form == "plan" else from_configuration(fleet_configuration())
    )
    report = price(planned, load=LOAD)
    data = report.to_dict()
    assert data["monthly_usd"] == FLEET_TOTAL
    group = by_address(report)["aws_autoscaling_group.group"]
    assert (group["monthly_usd_min"], group["monthly_usd"], group["monthly_usd_max"]) == tuple(
        FLEET_GROUP.values()
    )
    components = {c["name"]: c for c in group["components"]}
    on_demand = components["on-demand instances (g5.xlarge)"]
    assert on_demand["unit_price"] == 1.0
    assert on_demand["quantity"] == {"min": 730, "expected": 730, "max": 730}
    spot = components["spot instances (g5.xlarge) (mean over g5.xlarge, g6.xlarge)"]
    assert spot["unit_price"] == pytest.approx(0.455)
    assert spot["monthly_usd"] == {"min": 332.15, "expected": 664.3, "max": 1660.75}
    assert group["unit_price"] == 1.0 and group["unit"] == "hours"
    assert data["all_on_demand_monthly_usd"] == FLEET_ALL_ON_DEMAND
    assert data["spot_savings_monthly_usd"] == pytest.approx(FLEET_ALL_ON_DEMAND - 1480.70)
    # 10 req/s × 200 tokens × 3600 s × 730 h = 5,256 million tokens a month
    assert data["usd_per_million_output_tokens"] == pytest.approx(1480.70 / 5256, abs=1e-4)
    assert data["usd_per_thousand_requests"] == pytest.approx(1480.70 / 26280, abs=1e-6)


def test_alarm_is_billed_per_metric_and_fixed_services_per_hour() -> None:
    found = by_address(price(from_plan(fleet_plan())))
    assert found["aws_cloudwatch_metric_alarm.errors"]["monthly_usd"] == 0.2
    assert found["aws_lb.balancer"]["monthly_usd"] == 18.4
    assert found["aws_nat_gateway.nat"]["monthly_usd"] == 32.85
    assert found["aws_eip.nat"]["monthly_usd"] == 3.65
    assert found["aws_kms_key.key"]["monthly_usd"] == 1.0


def test_totals_equal_the_sum_of_the_items() -> None:
    for planned in (from_plan(fleet_plan()), from_configuration(sagemaker_configuration())):
        data = price(planned).to_dict()
        for bound, item in (
            ("min", "monthly_usd_min"),
            ("expected", "monthly_usd"),
            ("max", "monthly_usd_max"),
        ):
            items = sum(r[item] or 0 for r in data["resources"])
            assert data["monthly_usd"][bound] == pytest.approx(items, abs=1e-9)
        for resource in data["resources"]:
            parts = sum(c["monthly_usd"]["expected"] for c in resource["components"])
            assert (resource["monthly_usd"] or 0) == pytest.approx(parts, abs=1e-9)


def test_unknown_free_and_usage_based_resources_are_listed_never_zero() -> None:
    report = price(from_plan(fleet_plan()))
    found = by_address(report)
    endpoint = found["aws_vpc_endpoint.s3"]
    assert endpoint["priced"] is False and endpoint["status"] == "unpriced"
    assert endpoint["monthly_usd"] is None and endpoint["reason"] == "no price rule for this type"
    logs = found["aws_cloudwatch_log_group.logs"]
    assert logs["priced"] is False and logs["status"] == "usage-based"
    assert {c["unit_price"] for c in logs["components"]} == {0.5, 0.03}
    assert found["aws_iam_role.role"]["status"] == "free"
    assert found["aws_launch_template.template"]["reason"].startswith("billed through")
    assert report.to_dict()["unpriced"] == [
        "aws_cloudwatch_log_group.logs",
        "aws_vpc_endpoint.s3",
    ]
    assert "aws_instance.old" not in found  # deleted by the plan: not part of what will run


def test_a_resource_of_another_provider_is_unpriced_with_the_reason() -> None:
    plan = fleet_plan()
    plan["resource_changes"].append(
        {
            "address": "datadog_monitor.latency",
            "mode": "managed",
            "type": "datadog_monitor",
            "change": {"actions": ["create"], "after": {}},
        }
    )
    found = by_address(price(from_plan(plan)))
    assert found["datadog_monitor.latency"]["reason"] == "no price rules for the datadog provider"


def test_a_kubernetes_object_belongs_to_no_cloud() -> None:
    """hashicorp/kubernetes (the kubernetes kind's provider) decides no cloud: an object of a type
    with no rule is unpriced for the type, and a manifest is free (its nodes are priced)."""
    plan = fleet_plan()
    for rtype in ("kubernetes_namespace", "kubernetes_manifest"):
        plan["resource_changes"].append(
            {
                "address": f"{rtype}.serving",
                "mode": "managed",
                "type": rtype,
                "change": {"actions": ["create"], "after": {}},
            }
        )
    found = by_address(price(from_plan(plan)))
    assert found["kubernetes_namespace.serving"]["reason"] == "no price rule for this type"
    assert found["kubernetes_manifest.serving"]["status"] == "free"


def test_an_instance_type_missing_from_the_catalog_leaves_the_group_unpriced() -> None:
    values = copy.deepcopy(FLEET_VALUES)
    policy = values["aws_autoscaling_group.group"][1]["mixed_instances_policy"][0]
    policy["launch_template"][0]["override"] = [{"instance_type": "p9.huge"}]
    group = by_address(price(from_plan(fleet_plan(values))))["aws_autoscaling_group.group"]
    assert group["status"] == "unpriced"
    assert group["reason"] == "p9.huge has no fleet price for us-east-1 in the catalog"


def test_unknown_zones_price_over_every_listed_zone_and_say_so() -> None:
    values = copy.deepcopy(FLEET_VALUES)
    values["aws_autoscaling_group.group"][2].remove("aws_subnet.a")
    values["aws_autoscaling_group.group"][2].remove("aws_subnet.b")
    group = by_address(price(from_plan(fleet_plan(values))))["aws_autoscaling_group.group"]
    spot = group["components"][1]
    # g5 over its three zones (0.40 + 0.30 + 0.35) / 3 = 0.35; g6 (0.32 + 0.80) / 2 = 0.56
    assert spot["unit_price"] == pytest.approx((0.35 + 0.56) / 2)
    assert "zones not known from the plan" in spot["note"]


def test_a_group_without_a_mixed_policy_runs_on_demand() -> None:
    values = copy.deepcopy(FLEET_VALUES)
    del values["aws_autoscaling_group.group"][1]["mixed_instances_policy"]
    group = by_address(price(from_plan(fleet_plan(values))))["aws_autoscaling_group.group"]
    names = [c["name"] for c in group["components"]]
    assert names[0] == "on-demand instances (g5.xlarge)" and not any("spot" in n for n in names)
    assert group["components"][0]["quantity"]["max"] == 6 * 730


def test_sagemaker_variants_are_priced_over_their_autoscaling_range() -> None:
    report = price(from_configuration(sagemaker_configuration()))
    assert report.to_dict()["monthly_usd"] == SAGEMAKER_TOTAL
    endpoint = by_address(report)["aws_sagemaker_endpoint.endpoint"]
    primary, challenger = endpoint["components"][:2]
    assert primary["monthly_usd"] == {"min": 1095.0, "expected": 2190.0, "max": 4380.0}
    assert challenger["monthly_usd"] == {"min": 876.0, "expected": 876.0, "max": 1752.0}
    assert report.spot_savings_monthly_usd == 0
    assert by_address(report)["aws_sagemaker_endpoint_configuration.config"]["status"] == "free"


def test_a_region_missing_from_the_service_prices_uses_the_reference_region_and_says_so() -> None:
    configuration = fleet_configuration()
    configuration["provider"]["aws"][0]["region"] = "us-west-2"
    catalog_region = {"aws_lb.balancer"}
    report = price(from_configuration(configuration))
    found = by_address(report)
    for address in catalog_region:
        component = found[address]["components"][0]
        assert component["note"] == "us-east-1 price; no us-west-2 price in the catalog"
    # the GPUs have no us-west-2 offering in this catalog: the group is not priced at another
    # region's price
    assert found["aws_autoscaling_group.group"]["status"] == "unpriced"


def test_a_plan_without_a_region_needs_one() -> None:
    plan = fleet_plan()
    del plan["configuration"]["provider_config"]
    with pytest.raises(RegionUnknown, match="pass --region"):
        price(from_plan(plan))
    assert price(from_plan(plan), region="us-east-1").monthly_usd.expected == 1480.70


def test_budget_overrun_is_measured_against_the_expected_cost() -> None:
    report = price(from_plan(fleet_plan()), budget_monthly_usd=1000)
    assert report.over_budget_usd == pytest.approx(480.70)
    assert price(from_plan(fleet_plan()), budget_monthly_usd=5000).over_budget_usd == 0


def test_read_planned_tells_plans_from_configurations(tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(fleet_plan()))
    config_file = tmp_path / "cdk.tf.json"
    config_file.write_text(json.dumps(fleet_configuration()))
    assert len(read_planned(plan_file).resources) == len(FLEET_VALUES)
    assert len(read_planned(config_file).resources) == len(FLEET_VALUES)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("not json", "is not JSON"),
        ('{"variables": {}}', "neither a Terraform plan"),
        ("[1, 2]", "neither a Terraform plan"),
    ],
)
def test_read_planned_refuses_other_files_in_one_sentence(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(PlanInputError, match=message):
        read_planned(path)


def test_diff_reports_added_removed_and_changed_resources() -> None:
    base = price(from_plan(fleet_plan()))
    values = copy.deepcopy(FLEET_VALUES)
    values["aws_autoscaling_group.group"][1]["max_size"] = 8  # changes max only
    values["aws_autoscaling_group.group"][1]["desired_capacity"] = 4  # one more spot instance
    del values["aws_kms_key.key"]
    values["aws_kms_key.other"] = ("aws_kms_key", {}, [])
    head = price(from_plan(fleet_plan(values)))
    diff = diff_costs(base, head)
    changes = {r.address: r for r in diff.changed}
    assert set(changes) == {
        "aws_autoscaling_group.group",
        "aws_kms_key.key",
        "aws_kms_key.other",
    }
    assert changes["aws_kms_key.key"].change == "removed"
    assert changes["aws_kms_key.key"].delta_usd == -1.0
    assert changes["aws_kms_key.other"].change == "added"
    group = changes["aws_autoscaling_group.group"]
    # one more spot instance (0.455 × 730 = 332.15), volume (8) and monitoring (2.10)
    assert group.change == "changed" and group.delta_usd == pytest.approx(342.25)
    assert diff.delta_monthly_usd.expected == pytest.approx(342.25)
    assert diff.delta_monthly_usd.max == pytest.approx(2 * (332.15 + 8 + 2.1))
    data = diff.to_dict()
    assert data["delta_monthly_usd"]["expected"] == pytest.approx(342.25)
    assert sum(r["delta_usd"] for r in data["resources"] if r["priced"]) == pytest.approx(342.25)


def test_gp3_iops_and_throughput_above_the_baseline_are_billed() -> None:
    values = copy.deepcopy(FLEET_VALUES)
    ebs = values["aws_launch_template.template"][1]["block_device_mappings"][0]["ebs"][0]
    ebs.update(iops=4000, throughput=250)
    prices = service_prices()
    for item, unit, price_per_unit in (
        ("ebs.gp3.iops", "IOPS-month", 0.005),
        ("ebs.gp3.throughput", "MiBps-month", 0.04),
    ):
        prices.rows[(item, "us-east-1")] = ServicePrice(
            item, unit, "us-east-1", price_per_unit, "test", "2026-11-01"
        )
    group = by_address(price(from_plan(fleet_plan(values)), service_prices=prices))[
        "aws_autoscaling_group.group"
    ]
    extras = {c["name"]: c["monthly_usd"]["expected"] for c in group["components"][3:5]}
    # 3 volumes × 1000 IOPS × 0.005 = 15.00; 3 × 125 MiB/s × 0.04 = 15.00
    assert extras == {
        "provisioned IOPS above 3000 per volume": 15.0,
        "throughput MiB/s above 125 per volume": 15.0,
    }


def test_over_budget_is_one_sentence_with_the_amounts() -> None:
    from orchestrator.costing import OverBudget, check_budget

    report = price(from_plan(fleet_plan()), budget_monthly_usd=1000)
    with pytest.raises(OverBudget) as raised:
        check_budget(report, saving=True)
    assert str(raised.value) == (
        "the plan's expected cost of $1,480.70/month exceeds the budget of $1,000.00 by "
        "$480.70 (48%). The plan was not saved. Raise the budget, change the profile, or pass "
        "--allow-over-budget."
    )
    assert raised.value.exit_code == 4
    check_budget(price(from_plan(fleet_plan()), budget_monthly_usd=2000), saving=True)
    check_budget(price(from_plan(fleet_plan())), saving=False)  # no budget: nothing to check


def test_old_prices_are_named_in_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    import msgspec

    from providers.catalog import Catalog

    monkeypatch.setenv("INFRA_CATALOG_MAX_AGE_DAYS", "30")
    old = Catalog(
        tuple(
            msgspec.structs.replace(o, retrieved="2020-01-01") for o in priced_catalog().offerings
        )
    )
    report = price_plan(
        from_plan(fleet_plan()), old, source="test", service_prices=service_prices()
    )
    (note,) = report.to_dict()["notes"]
    assert note.startswith("prices older than 30 days: aws 2020-01-01")
    monkeypatch.setenv("INFRA_CATALOG_MAX_AGE_DAYS", "off")
    assert price(from_plan(fleet_plan())).notes == ()


def test_spot_components_carry_the_date_and_age_of_their_spot_prices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The spot component says how old its spot prices are (the oldest of the zones and types
    it averages), the report's summary too; on-demand components carry no date."""
    import datetime

    from cli.cost_render import summary_lines
    from providers import price_freshness
    from tests.conftest import catalog_of, offering, zone

    monkeypatch.setattr(price_freshness, "today", lambda: datetime.date(2026, 12, 3))
    catalog = catalog_of(
        offering(
            "g5.xlarge",
            "A10G",
            1,
            24,
            [zone("use1-az1", 1.0, 0.40, "2026-11-30"), zone("use1-az2", 1.0, 0.30, "2026-12-01")],
        ),
        offering(
            "g6.xlarge", "L4", 1, 24, [zone("use1-az1", 0.8, 0.32, "2026-11-20"), zone("x", 0.8)]
        ),
    )
    report = price_plan(
        from_plan(fleet_plan()), catalog, source="test", service_prices=service_prices()
    )
    group = by_address(report)["aws_autoscaling_group.group"]
    on_demand, spot = group["components"][:2]
    assert (on_demand["price_retrieved"], on_demand["price_age_days"]) == (None, None)
    assert (spot["price_retrieved"], spot["price_age_days"]) == ("2026-11-20", 13)
    data = report.to_dict()
    assert (data["spot_prices_retrieved"], data["spot_price_age_days"]) == ("2026-11-20", 13)
    assert "Spot prices retrieved 2026-11-20 (13 days old)" in summary_lines(report)


def test_an_all_on_demand_report_names_no_spot_date() -> None:
    values = copy.deepcopy(FLEET_VALUES)
    del values["aws_autoscaling_group.group"][1]["mixed_instances_policy"]
    report = price(from_plan(fleet_plan(values)))
    assert report.to_dict()["spot_prices_retrieved"] is None
