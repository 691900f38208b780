"""What each mechanism saves against the flat fleet (planner/cost/savings.py): the steps add up to
flat - expected to the cent for every example with a week, one week is worked out by hand, and
every format shows the breakdown."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
import yaml

from cli.cost_render import render_report, savings_lines, savings_rows, summary_lines
from orchestrator.costing import cost_of_deployment, fleet_week
from orchestrator.workflow import prepare
from planner.cost.report import CostReport
from planner.cost.savings import MECHANISMS, HourPrices, StepWeeks, savings
from planner.hourly import week_demand
from planner.optimizer import Filters
from planner.profile import load_profile
from planner.traffic import HOURS_PER_WEEK
from tests.conftest import EXAMPLES, Cli

NO_PINS = Filters()
PINNED = Filters(
    clouds=frozenset({"aws"}), kinds=frozenset({"fleet"}), instance_types=frozenset({"g6e.xlarge"})
)


def _week_cases() -> list[tuple[str, str]]:
    """Every example environment whose fleet has a week: the profile has a traffic shape, or
    the environment a schedule or scale to zero."""
    cases = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        profile = yaml.safe_load(path.read_text())
        environments = (profile.get("deploy") or {}).get("environments") or {}
        shaped = bool(profile["workload"].get("traffic"))
        for env, settings in environments.items():
            settings = settings or {}
            weekly = shaped or settings.get("schedule") or settings.get("scale_to_zero")
            if weekly:
                cases.append((path.name, env))
    return cases


WEEK_CASES = _week_cases()


@cache
def _costed(example: str, env: str, filters: Filters = NO_PINS) -> tuple[CostReport, StepWeeks]:
    path = EXAMPLES / example
    deployment = prepare(path, env, filters, what_if=True)
    week = fleet_week(deployment)
    assert week is not None and week.steps is not None
    return cost_of_deployment(deployment, path), week.steps


def test_the_cases_cover_every_mechanism() -> None:
    """The examples exercise the schedule, scale to zero and commitments (else the identity
    below would hold trivially for them)."""
    assert ("chat-8b-office-hours.yaml", "dev") in WEEK_CASES
    assert ("chat-8b-committed.yaml", "prod") in WEEK_CASES
    assert ("chat-8b-kubernetes-office-hours.yaml", "prod") in WEEK_CASES


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_node_pools_that_scale_to_zero_are_priced_hour_by_hour(cloud: str) -> None:
    """A pool's planned count is its quietest hour's (0 when the environment scales to zero):
    it is still the fleet's pool, priced over the week, not at $0 for its planned count."""
    pinned = Filters(clouds=frozenset({cloud}), kinds=frozenset({"kubernetes"}))
    report, _ = _costed("chat-8b-kubernetes-office-hours.yaml", "dev", pinned)
    assert report.week is not None and report.monthly_usd.min == 0
    assert not any("is the decision's fleet" in note for note in report.notes)
    hours = sum(report.week.on_demand_instances) + sum(report.week.spot_instances)
    assert hours > 0 and report.monthly_usd.expected > 0


@pytest.mark.parametrize(("example", "env"), WEEK_CASES)
def test_the_steps_add_up_to_flat_minus_expected(example: str, env: str) -> None:
    report, steps = _costed(example, env)
    assert report.week is not None and report.savings is not None
    saved = report.savings
    assert [step.mechanism for step in saved.steps] == list(MECHANISMS)
    assert saved.flat_monthly_usd == report.week.flat_monthly_usd
    assert saved.expected_monthly_usd == report.monthly_usd.expected
    total = sum(step.monthly_usd for step in saved.steps)
    assert round(saved.flat_monthly_usd - total, 2) == report.monthly_usd.expected
    for step in saved.steps:
        if not step.used:
            assert step.monthly_usd == 0
    # The weeks before the schedule and scale to zero are the decision's week in every hour
    # where neither mechanism acts (the same sizing, retraced from the decision).
    demand = week_demand(load_profile(EXAMPLES / example).profile, env)
    assert demand is not None
    untouched = [
        hour
        for hour, rate in enumerate(demand.rates)
        if (demand.serving is None or hour in demand.serving) and rate > 0
    ]
    assert untouched
    for hour in untouched:
        assert steps.traffic[hour] == steps.schedule[hour] == steps.hours[hour], hour
    assert report.to_dict()["savings_monthly_usd"] == {
        **saved.monthly_usd(),
        "flat": saved.flat_monthly_usd,
        "expected": saved.expected_monthly_usd,
    }


