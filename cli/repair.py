"""`infra repair`: find the resources a cut-off run left outside the state, then import them
into it or delete them.

Exit codes: 0 nothing left outside the state, or all of it imported or deleted; 1 an error, a
refusal (no approval off a terminal), or leftovers that could not be imported (the sentence says
to run again with --delete).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.deploy import _emit, _prepare
from cli.errors import run_guarded
from cli.options import AutoApprove, JsonOption, Target, on_target

if TYPE_CHECKING:
    from orchestrator.leftovers import Leftover
    from orchestrator.terraform import TerraformRunner
    from planner.deployment import DeploymentSpec


def register(app: typer.Typer) -> None:
    @app.command()
    @on_target
    def repair(
        target: Target,
        delete: Annotated[
            bool,
            typer.Option("--delete", help="Delete the leftovers instead of importing them."),
        ] = False,
        auto_approve: AutoApprove = False,
        json_output: JsonOption = False,
    ) -> None:
        """Find resources of the deployment that its state lacks (a run cut off mid-apply) and
        import them into the state, or delete them with --delete (AWS deployments).

        A resource belongs to the deployment by its infra:stack tag, or by the profile's tags
        and the name the stack gives it.
        """

        def work() -> None:
            from orchestrator.leftovers import ensure_listable, find_leftovers, labels
            from orchestrator.workflow import init, synth

            deployment = _prepare(target, json_output)
            ensure_listable(deployment.spec)
            synth(deployment)
            init(deployment)
            runner = deployment.runner()
            with deployment.step("list"):
                leftovers = find_leftovers(deployment.spec, runner)
            result: dict[str, Any] = {
                "stack": deployment.workspace.stack,
                "region": deployment.spec.region,
                "leftovers": [leftover.to_dict() for leftover in leftovers],
            }
            where = f"{deployment.workspace.stack} in {deployment.spec.region}"
            if not leftovers:
                _emit(result, json_output, f"Nothing outside the state: {where} is whole.")
                return
            if not json_output:
                typer.echo(_listing(leftovers), err=True)
            action = "delete" if delete else "import"
            if not _approved(auto_approve, action, len(leftovers), where):
                result["cancelled"] = True
                _emit(result, json_output, "Cancelled; nothing was changed.")
                return
            with deployment.step(action):
                if delete:
                    result.update(_delete(deployment.spec, leftovers, runner))
                else:
                    result.update(_import(leftovers, runner))
            summary = result.pop("summary")
            skipped = [leftover.resource for leftover in leftovers if leftover.address is None]
            if delete or not skipped:
                _emit(result, json_output, summary)
                return
            given = target.profile or f"--spec {target.spec}"
            again = f"infra repair {given} --env {target.env} --delete"
            sentence = (
                f"{len(skipped)} could not be imported, having no address of their own in the "
                f"configuration ({labels(skipped)}); delete them with `{again}` (the next "
                "deploy creates what the stack needs)."
            )
            _emit({**result, "error": sentence, "exit_code": 1}, json_output, summary)
            if not json_output:
                typer.echo(f"error: {sentence}", err=True)
            raise typer.Exit(1)

        run_guarded(work, as_json=json_output)


def _listing(leftovers: list[Leftover]) -> str:
    lines = [f"{len(leftovers)} outside the state:"]
    for leftover in leftovers:
        target = f" → {leftover.address}" if leftover.address else f" ({leftover.unplaced})"
        lines.append(f"  {leftover.resource.label()} [{leftover.resource.id}]{target}")
    return "\n".join(lines)


def _approved(auto_approve: bool, action: str, count: int, where: str) -> bool:
    if auto_approve:
        return True
    if not sys.stdin.isatty():
        from core.errors import InfraError

        raise InfraError(
            "repair needs --auto-approve when not run at a terminal (nothing was changed)."
        )
    return typer.confirm(f"{action.capitalize()} these {count} resources of {where}?")


def _import(leftovers: list[Leftover], runner: TerraformRunner) -> dict[str, Any]:
    from orchestrator.leftovers import import_leftovers

    imported = import_leftovers(leftovers, runner)
    lines = [f"Imported {len(imported)} into the state:"] + [
        f"  {leftover.address} ← {leftover.resource.id}" for leftover in imported
    ]
    return {
        "action": "import",
        "imported": [leftover.to_dict() for leftover in imported],
        "not_imported": [leftover.to_dict() for leftover in leftovers if not leftover.address],
        "summary": "\n".join(lines),
    }


def _delete(
    spec: DeploymentSpec, leftovers: list[Leftover], runner: TerraformRunner
) -> dict[str, Any]:
    from orchestrator.leftovers import delete_leftovers

    deleted = delete_leftovers(spec, leftovers, runner)
    return {
        "action": "delete",
        "deleted": [{"type": r.type, "id": r.id, "name": r.name} for r in deleted],
        "summary": f"Deleted {len(deleted)}: the next deploy creates what the stack needs.",
    }
