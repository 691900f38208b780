"""`infra ci init`: the GitHub Actions and GitLab CI pipelines it writes, checked as YAML, against
the published schemas, against the real `infra` command line, and by running their exit-code
handling in bash; and every way it refuses, writing nothing."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from cli.main import app
from core.errors import InfraError
from orchestrator import ci_pipelines
from orchestrator.ci_pipelines import PipelineSettings, write_pipeline
from tests.conftest import REPO, Cli, profile_dict, write_profile

try:  # typer 0.28 parses with its own copy of click; earlier versions with click itself
    from typer._click.exceptions import UsageError
except ImportError:  # pragma: no cover
    from click import UsageError

PROVIDERS = ("github", "gitlab")
PIPELINE_FILES = {"github": ".github/workflows/infra.yml", "gitlab": ".gitlab-ci.yml"}
BACKEND = {"s3_bucket": "my-terraform-state", "region": "us-east-1"}
CHAT = profile_dict(
    deploy={"environments": {"staging": {"backend": BACKEND}, "prod": {"backend": BACKEND}}}
)
SUPPORT = profile_dict(
    name="support",
    deploy={"environments": {"local": {}, "qa": {"protected": True, "backend": BACKEND}}},
)
TARGETS = [("chat", "staging"), ("chat", "prod"), ("support", "qa")]
"""What the two profiles above deploy to: `local` is never a CI target; qa is `protected`."""

INFRA_COMMANDS = ("check", "plan", "cost diff", "cost", "apply", "drift")
"""The toolkit's CI contract: both pipelines run each, and each must parse with the real CLI."""
PLACEHOLDER = "placeholder"
TOOLKIT = "infra-serving-toolkit"
OWN_VERSION = f"{TOOLKIT}=={version(TOOLKIT)}"
TOOL_STEPS = ("Key the tools' cache", "actions/cache@v6", "Install the toolkit")
_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
_SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "&"}


def make_repo(root: Path) -> Path:
    (root / "profiles").mkdir(parents=True)
    write_profile(root / "profiles", CHAT, "chat.yaml")
    write_profile(root / "profiles", SUPPORT, "support.yml")
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Both pipelines written for the two profiles: provider -> (path, text)."""
    root = make_repo(tmp_path_factory.mktemp("ci") / "repo")
    written = {}
    for provider in PROVIDERS:
        path = write_pipeline(PipelineSettings(provider=provider, output_dir=root)).path
        written[provider] = (path, path.read_text())
    return written


def document(pipelines: dict[str, tuple[Path, str]], provider: str) -> dict[Any, Any]:
    return yaml.safe_load(pipelines[provider][1])


def shell_scripts(provider: str, doc: dict[Any, Any]) -> Iterator[str]:
    """The text of every shell script: GitHub `run:` steps, GitLab script entries."""
    if provider == "github":
        for job in doc["jobs"].values():
            yield from (step["run"] for step in job["steps"] if "run" in step)
        return
    for job in doc.values():
        if isinstance(job, dict):
            for key in ("before_script", "script", "after_script"):
                yield from job.get(key, [])


def infra_lines(provider: str, doc: dict[Any, Any]) -> list[str]:
    lines = []
    for script in shell_scripts(provider, doc):
        for line in script.replace("\\\n", " ").splitlines():
            if line.strip().startswith("infra "):
                lines.append(line.strip())
    return lines


def infra_arguments(line: str) -> list[str]:
    """The arguments after `infra`, with CI expressions and shell variables replaced by one
    placeholder value and the shell's redirections and pipes cut off."""
    text = _VARIABLE.sub(PLACEHOLDER, _EXPRESSION.sub(PLACEHOLDER, line))
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    for index, token in enumerate(tokens):
        if token in _SHELL_OPERATORS:
            tokens = tokens[:index]
            break
    assert tokens[0] == "infra", line
    return tokens[1:]


def parse_with_cli(arguments: list[str]) -> Any:
    """Parse the way `infra` does, without running anything, and return the innermost command's
    context: an unknown command or option, or a missing argument, raises UsageError."""
    command: Any = typer.main.get_command(app)
    context = command.make_context("infra", list(arguments), resilient_parsing=False)
    while hasattr(command, "resolve_command"):  # a group: as its invoke() does, find the
        rest = [*context._protected_args, *context.args]  # subcommand, then parse its arguments
        name, command, rest = command.resolve_command(context, rest)
        context = command.make_context(name, rest, parent=context, resilient_parsing=False)
    return context


def command_path(context: Any) -> str:
    return context.command_path.removeprefix("infra ")


# --- GitHub Actions ------------------------------------------------------------------------------


