"""Commitments (`pricing.commitments`): the shipped rates, the count worth committing and what it
saves (checked against hand computations to the cent), held commitments as paid, the profile's
refusals, and what `recommend`, the lock and `infra cost` show."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.errors import CatalogError
from planner.commitment import best_count, plan_commitment
from planner.cost.commitment import commitment_resource, split
from planner.traffic import HOURS_PER_WEEK
from providers import targets
from providers.commitments import commitment_rate, read_commitments, target_commitments
from tests.conftest import EXAMPLES, Cli

EXAMPLE = EXAMPLES / "chat-8b-committed.yaml"
SHAPE = [7] * 45 + [3] * 123
"""45 busy hours a week with 7 on-demand instances, 123 quiet ones with 3 (the example's)."""


def _plan(**overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "instance_type": "g6e.xlarge",
        "kind": "reserved",
        "term": "1y",
        "on_demand": SHAPE,
        "ondemand_usd": 1.861,
        "rate_usd": 1.17243,
        "rate_source": "test",
        "held": 0,
        "held_rate_usd": 1.17243,
        "may_buy": True,
    }
    return plan_commitment(**{**arguments, **overrides})


# --- the count worth committing, by hand -------------------------------------------------------


def test_the_always_on_baseline_is_committed_and_the_busy_hours_are_not() -> None:
    # 1.861 x 168 = 312.65 > 1.17243 x 168 = 196.97 for each of the 3 always-on instances;
    # the 4th runs 45 hours: 1.861 x 45 = 83.75 < 196.97, so it stays on-demand.
    plan = _plan()
    assert plan.buy_instances == 3
    # 3 x 1.17243 x 730 = 2,567.62
    assert plan.committed_monthly_usd == 2567.62
    # 45 hours x 4 on-demand x 1.861 x 730/168 = 1,455.57
    assert plan.on_demand_monthly_usd == 1455.57
    # (45 x 7 + 123 x 3) x 1.861 x 730/168 = 684 x 1.861 x 4.345238 = 5,531.16
    assert plan.uncommitted_monthly_usd == 5531.16
    # 5,531.16 - 1,455.57 - 2,567.62 = 1,507.97
    assert plan.saving_monthly_usd == 1507.97
    assert plan.delta_monthly_usd == -1507.97


def test_an_instance_that_runs_long_enough_is_committed_beyond_the_baseline() -> None:
    # the 2nd instance runs 120 of 168 hours: 120 x 1.0 = 120 > 168 x 0.6 = 100.8
    assert best_count([2] * 120 + [1] * 48, 1.0, 0.6) == 2
    # ... and at 60 hours it does not: 60 < 100.8
    assert best_count([2] * 60 + [1] * 108, 1.0, 0.6) == 1


def test_a_rate_at_or_above_on_demand_commits_nothing() -> None:
    assert best_count([5] * HOURS_PER_WEEK, 1.0, 1.0) == 0
    assert _plan(rate_usd=2.0).buy_instances == 0


def test_held_commitments_are_paid_and_priced_at_zero() -> None:
    plan = _plan(held=1)
    # held 1 covers one instance every hour: 168 x 1.861 x 730/168 = 1,358.53
    assert plan.held_saving_monthly_usd == 1358.53
    # its own charge is reported, sunk: 1.17243 x 730 = 855.87
    assert plan.held_monthly_usd == 855.87
    # 2 more are worth buying (the baseline of 3, less the held one)
    assert plan.buy_instances == 2
    assert plan.committed_monthly_usd == 1711.75
    # bought 2 save against buying none: (516 - 180) x 1.861 x 730/168 - 1,711.75 = 1,005.31
    assert plan.saving_monthly_usd == 1005.31
    # the month's on-demand part: 5,531.16 -> 1,711.75 + 1,455.57; the held charge is not in it
    assert plan.delta_monthly_usd == round(1711.75 + 1455.57 - 5531.16, 2)


def test_may_buy_false_only_uses_what_is_held() -> None:
    plan = _plan(held=2, may_buy=False)
    assert plan.buy_instances == 0
    assert plan.committed_monthly_usd == 0
    # beyond the 2 held: 45 h x 5 + 123 h x 1 = 348 instance-hours x 1.861 x 730/168
    assert plan.on_demand_monthly_usd == round(348 * 1.861 * 730 / 168, 2)


def test_held_instances_without_a_sourced_rate_still_cover_their_hours() -> None:
    plan = _plan(held=1, rate_usd=None, held_rate_usd=None)
    assert plan.buy_instances == 0
    assert plan.held_monthly_usd is None
    assert plan.held_saving_monthly_usd == 1358.53


def test_the_cost_line_splits_the_month_by_how_it_is_bought() -> None:
    plan = _plan(held=1)
    line = commitment_resource(plan, SHAPE, 730)
    assert line.address == "commitment.reserved"
    bought, credit = line.components
    assert bought.monthly_usd.expected == 1711.75
    # 3 covered every hour at 1.861: 3 x 730 x 1.861 = 4,075.59, as a credit
    assert credit.monthly_usd.expected == -4075.59
    parts = split((line,))
    assert parts["committed"].expected == 1711.75
    assert parts["on_demand"].expected == -4075.59
    assert parts["spot"].expected == 0


# --- the shipped rates -------------------------------------------------------------------------


def test_every_shipped_rate_is_sourced_dated_and_of_a_catalog_instance() -> None:
    checked = 0
    for cloud in targets.clouds():
        for target in cloud.targets:
            if target.commitments_file is None:
                continue
            path = cloud.data_dir / target.commitments_file
            catalog = {
                (row["instance_type"], row["region"])
                for row in csv.DictReader((cloud.data_dir / target.catalog_file).open())
            }
            for (instance_type, region, _, _), rate in read_commitments(path).items():
                assert rate.source and rate.retrieved, (instance_type, region)
                assert (instance_type, region) in catalog, (instance_type, region)
                if rate.ondemand_usd_per_hour:
                    assert rate.usd_per_hour < rate.ondemand_usd_per_hour
                assert rate.usd_per_hour > 0
                checked += 1
    assert checked > 900 + 300


def test_the_shipped_rate_is_the_source_s() -> None:
    # instances.vantage.sh of 2025-11-30: g6.xlarge us-east-1, linux, yrTerm1Standard.noUpfront
    rate = commitment_rate("aws", "fleet", "g6.xlarge", "us-east-1", "reserved", "1y")
    assert rate is not None and rate.usd_per_hour == 0.52392
    assert commitment_rate("aws", "fleet", "p5.48xlarge", "us-east-1", "reserved", "1y") is None
    assert target_commitments("aws", "sagemaker") == {}
    assert target_commitments("gcp", "vertex") == {}


def test_the_shipped_gcp_rate_is_the_source_s() -> None:
    # Cyclenerd pricing.yml of 2026-07-30: g2-standard-4 us-central1, month_1y 325.07215214 and
    # month_3y 232.19438719 over 730 hours; on demand 0.706832255 (gce.csv: 0.70683)
    one = commitment_rate("gcp", "fleet", "g2-standard-4", "us-central1", "cud", "1y")
    three = commitment_rate("gcp", "kubernetes", "g2-standard-4", "us-central1", "cud", "3y")
    assert one is not None and one.usd_per_hour == 0.4453
    assert three is not None and three.usd_per_hour == 0.31807
    assert one.ondemand_usd_per_hour == three.ondemand_usd_per_hour == 0.70683
    # a GCP commitment is a cud: no other kind matches its rows, and no cud matches AWS's
    assert commitment_rate("gcp", "fleet", "g2-standard-4", "us-central1", "reserved", "1y") is None
    assert commitment_rate("aws", "fleet", "g6.xlarge", "us-east-1", "cud", "1y") is None


def test_every_gcp_rate_is_below_the_catalog_s_on_demand_price_of_its_machine() -> None:
    cloud = targets.cloud("gcp")
    ondemand = {
        (row["instance_type"], row["region"]): float(row["ondemand_usd_per_hour"])
        for row in csv.DictReader((cloud.data_dir / "gce.csv").open())
        if row["ondemand_usd_per_hour"]
    }
    rates = target_commitments("gcp", "fleet")
    assert len(rates) > 300
    for (instance_type, region, kind, _), rate in rates.items():
        assert kind == "cud"
        assert rate.ondemand_usd_per_hour == ondemand[instance_type, region]
        assert 0 < rate.usd_per_hour < rate.ondemand_usd_per_hour


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("g6.xlarge,us-east-1,reserved,1y,no_upfront,abc,,s,2025-11-30", "is not a number"),
        ("g6.xlarge,us-east-1,reserved,1y,no_upfront,-1,,s,2025-11-30", "is not a price"),
        ("g6.xlarge,us-east-1,lease,1y,no_upfront,0.5,,s,2025-11-30", "commitment 'lease'"),
        ("g6.xlarge,us-east-1,reserved,5y,no_upfront,0.5,,s,2025-11-30", "term '5y'"),
        ("g6.xlarge,us-east-1,reserved,1y,all_upfront,0.5,,s,2025-11-30", "payment"),
        ("g6.xlarge,us-east-1,reserved,1y,no_upfront,0.5,,,2025-11-30", "are all required"),
        ("g6.xlarge,us-east-1,reserved,1y,no_upfront,0.5,,s", "expected 9 columns"),
    ],
)
def test_a_malformed_rate_file_is_one_sentence(tmp_path: Path, row: str, words: str) -> None:
    path = tmp_path / "rates.csv"
    header = "instance_type,region,commitment,term,payment,usd_per_hour,ondemand_usd_per_hour"
    path.write_text(f"{header},source,retrieved\n{row}\n")
    with pytest.raises(CatalogError, match=words) as error:
        read_commitments(path)
    assert "\n" not in str(error.value)


