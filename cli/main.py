"""The `infra` command line: parse, call the planner/orchestrator, render. No business logic here.

Imports of the planner, catalogs and rich happen inside the commands, so `infra --help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli import __version__
from cli.bench import register as register_bench_command
from cli.check import register as register_check_command
from cli.ci import ci_app
from cli.cost import cost_app
from cli.deploy import register as register_deployment_commands
from cli.errors import run_guarded
from cli.local import local_app
from cli.lock import lock_app
from cli.options import CLOUDS, KINDS, JsonOption, RequiredProfileArgument, either
from cli.repair import register as register_repair_command
from cli.rollback import register as register_rollback_command
from providers import targets

app = typer.Typer(
    name="infra",
    help="Pick the cheapest cloud hardware that serves a model within its targets, "
    "provision it with Terraform, and report what it costs.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
catalog_app = typer.Typer(
    help="Browse the price catalog (offerings per cloud, region and zone) and refresh its prices."
)
models_app = typer.Typer(help="Built-in model architectures.")
profile_app = typer.Typer(help="Write and check profiles.")
app.add_typer(catalog_app, name="catalog", no_args_is_help=True)
app.add_typer(models_app, name="models", no_args_is_help=True)
app.add_typer(profile_app, name="profile", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"infra {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """infra: GPU serving infrastructure from a model profile."""


def _lowered(values: list[str] | None) -> frozenset[str] | None:
    return frozenset(v.lower() for v in values) if values else None


@app.command()
def recommend(
    profile: RequiredProfileArgument,
    top: Annotated[int, typer.Option(min=0, help="How many alternatives to list.")] = 5,
    cloud: Annotated[
        list[str] | None, typer.Option(help=f"Only this cloud ({CLOUDS}); repeatable.")
    ] = None,
    region: Annotated[list[str] | None, typer.Option(help="Only this region; repeatable.")] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(help=f"Only this kind ({KINDS}); repeatable."),
    ] = None,
    accelerator: Annotated[
        list[str] | None, typer.Option(help="Only this accelerator (e.g. L4, H100); repeatable.")
    ] = None,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            help="Rank within what this environment deploys, as plan and deploy do ('local' is "
            "the emulated AWS), and show its locked decision.",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Rank the feasible hardware for PROFILE and pick the cheapest.

    Without --env: the unrestricted optimum, and what each environment would deploy instead
    (its lock file's decision, or what plan would decide) and why.
    Exit codes: 0 a recommendation, 1 bad input, 3 no feasible candidate.
    """

    def work() -> None:
        from cli import render
        from orchestrator.decisions import (
            environment_view,
            environments_of,
            recommend_for_env,
        )
        from planner.optimizer import Filters
        from planner.service import recommend_for_profile

        filters = Filters(
            clouds=_lowered(cloud),
            regions=frozenset(region) if region else None,
            kinds=_lowered(kind),
            accelerators=_lowered(accelerator),
        )
        if env is not None:
            result = recommend_for_env(profile, env, filters)
            views = [environment_view(profile, env, filters, None)]
        else:
            result = recommend_for_profile(profile, filters, Filters())
            o = result.chosen.offering
            best = (o.cloud, o.kind, o.region, o.instance_type)
            views = [
                environment_view(profile, name, filters, best)
                for name in environments_of(result.profile)
            ]
        render.recommendation(result, top=top, as_json=json_output, environments=views)

    run_guarded(work, as_json=json_output)


@catalog_app.command("list")
def catalog_list(
    cloud: Annotated[str | None, typer.Option(help=f"{either(targets.cloud_names())}.")] = None,
    accelerator: Annotated[str | None, typer.Option(help="e.g. H100, L4, A10G.")] = None,
    region: Annotated[str | None, typer.Option(help="e.g. us-east-1.")] = None,
    kind: Annotated[str | None, typer.Option(help=f"{either(targets.kind_names())}.")] = None,
    json_output: JsonOption = False,
) -> None:
    """List offerings: one row per instance type and region, with the cheapest zone's prices."""

    def work() -> None:
        from cli import render
        from planner.service import list_offerings

        render.offerings(list_offerings(cloud, accelerator, region, kind), as_json=json_output)

    run_guarded(work, as_json=json_output)