def test_github_triggers_and_permissions(pipelines: dict[str, tuple[Path, str]]) -> None:
    doc = document(pipelines, "github")
    triggers = doc[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["pull_request"] == {"branches": ["main"]}
    assert triggers["push"] == {"branches": ["main"]}
    assert re.fullmatch(r"\d+ \d+ \* \* \*", triggers["schedule"][0]["cron"])
    assert doc["permissions"] == {"contents": "read"}
    jobs = doc["jobs"]
    for name in ("plan", "apply", "drift"):
        assert jobs[name]["permissions"]["id-token"] == "write"
        assert jobs[name]["permissions"]["contents"] == "read"
    assert jobs["cost-comment"]["permissions"] == {"pull-requests": "write"}
    assert jobs["apply"]["permissions"]["actions"] == "read"  # the pull request run's artifact
    assert jobs["drift"]["permissions"]["issues"] == "write"
    assert jobs["plan"]["if"] == "github.event_name == 'pull_request'"
    assert jobs["find-plan"]["if"] == "github.event_name == 'push'"
    assert jobs["apply"]["needs"] == "find-plan"
    assert "schedule" in jobs["drift"]["if"]


def test_github_matrix_concurrency_and_approval(pipelines: dict[str, tuple[Path, str]]) -> None:
    jobs = document(pipelines, "github")["jobs"]
    for name in ("plan", "apply", "drift"):
        job = jobs[name]
        include = job["strategy"]["matrix"]["include"]
        assert [(entry["name"], entry["env"]) for entry in include] == TARGETS
        assert include[2] == {
            "profile": "profiles/support.yml",
            "lock": "profiles/support.lock.yaml",
            "name": "support",
            "env": "qa",
            "role": "AWS_ROLE_ARN_QA",
        }
        assert job["concurrency"] == {
            "group": "infra-${{ matrix.env }}",
            "cancel-in-progress": False,
            "queue": "max",  # without it a newer pending job cancels the one waiting
        }
        assert job["strategy"]["fail-fast"] is False
    assert jobs["apply"]["environment"] == "${{ matrix.env }}"
    assert "environment" not in jobs["plan"]  # plans must not wait for the apply reviewers


def test_github_oidc_role_from_variables(pipelines: dict[str, tuple[Path, str]]) -> None:
    jobs = document(pipelines, "github")["jobs"]
    for name in ("plan", "apply", "drift"):
        job = jobs[name]
        (credentials,) = [
            step
            for step in job["steps"]
            if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
        ]
        assert credentials["with"]["role-to-assume"] == "${{ env.INFRA_ROLE_ARN }}"
        assert set(credentials["with"]) == {"role-to-assume", "role-session-name", "aws-region"}
        assert job["env"]["INFRA_ROLE_ARN"].startswith("${{ vars[")
    assert jobs["apply"]["env"]["INFRA_ROLE_ARN"] == "${{ vars[matrix.role] }}"
    plan_role = "${{ vars[format('{0}_PLAN', matrix.role)] || vars[matrix.role] }}"
    assert jobs["plan"]["env"]["INFRA_ROLE_ARN"] == plan_role
    assert jobs["drift"]["env"]["INFRA_ROLE_ARN"] == plan_role


def test_github_setup_and_artifacts(pipelines: dict[str, tuple[Path, str]]) -> None:
    doc = document(pipelines, "github")
    jobs = doc["jobs"]
    assert doc["env"] == {
        "TOOLKIT_SPEC": f"${{{{ vars.TOOLKIT_SPEC || '{OWN_VERSION}' }}}}",
        "TOOLKIT_INDEX": "${{ vars.TOOLKIT_INDEX }}",
        "CHECKOV_SPEC": ci_pipelines.CHECKOV_SPEC,
        "UV_SPEC": ci_pipelines.UV_SPEC,
        "INFRA_TOOLS": "${{ github.workspace }}/.infra-tools",
        "TERRAFORM_VERSION": "1.11.4",
        "PYTHON_VERSION": "3.11",
    }
    uses = {step["uses"]: step for step in jobs["plan"]["steps"] if "uses" in step}
    assert uses["actions/checkout@v6"]["with"] == {"fetch-depth": 0}
    assert uses["hashicorp/setup-terraform@v4"]["with"] == {
        "terraform_version": "${{ env.TERRAFORM_VERSION }}",
        "terraform_wrapper": False,
    }
    uploads = {
        s["name"]: s for s in jobs["plan"]["steps"] if "upload-artifact" in s.get("uses", "")
    }
    assert uploads["Save the plan"]["uses"] == "actions/upload-artifact@v6"
    assert uploads["Save the plan"]["with"]["name"] == "plan-${{ matrix.name }}-${{ matrix.env }}"
    assert uploads["Save the plan"]["with"]["path"] == "${{ env.OUT }}"
    (download,) = [
        s for s in jobs["apply"]["steps"] if "actions/download-artifact" in s.get("uses", "")
    ]
    assert download["with"]["name"] == "plan-${{ matrix.name }}-${{ matrix.env }}"
    assert download["with"]["run-id"] == "${{ needs.find-plan.outputs.run-id }}"
    for name in ("plan", "apply", "drift"):
        steps = jobs[name]["steps"]
        names = [step.get("name") or step["uses"] for step in steps]
        key, cache, install = (names.index(n) for n in TOOL_STEPS)
        assert names.index("actions/setup-python@v6") < key < cache < install
        assert steps[cache]["with"] == {
            "path": "${{ env.INFRA_TOOLS }}",
            "key": "${{ steps.tools.outputs.key }}",
        }
        assert steps[key]["id"] == "tools"
        assert steps[install]["run"].endswith('echo "$INFRA_TOOLS/infra/bin" >> "$GITHUB_PATH"\n')
    for job in jobs.values():
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+", step["uses"]), step["uses"]


def test_github_comment_is_sticky(pipelines: dict[str, tuple[Path, str]]) -> None:
    (post,) = [
        s for s in document(pipelines, "github")["jobs"]["cost-comment"]["steps"] if "run" in s
    ]
    assert "gh pr comment" in post["run"]
    assert "--edit-last --create-if-none" in post["run"]


# --- GitLab CI -----------------------------------------------------------------------------------


def test_gitlab_jobs_rules_and_resource_groups(pipelines: dict[str, tuple[Path, str]]) -> None:
    doc = document(pipelines, "gitlab")
    assert doc["variables"]["GIT_DEPTH"] == "0"
    assert doc[".merge-request-plan"]["rules"] == [
        {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}
    ]
    default_branch = '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH'
    assert doc[".default-branch-plan"]["rules"] == [{"if": default_branch}]
    assert 'CI_PIPELINE_SOURCE == "schedule"' in doc[".drift"]["rules"][0]["if"]
    for name, env in TARGETS:
        for kind in ("mr-plan", "plan", "apply", "drift"):
            job = doc[f"{kind}:{name}:{env}"]
            assert job["resource_group"] == f"infra-{env}"
            assert job["variables"]["INFRA_ENV"] == env
            assert job["variables"]["ROLE_VARIABLE"] == f"AWS_ROLE_ARN_{env.upper()}"
        apply = doc[f"apply:{name}:{env}"]
        assert apply["needs"] == [f"plan:{name}:{env}"]
        assert apply["environment"] == {"name": env}
        (rule,) = apply["rules"]
        assert rule["if"] == default_branch
        assert rule.get("when") == ("manual" if env in ("prod", "qa") else None)
    assert doc["cost-note"]["needs"] == [f"mr-plan:{name}:{env}" for name, env in TARGETS]
    assert doc["cost-note"]["rules"][0]["when"] == "always"


def test_gitlab_oidc_artifacts_and_note(pipelines: dict[str, tuple[Path, str]]) -> None:
    doc = document(pipelines, "gitlab")
    infra = doc[".infra"]
    assert infra["id_tokens"] == {"INFRA_ID_TOKEN": {"aud": "$CI_SERVER_URL"}}
    setup = "\n".join(infra["before_script"])
    assert 'export AWS_WEB_IDENTITY_TOKEN_FILE="$(mktemp)"' in setup
    assert 'printf \'%s\' "$INFRA_ID_TOKEN" > "$AWS_WEB_IDENTITY_TOKEN_FILE"' in setup
    assert '"$uv" pip install' in setup and 'export PATH="$INFRA_TOOLS/infra/bin:$PATH"' in setup
    assert infra["cache"] == {
        "key": {"files": [".gitlab-ci.yml"], "prefix": "infra-tools-py3.11"},
        "paths": [".infra-tools/"],
        "policy": "pull",
    }
    for plan in (".merge-request-plan", ".default-branch-plan"):
        assert doc[plan]["cache"] == {"policy": "pull-push"}  # extends merges it into .infra's
    assert doc["variables"]["TOOLKIT_SPEC"] == OWN_VERSION
    assert doc["variables"]["CHECKOV_SPEC"] == ci_pipelines.CHECKOV_SPEC
    assert "sha256sum -c" in setup
    assert infra["artifacts"] == {"when": "always", "expire_in": "30 days", "paths": ["infra-ci/"]}
    assert doc[".apply"]["variables"] == {"INFRA_ROLE_USE": "apply"}
    note = "\n".join(doc["cost-note"]["script"])
    assert "PRIVATE-TOKEN: $INFRA_MR_NOTE_TOKEN" in note and "--request PUT" in note
    assert "GitLab project access token, not a cloud key" in note


# --- both ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_no_stored_cloud_keys(pipelines: dict[str, tuple[Path, str]], provider: str) -> None:
    text = pipelines[provider][1]
    for forbidden in (
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "aws-access-key-id",
        "secrets.",
    ):
        assert forbidden not in text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_infra_line_is_one_the_contract_names(
    pipelines: dict[str, tuple[Path, str]], provider: str
) -> None:
    lines = infra_lines(provider, document(pipelines, provider))
    known = {"plan", "check", "cost", "apply", "drift"}
    assert lines and {infra_arguments(line)[0] for line in lines} <= known
    for line in lines:
        if infra_arguments(line)[0] in {"check", "plan", "drift", "apply"}:
            assert "--json" in infra_arguments(line), line  # saved output is for machines


def _runs(arguments: list[str], command: str) -> bool:
    """Whether `infra ARGUMENTS` runs COMMAND (`cost` being the report, not `cost diff`)."""
    words = command.split()
    if arguments[: len(words)] != words:
        return False
    return command != "cost" or arguments[1:2] != ["diff"]


@pytest.mark.parametrize("command", INFRA_COMMANDS)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_infra_lines_parse_with_the_real_cli(
    pipelines: dict[str, tuple[Path, str]], provider: str, command: str
) -> None:
    """Fails for a command the CLI does not have (yet): the pipeline already runs it."""
    lines = [
        line
        for line in infra_lines(provider, document(pipelines, provider))
        if _runs(infra_arguments(line), command)
    ]
    assert lines, f"the {provider} pipeline runs no `infra {command}`"
    for line in lines:
        context = parse_with_cli(infra_arguments(line))
        assert command_path(context).split()[0] == command.split()[0], line
        if "--env" in line:
            assert context.params["env"] == PLACEHOLDER


def test_the_line_checker_rejects_what_infra_rejects() -> None:
    assert command_path(parse_with_cli(["plan", "p.yaml", "--env", "prod", "--json"])) == "plan"
    for arguments in (["plan", "p.yaml", "--no-such-option"], ["no-such-command"], ["apply"]):
        with pytest.raises(UsageError):
            parse_with_cli(arguments)


@pytest.mark.parametrize(
    ("provider", "schema"),
    [("github", "vendor.github-workflows"), ("gitlab", "vendor.gitlab-ci")],
)
def test_published_schema(
    pipelines: dict[str, tuple[Path, str]], provider: str, schema: str
) -> None:
    pytest.importorskip("check_jsonschema")  # the dev extra brings it
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            schema,
            pipelines[provider][0],
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the exit-code handling, run in bash ---------------------------------------------------------


def _github_step(pipelines: dict[str, tuple[Path, str]], job: str, name: str) -> str:
    steps = document(pipelines, "github")["jobs"][job]["steps"]
    (step,) = [step for step in steps if step.get("name") == name]
    return step["run"]


def _gitlab_script(pipelines: dict[str, tuple[Path, str]], job: str, command: str) -> str:
    (script,) = [s for s in document(pipelines, "gitlab")[job]["script"] if command in s]
    return script


STAND_IN_INFRA = """#!/bin/sh
while [ $# -gt 0 ]; do
  if [ "$1" = --output ]; then echo "| stand-in cost |" > "$2"; fi
  shift
done
if [ -n "$INFRA_STDOUT" ]; then echo "$INFRA_STDOUT"; else echo '{"stand_in": true}'; fi
exit "$INFRA_EXIT"
"""


def run_script(
    script: str,
    tmp_path: Path,
    infra_exit: int,
    open_issues: str = "[]",
    base_ref: str = "HEAD",
    infra_stdout: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run a pipeline's script in bash -eo pipefail (GitHub's `shell: bash`, GitLab's runner)
    with a stand-in `infra` that prints JSON, writes any --output file and exits with
    INFRA_EXIT, and a `gh` that logs its arguments and lists OPEN_ISSUES."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fakes = {
        "infra": STAND_IN_INFRA,
        "gh": '#!/bin/sh\necho "gh $*" >> "$GH_LOG"\n'
        '[ "$1 $2" = "issue list" ] && echo "$OPEN_ISSUES"\nexit 0\n',
    }
    for name, text in fakes.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    environ = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "INFRA_EXIT": str(infra_exit),
        "INFRA_STDOUT": infra_stdout,
        "GH_LOG": str(tmp_path / "gh.log"),
        "OPEN_ISSUES": open_issues,
        "PROFILE": "profiles/chat.yaml",
        "LOCK": "profiles/chat.lock.yaml",
        "INFRA_ENV": "prod",
        "OUT": "out",
        "RUN_URL": "https://example.invalid/run",
        "BASE_REF": base_ref,
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": base_ref,
    }
    (tmp_path / "out").mkdir(exist_ok=True)
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(("infra_exit", "job_exit"), [(0, 0), (2, 0), (1, 1), (4, 4), (5, 5)])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_plan_exit_2_means_changes_not_failure(
    pipelines: dict[str, tuple[Path, str]],
    tmp_path: Path,
    provider: str,
    infra_exit: int,
    job_exit: int,
) -> None:
    result = run_script(_plan_script(pipelines, provider), tmp_path, infra_exit)
    assert result.returncode == job_exit, result.stdout + result.stderr
    assert json.loads((tmp_path / "out" / "plan.json").read_text()) == {"stand_in": True}
    assert not (tmp_path / "out" / "chat.lock.yaml").exists()  # no lock file, nothing kept


