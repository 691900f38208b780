"""`infra lock show|update`: the lock file's decisions, read or taken again without Terraform.

`update` is `infra plan --replan` without a plan: it decides again for one environment, shows the
change against the lock, prices the new configuration and records it. Nothing is deployed; the
next `infra plan` or `infra deploy` shows (and, for deploy, asks before) what it changes.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cli.errors import run_guarded
from cli.gates import AllowLargeFleetOption
from cli.options import (
    CloudOption,
    EnvOption,
    InstanceOption,
    JsonOption,
    KindOption,
    RegionOption,
    RequiredProfileArgument,
    filters_from_pins,
)

lock_app = typer.Typer(
    help="The lock file beside a profile: the decision each environment is deployed with.",
    no_args_is_help=True,
)


@lock_app.command("show")
def show(
    profile: RequiredProfileArgument,
    env: Annotated[
        str | None, typer.Option("--env", help="Only this environment (default: all).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """The decisions recorded for PROFILE, per environment. Exit 1 when there is none."""

    def work() -> None:
        import msgspec

        from core.errors import InfraError
        from planner.lock import lock_path, read_lock
        from planner.profile import load_profile

        load_profile(profile)  # a bad profile is refused as everywhere else
        path = lock_path(profile)
        environments = read_lock(path).environments
        if env is not None:
            environments = {k: v for k, v in environments.items() if k == env}
        if not environments:
            which = f" for environment '{env}'" if env else ""
            raise InfraError(
                f"{path} holds no decision{which}; `infra plan {profile} --env ENV` decides and "
                "records one."
            )
        if json_output:
            data = {"lock_file": str(path), "environments": msgspec.to_builtins(environments)}
            typer.echo(json.dumps(data, indent=2))
            return
        typer.echo(f"{path}:")
        for name, entry in environments.items():
            decision = entry.decision
            whole = entry.deployment_monthly_usd
            typer.echo(
                f"  {name}: {decision.summary()}, zones {', '.join(decision.zones) or '—'}, "
                f"{decision.on_demand_instances} on-demand + {decision.spot_instances} spot, "
                f"${decision.instances_monthly_usd:,.2f}/month for {decision.monthly_covers}"
                + (f", ${whole:,.2f}/month for the whole deployment" if whole else "")
                + f"; decided {entry.decided_at} on the catalog of {decision.catalog_date}"
            )

    run_guarded(work, as_json=json_output)


@lock_app.command("update")
def update(
    profile: RequiredProfileArgument,
    env: EnvOption = "local",
    cloud: CloudOption = None,
    kind: KindOption = None,
    region: RegionOption = None,
    instance_type: InstanceOption = None,
    allow_large_fleet: AllowLargeFleetOption = False,
    json_output: JsonOption = False,
) -> None:
    """Decide again for one environment (today's catalog, profile and pins), show the change,
    and record it. Deploys nothing: `infra plan` then shows what changes, a move included."""

    def work() -> None:
        from cli.decision_render import change_lines, decision_dict
        from cli.gates import confirm_large_fleet
        from orchestrator.costing import cost_of_deployment
        from orchestrator.decisions import record
        from orchestrator.workflow import prepare
        from planner.lock import lock_path

        deployment = prepare(
            profile, env, filters_from_pins(cloud, kind, region, instance_type), replan=True
        )
        confirm_large_fleet(deployment, allowed=allow_large_fleet, ask=not json_output)
        resolved = deployment.resolved
        assert resolved is not None
        written = None
        if resolved.needs_recording:
            cost = cost_of_deployment(deployment, profile)
            written = str(record(resolved, cost.monthly_usd.expected))
        data: dict[str, Any] = {"decision": decision_dict(resolved), "lock_file": written}
        if json_output:
            typer.echo(json.dumps(data, indent=2))
            return
        name = lock_path(profile).name
        lines = change_lines(resolved, name) if resolved.change else []
        if resolved.locked is None:
            lines = [f"decided: {resolved.decision.summary()}"]
        lines.append(f"Recorded in {written}." if written else f"{name} is unchanged.")
        typer.echo("\n".join(lines))

    run_guarded(work, as_json=json_output)
