"""The pipelines `infra ci init` writes, run the way GitHub Actions and GitLab CI run them, in a
clean environment against the local emulator.

Each job's shell (GitHub `run:` steps, GitLab `before_script`/`script`/`after_script`) is taken
from the generated YAML and run with bash in order, in a fresh clone of a repository that holds
only the profile, its lock file and the pipelines, with the variables the pipeline sets. Nothing
of this checkout is installed: the install step puts the toolkit, built as a wheel from this
source and served from a package index the way a user's index serves it (TOOLKIT_INDEX), and
checkov into the job's own environments, with their dependencies from PyPI. What a runner does
itself is done here: a clean workspace per job; the tools cache carried from job to job by its
key (a miss installs, a hit reuses); artifacts by name; `gh` and `curl`, which talk to GitHub's
and GitLab's APIs, are stand-ins that record what they were asked to post. The pipeline's
target environment (staging) is pointed at the emulator (`--env local`), whose state lives in an
S3 bucket on the emulator, as a real environment's lives in S3, so each job starts clean.

One story, as a team would live it: a pull request adds a profile and GitHub's workflow checks,
plans, comments, applies the reviewed plan on merge and finds no drift; then a merge request
raises its replicas and GitLab's pipeline does the same with its own jobs.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from orchestrator.ci_pipelines import PIPELINE_FILES, PipelineSettings, write_pipeline
from tests.conftest import EXAMPLES, MIRROR, REPO, Cli

pytestmark = pytest.mark.terraform

PROFILE = "profiles/chat.yaml"
LOCK = "profiles/chat.lock.yaml"
STATE_BUCKET = "ci-state"
REGION = "us-east-2"
TARGET_ENV = "staging"
"""What the pipelines are written for; the test runs that target against the emulator."""
EMULATED_ENV = "local"
ROLE = "arn:aws:iam::111122223333:role/infra-ci"
PR_NUMBER = "7"
RUN_ID = "4242"
FROM_CACHE = "Using the toolkit and checkov restored from the cache."
JOB_ENVIRONMENT_DROPPED = (
    "INFRA_",
    "AWS_",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "UV_",
    "TF_",
    "JSII_",
    "CKV_",
    "BC_",
    "PRISMA_",
    "GITHUB_",
    "GITLAB_",
    "CI_",
    "RUNNER_",
)
"""The machine's own settings that would leak a developer's setup into a job."""

FAKE_API_CLIENT = """#!{python}
# A stand-in for gh and curl: records each call (and the body it posts) and answers the reads.
import json, os, pathlib, sys

tool, args = pathlib.Path(sys.argv[0]).name, sys.argv[1:]
body = None
for flag in ("--body-file", "--data-urlencode"):
    if flag in args:
        value = args[args.index(flag) + 1]
        body = pathlib.Path(value.split("@", 1)[-1]).read_text()
with open(os.environ["FAKE_API_LOG"], "a") as log:
    log.write(json.dumps({{"tool": tool, "args": args, "body": body}}) + "\\n")
if tool == "gh" and args[:1] == ["api"]:
    print(os.environ["FAKE_PR_HEAD"])  # the merged pull request's head, as --jq extracts it
elif tool == "gh" and args[:2] == ["run", "list"]:
    print(os.environ["FAKE_RUN_ID"])
elif tool == "gh" and args[:2] == ["issue", "list"]:
    print("[]")
elif tool == "curl" and "--request" not in args:
    print("[]")  # no merge request note yet
"""


# --- the toolkit, as a package index serves it ---------------------------------------------------


@pytest.fixture(scope="session")
def toolkit_index(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PEP 503 index (file://) holding one wheel built from this source, `pip wheel --no-deps`
    of a copy (building in place would leave build/ and *.egg-info in the checkout)."""
    root = tmp_path_factory.mktemp("toolkit-index")
    source = root / "source"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "tests", "cdktf.out", ".infra", "build", "*.egg-info", "__pycache__"
        ),
    )
    wheels = root / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", wheels, source],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("infra_serving_toolkit-*.whl")
    project = root / "simple" / "infra-serving-toolkit"
    project.mkdir(parents=True)
    (project / "index.html").write_text(f'<a href="{wheel.as_uri()}">{wheel.name}</a>\n')
    return (root / "simple").as_uri()


