"""`infra cost --usage-file`: an Infracost-style usage file prices the traffic-driven charges it
gives quantities for (hand-computed below), names what it gave that nothing read, and refuses a
malformed file in one sentence."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from planner.cost.plan_resources import from_plan
from planner.cost.pricing import price_plan
from planner.cost.report import CostReport
from planner.cost.usage_file import UsageEstimates, UsageFileError, load_usage_file
from tests.conftest import EXAMPLES, Cli
from tests.cost_fixtures import (
    FLEET_TOTAL,
    FLEET_VALUES,
    fleet_plan,
    priced_catalog,
    service_prices,
)


def usage(tmp_path: Path, text: str) -> UsageEstimates:
    path = tmp_path / "infracost-usage.yml"
    path.write_text(text)
    return load_usage_file(path)


def priced(estimates: UsageEstimates | None) -> CostReport:
    return price_plan(
        from_plan(fleet_plan()),
        priced_catalog(),
        source="test",
        service_prices=service_prices(),
        usage=estimates,
    )


def components(report: CostReport, address: str) -> dict[str, dict]:
    resource = next(r for r in report.to_dict()["resources"] if r["address"] == address)
    return {c["name"]: c for c in resource["components"]}


def test_the_usage_files_quantities_are_priced_and_counted(tmp_path: Path) -> None:
    estimates = usage(
        tmp_path,
        """
version: 0.1
resource_type_default_usage:
  aws_nat_gateway:
    monthly_data_processed_gb: 120
resource_usage:
  aws_lb.balancer:
    new_connections: 50       # 50 / 25 = 2 LCU
    processed_bytes_gb: 0.5   # 0.5 / 1 = 0.5 LCU: the larger dimension bills
  aws_kms_key.key:
    monthly_requests: 2000000
""",
    )
    report = priced(estimates)
    lcu = components(report, "aws_lb.balancer")["capacity units (by traffic)"]
    # 2 LCU × 730 hours × $0.008
    assert (lcu["quantity"]["expected"], lcu["monthly_usd"]["expected"]) == (1460, 11.68)
    assert lcu["from_usage_file"] is True and lcu["usage_based"] is False
    assert "new_connections 50, processed_bytes_gb 0.5 → 2 units an hour" in lcu["note"]
    nat = components(report, "aws_nat_gateway.nat")["data processed"]
    assert nat["monthly_usd"]["expected"] == 5.40  # 120 GB × $0.045
    kms = components(report, "aws_kms_key.key")["requests"]
    assert kms["monthly_usd"]["expected"] == 6.00  # 200 × 10k requests × $0.03
    assert report.to_dict()["monthly_usd"]["expected"] == pytest.approx(
        FLEET_TOTAL["expected"] + 11.68 + 5.40 + 6.00
    )


def test_without_a_usage_file_the_charges_are_listed_by_usage(tmp_path: Path) -> None:
    report = priced(None)
    lcu = components(report, "aws_lb.balancer")["capacity units (by traffic)"]
    assert lcu["usage_based"] is True and lcu["monthly_usd"]["expected"] == 0
    assert report.to_dict()["monthly_usd"] == FLEET_TOTAL


def test_a_resources_own_entry_wins_over_its_types_default_and_indexes_match(
    tmp_path: Path,
) -> None:
    estimates = usage(
        tmp_path,
        """
version: 0.1
resource_type_default_usage:
  aws_cloudwatch_log_group: {monthly_data_ingested_gb: 100, storage_gb: 10}
resource_usage:
  aws_cloudwatch_log_group.logs[*]: {monthly_data_ingested_gb: 2}
""",
    )
    report = priced(estimates)
    logs = next(r for r in report.resources if r.address == "aws_cloudwatch_log_group.logs")
    assert logs.status == "priced"  # every charge has a quantity now
    parts = {c.name: c.monthly_usd.expected for c in logs.components}
    assert parts == {"log ingestion": 1.00, "log storage": 0.30}  # 2 × $0.50, 10 × $0.03


def test_what_nothing_read_is_named_in_the_notes(tmp_path: Path) -> None:
    estimates = usage(
        tmp_path,
        """
version: 0.1
resource_type_default_usage:
  aws_lambda_function: {monthly_requests: 5}
resource_usage:
  aws_lb.balancer: {new_conections: 3, new_connections: 25}
  aws_lb.other: {new_connections: 1}