def test_office_hours_with_a_schedule_and_scale_to_zero_by_hand() -> None:
    """40 req/s 09-18 on weekdays and 4 otherwise, served weekdays 08-20 and at zero outside:
    each step worked out from the hours it changes and the prices of an instance-hour."""
    report, steps = _costed("chat-8b-office-hours.yaml", "dev", PINNED)
    week, saved = report.week, report.savings
    assert week is not None and saved is not None
    peak, trough, night = 24 + 10, 24 + 8, 24 + 3  # tue 10:00, tue 08:00, tue 03:00
    counts = zip(week.on_demand_instances, week.spot_instances, strict=True)
    sizes = [(od + spot, od) for od, spot in counts]
    # g6e.xlarge: 14 at the peak (7 on-demand, the on-demand floor of 0.5), 2 for 4 req/s
    # with the headroom (on-demand: below the base), none outside the schedule
    assert (sizes[peak], sizes[trough], sizes[night]) == ((14, 7), (2, 2), (0, 0))
    od_price = week.on_demand_usd[peak] / 7
    spot_price = week.spot_usd[peak] / 7
    month = 730 / 168
    peak_hours = 5 * 9  # 09:00-18:00 on five weekdays
    served_hours = 5 * 12  # 08:00-20:00 on five weekdays
    off_hours = 168 - served_hours
    # 1. following the traffic: the 123 hours outside the peak run 2 on-demand instead of 7
    #    on-demand and 7 spot
    traffic = (168 - peak_hours) * ((7 - 2) * od_price + 7 * spot_price) * month
    # 2. the schedule: its 108 hours off run min_replicas (1 instance) instead of 2
    schedule = off_hours * (2 - 1) * od_price * month
    # 3. scale to zero: those hours at 0 instead of 1
    scale_to_zero = off_hours * 1 * od_price * month
    by_hand = {"traffic": traffic, "schedule": schedule, "scale_to_zero": scale_to_zero}
    for name, value in by_hand.items():
        assert saved.monthly_usd()[name] == pytest.approx(value, abs=0.011), name
    assert saved.monthly_usd()["commitments"] == 0 and saved.not_used == ["commitments"]
    assert saved.flat_monthly_usd == pytest.approx(
        report.monthly_usd.expected + traffic + schedule + scale_to_zero, abs=0.03
    )
    # the retraced weeks themselves
    assert steps.traffic[night] == (2, 2) and steps.schedule[night] == (1, 1)
    assert steps.traffic[peak] == steps.schedule[peak] == steps.hours[peak] == (14, 7)


def test_commitments_save_what_their_line_credits_less_what_it_charges() -> None:
    """The commitments step is the week without them less the expected month: the commitment
    line's credit (the on-demand hours covered) less the bought commitments' charge."""
    report, _ = _costed("chat-8b-committed.yaml", "prod")
    assert report.savings is not None and report.commitment is not None
    (line,) = [r for r in report.resources if r.type == "commitment"]
    assert report.savings.monthly_usd()["commitments"] == pytest.approx(
        -line.monthly_usd.expected, abs=0.05
    )
    assert report.savings.monthly_usd()["commitments"] > 0
    assert report.savings.not_used == ["schedule", "scale_to_zero"]


def _weeks(traffic: int, schedule: int, hours: int, used: frozenset[str]) -> StepWeeks:
    def flat(n: int) -> list[tuple[int, int]]:
        return [(n, n)] * HOURS_PER_WEEK

    return StepWeeks(
        flat=flat(4), traffic=flat(traffic), schedule=flat(schedule), hours=flat(hours), used=used
    )


