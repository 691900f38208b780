"""`infra synth|plan|apply|deploy|destroy|status|drift`: parse, call orchestrator.workflow, render.

Exit codes: 0 success or no changes, 2 changes present (plan, drift), 4 over budget (plan),
1 error (a large pinned fleet refused included).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.errors import run_guarded
from cli.gates import (
    DEFAULT_SEVERITY,
    AllowLargeFleetOption,
    AllowOverBudgetOption,
    GateResults,
    SeverityOption,
    SkipCheckOption,
)
from cli.options import AutoApprove, JsonOption, Target, on_target

if TYPE_CHECKING:
    from orchestrator.workflow import Deployment, PlanSummary
    from planner.optimizer import Filters

CHANGES_PRESENT = 2

ReplanOption = Annotated[
    bool,
    typer.Option(
        "--replan",
        help="Decide again (today's catalog, profile and pins) instead of using the lock file; "
        "the change is shown, and a new cloud, kind or region is a move.",
    ),
]
LockedOption = Annotated[
    bool,
    typer.Option(
        "--locked",
        help="Refuse to decide anew: the lock file must hold this environment's decision (CI).",
    ),
]


def _say(message: str) -> None:
    typer.echo(message, err=True)


def _reporter(as_json: bool):
    def report(step: str, seconds: float | None) -> None:
        if as_json:
            return
        if seconds is None:
            _say(f"  → {step} …")
        else:
            _say(f"  ✓ {step:<8} {seconds:6.1f} s")

    return report


def prepare_quietly(
    profile: Path | None,
    env: str,
    spec: Path | None,
    filters: Filters,
    as_json: bool = True,
    *,
    replan: bool = False,
    locked_only: bool = False,
    allow_stale: bool = False,
    what_if: bool = False,
) -> Deployment:
    """The deployment of a profile or a spec file (exactly one of them)."""
    from core.errors import InfraError
    from orchestrator.workflow import prepare

    if (profile is None) == (spec is None):
        raise InfraError("give either a PROFILE or --spec FILE (one of them, not both).")
    if spec is not None and (replan or locked_only):
        raise InfraError("--replan and --locked apply to a profile's lock, not to --spec.")
    return prepare(
        profile,
        env,
        filters,
        spec,
        _reporter(as_json),
        replan=replan,
        locked_only=locked_only,
        allow_stale=allow_stale,
        what_if=what_if,
    )


def _prepare(
    target: Target,
    as_json: bool,
    *,
    replan: bool = False,
    locked_only: bool = False,
    allow_stale: bool = False,
) -> Deployment:
    from cli.decision_render import decision_lines

    deployment = prepare_quietly(
        target.profile,
        target.env,
        target.spec,
        target.filters(),
        as_json,
        replan=replan,
        locked_only=locked_only,
        allow_stale=allow_stale,
    )
    if not as_json:
        s = deployment.spec
        _say(
            f"{s.stack_name}: {s.capacity.desired}× {s.instance_type} ({s.cloud}/{s.kind}, "
            f"{s.region}); workspace {deployment.workspace.root}"
        )
        for line in decision_lines(deployment.resolved):
            _say(line)
    return deployment


def _prepare_to_read(target: Target, as_json: bool) -> Deployment:
    """For commands that work on what is deployed (status, drift, destroy): the state says what
    was applied, so pins are not needed; the lock gives the backend and the decision to compare.
    """
    if target.pinned and not as_json:
        _say(
            "note: the state records what it was applied with; --cloud, --kind, --region and "
            "--instance-type are not needed here and do not change what is read or destroyed."
        )
    return _prepare(target.unpinned(), as_json, allow_stale=True)


def _record_decision(deployment: Deployment, found: GateResults) -> str | None:
    """Write a new decision into the lock file (after its plan passed the gates)."""
    resolved = deployment.resolved
    if resolved is None or not resolved.needs_recording:
        return None
    from orchestrator.decisions import record

    monthly = found.cost.monthly_usd.expected if found.cost else None
    return str(record(resolved, monthly))


def _decision_dict(deployment: Deployment) -> dict[str, Any] | None:
    from cli.decision_render import decision_dict

    return decision_dict(deployment.resolved)


def _notes(deployment: Deployment) -> list[str]:
    """What the plan cannot show: how the first boot of a Neuron instance spends its time."""
    from providers.aws.neuron import deployment_notes

    spec = deployment.spec
    return deployment_notes(spec.accelerator, spec.runtime.model_s3_uri)


def _notes_text(notes: list[str]) -> str:
    return "".join(f"\nnote: {note}" for note in notes)


def _confirm(auto_approve: bool, action: str):
    def confirm(summary: PlanSummary) -> bool:
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            from core.errors import InfraError

            raise InfraError(
                f"{action} needs --auto-approve when not run at a terminal (nothing was changed)."
            )
        return typer.confirm(f"{action}: {_plan_line(summary.to_dict())} Go ahead?")

    return confirm


def _emit(data: dict[str, Any], as_json: bool, human: str) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
    else:
        typer.echo(human)


def _plan_line(summary: dict[str, Any]) -> str:
    stage = summary.get("stage")
    line = _changes_line(summary)
    return f"{line}\n{stage['summary']}" if stage else line


def _stages_text(result: dict[str, Any]) -> str:
    """A staged deploy's plans, one line each, and where it stopped if a stage was declined."""
    lines = [
        f"Stage {stage['number']} of {stage['count']}: {_changes_line(stage['plan'])}"
        for stage in result["stages"]
    ]
    stopped = result.get("stopped")
    if stopped:
        lines.append(
            f"Stopped before stage {stopped['number']} of {stopped['count']} (not approved): "
            "the stages before it are applied; `infra deploy` again continues from there."
        )
    return "\n".join(lines)