# --- a runner's machine ------------------------------------------------------------------------


def runner_python(directory: Path) -> Path:
    """`python` and `python3` as setup-python and the python image give them: the interpreter
    alone, none of this checkout's environment."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("python", "python3"):
        (directory / name).symlink_to(sys._base_executable)
    return directory


def clean_environment(home: Path, path: list[Path]) -> dict[str, str]:
    """The machine's environment (its network and certificate settings) without the
    developer's, with a fresh HOME and only `path` before the system's own directories."""
    home.mkdir(parents=True)
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(JOB_ENVIRONMENT_DROPPED) and key != "CI"
    }
    directories = [*map(str, path), "/usr/bin", "/bin"]
    return {**environ, "HOME": str(home), "PATH": os.pathsep.join(directories), "CI": "true"}


def run_bash(script: str, cwd: Path, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """bash -eo pipefail, as GitHub's `shell: bash` and GitLab's runner run scripts."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )


UNPUBLISHED = "infra-serving-toolkit==9.9.9"


def test_a_toolkit_the_index_lacks_fails_the_install_and_caches_nothing(
    toolkit_index: str, tmp_path: Path
) -> None:
    """A pin nobody published stops the job at the install step, with uv's reason, and leaves
    no stamp: a cache saved after that job is never taken for installed tools."""
    (tmp_path / "profiles").mkdir()
    (tmp_path / PROFILE).write_text(yaml.safe_dump(chat_profile(2)))
    settings = PipelineSettings(provider="github", output_dir=tmp_path, toolkit_spec=UNPUBLISHED)
    workflow = yaml.safe_load(write_pipeline(settings).path.read_text())
    steps = workflow["jobs"]["plan"]["steps"]
    (install,) = [step["run"] for step in steps if step.get("name") == "Install the toolkit"]
    tools = tmp_path / ".infra-tools"
    environ = {
        **clean_environment(tmp_path / "home", [runner_python(tmp_path / "python")]),
        "TOOLKIT_SPEC": UNPUBLISHED,
        "TOOLKIT_INDEX": toolkit_index,
        "CHECKOV_SPEC": workflow["env"]["CHECKOV_SPEC"],
        "UV_SPEC": workflow["env"]["UV_SPEC"],
        "INFRA_TOOLS": str(tools),
        "GITHUB_PATH": str(tmp_path / "github-path"),
    }
    result = run_bash(install, tmp_path, environ)
    assert result.returncode != 0
    assert UNPUBLISHED in result.stdout, result.stdout
    assert not (tools / "pins").exists()
    assert not (tools / "checkov" / "bin" / "checkov").exists()  # stopped at the toolkit


# --- the repository the pipelines run on ---------------------------------------------------------