def test_a_second_rate_for_one_instance_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    row = "g6.xlarge,us-east-1,reserved,1y,no_upfront,0.5,,s,2025-11-30"
    header = "instance_type,region,commitment,term,payment,usd_per_hour,ondemand_usd_per_hour"
    path.write_text(f"{header},source,retrieved\n{row}\n{row}\n")
    with pytest.raises(CatalogError, match="a second reserved 1y rate"):
        read_commitments(path)


# --- the profile -------------------------------------------------------------------------------


def _example(**commitments: Any) -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["pricing"]["commitments"].update(copy.deepcopy(commitments))
    return data


@pytest.mark.parametrize(
    ("commitments", "words"),
    [
        ({"kind": "lease"}, "pricing.commitments.kind"),
        ({"term": "2y"}, "pricing.commitments.term"),
        ({"may_buy": "sometimes"}, "pricing.commitments.may_buy"),
        ({"may_buy": False, "held": []}, "nothing held there is no commitment to plan"),
        ({"held": [{"instance_type": "g6e.xlarge", "region": "us-east-1", "count": 0}]}, "count"),
        (
            {
                "held": [
                    {"instance_type": "g6e.xlarge; rm -rf /", "region": "us-east-1", "count": 1}
                ]
            },
            "instance_type",
        ),
        ({"held": [{"instance_type": "g6e.xlarge", "region": "US EAST", "count": 1}]}, "region"),
        (
            {"held": [{"instance_type": "g6e.xlarge", "region": "us-east-1", "count": 1}] * 2},
            "one instance type in one region twice",
        ),
        ({"held": [{"instance_type": "g6e.xlarge", "count": 1}]}, "region"),
        ({"surplus": 3}, "surplus"),
        (
            {"held": [{"instance_type": "g9.xlarge", "region": "us-east-1", "count": 1}]},
            "the catalog offers no g9.xlarge in us-east-1",
        ),
    ],
)
def test_a_bad_commitment_is_one_sentence_and_exit_1(
    cli: Cli, tmp_path: Path, commitments: dict[str, Any], words: str
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(_example(**commitments), sort_keys=False))
    result = cli("recommend", path)
    assert result.exit_code == 1, result.output
    assert words in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