def _plan_script(pipelines: dict[str, tuple[Path, str]], provider: str) -> str:
    if provider == "github":
        return _github_step(pipelines, "plan", "infra plan")
    return _gitlab_script(pipelines, ".merge-request-plan", "infra plan")


LOCK_MISSING = (
    "profiles/chat.lock.yaml has no decision for environment 'prod' and --locked forbids a new "
    "one: run `infra plan profiles/chat.yaml --env prod` where you can review it, and commit "
    "chat.lock.yaml."
)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_plan_runs_locked_and_keeps_the_lock_with_the_plan(
    pipelines: dict[str, tuple[Path, str]], tmp_path: Path, provider: str
) -> None:
    """CI plans only the committed decision (--locked: a missing or stale lock fails the plan
    with infra's sentence saying what to run and commit); the lock is saved beside the plan."""
    script = _plan_script(pipelines, provider)
    assert 'infra plan "$PROFILE" --env "$INFRA_ENV" --locked --out "$OUT/plan.zip"' in script
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "chat.lock.yaml").write_text("format: infra-lock/1\n")
    refused = json.dumps({"error": LOCK_MISSING, "exit_code": 1})
    result = run_script(script, tmp_path, 1, infra_stdout=refused)
    assert result.returncode == 1
    assert (tmp_path / "out" / "chat.lock.yaml").read_text() == "format: infra-lock/1\n"
    if provider == "github" and shutil.which("jq"):  # GitHub's runners have jq
        assert (
            "::error::infra plan exited with 1 (1 error, 4 over budget, 5 policy findings): "
            + LOCK_MISSING
        ) in result.stdout.splitlines()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git repository whose first commit has no profile and whose second adds one."""
    environ = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    for command in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "empty"]):
        subprocess.run(
            ["git", "-c", "commit.gpgsign=false", *command], cwd=tmp_path, env=environ, check=True
        )
    (tmp_path / "profiles").mkdir()
    write_profile(tmp_path / "profiles", CHAT, "chat.yaml")
    for command in (["add", "profiles"], ["commit", "-q", "-m", "chat"]):
        subprocess.run(
            ["git", "-c", "commit.gpgsign=false", *command], cwd=tmp_path, env=environ, check=True
        )
    return tmp_path


def _cost_script(pipelines: dict[str, tuple[Path, str]], provider: str) -> str:
    if provider == "github":
        return _github_step(pipelines, "plan", "Cost diff against the base branch")
    (script,) = document(pipelines, "gitlab")[".merge-request-plan"]["after_script"]
    return script


@pytest.mark.parametrize(
    ("infra_exit", "base_ref", "diff_says"),
    [
        (0, "HEAD", "| stand-in cost |"),
        (1, "HEAD", "The cost diff failed (exit 1); the job log says why."),
        (0, "HEAD~1", "New profile: nothing "),
    ],
)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_cost_diff_is_a_report(
    pipelines: dict[str, tuple[Path, str]],
    checkout: Path,
    provider: str,
    infra_exit: int,
    base_ref: str,
    diff_says: str,
) -> None:
    """The cost runs after a failed check or plan too, and its own failure lands in the comment
    instead of failing the job (GitHub: continue-on-error; GitLab: after_script)."""
    result = run_script(_cost_script(pipelines, provider), checkout, infra_exit, base_ref=base_ref)
    assert result.returncode == infra_exit, result.stdout + result.stderr
    lines = (checkout / "out" / "cost-diff.md").read_text().splitlines()
    assert lines[:2] == ["### profiles/chat.yaml in prod", ""]
    assert lines[2].startswith(diff_says)
    if provider == "github":
        (step,) = [
            step
            for step in document(pipelines, "github")["jobs"]["plan"]["steps"]
            if step.get("name") == "Cost diff against the base branch"
        ]
        assert step["continue-on-error"] is True and step["if"] == "${{ !cancelled() }}"


OPEN_DRIFT_ISSUE = '[{"number": 7, "title": "Drift: profiles/chat.yaml in prod"}]'


@pytest.mark.parametrize(
    ("infra_exit", "open_issues", "gh_call"),
    [
        (0, "[]", None),
        (1, "[]", None),
        (2, "[]", "gh issue create --title Drift: profiles/chat.yaml in prod --body-file"),
        (2, OPEN_DRIFT_ISSUE, "gh issue comment 7 --body-file"),
    ],
)
def test_github_drift_opens_an_issue_and_fails(
    pipelines: dict[str, tuple[Path, str]],
    tmp_path: Path,
    infra_exit: int,
    open_issues: str,
    gh_call: str | None,
) -> None:
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed here (GitHub's runners have it)")
    script = _github_step(pipelines, "drift", "infra drift")
    result = run_script(script, tmp_path, infra_exit, open_issues)
    assert result.returncode == infra_exit, result.stdout + result.stderr
    log = (tmp_path / "gh.log").read_text() if gh_call else ""
    calls = [line for line in log.splitlines() if not line.startswith("gh issue list")]
    assert calls == ([f"{gh_call} out/issue.md"] if gh_call else [])
    assert not (tmp_path / "gh.log").exists() or gh_call


@pytest.mark.parametrize("infra_exit", [0, 2, 1])
def test_gitlab_drift_fails_the_job_on_drift(
    pipelines: dict[str, tuple[Path, str]], tmp_path: Path, infra_exit: int
) -> None:
    result = run_script(_gitlab_script(pipelines, ".drift", "infra drift"), tmp_path, infra_exit)
    assert result.returncode == infra_exit
    assert ("Drift: profiles/chat.yaml in prod" in result.stdout) is (infra_exit == 2)


# --- targets and defaults ------------------------------------------------------------------------


def test_environments_given_apply_to_every_profile(repo: Path) -> None:
    support = profile_dict(name="support", deploy={"environments": {"prod": {"backend": BACKEND}}})
    write_profile(repo / "profiles", support, "support.yml")
    written = write_pipeline(
        PipelineSettings(provider="gitlab", output_dir=repo, environments=("prod", "prod"))
    )
    assert [(t.name, t.env) for t in written.targets] == [("chat", "prod"), ("support", "prod")]
    assert written.approval_environments == ["prod"]


def test_quoted_values_survive_yaml(repo: Path) -> None:
    """Names YAML 1.1 reads as booleans, a path with ': ', a pip spec with spaces: all strings."""
    odd = profile_dict(name="no", deploy={"environments": {"on": {"backend": BACKEND}}})
    path = write_profile(repo / "profiles", odd, "odd name: yes.yaml")
    spec = "infra-serving-toolkit[dev] @ git+https://example.invalid/toolkit.git@v1"
    settings = PipelineSettings(
        provider="github", output_dir=repo, profiles=(path,), toolkit_spec=spec
    )
    doc = yaml.safe_load(write_pipeline(settings).path.read_text())
    (entry,) = doc["jobs"]["plan"]["strategy"]["matrix"]["include"]
    assert entry == {
        "profile": "profiles/odd name: yes.yaml",
        "lock": "profiles/odd name: yes.lock.yaml",
        "name": "no",
        "env": "on",
        "role": "AWS_ROLE_ARN_ON",
    }
    assert doc["env"]["TOOLKIT_SPEC"] == f"${{{{ vars.TOOLKIT_SPEC || '{spec}' }}}}"


# --- refusals: one sentence, nothing written -----------------------------------------------------


def _refused(settings: PipelineSettings, match: str) -> None:
    with pytest.raises(InfraError, match=match) as raised:
        write_pipeline(settings)
    message = str(raised.value)
    assert "\n" not in message and message.endswith(".")
    for relative in PIPELINE_FILES.values():
        assert not (settings.output_dir / relative).exists()


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"provider": None}, "give the CI provider with --provider github or --provider gitlab"),
        ({"provider": "jenkins"}, "unknown CI provider 'jenkins': use github or gitlab"),
        ({"role_variable": "aws_role"}, "invalid --aws-role-variable 'aws_role'"),
        ({"role_variable": "GITHUB_ROLE"}, "invalid --aws-role-variable 'GITHUB_ROLE'"),
        ({"toolkit_spec": " "}, "invalid --toolkit-spec"),
        ({"toolkit_spec": "pkg==$VERSION"}, "invalid --toolkit-spec"),
        ({"toolkit_spec": "a\nb"}, "invalid --toolkit-spec"),
        ({"toolkit_spec": "."}, "invalid --toolkit-spec '.': pin the toolkit on one line"),
        ({"toolkit_spec": "infra-serving-toolkit"}, "pin the toolkit"),
        ({"toolkit_spec": "infra-serving-toolkit>=0.1"}, "pin the toolkit"),
        ({"toolkit_spec": "other-toolkit==0.1.0"}, "pin the toolkit"),
        ({"toolkit_spec": "infra-serving-toolkit=='0.1.0'"}, "pin the toolkit"),
        ({"toolkit_spec": f"{TOOLKIT} @ git+https://example.invalid/t.git"}, "pin the toolkit"),
        ({"toolkit_spec": f"{TOOLKIT} @ https://example.invalid/simple/"}, "pin the toolkit"),
        ({"terraform_version": "latest"}, "invalid --terraform-version 'latest'"),
        ({"terraform_version": "1.9.8"}, r"at least 1\.10"),
        ({"default_branch": "-main"}, "invalid --default-branch '-main'"),
        ({"default_branch": "my branch"}, "invalid --default-branch"),
        ({"environments": ("Prod",)}, "invalid environment name 'Prod'"),
        ({"environments": ("local",)}, "the environment 'local' is the emulated AWS"),
        ({"environments": ("qa",)}, "chat.yaml has no state backend for 'qa'"),
    ],
)
def test_refuses_bad_settings(repo: Path, changes: dict[str, Any], match: str) -> None:
    _refused(PipelineSettings(**{"provider": "github", "output_dir": repo, **changes}), match)


@pytest.mark.parametrize(
    "spec",
    [
        "infra-serving-toolkit==0.2.0",
        "infra_serving_toolkit[dev] == 1.0.0rc1",
        f"{TOOLKIT} @ git+https://github.example/org/infra.git@v0.1.0",
        f"{TOOLKIT} @ git+ssh://git@gitlab.example/org/infra@3f2a9c1",
        f"{TOOLKIT} @ https://files.example/infra_serving_toolkit-0.1.0-py3-none-any.whl",
    ],
)
def test_accepts_a_pinned_toolkit(repo: Path, spec: str) -> None:
    settings = PipelineSettings(provider="gitlab", output_dir=repo, toolkit_spec=spec)
    written = yaml.safe_load(write_pipeline(settings).path.read_text())
    assert written["variables"]["TOOLKIT_SPEC"] == spec


def test_refuses_when_its_own_version_is_unknown(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_installed(name: str) -> str:
        raise PackageNotFoundError(name)

    monkeypatch.setattr("importlib.metadata.version", not_installed)
    _refused(
        PipelineSettings(provider="github", output_dir=repo),
        r"not installed as the package infra-serving-toolkit, .* give --toolkit-spec",
    )


def test_checkov_is_pinned_as_bootstrap_pins_it() -> None:
    bootstrap = (REPO / "scripts" / "bootstrap").read_text()
    (pinned,) = re.findall(r'^checkov_spec="([^"]+)"$', bootstrap, re.MULTILINE)
    assert pinned == ci_pipelines.CHECKOV_SPEC


def test_refuses_a_missing_output_dir(tmp_path: Path) -> None:
    _refused(PipelineSettings(provider="github", output_dir=tmp_path / "nowhere"), "does not exist")


def test_refuses_when_no_profile_is_found(tmp_path: Path) -> None:
    _refused(
        PipelineSettings(provider="gitlab", output_dir=tmp_path), r"no profiles found in .*profiles"
    )


def test_refuses_a_profile_outside_the_repository(repo: Path, tmp_path: Path) -> None:
    outside = write_profile(tmp_path, CHAT, "elsewhere.yaml")
    _refused(
        PipelineSettings(provider="github", output_dir=repo, profiles=(outside,)),
        "is outside .* the repository root the pipeline runs in",
    )


def test_refuses_an_invalid_profile(repo: Path) -> None:
    write_profile(repo / "profiles", {**CHAT, "workload": {"requests_per_second": -1}}, "bad.yaml")
    _refused(PipelineSettings(provider="github", output_dir=repo), r"bad\.yaml, line \d+, field")


def test_refuses_two_profiles_with_one_name(repo: Path) -> None:
    write_profile(repo / "profiles", CHAT, "chat-copy.yaml")
    _refused(PipelineSettings(provider="github", output_dir=repo), "both name the profile 'chat'")


def test_refuses_a_profile_without_environments(repo: Path) -> None:
    write_profile(repo / "profiles", profile_dict(name="bare"), "bare.yaml")
    _refused(
        PipelineSettings(provider="github", output_dir=repo),
        "bare.yaml declares no environment under deploy.environments",
    )


def test_refuses_to_overwrite_without_force(repo: Path) -> None:
    target = repo / PIPELINE_FILES["gitlab"]
    target.write_text("build: {script: [make]}\n")
    with pytest.raises(InfraError, match=r"\.gitlab-ci\.yml already exists; pass --force"):
        write_pipeline(PipelineSettings(provider="gitlab", output_dir=repo))
    assert target.read_text() == "build: {script: [make]}\n"
    write_pipeline(PipelineSettings(provider="gitlab", output_dir=repo), force=True)
    assert "infra ci init --provider gitlab" in target.read_text()


def test_refuses_a_directory_in_the_way(repo: Path) -> None:
    (repo / PIPELINE_FILES["github"]).mkdir(parents=True)
    with pytest.raises(InfraError, match=r"infra\.yml is a directory"):
        write_pipeline(PipelineSettings(provider="github", output_dir=repo), force=True)


def test_reports_a_write_failure(repo: Path) -> None:
    (repo / ".github").write_text("not a directory\n")
    with pytest.raises(InfraError, match=r"cannot write .*infra\.yml: "):
        write_pipeline(PipelineSettings(provider="github", output_dir=repo))
    assert (repo / ".github").read_text() == "not a directory\n"


# --- the command line ----------------------------------------------------------------------------


def test_cli_writes_refuses_and_overwrites(
    cli: Cli, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    result = cli("ci", "init", "--provider", "github")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == ("wrote .github/workflows/infra.yml for chat/staging, chat/prod, support/qa")
    assert "AWS_ROLE_ARN_STAGING, AWS_ROLE_ARN_PROD, AWS_ROLE_ARN_QA" in lines[1]
    assert "give prod, qa required reviewers" in lines[1]
    assert (
        f"upload {OWN_VERSION} to your package index and set the CI variable TOOLKIT_INDEX"
        in (lines[1])
    )
    assert lines[1].endswith("CI plans with --locked, only the decision committed.")
    workflow = repo / PIPELINE_FILES["github"]
    workflow.write_text("edited\n")

    again = cli("ci", "init", "--provider", "github")
    assert again.exit_code == 1 and again.stdout == ""
    assert again.stderr == (
        "error: .github/workflows/infra.yml already exists; pass --force to overwrite it.\n"
    )
    assert workflow.read_text() == "edited\n"

    forced = cli("ci", "init", "--provider", "github", "--force", "--default-branch", "trunk")
    assert forced.exit_code == 0
    assert yaml.safe_load(workflow.read_text())[True]["push"] == {"branches": ["trunk"]}


def test_cli_json_and_explicit_choices(cli: Cli, repo: Path, tmp_path: Path) -> None:
    result = cli(
        "ci", "init", "--provider", "gitlab", "--output-dir", repo,
        "--profile", repo / "profiles" / "chat.yaml", "--env", "prod",
        "--aws-role-variable", "INFRA_ROLE", "--toolkit-spec", "infra-serving-toolkit==0.1.0",
        "--terraform-version", "1.12.2", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {
        "provider": "gitlab",
        "path": str(repo / ".gitlab-ci.yml"),
        "toolkit_spec": "infra-serving-toolkit==0.1.0",
        "targets": [
            {
                "profile": "profiles/chat.yaml",
                "name": "chat",
                "env": "prod",
                "role_variable": "INFRA_ROLE_PROD",
                "plan_role_variable": "INFRA_ROLE_PROD_PLAN",
                "needs_approval": True,
            }
        ],
        "role_variables": ["INFRA_ROLE_PROD"],
        "approval_environments": ["prod"],
    }
    pipeline = yaml.safe_load((repo / ".gitlab-ci.yml").read_text())
    assert pipeline["mr-plan:chat:prod"]["variables"]["ROLE_VARIABLE"] == "INFRA_ROLE_PROD"
    assert pipeline["variables"]["TOOLKIT_SPEC"] == "infra-serving-toolkit==0.1.0"
    assert pipeline["variables"]["TERRAFORM_VERSION"] == "1.12.2"


def test_cli_help_names_the_defaults(cli: Cli) -> None:
    """The options the CLI leaves to PipelineSettings say its defaults in their help."""
    text = " ".join(cli("ci", "init", "--help").stdout.split())
    assert "this toolkit's own version" in text
    for default in (
        ci_pipelines.DEFAULT_ROLE_VARIABLE,
        ci_pipelines.DEFAULT_TERRAFORM_VERSION,
        ci_pipelines.DEFAULT_BRANCH,
    ):
        assert f"Default: {default}" in text


def test_cli_errors_are_one_sentence(cli: Cli, repo: Path) -> None:
    result = cli("ci", "init", "--output-dir", repo)
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        "error: give the CI provider with --provider github or --provider gitlab.\n"
    )
    as_json = cli("ci", "init", "--provider", "travis", "--output-dir", repo, "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout) == {
        "error": "unknown CI provider 'travis': use github or gitlab.",
        "exit_code": 1,
    }