def git(cwd: Path, *args: str) -> str:
    environ = {
        **os.environ,
        "GIT_AUTHOR_NAME": "author",
        "GIT_AUTHOR_EMAIL": "author@example.invalid",
        "GIT_COMMITTER_NAME": "author",
        "GIT_COMMITTER_EMAIL": "author@example.invalid",
    }
    result = subprocess.run(
        ["git", "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def chat_profile(min_replicas: int) -> dict[str, Any]:
    profile = yaml.safe_load((EXAMPLES / "chat-8b.yaml").read_text())
    profile["name"] = "chat"
    profile["placement"]["min_replicas"] = min_replicas
    profile["placement"]["regions"] = [REGION]  # more replicas must not move the deployment
    profile["deploy"] = {
        "environments": {
            EMULATED_ENV: {"backend": {"s3_bucket": STATE_BUCKET, "region": "us-east-1"}},
            TARGET_ENV: {"backend": {"s3_bucket": "team-state", "region": "us-east-1"}},
        }
    }
    return profile


@dataclass
class Author:
    """The person at a terminal: edits the profile, plans locally (which writes the lock file),
    commits both, and merges what CI approved."""

    repo: Path
    cli: Cli = field(default_factory=Cli)

    def change_profile(self, branch: str, min_replicas: int, *, replan: bool) -> str:
        git(self.repo, "checkout", "-q", "-b", branch, "main")
        (self.repo / "profiles").mkdir(exist_ok=True)
        (self.repo / PROFILE).write_text(yaml.safe_dump(chat_profile(min_replicas)))
        # The local plan records the decision in the lock file; the policy scan is CI's to run.
        command = ["plan", PROFILE, "--env", EMULATED_ENV, "--skip-check", "--json"]
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(self.repo)
            result = self.cli(*command, *(["--replan"] if replan else []))
        assert result.exit_code == 2, result.output  # 2: changes to make
        git(self.repo, "add", PROFILE, LOCK)
        git(self.repo, "commit", "-q", "-m", f"chat: {min_replicas} replicas")
        return git(self.repo, "rev-parse", "HEAD")

    def merge(self, branch: str) -> str:
        git(self.repo, "checkout", "-q", "main")
        git(self.repo, "merge", "-q", "--ff-only", branch)
        return git(self.repo, "rev-parse", "HEAD")


# --- the runner ----------------------------------------------------------------------------------


@dataclass
class Step:
    name: str
    returncode: int
    output: str


@dataclass
class Job:
    name: str
    kept: Path
    """What the job left in infra-ci/ (the next job's checkout wipes the workspace)."""
    steps: list[Step] = field(default_factory=list)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    """GitHub: each step's outputs ($GITHUB_OUTPUT), by step id."""
    cache_hit: bool | None = None

    def output_of(self, name: str) -> str:
        (step,) = [step for step in self.steps if step.name == name]
        return step.output

    def read(self, relative: str) -> str:
        return (self.kept / relative).read_text()


@dataclass
class Runner:
    """What a CI runner provides around the pipeline's shell."""

    root: Path
    origin: Path
    python_dir: Path
    infra_home: Path
    caches: dict[str, Path] = field(default_factory=dict)
    artifacts: dict[str, Path] = field(default_factory=dict)
    jobs: int = 0

    @property
    def api_log(self) -> Path:
        return self.root / "api-calls.jsonl"

    def api_calls(self, tool: str) -> list[dict[str, Any]]:
        if not self.api_log.exists():
            return []
        calls = [json.loads(line) for line in self.api_log.read_text().splitlines()]
        return [call for call in calls if call["tool"] == tool]

    def new_job(self, name: str) -> Job:
        return Job(name, self.root / "kept" / f"{len(list(self.root.glob('kept/*')))}-{name}")

    def keep(self, job: Job, workspace: Path) -> None:
        if (workspace / "infra-ci").is_dir():
            shutil.copytree(workspace / "infra-ci", job.kept / "infra-ci")

    def checkout(self, workspace: Path, commit: str | None) -> None:
        """A clean workspace: the repository at `commit` (full history), or nothing."""
        shutil.rmtree(workspace, ignore_errors=True)
        workspace.parent.mkdir(parents=True, exist_ok=True)
        if commit is None:
            workspace.mkdir()
            return
        git(workspace.parent, "clone", "-q", str(self.origin), workspace.name)
        git(workspace, "checkout", "-q", commit)

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        """A job's: a fresh HOME, the runner's Python and Terraform, the stand-ins for gh and
        curl, and the emulator."""
        self.jobs += 1
        terraform = shutil.which("terraform")
        assert terraform is not None, "terraform is not on the PATH"
        return {
            **clean_environment(
                self.root / "homes" / str(self.jobs),
                [self.root / "bin", self.python_dir, Path(terraform).parent],
            ),
            "INFRA_HOME": str(self.infra_home),
            "INFRA_PROVIDER_MIRROR": str(MIRROR),
            "FAKE_API_LOG": str(self.api_log),
            **extra,
        }

    def bash(self, script: str, cwd: Path, environ: dict[str, str], name: str) -> Step:
        result = run_bash(script, cwd, environ)
        return Step(name, result.returncode, result.stdout)

    def restore_cache(self, key: str, path: Path) -> bool:
        """Moved in rather than copied (gigabytes): `keep_cache` moves it back after the job."""
        stored = self.caches.get(key)
        if stored is None:
            return False
        shutil.rmtree(path, ignore_errors=True)
        stored.rename(path)
        return True

    def keep_cache(self, key: str, path: Path) -> None:
        stored = self.root / "caches" / re.sub(r"[^\w.-]", "_", key)
        stored.parent.mkdir(exist_ok=True)
        shutil.rmtree(stored, ignore_errors=True)
        path.rename(stored)
        self.caches[key] = stored

    def upload(self, name: str, path: Path, under: str = "") -> None:
        """Keep `path` as the artifact `name`, at `under` inside it."""
        target = self.root / "artifacts" / name / under
        shutil.rmtree(self.root / "artifacts" / name, ignore_errors=True)
        if path.is_dir():
            shutil.copytree(path, target)
        elif path.is_file():
            target.mkdir(parents=True)
            shutil.copy2(path, target / path.name)
        else:
            return
        self.artifacts[name] = self.root / "artifacts" / name


def failed(job: Job, step: Step) -> str:
    return f"{job.name}: step '{step.name}' exited {step.returncode}:\n{step.output[-6000:]}"


# --- GitHub Actions ------------------------------------------------------------------------------


@dataclass
class GithubContext:
    """What GitHub's ${{ }} expressions read in these jobs."""

    values: dict[str, Any]

    def evaluate(self, text: Any) -> Any:
        if not isinstance(text, str):
            return text
        return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", lambda m: self._expression(m.group(1)), text)

    def _expression(self, expression: str) -> str:
        for operand in expression.split("||"):
            value = self._operand(operand.strip())
            if value:
                return value
        return ""

    def _operand(self, text: str) -> str:
        matrix, variables = self.values["matrix"], self.values["vars"]
        if text.startswith("'") and text.endswith("'"):
            return text[1:-1].replace("''", "'")
        if text == "!cancelled()":
            return "true"
        if text == "vars[format('{0}_PLAN', matrix.role)]":
            return variables.get(f"{matrix['role']}_PLAN", "")
        if text == "vars[matrix.role]":
            return variables.get(matrix["role"], "")
        if text.startswith("vars."):
            return variables.get(text.removeprefix("vars."), "")  # unset variables are empty
        value: Any = self.values
        for part in text.split("."):
            if not isinstance(value, dict) or part not in value:
                raise AssertionError(f"the test cannot evaluate ${{{{ {text} }}}}")
            value = value[part]
        return str(value)


class GithubActions:
    """Runs one job of the workflow: its `run:` steps in bash, the actions it uses emulated."""

    def __init__(self, runner: Runner, workflow: dict[str, Any], variables: dict[str, str]):
        self.runner = runner
        self.workflow = workflow
        self.variables = variables
        self.workspace = runner.root / "github" / "work" / "repo"

    def run(
        self,
        job_name: str,
        *,
        commit: str | None,
        event: dict[str, Any],
        needs: dict[str, Any] | None = None,
    ) -> Job:
        definition = self.workflow["jobs"][job_name]
        self.runner.checkout(self.workspace, commit)
        job = self.runner.new_job(job_name)
        matrix = {}
        if "strategy" in definition:
            (matrix,) = definition["strategy"]["matrix"]["include"]
            matrix = {**matrix, "env": EMULATED_ENV}  # the staging target, on the emulator
        context = GithubContext(
            {
                "matrix": matrix,
                "vars": self.variables,
                "github": {
                    **event,
                    "workspace": str(self.workspace),
                    "repository": "team/infra",
                    "server_url": "https://github.example",
                    "run_id": str(self.runner.jobs + 1000),
                    "token": "github-token",
                },
                "needs": needs or {},
                "steps": {},
                "env": {},
            }
        )
        environment = {}
        for scope in (self.workflow.get("env", {}), definition.get("env", {})):
            for key, value in scope.items():
                environment[key] = context.evaluate(value)
                context.values["env"] = environment
        files = self.runner.root / "github" / "files"
        files.mkdir(parents=True, exist_ok=True)
        github_path = files / f"path-{self.runner.jobs}"
        github_path.touch()
        base = self.runner.environment(
            {
                "GITHUB_ACTIONS": "true",
                "GITHUB_WORKSPACE": str(self.workspace),
                "GITHUB_SHA": event.get("sha", ""),
                "GITHUB_WORKFLOW_REF": "team/infra/.github/workflows/infra.yml@refs/heads/main",
                "GITHUB_PATH": str(github_path),
                "RUNNER_OS": "Linux",
                "RUNNER_TEMP": str(files),
                "FAKE_PR_HEAD": event.get("pr_head", ""),
                "FAKE_RUN_ID": RUN_ID,
            }
        )
        saves: list[tuple[str, Path]] = []
        for index, step in enumerate(definition["steps"]):
            if "uses" in step:
                saves += self._use(job, step, context)
                continue
            output = files / f"output-{self.runner.jobs}-{index}"
            output.touch()
            added = github_path.read_text().split()
            environ = {
                **base,
                **environment,
                **{key: context.evaluate(value) for key, value in step.get("env", {}).items()},
                "GITHUB_OUTPUT": str(output),
                "PATH": os.pathsep.join([*reversed(added), base["PATH"]]),
            }
            result = self.runner.bash(step["run"], self.workspace, environ, step["name"])
            job.steps.append(result)
            assert result.returncode == 0, failed(job, result)
            if "id" in step:
                pairs = (line.split("=", 1) for line in output.read_text().splitlines())
                job.outputs[step["id"]] = dict(pairs)
                context.values["steps"][step["id"]] = {"outputs": job.outputs[step["id"]]}
        for key, path in saves:
            self.runner.keep_cache(key, path)
        self.runner.keep(job, self.workspace)
        return job

    def _use(self, job: Job, step: dict[str, Any], context: GithubContext) -> list[Any]:
        action = step["uses"].split("@")[0]
        given = {key: context.evaluate(value) for key, value in step.get("with", {}).items()}
        if action == "actions/setup-python":
            runner_python = f"{sys.version_info.major}.{sys.version_info.minor}"
            assert given["python-version"] == runner_python
        elif action == "aws-actions/configure-aws-credentials":
            assert given["role-to-assume"] == ROLE  # the emulator takes the place of STS
        elif action == "actions/cache":  # restores now; saves after the job what it restored
            path = Path(given["path"])  # or, on a miss, what the job installed
            job.cache_hit = self.runner.restore_cache(given["key"], path)
            return [(given["key"], path)]
        elif action == "actions/upload-artifact":
            self.runner.upload(given["name"], self.workspace / given["path"])
        elif action == "actions/download-artifact":
            target = self.workspace / given["path"]
            if "name" in given:
                assert given.get("run-id", RUN_ID) == RUN_ID
                shutil.copytree(self.runner.artifacts[given["name"]], target, dirs_exist_ok=True)
            else:
                for name, stored in self.runner.artifacts.items():
                    if fnmatch.fnmatch(name, given["pattern"]):
                        shutil.copytree(stored, target / name)
        else:
            assert action in ("actions/checkout", "hashicorp/setup-terraform"), action
        return []


# --- GitLab CI -----------------------------------------------------------------------------------


def resolve_extends(pipeline: dict[str, Any], name: str) -> dict[str, Any]:
    """A job with its `extends` merged in as GitLab merges it: hashes deeply, the rest replaced."""
    job = pipeline[name]
    parent = job.get("extends")
    if parent is None:
        return job
    return deep_merge(resolve_extends(pipeline, parent), job)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


IMAGE_SETUP = ("apt-get update", "releases.hashicorp.com")
"""Marks the script entries that set up the job's image (apt packages, Terraform's download):
this machine has them, and reaches no host but the package registries."""


def without_image_setup(entries: list[str]) -> list[str]:
    return [entry for entry in entries if not any(mark in entry for mark in IMAGE_SETUP)]


class GitlabCi:
    """Runs one job of the pipeline: before_script and script in one bash, after_script in a
    second one with the job's variables only (not what before_script exported)."""

    def __init__(self, runner: Runner, pipeline: dict[str, Any], variables: dict[str, str]):
        self.runner = runner
        self.pipeline = pipeline
        self.variables = variables
        self.workspace = runner.root / "gitlab" / "builds" / "project"

    def run(self, job_name: str, *, commit: str | None, predefined: dict[str, str]) -> Job:
        definition = resolve_extends(self.pipeline, job_name)
        strategy = definition.get("variables", {}).get("GIT_STRATEGY")
        self.runner.checkout(self.workspace, None if strategy == "none" else commit)
        job = self.runner.new_job(job_name)
        for needed in definition.get("needs", []):
            shutil.copytree(self.runner.artifacts[needed], self.workspace, dirs_exist_ok=True)
        variables = {
            "CI_PROJECT_DIR": str(self.workspace),
            "CI_PROJECT_ID": "42",
            "CI_JOB_ID": str(self.runner.jobs + 1000),
            "CI_SERVER_URL": "https://gitlab.example",
            "CI_API_V4_URL": "https://gitlab.example/api/v4",
            "CI_PIPELINE_URL": "https://gitlab.example/team/infra/-/pipelines/9",
            "CI_DEFAULT_BRANCH": "main",
            "INFRA_ID_TOKEN": "id-token",
            **predefined,
            **self.pipeline["variables"],
            **definition.get("variables", {}),
            **self.variables,
        }
        if "INFRA_ENV" in variables:
            variables["INFRA_ENV"] = EMULATED_ENV  # the staging target, on the emulator
        for key, value in variables.items():  # GitLab expands variables in variables
            variables[key] = re.sub(
                r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), m.group(0)), str(value)
            )
        cache = definition.get("cache")
        key, tools = "", self.workspace / ".infra-tools"
        if cache:
            digest = git(self.workspace, "log", "-1", "--format=%H", "--", ".gitlab-ci.yml")
            key = f"{cache['key']['prefix']}-{digest}"
            job.cache_hit = self.runner.restore_cache(key, tools)
        environ = self.runner.environment(variables)
        entries = [*definition.get("before_script", []), *definition["script"]]
        script = "\n".join(without_image_setup(entries))
        result = self.runner.bash(script, self.workspace, environ, "script")
        job.steps.append(result)
        for after in definition.get("after_script", []):
            job.steps.append(self.runner.bash(after, self.workspace, environ, "after_script"))
        for path in definition.get("artifacts", {}).get("paths", []):  # when: always
            self.runner.upload(job_name, self.workspace / path, under=path)
        if job.cache_hit or (cache and cache["policy"] == "pull-push"):
            self.runner.keep_cache(key, tools)
        self.runner.keep(job, self.workspace)
        assert result.returncode == 0, failed(job, result)
        return job


