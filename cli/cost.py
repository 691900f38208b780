"""`infra cost [PROFILE | --plan FILE]` and `infra cost diff BASE HEAD`: parse, call
orchestrator.costing, render. `infra cost PROFILE` is short for `infra cost report PROFILE`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from cli.errors import run_guarded
from cli.options import (
    CloudOption,
    EnvOption,
    InstanceOption,
    JsonOption,
    KindOption,
    PricingRegionOption,
    ProfileArgument,
    SpecOption,
    filters_from_pins,
)

DEFAULT_COMMAND = "report"


class ReportByDefault(TyperGroup):
    """Route `infra cost ARGS` to `infra cost report ARGS` unless ARGS name a subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


cost_app = typer.Typer(
    cls=ReportByDefault,
    help="What a deployment costs a month, from its plan and the price catalog; "
    "`infra cost diff` for what a change costs.",
)

FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="table, json, csv, markdown, html or infracost-json (Infracost's JSON schema 0.2).",
    ),
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
]
UsageFileOption = Annotated[
    Path | None,
    typer.Option(
        "--usage-file",
        help="An Infracost-style usage file (version 0.1): the traffic-driven quantities "
        "(data processed, load-balancer capacity units, log volume) to price instead of "
        "listing them by usage.",
    ),
]


def _usage(path: Path | None) -> Any:
    """The usage file's estimates, read before anything is synthesized or priced."""
    if path is None:
        return None
    from planner.cost.usage_file import load_usage_file

    return load_usage_file(path)


def _check_format(fmt: str, allowed: tuple[str, ...]) -> None:
    from core.errors import InfraError

    if fmt not in allowed:
        raise InfraError(f"unknown format '{fmt}'; choose from {', '.join(allowed)}.")


def _emit(rendered: str | Any, output: Path | None) -> None:
    """Write text (or a rich renderable, as plain text to a file) to stdout or `output`."""
    if not isinstance(rendered, str):
        from rich.console import Console

        if output is None:
            console = Console()
            if not console.is_terminal:
                console.width = 180
            console.print(rendered)
            return
        console = Console(record=True, width=180, file=io.StringIO())
        console.print(rendered)
        rendered = console.export_text()
    if output is None:
        typer.echo(rendered, nl=False)
        return
    from core.files import write_atomically

    write_atomically(output, rendered, private=False)
    typer.echo(f"wrote {output}", err=True)


def _alternatives(deployment: Any, top: int = 12) -> list[dict[str, Any]]:
    """The chosen candidate and the next cheapest, with their predicted p95 latency."""
    recommendation = deployment.recommendation
    if recommendation is None:
        return []

    rows = []
    for index, candidate in enumerate(recommendation.candidates[:top]):
        predicted = recommendation.predicted(candidate)
        latency = predicted.e2e_ms_p95 or predicted.ttft_ms_p95
        o = candidate.offering
        rows.append(
            {
                "label": f"{o.cloud}/{o.kind} {candidate.instances}× {o.display_name} {o.region}",
                "monthly_usd": round(candidate.expected_monthly_usd, 2),
                "latency_ms": latency,
                "chosen": index == 0,
            }
        )
    return rows


def _say_what_if(deployment: Any) -> None:
    """A priced decision that is not the lock's says so (a changed profile, or pins)."""
    resolved = deployment.resolved
    if resolved is None or resolved.source != "replan" or resolved.change is None:
        return
    why = "; ".join(resolved.change.reasons)
    typer.echo(
        f"note: priced {resolved.decision.summary()}, not the lock's "
        f"{resolved.locked.decision.summary() if resolved.locked else 'decision'} ({why}); "
        "`infra plan --replan` would record it.",
        err=True,
    )


@cost_app.command(DEFAULT_COMMAND)
def report(
    profile: ProfileArgument = None,
    plan: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            help="Price this `terraform show -json` output (or a cdk.tf.json) instead of "
            "synthesizing; with PROFILE, the profile gives the load and the budget.",
        ),
    ] = None,
    env: EnvOption = "local",
    spec: SpecOption = None,
    cloud: CloudOption = None,
    kind: KindOption = None,
    region: PricingRegionOption = None,
    instance_type: InstanceOption = None,
    fmt: FormatOption = "table",
    output: OutputOption = None,
    usage_file: UsageFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Monthly cost of PROFILE's deployment (or of a plan file): every resource, min / expected /
    max at the autoscaling bounds, spot savings, cost per million output tokens.

    No cloud account is needed for a profile: its synthesized configuration is priced.
    """
    fmt = "json" if json_output else fmt

    def work() -> None:
        from cli.cost_render import REPORT_FORMATS, render_report
        from core.errors import InfraError

        _check_format(fmt, REPORT_FORMATS)
        usage = _usage(usage_file)
        alternatives: list[dict[str, Any]] = []
        if plan is not None:
            from orchestrator.costing import cost_of_file

            if spec is not None:
                raise InfraError("give --plan with an optional PROFILE, not with --spec.")
            week = None
            if profile is not None:
                from orchestrator.costing import decision_week

                pins = filters_from_pins(cloud, kind, region, instance_type)
                week = decision_week(profile, env, pins)
            cost = cost_of_file(plan, region, profile, env, usage, week)
        else:
            from cli.deploy import prepare_quietly
            from orchestrator.costing import cost_of_deployment

            deployment = prepare_quietly(
                profile,
                env,
                spec,
                filters_from_pins(cloud, kind, region, instance_type),
                what_if=True,
            )
            _say_what_if(deployment)
            cost = cost_of_deployment(deployment, profile, usage)
            alternatives = _alternatives(deployment)
        _emit(render_report(cost, fmt, alternatives), output)

    run_guarded(work, as_json=fmt == "json")


@cost_app.command("diff")
def diff(
    base: Annotated[str, typer.Argument(help="Profile, plan JSON, or REV:PATH (git).")],
    head: Annotated[str, typer.Argument(help="Profile, plan JSON, or REV:PATH (git).")],
    env: EnvOption = "local",
    cloud: CloudOption = None,
    kind: KindOption = None,
    region: PricingRegionOption = None,
    instance_type: InstanceOption = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table, json, csv, markdown or infracost-json.")
    ] = "table",
    output: OutputOption = None,
    usage_file: UsageFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Monthly cost change from BASE to HEAD, per resource and in total.

    Example for a pull request: `infra cost diff origin/main:profiles/chat.yaml
    profiles/chat.yaml --env prod --format markdown`.
    """
    fmt = "json" if json_output else fmt

    def work() -> None:
        from cli.cost_render import DIFF_FORMATS, render_diff
        from orchestrator.costing import diff_sides

        _check_format(fmt, DIFF_FORMATS)
        filters = filters_from_pins(cloud, kind, region, instance_type)
        usage = _usage(usage_file)
        _emit(render_diff(diff_sides(base, head, env, filters, region, usage), fmt), output)

    run_guarded(work, as_json=fmt == "json")
