"""`infra cost`: the bill of a deployment, of a plan file, or the difference between two of them.

A profile is priced from its synthesized configuration, so costing needs no cloud account and
no state: a pull request's pipeline can price both sides of a change. A plan file (`terraform
show -json`) is priced as it is. A side of a diff may also be a git revision of a profile,
written `REV:PATH` as git does.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import msgspec

from core.errors import InfraError
from modules.readiness import pricing_only
from orchestrator.workflow import Deployment, prepare, synth_to
from planner.cost.commitment import CommittedFleet
from planner.cost.context import FleetWeek
from planner.cost.diff import CostDiff, diff_costs
from planner.cost.managed import with_managed_deployment
from planner.cost.plan_resources import (
    PlanInputError,
    PlannedInfrastructure,
    from_plan,
    read_planned,
)
from planner.cost.pricing import price_plan
from planner.cost.report import CostReport, TargetLoad
from planner.cost.savings import PeakFleet, StepWeeks, step_weeks
from planner.cost.usage_file import UsageEstimates
from planner.hourly import week_demand
from planner.optimizer import Filters
from planner.traffic import HOURS_PER_WEEK
from providers.catalog import load_catalog


class RevisionError(InfraError):
    pass


class OverBudget(InfraError):
    """The plan's expected monthly cost exceeds the profile's (or environment's) budget."""

    exit_code = 4


def check_budget(report: CostReport, saving: bool) -> None:
    over = report.over_budget_usd
    if not over or report.budget_monthly_usd is None:
        return
    share = over / report.budget_monthly_usd
    saved = " The plan was not saved." if saving else ""
    raise OverBudget(
        f"the plan's expected cost of ${report.monthly_usd.expected:,.2f}/month exceeds the "
        f"budget of ${report.budget_monthly_usd:,.2f} by ${over:,.2f} ({share:.0%}).{saved} "
        "Raise the budget, change the profile, or pass --allow-over-budget."
    )


@dataclass(frozen=True)
class ProfileContext:
    """What a profile adds to a plan's resources: the load to divide by and the budget."""

    load: TargetLoad | None
    budget_monthly_usd: float | None


def profile_context(profile_path: Path, env: str) -> ProfileContext:
    from planner.profile import Environment, load_profile

    profile = load_profile(profile_path).profile
    workload = profile.workload
    outputs = workload.output_tokens.mean if workload.output_tokens else None
    environment = profile.deploy.environments.get(env, Environment())
    budget = environment.budget(profile.budget)
    week = week_demand(profile, env)  # the rate served on average over the week, if it varies
    rate = week.served_rps if week else workload.requests_per_second
    return ProfileContext(TargetLoad(rate, outputs), budget)


def _price_for_deployment(
    planned: PlannedInfrastructure,
    source: str,
    deployment: Deployment,
    profile_path: Path | None,
    usage: UsageEstimates | None = None,
) -> CostReport:
    spec = deployment.spec
    context = (
        profile_context(profile_path, spec.env)
        if profile_path
        else ProfileContext(None, spec.budget_monthly_usd)
    )
    return price_plan(
        with_managed_deployment(planned, spec),
        load_catalog(),
        source=source,
        region=spec.region,
        load=context.load,
        budget_monthly_usd=context.budget_monthly_usd,
        week=fleet_week(deployment),
        usage=usage,
        commitment=committed_fleet(deployment),
    )


def committed_fleet(deployment: Deployment) -> CommittedFleet | None:
    """The decision's commitments and the fleet's on-demand instances each hour; None without."""
    plan = deployment.resolved.decision.commitment if deployment.resolved else None
    if plan is None:
        return None
    spec = deployment.spec
    on_demand = (
        spec.hourly.counts("on_demand")
        if spec.hourly is not None
        else [spec.capacity.on_demand_base] * HOURS_PER_WEEK
    )
    return CommittedFleet(plan, on_demand)


def fleet_week(deployment: Deployment) -> FleetWeek | None:
    """The spec's fleet hour by hour, for pricing, with the weeks before each mechanism when the
    decision is known (the savings); None when it is flat."""
    spec = deployment.spec
    if spec.hourly is None:
        return None
    return FleetWeek(
        hourly=spec.hourly,
        instance_type=spec.instance_type,
        desired=spec.capacity.desired,
        on_demand=spec.capacity.on_demand_base,
        steps=_step_weeks(deployment),
    )


def _step_weeks(deployment: Deployment) -> StepWeeks | None:
    """The decision's week before the schedule and scale to zero; None without a decision."""
    resolved = deployment.resolved
    if resolved is None:
        return None
    demand = week_demand(resolved.profile, deployment.spec.env)
    fleet = PeakFleet.of_decision(resolved.decision)
    if demand is None or fleet is None:
        return None
    return step_weeks(resolved.profile, demand, fleet)


def cost_of_deployment(
    deployment: Deployment, profile_path: Path | None, usage: UsageEstimates | None = None
) -> CostReport:
    """Synthesize the deployment and price its configuration.

    Pricing needs the hardware, not a boot script that can serve: what would make `synth` refuse
    to serve (a Triton profile without its model repository) is stated in the report's notes, and
    that configuration is synthesized into a scratch directory, never into the workspace.
    """
    with pricing_only() as not_ready, tempfile.TemporaryDirectory(prefix="infra-cost-") as scratch:
        config = synth_to(deployment, Path(scratch))
        planned = read_planned(config)
    spec = deployment.spec
    source = f"{deployment.workspace.stack} ({spec.cloud}/{spec.kind}, {spec.instance_type})"
    report = _price_for_deployment(planned, source, deployment, profile_path, usage)
    notes = tuple(f"synth and deploy refuse it as it stands: {problem}" for problem in not_ready)
    return msgspec.structs.replace(report, notes=report.notes + notes) if notes else report


def cost_of_plan_document(
    document: dict[str, object], deployment: Deployment, profile_path: Path | None
) -> CostReport:
    """Price the plan `infra plan` just made (the budget check reads this)."""
    source = f"plan of {deployment.workspace.stack}"
    return _price_for_deployment(from_plan(document), source, deployment, profile_path)


def cost_of_file(
    path: Path,
    region: str | None,
    profile_path: Path | None,
    env: str,
    usage: UsageEstimates | None = None,
    week: FleetWeek | None = None,
) -> CostReport:
    """Price a plan or configuration file; with a profile, at its load and budget, and its
    fleet hour by hour when `week` (the profile's decision's, see `decision_week`) is given."""
    planned: PlannedInfrastructure = read_planned(path)
    context = profile_context(profile_path, env) if profile_path else ProfileContext(None, None)
    return price_plan(
        planned,
        load_catalog(),
        source=str(path),
        region=region,
        load=context.load,
        budget_monthly_usd=context.budget_monthly_usd,
        usage=usage,
        week=week,
    )


def decision_week(profile_path: Path, env: str, filters: Filters) -> FleetWeek | None:
    """The fleet hour by hour of the profile's decision for `env` (its lock's when current), so
    a plan made from it is priced over the week; None when the fleet is flat."""
    return fleet_week(prepare(profile_path, env, filters, what_if=True))


def _looks_like_json(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(64).lstrip().startswith(b"{")
    except OSError:
        return False


def _git_show(revision: str, path: str) -> subprocess.CompletedProcess[bytes]:
    """`git show REV:PATH`; a git that cannot run is one sentence."""
    try:
        return subprocess.run(
            ["git", "show", f"{revision}:{path}"], capture_output=True, check=False, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        raise RevisionError(
            f"cannot run git to read {revision}:{path}; is git installed?"
        ) from None


@contextmanager
def _revision_file(argument: str) -> Iterator[Path]:
    """`REV:PATH` checked out to a temporary file (the profile as it was at REV), with the
    profile's lock file as it was then beside it, so the base of a diff is priced with the
    decision it was deployed with."""
    from planner.lock import lock_path

    revision, _, path = argument.partition(":")
    shown = _git_show(revision, path)
    if shown.returncode != 0:
        detail = shown.stderr.decode(errors="replace").strip().splitlines()
        reason = detail[-1] if detail else "git show failed"
        raise RevisionError(f"cannot read {argument} from git: {reason.removeprefix('fatal: ')}.")
    with tempfile.TemporaryDirectory(prefix="infra-cost-") as directory:
        copy = Path(directory) / Path(path).name
        copy.write_bytes(shown.stdout)
        lock = _git_show(revision, lock_path(Path(path)).as_posix())
        if lock.returncode == 0:  # no lock at that revision: a new decision is priced
            lock_path(copy).write_bytes(lock.stdout)
        yield copy


def cost_of_side(
    argument: str,
    env: str,
    filters: Filters,
    region: str | None,
    usage: UsageEstimates | None = None,
) -> CostReport:
    """One side of a diff: a plan or configuration JSON, a profile, or `REV:PATH`."""
    path = Path(argument)
    if path.exists():
        if _looks_like_json(path):
            return cost_of_file(path, region, None, env, usage)
        deployment = prepare(path, env, filters, what_if=True)
        report = cost_of_deployment(deployment, path, usage)
        return _labelled(report, argument)
    if ":" in argument:
        with _revision_file(argument) as copy:
            if _looks_like_json(copy):
                return _labelled(cost_of_file(copy, region, None, env, usage), argument)
            deployment = prepare(copy, env, filters, what_if=True)
            return _labelled(cost_of_deployment(deployment, copy, usage), argument)
    raise PlanInputError(
        f"{argument}: no such file; give a profile, a plan JSON, or a git revision as REV:PATH."
    )


def _labelled(report: CostReport, source: str) -> CostReport:
    import msgspec

    return msgspec.structs.replace(report, source=f"{source} — {report.source}")


def diff_sides(
    base: str,
    head: str,
    env: str,
    filters: Filters,
    region: str | None,
    usage: UsageEstimates | None = None,
) -> CostDiff:
    """Both sides priced with the same usage file, if one is given."""
    return diff_costs(
        cost_of_side(base, env, filters, region, usage),
        cost_of_side(head, env, filters, region, usage),
    )
