"""The cost report's formats: every one carries the same numbers as the JSON."""

from __future__ import annotations

import copy
import csv
import io
import json
from decimal import Decimal

import pytest

from cli.cost_render import diff_markdown, infracost_json, render_diff, render_report
from planner.cost.diff import diff_costs
from planner.cost.plan_resources import from_plan
from planner.cost.pricing import price_plan
from planner.cost.report import CostReport, TargetLoad
from tests.cost_fixtures import (
    FLEET_TOTAL,
    FLEET_VALUES,
    fleet_plan,
    priced_catalog,
    service_prices,
)

INFRACOST_ROOT = {
    "version",
    "currency",
    "projects",
    "totalHourlyCost",
    "totalMonthlyCost",
    "pastTotalHourlyCost",
    "pastTotalMonthlyCost",
    "diffTotalHourlyCost",
    "diffTotalMonthlyCost",
    "timeGenerated",
    "summary",
}
INFRACOST_PROJECT = {"name", "metadata", "pastBreakdown", "breakdown", "diff", "summary"}
INFRACOST_BREAKDOWN = {"resources", "totalHourlyCost", "totalMonthlyCost"}
INFRACOST_RESOURCE = {
    "name",
    "tags",
    "metadata",
    "hourlyCost",
    "monthlyCost",
    "costComponents",
    "subresources",
}
INFRACOST_COMPONENT = {
    "name",
    "unit",
    "hourlyQuantity",
    "monthlyQuantity",
    "price",
    "hourlyCost",
    "monthlyCost",
}


def fleet_report(values=None, budget: float | None = None) -> CostReport:
    return price_plan(
        from_plan(fleet_plan(values)),
        priced_catalog(),
        source="plan.json",
        load=TargetLoad(10, 200),
        budget_monthly_usd=budget,
        service_prices=service_prices(),
    )


def test_json_follows_the_documented_schema() -> None:
    data = json.loads(render_report(fleet_report(budget=1000), "json"))
    for key in (
        "currency",
        "monthly_usd",
        "resources",
        "usd_per_million_output_tokens",
        "usd_per_thousand_requests",
        "spot_savings_monthly_usd",
        "catalog_date",
        "budget_monthly_usd",
        "over_budget_usd",
        "unpriced",
    ):
        assert key in data
    assert data["currency"] == "USD" and data["schema"] == "infra-cost/1"
    assert data["monthly_usd"] == FLEET_TOTAL
    for resource in data["resources"]:
        assert {"address", "type", "monthly_usd", "unit_price", "quantity", "priced"} <= set(
            resource
        )
    assert data["over_budget_usd"] == pytest.approx(480.70)


def test_csv_rows_add_up_to_the_total() -> None:
    rows = list(csv.DictReader(io.StringIO(render_report(fleet_report(), "csv"))))
    expected = sum(float(r["monthly_usd_expected"] or 0) for r in rows)
    maximum = sum(float(r["monthly_usd_max"] or 0) for r in rows)
    assert expected == pytest.approx(FLEET_TOTAL["expected"])
    assert maximum == pytest.approx(FLEET_TOTAL["max"])
    unpriced = [r for r in rows if r["status"] == "unpriced"]
    assert [r["address"] for r in unpriced] == ["aws_vpc_endpoint.s3"]
    assert unpriced[0]["note"] == "no price rule for this type"


def test_markdown_states_the_total_the_savings_and_what_is_not_priced() -> None:
    text = render_report(fleet_report(), "markdown")
    assert "Monthly: $1,480.70 expected (min $1,138.45, max $2,507.45" in text
    assert "Spot saves $795.70 a month" in text
    assert "Not priced: aws_vpc_endpoint.s3 (no price rule for this type)" in text
    assert "| `aws_autoscaling_group.group` | on-demand instances (g5.xlarge) | $1/hour |" in text


def _check_infracost_shape(document: dict) -> None:
    assert set(document) == INFRACOST_ROOT
    assert document["version"] == "0.2"
    for project in document["projects"]:
        assert set(project) == INFRACOST_PROJECT
        assert {"path", "type"} <= set(project["metadata"])
        for name in ("pastBreakdown", "breakdown", "diff"):
            breakdown = project[name]
            assert set(breakdown) == INFRACOST_BREAKDOWN
            for resource in breakdown["resources"]:
                assert set(resource) <= INFRACOST_RESOURCE
                assert {"name", "metadata", "hourlyCost", "monthlyCost"} <= set(resource)
                for component in resource.get("costComponents", []):
                    assert set(component) == INFRACOST_COMPONENT
                    for key in INFRACOST_COMPONENT - {"name", "unit"}:
                        assert component[key] is None or isinstance(component[key], str)


