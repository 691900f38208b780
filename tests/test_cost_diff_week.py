"""Costs over the week: `infra cost diff` of a schedule change (the fleet's hours the new schedule
drops are the difference, hour by hour) and a plan file priced with its profile."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.costing import cost_of_side
from planner.cost.diff import diff_costs
from planner.optimizer import Filters
from tests.conftest import EXAMPLES, Cli

GOLDEN_SYNTH = Path(__file__).parent / "golden" / "synth"

PINNED = Filters(
    clouds=frozenset({"aws"}), kinds=frozenset({"fleet"}), instance_types=frozenset({"g6e.xlarge"})
)


def test_a_shorter_schedule_costs_exactly_the_hours_it_drops(tmp_path: Path) -> None:
    base, head = tmp_path / "base.yaml", tmp_path / "head.yaml"
    profile = yaml.safe_load((EXAMPLES / "chat-8b-office-hours.yaml").read_text())
    base.write_text(yaml.safe_dump(profile))
    profile["deploy"]["environments"]["dev"]["schedule"] = "weekdays 08:00-18:00 Europe/Berlin"
    head.write_text(yaml.safe_dump(profile))
    before, after = (cost_of_side(str(side), "dev", PINNED, None) for side in (base, head))
    diff = diff_costs(before, after).to_dict()

    changed = [r for r in diff["resources"] if r["change"] != "unchanged"]
    # the group's hours change, and its scheduled actions (no charge of their own) with them
    assert {r["type"] for r in changed} == {"aws_autoscaling_group", "aws_autoscaling_schedule"}
    assert [r["type"] for r in changed if r["delta_usd"]] == ["aws_autoscaling_group"]

    assert before.week is not None and after.week is not None
    sizes = [
        [od + spot for od, spot in zip(w.on_demand_instances, w.spot_instances, strict=True)]
        for w in (before.week, after.week)
    ]
    dropped = [h for h in range(168) if sizes[0][h] and not sizes[1][h]]
    # 18:00-20:00 on the five weekdays (hour 0 is Monday 00:00), and no other hour changed
    assert dropped == [day * 24 + hour for day in range(5) for hour in (18, 19)]
    assert all(sizes[0][h] == sizes[1][h] for h in set(range(168)) - set(dropped))
    by_hour = sum(after.week.hour_usd(h) - before.week.hour_usd(h) for h in range(168))
    assert diff["delta_monthly_usd"]["expected"] == pytest.approx(by_hour * 730 / 168, abs=0.05)
    assert diff["delta_monthly_usd"]["expected"] < 0


def test_a_plan_file_priced_with_its_profile_follows_the_week(cli: Cli, tmp_path: Path) -> None:
    """`infra cost PROFILE --plan FILE` prices the fleet hour by hour as `infra cost PROFILE`
    does, from the profile's decision; a plan whose groups are not that fleet says so."""
    golden = GOLDEN_SYNTH / "chat-8b-office-hours-aws-fleet.tf.json"
    args = ("--env", "prod", "--cloud", "aws", "--kind", "fleet")
    profile = EXAMPLES / "chat-8b-office-hours.yaml"
    result, with_profile = cli.json("cost", profile, "--plan", golden, *args)
    assert result.exit_code == 0, result.output
    result, synthesized = cli.json("cost", profile, *args)
    assert result.exit_code == 0, result.output
    assert with_profile["week"] is not None
    assert with_profile["monthly_usd"] == synthesized["monthly_usd"]
    result, bare = cli.json("cost", "--plan", golden)
    assert (
        bare["week"] is None
        and bare["monthly_usd"]["expected"] > synthesized["monthly_usd"]["expected"]
    )

    other = GOLDEN_SYNTH / "chat-8b-aws-fleet.tf.json"
    result, mismatched = cli.json("cost", profile, "--plan", other, *args)
    assert result.exit_code == 0, result.output
    assert mismatched["week"] is None
    assert any("no group in the plan is the decision's fleet" in n for n in mismatched["notes"])