# --- the story -----------------------------------------------------------------------------------


def emulator_client(service: str, region: str = "us-east-1") -> Any:
    from providers.local.emulator import aws_environment, ensure_running

    environ = aws_environment(ensure_running())
    return boto3.client(
        service,
        endpoint_url=environ["AWS_ENDPOINT_URL"],
        region_name=region,
        aws_access_key_id=environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=environ["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="module")
def runner(infra_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """The runner machine, the state bucket on the emulator, and the author's repository with
    both pipelines on main."""
    root = tmp_path_factory.mktemp("ci-runner")
    emulator_client("s3").create_bucket(Bucket=STATE_BUCKET)
    origin = root / "origin"
    origin.mkdir()
    git(origin, "init", "-q")
    (origin / "profiles").mkdir()
    (origin / PROFILE).write_text(yaml.safe_dump(chat_profile(2)))  # ci init reads it
    for provider in PIPELINE_FILES:
        write_pipeline(PipelineSettings(provider=provider, output_dir=origin))
    (origin / PROFILE).unlink()  # the pull request adds it
    git(origin, "add", ".")
    git(origin, "commit", "-q", "-m", "CI pipelines from infra ci init")
    python_dir = runner_python(root / "python")
    (root / "bin").mkdir()
    for tool in ("gh", "curl"):
        (root / "bin" / tool).write_text(FAKE_API_CLIENT.format(python=sys._base_executable))
        (root / "bin" / tool).chmod(0o755)
    return Runner(root, origin, python_dir, infra_home)


@dataclass
class GithubRun:
    head: str
    merged: str
    plan: Job
    comment: Job
    find_plan: Job
    apply: Job
    drift: Job
    lock: str
    tools: Path


@pytest.fixture(scope="module")
def github_run(runner: Runner, toolkit_index: str) -> GithubRun:
    """A pull request adds the profile; merged, its plan is applied; a night later, drift."""
    author = Author(runner.origin)
    head = author.change_profile("add-chat", min_replicas=2, replan=False)
    workflow = yaml.safe_load((runner.origin / PIPELINE_FILES["github"]).read_text())
    actions = GithubActions(
        runner,
        workflow,
        {"AWS_ROLE_ARN_STAGING": ROLE, "TOOLKIT_INDEX": toolkit_index},
    )
    pull_request = {
        "event_name": "pull_request",
        "base_ref": "main",
        "sha": head,
        "event": {"pull_request": {"number": PR_NUMBER}},
    }
    plan = actions.run("plan", commit=head, event=pull_request)
    comment = actions.run("cost-comment", commit=None, event=pull_request)
    merged = author.merge("add-chat")
    push = {"event_name": "push", "sha": merged, "pr_head": head}
    find_plan = actions.run("find-plan", commit=None, event=push)
    assert find_plan.outputs["find"] == {"run-id": RUN_ID}
    needs = {"find-plan": {"outputs": find_plan.outputs["find"]}}
    apply = actions.run("apply", commit=merged, event=push, needs=needs)
    drift = actions.run("drift", commit=merged, event={"event_name": "schedule", "sha": merged})
    (tools,) = runner.caches.values()
    lock = (runner.origin / LOCK).read_text()
    return GithubRun(head, merged, plan, comment, find_plan, apply, drift, lock, tools)


def test_github_installs_the_pinned_toolkit_once_then_uses_the_cache(
    github_run: GithubRun,
) -> None:
    install = github_run.plan.output_of("Install the toolkit")
    assert github_run.plan.cache_hit is False and FROM_CACHE not in install
    assert install.splitlines()[-1] == "infra 0.1.0"
    for job in (github_run.apply, github_run.drift):
        assert job.cache_hit is True
        assert job.output_of("Install the toolkit").splitlines() == [FROM_CACHE, "infra 0.1.0"]
    tools = github_run.tools
    assert os.readlink(tools / "infra" / "bin" / "checkov") == "../../checkov/bin/checkov"
    assert not list((tools / "infra").glob("lib/python*/site-packages/checkov"))
    assert list((tools / "checkov").glob("lib/python*/site-packages/checkov"))


def test_github_pull_request_checks_plans_and_keeps_the_lock(github_run: GithubRun) -> None:
    out = "infra-ci/chat-local"
    check = json.loads(github_run.plan.read(f"{out}/check.json"))
    assert check["blocking"] == 0 and check["passed"] > 0
    plan = json.loads(github_run.plan.read(f"{out}/plan.json"))
    assert plan["changes"] is True and plan["create"] > 0 and plan["delete"] == 0
    assert (github_run.plan.kept / out / "plan.zip").is_file()
    assert github_run.plan.read(f"{out}/chat.lock.yaml") == github_run.lock
    assert github_run.plan.read(f"{out}/cost-diff.md").splitlines() == [
        f"### {PROFILE} in {EMULATED_ENV}",
        "",
        "New profile: nothing on origin/main to compare with.",
    ]
    assert json.loads(github_run.plan.read(f"{out}/cost.json"))["monthly_usd"]["expected"] > 0


def test_github_posts_one_sticky_cost_comment(github_run: GithubRun, runner: Runner) -> None:
    (call,) = [c for c in runner.api_calls("gh") if c["args"][:2] == ["pr", "comment"]]
    assert call["args"] == [
        "pr", "comment", PR_NUMBER, "--edit-last", "--create-if-none", "--body-file", "comment.md"
    ]  # fmt: skip
    body = call["body"].splitlines()
    assert body[:3] == ["## Cost diff", "", f"### {PROFILE} in {EMULATED_ENV}"]
    assert "New profile: nothing on origin/main to compare with." in body
    assert body[-1].startswith("Plans, checks and costs as JSON: https://github.example/")


def test_github_merge_applies_the_reviewed_plan(github_run: GithubRun, runner: Runner) -> None:
    asked = [c["args"] for c in runner.api_calls("gh") if c["args"][0] in ("api", "run")]
    assert [args[:2] for args in asked] == [
        ["api", f"repos/team/infra/commits/{github_run.merged}/pulls"],
        ["run", "list"],
    ]
    assert asked[1][asked[1].index("--commit") + 1] == github_run.head
    applied = json.loads(github_run.apply.read("infra-ci/chat-local/apply.json"))
    assert applied["outputs"]["vpc_id"].startswith("vpc-")
    state = emulator_client("s3").list_objects_v2(Bucket=STATE_BUCKET)["Contents"]
    assert [o["Key"] for o in state] == [f"infra/chat/{EMULATED_ENV}/terraform.tfstate"]


def test_github_nightly_drift_finds_none(github_run: GithubRun, runner: Runner) -> None:
    drift = json.loads(github_run.drift.read("infra-ci/chat-local/drift.json"))
    assert drift["changes"] is False
    assert not [c for c in runner.api_calls("gh") if c["args"][:1] == ["issue"]]


@dataclass
class GitlabRun:
    merge_request: Job
    note: Job
    plan: Job
    apply: Job
    drift: Job


@pytest.fixture(scope="module")
def gitlab_run(runner: Runner, github_run: GithubRun, toolkit_index: str) -> GitlabRun:
    """A merge request raises the deployed profile's replicas; merged, it is planned and that
    plan applied; a night later, drift."""
    author = Author(runner.origin)
    base = github_run.merged
    head = author.change_profile("more-replicas", min_replicas=3, replan=True)
    pipeline = yaml.safe_load((runner.origin / PIPELINE_FILES["gitlab"]).read_text())
    project_variables = {
        "AWS_ROLE_ARN_STAGING": ROLE,
        "INFRA_MR_NOTE_TOKEN": "glpat-stand-in",
        "TOOLKIT_INDEX": toolkit_index,
    }
    gitlab = GitlabCi(runner, pipeline, project_variables)
    merge_request = {
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": base,
        "CI_MERGE_REQUEST_IID": "3",
    }
    mr_plan = gitlab.run("mr-plan:chat:staging", commit=head, predefined=merge_request)
    note = gitlab.run("cost-note", commit=head, predefined=merge_request)
    merged = author.merge("more-replicas")
    push = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main"}
    plan = gitlab.run("plan:chat:staging", commit=merged, predefined=push)
    apply = gitlab.run("apply:chat:staging", commit=merged, predefined=push)
    drift = gitlab.run(
        "drift:chat:staging", commit=merged, predefined={"CI_PIPELINE_SOURCE": "schedule"}
    )
    return GitlabRun(mr_plan, note, plan, apply, drift)


def test_gitlab_installs_the_pinned_toolkit_once_then_uses_the_cache(
    gitlab_run: GitlabRun,
) -> None:
    script = gitlab_run.merge_request.output_of("script")
    assert gitlab_run.merge_request.cache_hit is False and FROM_CACHE not in script
    assert "infra 0.1.0" in script.splitlines()
    for job in (gitlab_run.plan, gitlab_run.apply, gitlab_run.drift):
        assert job.cache_hit is True
        assert job.output_of("script").splitlines()[:2] == [FROM_CACHE, "infra 0.1.0"]


def test_gitlab_merge_request_plans_the_change_and_notes_its_cost(
    gitlab_run: GitlabRun, runner: Runner
) -> None:
    job, out = gitlab_run.merge_request, "infra-ci/chat-staging"
    plan = json.loads(job.read(f"{out}/plan.json"))
    assert plan["changes"] is True and plan["delete"] == 0
    diff = job.read(f"{out}/cost-diff.md")
    assert diff.startswith(f"### {PROFILE} in {EMULATED_ENV}\n\n")
    assert "failed" not in diff and "New profile" not in diff
    reads, posts = runner.api_calls("curl")
    assert "--request" not in reads["args"] and posts["args"][:4] == [
        "-fsS", "--request", "POST", "--header"
    ]  # fmt: skip
    assert posts["args"][-1] == "https://gitlab.example/api/v4/projects/42/merge_requests/3/notes"
    assert posts["body"].startswith("<!-- infra cost diff -->\n## Cost diff\n\n" + diff)


def test_gitlab_default_branch_applies_the_plan_it_made(gitlab_run: GitlabRun) -> None:
    planned = json.loads(gitlab_run.plan.read("infra-ci/chat-staging/plan.json"))
    assert planned["changes"] is True
    applied = json.loads(gitlab_run.apply.read("infra-ci/chat-staging/apply.json"))
    assert applied["outputs"]["vpc_id"].startswith("vpc-")
    autoscaling = emulator_client("autoscaling", REGION)
    groups = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    assert [group["MinSize"] for group in groups] == [3]


def test_gitlab_nightly_drift_finds_none(gitlab_run: GitlabRun) -> None:
    drift = json.loads(gitlab_run.drift.read("infra-ci/chat-staging/drift.json"))
    assert drift["changes"] is False
