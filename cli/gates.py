"""What `infra plan` and `infra deploy` check before anything is saved or applied: the policy
scan of the synthesized configuration (exit 5), the plan's cost against the budget (exit 4), and a
pinned fleet many times dearer than the unpinned optimum (asked about, or refused)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from orchestrator.policy import PolicyReport
    from orchestrator.workflow import Deployment, PlanGates, PlanSummary
    from planner.cost.report import CostReport

DEFAULT_SEVERITY = "medium"
"""orchestrator.policy_severities.DEFAULT_THRESHOLD, repeated so the CLI imports nothing heavy
to declare its options (a test keeps the two equal)."""

SeverityOption = Annotated[
    str,
    typer.Option(
        "--severity",
        metavar="LEVEL",
        help="Fail on unsuppressed policy findings at this level or above: low, medium, high, "
        "critical.",
    ),
]
SkipCheckOption = Annotated[
    bool,
    typer.Option("--skip-check", help="Do not run the policy scan (`infra check`) first."),
]
AllowOverBudgetOption = Annotated[
    bool,
    typer.Option(
        "--allow-over-budget", help="Go on even when the plan costs more than the budget."
    ),
]

AllowLargeFleetOption = Annotated[
    bool,
    typer.Option(
        "--allow-large-fleet",
        help="Go on when the pins make the plan cost more than 3 times the cheapest plan "
        "without them (asked at a terminal otherwise).",
    ),
]


def confirm_large_fleet(deployment: Deployment, *, allowed: bool, ask: bool) -> None:
    """A new decision that the pins made many times dearer than the unpinned optimum goes on
    only when allowed, or confirmed at a terminal (`ask`); otherwise nothing is saved."""
    import sys

    from core.errors import InfraError

    resolved = deployment.resolved
    recommendation = resolved.recommendation if resolved else None
    large = recommendation.large_fleet if recommendation else None
    if large is None or allowed:
        return
    if ask and sys.stdin.isatty():
        if typer.confirm(f"Note: {large.sentence()}. Plan it anyway?"):
            return
        raise InfraError(f"cancelled: {large.sentence()}; nothing was saved.")
    raise InfraError(
        f"{large.sentence()}; pass --allow-large-fleet to plan it anyway (nothing was saved)."
    )


@dataclass
class GateResults:
    """What the gates found, for the command's output."""

    cost: CostReport | None = None
    policy: PolicyReport | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        cost = self.cost.to_dict() if self.cost else None
        keys = ("monthly_usd", "budget_monthly_usd", "over_budget_usd", "catalog_date", "unpriced")
        policy = None
        if self.policy is not None:
            data = self.policy.to_dict()
            policy = {key: data[key] for key in ("threshold", "passed", "blocking", "suppressed")}
        return {
            "cost": {key: cost[key] for key in keys} if cost else None,
            "check": policy,
        }

    def lines(self) -> str:
        text = ""
        if self.policy is not None:
            p = self.policy
            text += (
                f"\nCheck: {p.passed} passed, {len(p.suppressed)} suppressed, none at "
                f"{p.threshold} or above."
            )
        if self.cost is not None:
            monthly = self.cost.monthly_usd
            text += f"\nCost: ${monthly.expected:,.2f}/month expected (max ${monthly.max:,.2f})"
            if self.cost.budget_monthly_usd is not None:
                over = self.cost.over_budget_usd
                text += f"; budget ${self.cost.budget_monthly_usd:,.2f}" + (
                    f", over by ${over:,.2f} (allowed)" if over else ""
                )
            if self.cost.unpriced:
                count = len(self.cost.unpriced)
                resources = "1 resource" if count == 1 else f"{count} resources"
                text += f"; {resources} not priced (`infra cost` lists them)"
            text += "."
        return text


def plan_gates(
    deployment: Deployment,
    profile: Path | None,
    *,
    severity: str,
    skip_check: bool,
    allow_over_budget: bool,
    saving: bool,
) -> tuple[PlanGates, GateResults]:
    from orchestrator.workflow import PlanGates

    results = GateResults()

    def check(config: Path) -> None:
        from orchestrator.policy import check_config, refuse_blocking

        with deployment.step("check"):
            results.policy = check_config(config, severity)
        refuse_blocking(results.policy)

    def price(summary: PlanSummary) -> None:
        from orchestrator.costing import check_budget, cost_of_plan_document

        results.cost = cost_of_plan_document(summary.document or {}, deployment, profile)
        if not allow_over_budget:
            check_budget(results.cost, saving=saving)

    if not skip_check:
        from orchestrator.policy import threshold_level

        threshold_level(severity)  # a bad level is refused before anything runs
    return PlanGates(configuration=None if skip_check else check, plan=price), results
