"""`infra check`: synthesize the deployment and scan it with checkov's policies.

Exit codes: 0 no unsuppressed finding at or above the threshold, 5 such findings, 1 error.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer

from cli.deploy import _prepare
from cli.errors import run_guarded
from cli.gates import DEFAULT_SEVERITY, SeverityOption
from cli.options import JsonOption, Target, on_target

if TYPE_CHECKING:
    from orchestrator.policy import PolicyReport

POLICY_FINDINGS = 5


def register(app: typer.Typer) -> None:
    @app.command()
    @on_target
    def check(
        target: Target,
        severity: SeverityOption = DEFAULT_SEVERITY,
        json_output: JsonOption = False,
    ) -> None:
        """Scan the synthesized Terraform with checkov's security policies.

        Suppressed findings are listed with their reason and never fail the check.
        Exit 0: no unsuppressed finding at or above --severity; 5: such findings; 1: an error.
        """

        def work() -> None:
            from orchestrator.policy import check_config, threshold_level
            from orchestrator.workflow import synth

            threshold = threshold_level(severity)  # refuse a bad level before synthesizing
            deployment = _prepare(target, json_output)
            config = synth(deployment)
            with deployment.step("check"):
                report = check_config(config, threshold)
            if json_output:
                typer.echo(json.dumps(report.to_dict(), indent=2))
            else:
                _print_report(report)
            if report.blocking:
                raise typer.Exit(POLICY_FINDINGS)

        run_guarded(work, as_json=json_output)


def _print_report(report: PolicyReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console.width = 180
    console.print(
        f"checkov {report.checkov_version}: {report.passed} passed, {len(report.findings)} "
        f"failed ({len(report.blocking)} blocking at {report.threshold} or above, "
        f"{len(report.suppressed)} suppressed) in {report.config}",
        highlight=False,
        markup=False,
    )
    if report.findings:
        table = Table()
        for column in ("severity", "check", "resource", "status", "what / why suppressed"):
            table.add_column(column, overflow="fold")
        for finding in report.findings:
            table.add_row(
                finding.severity,
                finding.check_id,
                finding.address,
                finding.status,
                finding.reason or finding.check_name,
            )
        console.print(table)
    verdict = (
        f"{len(report.blocking)} finding(s) at {report.threshold} or above: fix the stack or add "
        "a justified suppression (orchestrator/policy_suppressions.py)."
        if report.blocking
        else f"No unsuppressed finding at {report.threshold} or above."
    )
    console.print(verdict, highlight=False, markup=False)