# --- recommend, lock, cost ---------------------------------------------------------------------


def test_recommend_says_how_much_to_commit_and_what_it_saves(cli: Cli) -> None:
    result, data = cli.json("recommend", EXAMPLE)
    assert result.exit_code == 0, result.output
    chosen = data["chosen"]
    plan = chosen["commitment"]
    assert data["commitments"]["kind"] == "reserved"
    assert plan["held_instances"] == 1 and plan["buy_instances"] >= 1
    assert plan["saving_monthly_usd"] > 0
    # the ranking's monthly figure is the week's with the commitments (held ones sunk)
    assert chosen["monthly_usd"] == pytest.approx(
        chosen["hourly_sizes"]["expected_monthly_usd"] + plan["delta_monthly_usd"], abs=0.02
    )
    text = cli("recommend", EXAMPLE)
    assert "Commitments (reserved, 1y, no upfront): commit" in text.output
    assert "sunk" in text.output


def test_a_cloud_without_a_sourced_rate_has_nothing_to_commit(cli: Cli, tmp_path: Path) -> None:
    # AWS ships reserved rates only: a cud (GCP's kind) has no AWS rate
    data = _example(held=[])
    data["pricing"]["commitments"]["kind"] = "cud"
    path = tmp_path / "aws-cud.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = cli("recommend", path)
    assert result.exit_code == 0, result.output
    assert "no sourced rate for" in result.output and "nothing to commit" in result.output
    result, doc = cli.json("recommend", path)
    assert result.exit_code == 0 and doc["chosen"]["commitment"] is None


