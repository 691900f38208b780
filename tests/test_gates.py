"""What `infra plan` and `infra deploy` print about the gates they passed."""

from __future__ import annotations

from pathlib import Path

import msgspec

from cli.gates import GateResults
from orchestrator.policy import PolicyReport
from planner.cost.plan_resources import from_plan
from planner.cost.pricing import price_plan
from tests.cost_fixtures import fleet_plan, priced_catalog, service_prices


def test_the_lines_name_the_check_the_cost_and_the_budget() -> None:
    cost = price_plan(
        from_plan(fleet_plan()),
        priced_catalog(),
        source="plan",
        budget_monthly_usd=1000,
        service_prices=service_prices(),
    )
    policy = PolicyReport(
        config=Path("cdk.tf.json"), threshold="medium", checkov_version="3", passed=60, findings=()
    )
    lines = GateResults(cost=cost, policy=policy).lines()
    assert lines == (
        "\nCheck: 60 passed, 0 suppressed, none at medium or above."
        "\nCost: $1,480.70/month expected (max $2,507.45); budget $1,000.00, over by $480.70 "
        "(allowed); 2 resources not priced (`infra cost` lists them)."
    )
    data = GateResults(cost=cost).to_dict()
    assert data["check"] is None and data["cost"]["over_budget_usd"] == 480.7


def test_nothing_to_say_when_no_gate_ran() -> None:
    assert GateResults().lines() == ""
    assert GateResults().to_dict() == {"cost": None, "check": None}


def test_one_unpriced_resource_is_said_in_the_singular() -> None:
    cost = price_plan(from_plan(fleet_plan()), priced_catalog(), source="plan")
    first, *others = cost.unpriced
    one = msgspec.structs.replace(
        cost, resources=tuple(r for r in cost.resources if r not in others)
    )
    assert one.unpriced == [first]
    assert "; 1 resource not priced (`infra cost` lists them)." in GateResults(cost=one).lines()