def test_a_step_that_adds_cost_is_shown_signed() -> None:
    """Keeping more replicas outside the schedule than the traffic there needs costs more: the
    step is negative, and the parts still add up."""
    prices = HourPrices(on_demand_usd=1.0, spot_usd=0.4, other_usd=0.5)
    weeks = _weeks(2, 3, 1, frozenset({"traffic", "schedule", "scale_to_zero"}))
    result = savings(weeks, prices, expected_monthly_usd=1095.0, committed=False)
    assert result.flat_monthly_usd == 4 * 730 + 365
    assert result.monthly_usd() == {
        "traffic": 1460.0,
        "schedule": -730.0,
        "scale_to_zero": 1460.0,
        "commitments": 0.0,
    }
    assert savings_lines(result) == [
        "  1. following the traffic: $1,460.00 a month",
        "  2. the environment's schedule: -$730.00 a month",
        "  3. scale to zero: $1,460.00 a month",
        "  4. commitments: not used",
    ]
    assert savings_rows(result)[0] == ("fleet at its peak size every hour", "$3,285.00")
    assert savings_rows(result)[-1] == ("= expected", "$1,095.00")


def test_every_format_shows_the_breakdown(cli: Cli, tmp_path: Path) -> None:
    report, _ = _costed("chat-8b-office-hours.yaml", "dev", PINNED)
    assert report.savings is not None
    lines = summary_lines(report)
    start = next(i for i, line in enumerate(lines) if line.startswith("Against the fleet"))
    assert lines[start + 1 : start + 5] == savings_lines(report.savings)
    assert "4. commitments: not used" in lines[start + 4]
    assert not any(
        "following the traffic" in line for line in summary_lines(report, breakdown=False)
    )
    html = render_report(report, "html")
    assert "What each mechanism saves" in html and "not used" in html
    assert f"${report.savings.flat_monthly_usd:,.2f}" in html
    markdown = render_report(report, "markdown")
    assert "- " + savings_lines(report.savings)[0] in markdown

    result, data = cli.json(
        "cost", EXAMPLES / "chat-8b-office-hours.yaml", "--env", "dev", "--cloud", "aws",
        "--kind", "fleet", "--instance-type", "g6e.xlarge",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert data["savings_monthly_usd"] == {
        **report.savings.monthly_usd(),
        "flat": report.savings.flat_monthly_usd,
        "expected": report.savings.expected_monthly_usd,
    }
    assert data["savings_not_used"] == ["commitments"]


def test_a_flat_fleet_has_no_breakdown(cli: Cli) -> None:
    result, data = cli.json("cost", EXAMPLES / "chat-8b.yaml")
    assert result.exit_code == 0, result.output
    assert data["week"] is None
    assert data["savings_monthly_usd"] is None and data["savings_not_used"] is None


def test_recommend_shows_the_steps_of_every_candidate(cli: Cli) -> None:
    """`infra recommend --json` carries each candidate's steps at its own prices (they add up to
    its flat and expected months); the table says them in one line."""
    profile = EXAMPLES / "chat-8b-office-hours.yaml"
    result, data = cli.json("recommend", profile, "--env", "dev")
    assert result.exit_code == 0, result.output
    for candidate in [data["chosen"], *data["alternatives"]]:
        saved = candidate["savings_monthly_usd"]
        steps = sum(saved[name] for name in MECHANISMS)
        assert round(saved["flat"] - steps, 2) == saved["expected"]
        assert saved["flat"] == candidate["hourly_sizes"]["flat_monthly_usd"]
        assert saved["expected"] == candidate["monthly_usd"]
        assert candidate["savings_not_used"] == ["commitments"]
        assert saved["scale_to_zero"] > 0 and saved["schedule"] >= 0
    result = cli("recommend", profile, "--env", "dev")
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if "Against the flat fleet" in line]
    assert "commitments not used" in line and "scale to zero $" in line
    result, flat = cli.json("recommend", EXAMPLES / "chat-8b.yaml")
    assert flat["chosen"]["savings_monthly_usd"] is None