def test_infracost_json_follows_infracost_schema_0_2() -> None:
    document = json.loads(infracost_json(fleet_report()))
    _check_infracost_shape(document)
    assert document["totalMonthlyCost"] == "1480.7"
    breakdown = document["projects"][0]["breakdown"]
    resources = breakdown["resources"]
    assert sum(Decimal(r["monthlyCost"]) for r in resources) == Decimal("1480.7")
    group = next(r for r in resources if r["name"] == "aws_autoscaling_group.group")
    on_demand = group["costComponents"][0]
    assert on_demand == {
        "name": "on-demand instances (g5.xlarge)",
        "unit": "hours",
        "hourlyQuantity": "1",
        "monthlyQuantity": "730",
        "price": "1",
        "hourlyCost": "1",
        "monthlyCost": "730",
    }
    logs = next(r for r in resources if r["name"] == "aws_cloudwatch_log_group.logs")
    assert logs["costComponents"][0]["monthlyCost"] is None  # usage-based, as Infracost writes it
    summary = document["summary"]
    assert summary["totalUnsupportedResources"] == 1
    assert summary["unsupportedResourceCounts"] == {"aws_vpc_endpoint": 1}
    assert summary["noPriceResourceCounts"]["aws_iam_role"] == 1
    assert document["pastTotalMonthlyCost"] == "0" and document["diffTotalMonthlyCost"] == "1480.7"


def test_infracost_json_of_a_diff_has_the_base_as_past_breakdown() -> None:
    values = copy.deepcopy(FLEET_VALUES)
    del values["aws_kms_key.key"]
    document = json.loads(
        render_diff(diff_costs(fleet_report(), fleet_report(values)), "infracost-json")
    )
    _check_infracost_shape(document)
    assert document["pastTotalMonthlyCost"] == "1480.7"
    assert document["totalMonthlyCost"] == "1479.7"
    assert document["diffTotalMonthlyCost"] == "-1"
    removed = document["projects"][0]["diff"]["resources"]
    assert [(r["name"], r["monthlyCost"]) for r in removed] == [("aws_kms_key.key", "-1")]


def test_html_page_has_both_charts_and_no_scripts() -> None:
    alternatives = [
        {
            "label": "aws/fleet 3× g5.xlarge",
            "monthly_usd": 1400.0,
            "latency_ms": 900.0,
            "chosen": True,
        },
        {
            "label": "aws/fleet 2× g6.xlarge",
            "monthly_usd": 1600.0,
            "latency_ms": 700.0,
            "chosen": False,
        },
    ]
    page = render_report(fleet_report(), "html", alternatives)
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert 'aria-label="Monthly cost by component"' in page
    assert page.count("<circle") == 2
    assert "compute (on-demand)" in page and "$1,480.70 a month expected" in page


def test_html_without_alternatives_says_where_they_come_from() -> None:
    page = render_report(fleet_report(), "html")
    assert "<circle" not in page
    assert "infra cost PROFILE --format html" in page


def test_diff_markdown_is_fit_for_a_pull_request_comment() -> None:
    values = copy.deepcopy(FLEET_VALUES)
    values["aws_autoscaling_group.group"][1]["desired_capacity"] = 4
    text = diff_markdown(diff_costs(fleet_report(), fleet_report(values)))
    assert text.startswith("### Monthly cost change")
    assert "**+$342.25/month** (+23.1%): $1,480.70 → $1,822.95 expected" in text
    assert "| changed | `aws_autoscaling_group.group` | $1,424.60 | $1,766.85 | +$342.25 |" in text
    assert "Not priced: `aws_cloudwatch_log_group.logs`, `aws_vpc_endpoint.s3`" in text


def test_diff_of_identical_plans_says_nothing_changes() -> None:
    text = diff_markdown(diff_costs(fleet_report(), fleet_report()))
    assert "**+$0.00/month**" in text and "No resource changes cost." in text