@catalog_app.command("show")
def catalog_show(
    instance: Annotated[
        str, typer.Argument(help="Instance type, e.g. g5.12xlarge or ml.g5.2xlarge.")
    ],
    json_output: JsonOption = False,
) -> None:
    """Every region and zone price of one instance type, with the spot notes."""

    def work() -> None:
        from cli import render
        from planner.service import show_instance

        render.instance_detail(instance, show_instance(instance), as_json=json_output)

    run_guarded(work, as_json=json_output)


@catalog_app.command("refresh")
def catalog_refresh(
    cloud: Annotated[
        list[str] | None, typer.Option(help=f"Only this cloud ({CLOUDS}); repeatable.")
    ] = None,
    region: Annotated[
        list[str] | None,
        typer.Option(help="Only this region; repeatable (default: every region of the catalog)."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Fetch current prices from the clouds' pricing APIs into the user's price cache.

    AWS uses boto3's credentials; Azure needs none; GCP needs INFRA_GCP_API_KEY (or
    GOOGLE_API_KEY). The cache is $INFRA_HOME/catalog (default ~/.infra/catalog); the shipped
    prices stay the fallback. Exit codes: 0 every cloud refreshed, 1 none (or bad input),
    6 some clouds refreshed and some not.
    """

    def work() -> None:
        from contextlib import nullcontext

        from cli import catalog_render
        from providers.price_refresh import refresh_prices

        bars = nullcontext(None) if json_output else catalog_render.progress_bars()
        with bars as progress:
            report = refresh_prices(cloud, region, progress=progress)
        catalog_render.refresh_report(report, as_json=json_output)
        if report.exit_code:
            raise typer.Exit(report.exit_code)

    run_guarded(work, as_json=json_output)


@catalog_app.command("status")
def catalog_status(json_output: JsonOption = False) -> None:
    """Per cloud: shipped or refreshed prices, their date and age, rows, regions, last refresh.

    Prices older than INFRA_CATALOG_MAX_AGE_DAYS (default 7; 'off' to silence) are stale, and
    `recommend` warns about them.
    """

    def work() -> None:
        from cli import catalog_render
        from providers.price_freshness import catalog_status as status

        catalog_render.catalog_status(status(), as_json=json_output)

    run_guarded(work, as_json=json_output)


@models_app.command("list")
def models_list(json_output: JsonOption = False) -> None:
    """The built-in models a profile can name under model.name."""

    def work() -> None:
        from cli import render
        from planner.models import builtin_models

        render.models(list(builtin_models().values()), as_json=json_output)

    run_guarded(work, as_json=json_output)


@profile_app.command("init")
def profile_init(
    name: Annotated[str, typer.Argument(help="Profile name (lowercase letters, digits, dashes).")],
    model: Annotated[
        str, typer.Option(help="A built-in model (see `infra models list`).")
    ] = "llama-3.1-8b",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to write it (default NAME.yaml).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented profile scaffold to start from."""

    def work() -> None:
        from planner.scaffold import write_profile_scaffold

        path = write_profile_scaffold(name, model, output or Path(f"{name}.yaml"), force=force)
        typer.echo(f"wrote {path}; next: infra recommend {path}")

    run_guarded(work, as_json=False)


@profile_app.command("check")
def profile_check(profile: RequiredProfileArgument) -> None:
    """Validate a profile without planning anything."""

    def work() -> None:
        from planner.profile import load_profile

        loaded = load_profile(profile).profile
        typer.echo(f"{profile}: valid profile '{loaded.name}' for {loaded.model_spec().name}.")

    run_guarded(work, as_json=False)


register_deployment_commands(app)
register_rollback_command(app)
register_repair_command(app)
register_check_command(app)
register_bench_command(app)
app.add_typer(local_app, name="local", no_args_is_help=True)
app.add_typer(ci_app, name="ci", no_args_is_help=True)
app.add_typer(cost_app, name="cost", no_args_is_help=True)
app.add_typer(lock_app, name="lock", no_args_is_help=True)


def run() -> None:
    """Console-script entry point."""
    app(prog_name="infra")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