def _saved_line(summary: dict[str, Any], out: Path | None) -> str:
    stage = summary.get("stage")
    if out is None:
        return "\n`infra deploy` applies the stages one after another." if stage else ""
    if stage:
        return (
            f"\nSaved stage {stage['number']} of {stage['count']} only to {out}; apply it with "
            f"`infra apply {out}`, then `infra plan --out` again for the next stage (or "
            "`infra deploy` applies every stage)."
        )
    return f"\nSaved to {out}; apply it with `infra apply {out}`."


def _changes_line(summary: dict[str, Any]) -> str:
    if not summary["changes"]:
        return "No changes: the infrastructure matches the configuration."
    counted = ("create", "update", "replace", "delete")
    if not summary.get("move") and not any(summary[key] for key in counted):
        return "Plan: no resource changes; only the recorded deployment spec (an output) changes."
    move = summary.get("move")
    if move:
        return (
            f"Move: destroy the {move['destroy']} resources of {move['from']} (with the "
            f"configuration they were applied with), then create {move['create']} for "
            f"{move['to']}."
        )
    return (
        f"Plan: {summary['create']} to add, {summary['update']} to change, "
        f"{summary['replace']} to replace, {summary['delete']} to destroy."
    )


def register(app: typer.Typer) -> None:
    @app.command()
    @on_target
    def synth(
        target: Target,
        replan: ReplanOption = False,
        json_output: JsonOption = False,
    ) -> None:
        """Write the Terraform JSON of the deployment (cdktf.out/stacks/<stack>/cdk.tf.json).

        Uses the lock file's decision; without one (or with --replan) a new decision, which
        synth does not record (plan and deploy do)."""

        def work() -> None:
            from orchestrator.workflow import synth as synthesize

            deployment = _prepare(target, json_output, replan=replan)
            config = synthesize(deployment)
            _emit(
                {
                    "stack": deployment.workspace.stack,
                    "config": str(config),
                    "decision": _decision_dict(deployment),
                },
                json_output,
                f"wrote {config}",
            )

        run_guarded(work, as_json=json_output)

    @app.command()
    @on_target
    def plan(
        target: Target,
        out: Annotated[
            Path | None, typer.Option("--out", help="Save the plan for `infra apply FILE`.")
        ] = None,
        replan: ReplanOption = False,
        locked: LockedOption = False,
        severity: SeverityOption = DEFAULT_SEVERITY,
        skip_check: SkipCheckOption = False,
        allow_over_budget: AllowOverBudgetOption = False,
        allow_large_fleet: AllowLargeFleetOption = False,
        json_output: JsonOption = False,
    ) -> None:
        """Show what deploy would change and what it costs a month.

        The decision comes from the lock file beside the profile; the first plan of an
        environment (or --replan) decides and writes it. The policy scan (`infra check`) runs
        first. Exit 0: no changes; 2: changes present; 4: over the budget; 5: policy findings;
        1: an error. Nothing is saved or recorded on 4 or 5.
        """

        def work() -> None:
            from cli.gates import confirm_large_fleet, plan_gates
            from orchestrator.workflow import exclusive
            from orchestrator.workflow import plan as make_plan

            deployment = _prepare(target, json_output, replan=replan, locked_only=locked)
            confirm_large_fleet(deployment, allowed=allow_large_fleet, ask=not json_output)
            gates, found = plan_gates(
                deployment,
                target.profile,
                severity=severity,
                skip_check=skip_check,
                allow_over_budget=allow_over_budget,
                saving=out is not None,
            )
            with exclusive(deployment):
                made = make_plan(deployment, out, gates=gates)
            lock_file = _record_decision(deployment, found)
            summary = {
                **made.to_dict(),
                **found.to_dict(),
                "decision": _decision_dict(deployment),
                "lock_file": lock_file,
                "notes": _notes(deployment),
            }
            saved = _saved_line(summary, out)
            recorded = f"\nRecorded the decision in {lock_file}." if lock_file else ""
            human = _plan_line(summary) + found.lines() + saved + recorded
            _emit(summary, json_output, human + _notes_text(summary["notes"]))
            if summary["changes"]:
                raise typer.Exit(CHANGES_PRESENT)

        run_guarded(work, as_json=json_output)

    @app.command()
    def apply(
        plan_file: Annotated[Path, typer.Argument(help="A plan saved by `infra plan --out`.")],
        json_output: JsonOption = False,
    ) -> None:
        """Apply exactly a saved plan (no new plan, no prompt)."""

        def work() -> None:
            from cli.endpoint_render import rollout_text
            from orchestrator import sdk_steps
            from orchestrator.workflow import apply_plan, load_plan_archive

            deployment, tfplan = load_plan_archive(plan_file, _reporter(json_output))
            outputs = apply_plan(deployment, tfplan)
            result: dict[str, Any] = {"stack": deployment.workspace.stack, "outputs": outputs}
            if sdk_steps.handles(deployment.spec):
                result["endpoint"] = sdk_steps.after_apply(deployment, outputs)
            _emit(
                result,
                json_output,
                _outputs_text(outputs) + rollout_text(result.get("endpoint")),
            )

        run_guarded(work, as_json=json_output)

    @app.command()
    @on_target
    def deploy(
        target: Target,
        replan: ReplanOption = False,
        locked: LockedOption = False,
        auto_approve: AutoApprove = False,
        severity: SeverityOption = DEFAULT_SEVERITY,
        skip_check: SkipCheckOption = False,
        allow_over_budget: AllowOverBudgetOption = False,
        allow_large_fleet: AllowLargeFleetOption = False,
        json_output: JsonOption = False,
    ) -> None:
        """Synthesize, check, plan and apply the lock file's decision (the cheapest feasible
        choice, or the pinned one, the first time; written to the lock when approved).

        Like `infra plan`, stops before applying on policy findings (exit 5) or when the plan
        costs more than the budget (exit 4). A new cloud, kind or region (--replan) is a move:
        the old deployment is destroyed with its own configuration, then the new one created.
        """

        def work() -> None:
            from cli.endpoint_render import canary_text, rollout_text
            from cli.gates import confirm_large_fleet, plan_gates
            from orchestrator.workflow import deploy as run_deploy
            from orchestrator.workflow import exclusive

            started = time.monotonic()
            deployment = _prepare(target, json_output, replan=replan, locked_only=locked)
            confirm_large_fleet(
                deployment, allowed=allow_large_fleet, ask=not (json_output or auto_approve)
            )
            gates, found = plan_gates(
                deployment,
                target.profile,
                severity=severity,
                skip_check=skip_check,
                allow_over_budget=allow_over_budget,
                saving=False,
            )
            recorded: list[str] = []

            def record(summary: PlanSummary) -> None:
                lock_file = _record_decision(deployment, found)
                if lock_file:
                    recorded.append(lock_file)

            with exclusive(deployment):
                result = run_deploy(deployment, _confirm(auto_approve, "deploy"), gates, record)
            result.update(found.to_dict())
            result["decision"] = _decision_dict(deployment)
            result["lock_file"] = recorded[0] if recorded else None
            result["elapsed_s"] = round(time.monotonic() - started, 1)
            result["notes"] = _notes(deployment)
            if result.get("cancelled"):
                human = "Cancelled; nothing was changed."
            elif result["changed"]:
                human = (
                    (_stages_text(result) if "stages" in result else _plan_line(result["plan"]))
                    + found.lines()
                    + "\n"
                    + _outputs_text(result["outputs"])
                )
            else:
                human = _plan_line(result["plan"]) + found.lines()
            moved = result.get("moved_from")
            if moved:
                human = (
                    f"Moved: destroyed the {moved['destroyed']} resources of {moved['target']} "
                    "with the configuration they were applied with.\n" + human
                )
            if recorded:
                human += f"\nRecorded the decision in {recorded[0]}."
            human += _notes_text(result["notes"])
            human += canary_text(result.get("canary"))
            _emit(result, json_output, human + rollout_text(result.get("endpoint")))

        run_guarded(work, as_json=json_output)

    @app.command()
    @on_target
    def destroy(
        target: Target,
        auto_approve: AutoApprove = False,
        json_output: JsonOption = False,
    ) -> None:
        """Destroy exactly what the deployment's state holds, with the configuration it was
        applied with, whatever the pins or the lock say now (asks first; protected envs refuse).
        """

        def work() -> None:
            from cli.endpoint_render import removed_text
            from orchestrator.workflow import destroy as run_destroy
            from orchestrator.workflow import exclusive

            deployment = _prepare_to_read(target, json_output)
            with exclusive(deployment):
                result = run_destroy(deployment, _confirm(auto_approve, "destroy"))
            of_target = f" of {result['target']}" if result.get("target") else ""
            human = (
                "Cancelled; nothing was destroyed."
                if result.get("cancelled")
                else f"Destroyed {result['destroyed']} resources{of_target}."
                + removed_text(result.get("removed_by_sdk"))
            )
            _emit(result, json_output, human)

        run_guarded(work, as_json=json_output)

    @app.command()
    @on_target
    def status(target: Target, json_output: JsonOption = False) -> None:
        """What is deployed: resources in the state, outputs, expected monthly cost."""

        def work() -> None:
            from cli.decision_render import status_lines
            from cli.endpoint_render import status_text
            from cli.observed_render import measured_text
            from orchestrator.workflow import status as read_status

            deployment = _prepare_to_read(target, json_output)
            data = read_status(deployment)
            human = (
                "\n".join(status_lines(data))
                + "\n"
                + _outputs_text(data["outputs"])
                + status_text(data.get("endpoint"))
                + measured_text(data.get("measured"))
            )
            _emit(data, json_output, human)

        run_guarded(work, as_json=json_output)

    @app.command()
    @on_target
    def drift(target: Target, json_output: JsonOption = False) -> None:
        """Compare the real infrastructure with the state. Exit 0: none; 2: drift found."""

        def work() -> None:
            from orchestrator.workflow import drift as find_drift

            deployment = _prepare_to_read(target, json_output)
            summary = find_drift(deployment).to_dict()
            human = (
                "Drift: " + ", ".join(r["address"] for r in summary["resources"])
                if summary["changes"]
                else "No drift: the infrastructure matches the state."
            )
            _emit(summary, json_output, human)
            if summary["changes"]:
                raise typer.Exit(CHANGES_PRESENT)

        run_guarded(work, as_json=json_output)


def _outputs_text(outputs: dict[str, Any]) -> str:
    return "\n".join(f"  {name} = {value}" for name, value in sorted(outputs.items()))
