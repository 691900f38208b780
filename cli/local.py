"""`infra local up|down|status`: the local emulated AWS that `--env local` deploys to.

Exit codes: 0 on success, including `status` when the emulator is not running (the answer is
`running: false`, not an error); 1 when it cannot be started or stopped.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from cli.errors import run_guarded
from cli.options import JsonOption

if TYPE_CHECKING:
    from providers.local.emulator import EmulatorStatus

local_app = typer.Typer(
    help="The local emulated AWS (moto's server on a loopback port) that `--env local` uses.",
    no_args_is_help=True,
)


def _show(status: EmulatorStatus, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(status.to_dict(), indent=2))
    elif status.running:
        typer.echo(
            f"local AWS emulator running at {status.endpoint} "
            f"(pid {status.pid}, since {status.started_at}, moto {status.moto_version})"
        )
    else:
        typer.echo("local AWS emulator not running; start it with `infra local up`.")


@local_app.command("up")
def up(
    port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="Loopback port (default 4566 if free, else any free port)."
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Start the emulator, or show the one already running."""

    def work() -> None:
        from providers.local.emulator import start

        _show(start(port), json_output)

    run_guarded(work, as_json=json_output)


@local_app.command("down")
def down(json_output: JsonOption = False) -> None:
    """Stop the emulator; every emulated resource is forgotten."""

    def work() -> None:
        from providers.local.emulator import stop

        stopped = stop()
        if json_output:
            typer.echo(json.dumps({"stopped": stopped}, indent=2))
        elif stopped:
            typer.echo("stopped the local AWS emulator; its emulated resources are gone.")
        else:
            typer.echo("the local AWS emulator was not running.")

    run_guarded(work, as_json=json_output)


@local_app.command("status")
def status(json_output: JsonOption = False) -> None:
    """Whether the emulator is running, where, and since when (exit code 0 either way)."""

    def work() -> None:
        from providers.local.emulator import status as emulator_status

        _show(emulator_status(), json_output)

    run_guarded(work, as_json=json_output)
