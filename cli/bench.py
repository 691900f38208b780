"""`infra bench`: load-test a deployed endpoint (OpenAI-compatible, or a managed endpoint's invoke
API) with the profile's traffic and compare it with what the planner predicted; `--record` writes
the figures into the profile.

Exit codes: 0 measured (errors counted in the report), 1 bad input or an endpoint that refused,
failed or timed out on every request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.errors import run_guarded
from cli.options import EnvOption, JsonOption, RequiredProfileArgument

if TYPE_CHECKING:
    from orchestrator.loadtest.run import BenchReport
    from orchestrator.loadtest.summary import StepSummary

REPORT_FORMATS = (".html", ".md", ".json")


def bench(
    profile: RequiredProfileArgument,
    env: EnvOption = "local",
    url: Annotated[
        str | None,
        typer.Option(
            help="An OpenAI-compatible endpoint (base URL, …/v1 or …/v1/chat/completions); "
            "default: the deployment's own (a fleet's load balancer, a managed endpoint's "
            "invoke API with your cloud credentials)."
        ),
    ] = None,
    duration: Annotated[
        str, typer.Option(help="How long each rate sends requests (e.g. 90s, 5m).")
    ] = "5m",
    rate: Annotated[
        str | None,
        typer.Option(help="Requests per second (Poisson); default: the profile's."),
    ] = None,
    sweep: Annotated[
        str | None,
        typer.Option(help="Rates to run in turn, e.g. 2,4,8,16: where do the targets break?"),
    ] = None,
    max_requests: Annotated[
        int | None, typer.Option(min=1, help="At most this many requests per rate.")
    ] = None,
    timeout: Annotated[
        str, typer.Option(help="A request not finished within this is an error.")
    ] = "120s",
    replicas: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Model replicas behind the URL (default: the decision's instances × replicas "
            "per instance); the planner's figures and --record are per replica.",
        ),
    ] = None,
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Write the figures at the highest rate where the targets held into the "
            "profile's workload.measured (the next recommend uses them).",
        ),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(help="Also write the report to this file: .html (charts), .md or .json."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Load-test the endpoint of PROFILE's deployment and compare it with the prediction."""

    def work() -> None:
        from cli import bench_render
        from cli.deploy import prepare_quietly
        from orchestrator.loadtest.inputs import BenchError, chat_url, parse_duration, rates
        from orchestrator.loadtest.run import BenchSettings, deployed_transport, run_bench
        from orchestrator.loadtest.transport import OpenAiHttp
        from planner.optimizer import Filters

        if report is not None and report.suffix.lower() not in REPORT_FORMATS:
            raise BenchError(
                f"--report {report}: give a file ending in {', '.join(REPORT_FORMATS)}."
            )
        seconds = parse_duration(duration)
        timeout_s = parse_duration(timeout, "--timeout")
        given = OpenAiHttp(chat_url(url)) if url is not None else None
        deployment = prepare_quietly(profile, env, None, Filters(), True, allow_stale=True)
        resolved = deployment.resolved
        assert resolved is not None  # prepared from a profile
        settings = BenchSettings(
            transport=given or deployed_transport(deployment),
            rates=rates(rate, sweep, resolved.profile.workload.requests_per_second),
            duration_s=seconds,
            max_requests=max_requests,
            timeout_s=timeout_s,
            replicas=replicas
            or resolved.decision.instances * resolved.decision.replicas_per_instance,
        )

        def progress(step: StepSummary) -> None:
            if not json_output:
                typer.echo(
                    f"  ✓ {step.rate:g}/s: {step.succeeded}/{step.requests} answered", err=True
                )

        result = run_bench(resolved, env, settings, progress)
        recorded = _record(profile, result) if record else None
        data = {**result.to_dict(), "recorded": recorded}
        if report is not None:
            _write_report(report, result, data)
        if json_output:
            typer.echo(json.dumps(data, indent=2))
            return
        typer.echo(bench_render.text(result))
        if recorded:
            typer.echo(f"{profile}: {recorded['done']}; `infra recommend` now uses it.")
        if report is not None:
            typer.echo(f"wrote {report}")

    run_guarded(work, as_json=json_output)


def _record(profile: Path, result: BenchReport) -> dict[str, object]:
    import msgspec

    from orchestrator.loadtest.run import measured_entry
    from planner.profile_record import record_measured

    entry = measured_entry(result)
    done = record_measured(profile, entry)
    return {"done": done, "entry": msgspec.to_builtins(entry)}


def _write_report(path: Path, result: BenchReport, data: dict[str, object]) -> None:
    from cli import bench_html, bench_render
    from core.files import write_atomically

    suffix = path.suffix.lower()
    if suffix == ".html":
        text = bench_html.report_html(result)
    elif suffix == ".md":
        text = bench_render.markdown(result)
    else:
        text = json.dumps(data, indent=2)
    write_atomically(path, text, private=False)


def register(app: typer.Typer) -> None:
    app.command()(bench)