def test_aws_savings_plans_have_no_shipped_rate(cli: Cli, tmp_path: Path) -> None:
    """No public copy of the Savings Plans rates was found: only a refresh brings them
    (tests/test_price_refresh.py, test_recommend_commits_on_refreshed_savings_plan_rates)."""
    assert not [key for key in target_commitments("aws", "fleet") if key[2] == "savings_plan"]
    data = _example(kind="savings_plan", held=[])
    path = tmp_path / "aws-savings-plan.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result, doc = cli.json("recommend", path)
    assert result.exit_code == 0, result.output
    assert doc["chosen"]["commitment"] is None
    assert "no sourced rate for" in cli("recommend", path).output


def test_recommend_commits_on_gcp_with_a_cud(cli: Cli, tmp_path: Path) -> None:
    data = _example(kind="cud", held=[])
    data["placement"] = {"clouds": ["gcp"], "regions": ["europe-west6"], "kinds": ["fleet"]}
    path = tmp_path / "gcp.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result, doc = cli.json("recommend", path)
    assert result.exit_code == 0, result.output
    plan = doc["chosen"]["commitment"]
    assert plan is not None and plan["buy_instances"] >= 1 and plan["saving_monthly_usd"] > 0
    assert "Commitments (cud, 1y, no upfront): commit" in cli("recommend", path).output


def test_a_profile_without_pricing_has_no_commitment(cli: Cli) -> None:
    """(Its decision in the lock stays byte-identical: tests/golden/decisions.yaml.)"""
    result, data = cli.json("recommend", EXAMPLES / "chat-8b-office-hours.yaml")
    assert result.exit_code == 0, result.output
    assert data["commitments"] is None and data["chosen"]["commitment"] is None


def test_cost_splits_the_month_and_diff_shows_a_change_of_commitment(
    cli: Cli, tmp_path: Path
) -> None:
    result = cli("cost", "report", EXAMPLE, "--env", "prod", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    parts = report["monthly_split_usd"]
    assert set(parts) == {"committed", "on_demand", "spot"}
    assert parts["committed"]["expected"] == report["commitment"]["committed_monthly_usd"]
    lines = [r for r in report["resources"] if r["address"] == "commitment.reserved"]
    assert len(lines) == 1
    hours = report["week"]["hours"]
    assert all("committed_instances" in hour for hour in hours)
    # the hours add up to the month (730/168 of the week) to the cent per hour's rounding
    week_month = sum(hour["usd"] for hour in hours) * 730 / 168
    assert week_month == pytest.approx(report["monthly_usd"]["expected"], abs=1.0)
    none = _example(may_buy=False)
    path = tmp_path / "held-only.yaml"
    path.write_text(yaml.safe_dump(none, sort_keys=False))
    diff = cli("cost", "diff", EXAMPLE, path, "--env", "prod")
    assert diff.exit_code == 0, diff.output
    assert "commitment.reserved" in diff.output
    assert "Commitments: 1 held + " in diff.output and "→ 1 held + 0 bought" in diff.output


def test_the_lock_names_a_change_of_pricing_and_ignores_its_absence() -> None:
    import msgspec

    from planner.lock import profile_digest
    from planner.profile import load_profile

    profile = load_profile(EXAMPLE).profile
    assert profile.pricing is not None and profile.pricing.commitments is not None
    held_only = msgspec.structs.replace(
        profile,
        pricing=msgspec.structs.replace(
            profile.pricing,
            commitments=msgspec.structs.replace(profile.pricing.commitments, may_buy=False),
        ),
    )
    before, after = profile_digest(profile), profile_digest(held_only)
    assert before["pricing"] != after["pricing"]
    assert {k: v for k, v in before.items() if k != "pricing"} == {
        k: v for k, v in after.items() if k != "pricing"
    }
    plain = load_profile(EXAMPLES / "chat-8b-office-hours.yaml").profile
    assert "pricing" not in profile_digest(plain)
