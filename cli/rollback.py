"""`infra rollback`: send a baking canary's traffic back to the revision that served before it,
and remove the canary: a Vertex AI or Azure ML endpoint's (through the SDK), or a canary in the
Terraform configuration (Kubernetes). Other kinds say how they roll back instead."""

from __future__ import annotations

import typer

from cli.deploy import _emit, _prepare_to_read
from cli.errors import run_guarded
from cli.options import JsonOption, Target, on_target


def register(app: typer.Typer) -> None:
    @app.command()
    @on_target
    def rollback(target: Target, json_output: JsonOption = False) -> None:
        """Shift a baking canary's traffic back (Vertex AI, Azure ML, Kubernetes), remove it.

        Give the profile that was deployed last: its serving configuration names the canary.
        """

        def work() -> None:
            from cli.endpoint_render import rollback_text
            from orchestrator.sdk_steps import rollback as roll_back

            deployment = _prepare_to_read(target, json_output)
            result = roll_back(deployment)
            _emit(result, json_output, rollback_text(result))

        run_guarded(work, as_json=json_output)