""",
    )
    notes = priced(estimates).notes
    assert "usage file: aws_lambda_function is not in the plan; its usage was not used" in notes
    assert "usage file: aws_lb.other is not in the plan; its usage was not used" in notes
    assert (
        "usage file: aws_lb.balancer.new_conections is not a usage of aws_lb (it reads "
        "active_connections, new_connections, processed_bytes_gb, rule_evaluations)"
    ) in notes
    assert not any("aws_lb.balancer.new_connections" in note for note in notes)


def test_a_network_load_balancer_uses_its_own_unit_sizes(tmp_path: Path) -> None:
    values = copy.deepcopy(FLEET_VALUES)
    values["aws_lb.balancer"][1]["load_balancer_type"] = "network"
    plan = fleet_plan(values)
    estimates = usage(
        tmp_path, "version: 0.1\nresource_usage:\n  aws_lb.balancer: {new_connections: 1600}\n"
    )
    report = price_plan(
        from_plan(plan),
        priced_catalog(),
        source="test",
        usage=estimates,
    )
    nlcu = components(report, "aws_lb.balancer")["capacity units (by traffic)"]
    # 1600 new flows/s ÷ 800 per NLCU, 730 hours, the shipped $0.006/NLCU-hour in us-east-1
    assert (nlcu["quantity"]["expected"], nlcu["monthly_usd"]["expected"]) == (1460, 8.76)


def test_a_read_usage_that_is_not_a_number_is_one_sentence_with_its_line(tmp_path: Path) -> None:
    estimates = usage(
        tmp_path,
        "version: 0.1\nresource_usage:\n  aws_nat_gateway.nat:\n"
        "    monthly_data_processed_gb: lots\n",
    )
    with pytest.raises(
        UsageFileError,
        match=r"line 4: aws_nat_gateway.nat.monthly_data_processed_gb is 'lots'; a usage is a "
        "number",
    ):
        priced(estimates)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- 1\n- 2\n", "is not a usage file: expected a mapping"),
        ("version: 0.2\n", "version 0.2 is not a usage file version"),
        ("resource_usage: {}\n", "version None is not a usage file version"),
        ("version: 0.1\nresources: {}\n", "line 2: unknown section 'resources'"),
        ("version: 0.1\nresource_usage: [1]\n", "line 2: resource_usage is not a mapping"),
        ("version: 0.1\nresource_usage:\n  aws_lb.x: 3\n", "line 3: aws_lb.x is not a mapping"),
        (
            "version: 0.1\nresource_usage:\n  aws_lb.x:\n    new_connections: -1\n",
            "line 4: aws_lb.x.new_connections is -1; a usage is a finite number from 0 to 1e+15",
        ),
        (
            "version: 0.1\nresource_usage:\n  aws_lb.x:\n    new_connections: .nan\n",
            "aws_lb.x.new_connections is nan",
        ),
        (
            "version: 0.1\nresource_type_default_usage:\n  aws_lb:\n    new_connections: .inf\n",
            "aws_lb.new_connections is inf",
        ),
        (
            "version: 0.1\nresource_usage:\n  aws_s3_bucket.b:\n    standard:\n"
            "      storage_gb: 1.0e+16\n",
            "line 5: aws_s3_bucket.b.standard.storage_gb is 1e+16",
        ),
        (
            "version: 0.1\nresource_usage:\n  aws_lb.x:\n    new_connections: [1, 2]\n",
            "line 4: aws_lb.x.new_connections is a list",
        ),
        ("version: 0.1\nresource_usage: {a: 1, a: 2}\n", "the key 'a' is given twice"),
        ("version: [0.1\n", "YAML syntax error"),
    ],
)
def test_a_malformed_usage_file_is_one_sentence(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageFileError, match=message.replace("[", r"\[").replace("+", r"\+")):
        usage(tmp_path, text)


def _plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(fleet_plan()))
    return path


def test_cost_and_cost_diff_take_the_usage_file(cli: Cli, tmp_path: Path) -> None:
    usage_path = tmp_path / "usage.yml"
    usage_path.write_text(
        "version: 0.1\nresource_type_default_usage:\n"
        "  aws_nat_gateway: {monthly_data_processed_gb: 1000}\n"
    )
    plan = _plan(tmp_path)
    result, data = cli.json("cost", "--plan", plan, "--usage-file", usage_path)
    assert result.exit_code == 0, result.output
    assert data["monthly_usd"]["expected"] > 45  # the NAT's 1,000 GB at the shipped price counted
    result, diff = cli.json("cost", "diff", plan, plan, "--usage-file", usage_path)
    assert result.exit_code == 0, result.output
    assert diff["delta_monthly_usd"]["expected"] == 0
    assert diff["head"]["monthly_usd"] == data["monthly_usd"]


@pytest.mark.parametrize("command", [("cost", "--plan", "PLAN"), ("cost", "diff", "PLAN", "PLAN")])
def test_a_bad_usage_file_stops_cost_with_one_sentence(
    cli: Cli, tmp_path: Path, command: tuple[str, ...]
) -> None:
    plan = _plan(tmp_path)
    args = [str(plan) if a == "PLAN" else a for a in command]
    missing = cli(*args, "--usage-file", tmp_path / "nope.yml")
    assert missing.exit_code == 1 and "nope.yml: no such file" in missing.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("version: 9\n")
    result = cli(*args, "--usage-file", bad)
    assert result.exit_code == 1
    assert "version 9 is not a usage file version" in result.stderr
    assert "Traceback" not in result.output


def test_the_example_usage_file_prices_its_profile_with_nothing_left_unread(cli: Cli) -> None:
    result, data = cli.json(
        "cost",
        EXAMPLES / "chat-8b.yaml",
        "--env",
        "prod",
        "--cloud",
        "aws",
        "--usage-file",
        EXAMPLES / "usage" / "chat-8b-usage.yml",
    )
    assert result.exit_code == 0, result.output
    assert not [note for note in data["notes"] if note.startswith("usage file:")]
    from_usage = {
        (r["type"], c["name"]): c["quantity"]["expected"]
        for r in data["resources"]
        for c in r["components"]
        if c["from_usage_file"]
    }
    # the ALB's largest dimension: 600 active connections a minute ÷ 3,000 = 0.2 LCU, 730 hours
    assert from_usage[("aws_lb", "capacity units (by traffic)")] == pytest.approx(146)
    assert from_usage[("aws_nat_gateway", "data processed")] == 60
