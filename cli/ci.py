"""`infra ci init`: write a CI pipeline (GitHub Actions or GitLab CI) that runs the toolkit.

Exit codes: 0 written; 1 bad input, an existing file without --force, or a write failure (one
sentence, nothing written). A missing --provider is reported the same way rather than as a usage
error, because exit 2 means "changes present" everywhere else in `infra`.

Options left out take orchestrator.ci_pipelines.PipelineSettings' defaults, which the help names;
that module loads only when the command runs, so `infra --help` does not pay for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.errors import run_guarded
from cli.options import JsonOption

if TYPE_CHECKING:
    from orchestrator.ci_pipelines import WrittenPipeline

ci_app = typer.Typer(
    help="CI pipelines: plan on pull requests, apply the reviewed plan on merge, nightly drift.",
    no_args_is_help=True,
)


def _next_steps(written: WrittenPipeline) -> str:
    roles = ", ".join(written.role_variables)
    approval = ", ".join(written.approval_environments)
    if written.provider == "github":
        steps = [
            f"set the repository variables {roles} to IAM role ARNs (GitHub OIDC trust)",
            "create the GitHub environments it names"
            + (f" and give {approval} required reviewers" if approval else ""),
        ]
    else:
        steps = [
            f"set the CI/CD variables {roles} (protected) and their _PLAN variants to IAM role "
            "ARNs (GitLab OIDC trust)",
            "set INFRA_MR_NOTE_TOKEN to a project access token with api scope",
            "protect the environments it names and add a nightly pipeline schedule",
        ]
    if written.needs_an_index:
        steps.append(
            f"upload {written.toolkit_spec} to your package index and set the CI variable "
            "TOOLKIT_INDEX to its URL (the toolkit is not on PyPI), or pass --toolkit-spec a git "
            "URL at a tag"
        )
    steps.append(
        "commit each profile's lock file, which `infra plan` writes beside it: CI plans with "
        "--locked, only the decision committed"
    )
    return "next: " + "; ".join(steps) + "."


@ci_app.command("init")
def init(
    provider: Annotated[
        str | None, typer.Option(help="github or gitlab (required).", show_default=False)
    ] = None,
    profile: Annotated[
        list[Path] | None,
        typer.Option(
            help="A profile to plan and apply; repeatable. Default: every *.yaml and *.yml file "
            "in profiles/ under the output directory.",
            show_default=False,
        ),
    ] = None,
    env: Annotated[
        list[str] | None,
        typer.Option(
            help="An environment for every profile; repeatable. Default: the environments each "
            "profile declares under deploy.environments.",
            show_default=False,
        ),
    ] = None,
    aws_role_variable: Annotated[
        str | None,
        typer.Option(
            help="Prefix of the CI variables holding role ARNs: PREFIX_<ENV> for apply, "
            "PREFIX_<ENV>_PLAN (optional) for plan and drift. Default: AWS_ROLE_ARN.",
            show_default=False,
        ),
    ] = None,
    output_dir: Annotated[
        Path, typer.Option(help="The repository root to write the pipeline file into.")
    ] = Path("."),
    toolkit_spec: Annotated[
        str | None,
        typer.Option(
            help="The toolkit the pipeline installs, pinned: NAME==VERSION (from PyPI or the "
            "index in the CI variable TOOLKIT_INDEX), or NAME @ git+URL@TAG-OR-COMMIT, or NAME @ "
            "a wheel's URL; the CI variable TOOLKIT_SPEC overrides it. Default: "
            "infra-serving-toolkit==VERSION, this toolkit's own version.",
            show_default=False,
        ),
    ] = None,
    terraform_version: Annotated[
        str | None,
        typer.Option(
            help="The Terraform release the pipeline installs, 1.10 or later. Default: 1.11.4.",
            show_default=False,
        ),
    ] = None,
    default_branch: Annotated[
        str | None,
        typer.Option(
            help="The branch merges go to (GitHub; GitLab knows its own). Default: main.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing pipeline file.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Write .github/workflows/infra.yml or .gitlab-ci.yml for the profiles and environments."""

    def work() -> None:
        from orchestrator.ci_pipelines import PipelineSettings, write_pipeline

        chosen = {
            "role_variable": aws_role_variable,
            "toolkit_spec": toolkit_spec,
            "terraform_version": terraform_version,
            "default_branch": default_branch,
        }
        settings = PipelineSettings(
            provider=provider,
            output_dir=output_dir,
            profiles=tuple(profile or ()),
            environments=tuple(env or ()),
            **{name: value for name, value in chosen.items() if value is not None},
        )
        written = write_pipeline(settings, force=force)
        if json_output:
            typer.echo(json.dumps(written.to_dict(), indent=2))
            return
        targets = ", ".join(f"{t.name}/{t.env}" for t in written.targets)
        typer.echo(f"wrote {written.path} for {targets}")
        typer.echo(_next_steps(written))

    run_guarded(work, as_json=json_output)
