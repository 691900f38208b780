"""`infra ci init`: a CI pipeline that plans on a pull request, applies the reviewed plan on merge
and checks for drift nightly, rendered from templates/ci/ and written atomically.

Everything is validated before anything is written: every profile loads, every environment name
is a valid spec name with a remote state backend in each profile that deploys to it (a CI runner
keeps no files, so state in a local file would be lost after every job), the toolkit is pinned,
and the pipeline file does not exist yet unless `force`.

Every job installs the same tools (templates/ci/install_tools.sh.j2): the toolkit as pinned and
checkov, each in a virtual environment of its own, installed by uv and cached under a key made of
the pins, so that a pull request's plan and the merge's apply run the same versions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import msgspec

from core.errors import InfraError
from core.files import write_atomically
from planner.lock import lock_path
from planner.profile import Profile, load_profile

PIPELINE_FILES = {"github": Path(".github/workflows/infra.yml"), "gitlab": Path(".gitlab-ci.yml")}
PROFILES_DIR = "profiles"
DEFAULT_ROLE_VARIABLE = "AWS_ROLE_ARN"
TOOLKIT_DISTRIBUTION = "infra-serving-toolkit"
CHECKOV_SPEC = "checkov>=3.3.30,<3.4"
"""The policy scanner `infra check` runs, pinned as scripts/bootstrap pins it (a test keeps the
two equal)."""
UV_SPEC = "uv==0.13.9"
"""The installer: uv installs the toolkit's dependencies in seconds where pip takes minutes."""
DEFAULT_TERRAFORM_VERSION = "1.11.4"
"""Pinned, because Terraform refuses to apply a plan saved by another version."""
MINIMUM_TERRAFORM = (1, 10)
"""S3 state locking with a lock file (no DynamoDB) arrived in Terraform 1.10."""
DEFAULT_BRANCH = "main"
PYTHON_VERSION = "3.11"
APPROVAL_ENVIRONMENTS = frozenset({"prod", "production"})
"""Environments whose apply waits for a person, besides those a profile marks `protected`."""

_ROLE_VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]{0,80}$")
_BRANCH = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._/-]*$")
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_TOOLKIT = r"(?i:infra[-_.]serving[-_.]toolkit)(?:\[[\w,.-]+\])?\s*"
_EXACT_VERSION = re.compile(_TOOLKIT + r"==\s*\d[\w.+!-]*")
_DIRECT_REFERENCE = re.compile(_TOOLKIT + r"@\s*(\S+)")
_ARCHIVES = (".whl", ".tar.gz", ".zip")


@dataclass(frozen=True)
class PipelineSettings:
    """What `infra ci init` was asked for; empty `profiles`/`environments` mean the defaults."""

    provider: str | None
    output_dir: Path = Path(".")
    profiles: tuple[Path, ...] = ()
    environments: tuple[str, ...] = ()
    role_variable: str = DEFAULT_ROLE_VARIABLE
    toolkit_spec: str | None = None
    """None: this toolkit's own version, exactly (`default_toolkit_spec`)."""
    terraform_version: str = DEFAULT_TERRAFORM_VERSION
    default_branch: str = DEFAULT_BRANCH


@dataclass(frozen=True)
class PipelineTarget:
    """One profile deployed to one environment: one plan, one apply and one drift check."""

    profile: str
    """POSIX path relative to the repository root, as the CI checkout sees it."""
    name: str
    env: str
    role_variable: str
    """The CI variable holding the ARN of the role apply assumes, e.g. AWS_ROLE_ARN_PROD."""
    needs_approval: bool

    @property
    def lock(self) -> str:
        """The profile's lock file, which CI plans with (`infra plan --locked`)."""
        return lock_path(Path(self.profile)).as_posix()

    @property
    def plan_role_variable(self) -> str:
        """Optional narrower role for plan and drift; apply's role when it is not set."""
        return f"{self.role_variable}_PLAN"

    def to_dict(self) -> dict[str, object]:
        return {
            "profile": self.profile,
            "name": self.name,
            "env": self.env,
            "role_variable": self.role_variable,
            "plan_role_variable": self.plan_role_variable,
            "needs_approval": self.needs_approval,
        }


@dataclass(frozen=True)
class WrittenPipeline:
    provider: str
    path: Path
    targets: tuple[PipelineTarget, ...]
    toolkit_spec: str

    @property
    def needs_an_index(self) -> bool:
        """An exact version, which PyPI does not have: the pipeline needs TOOLKIT_INDEX."""
        return _EXACT_VERSION.fullmatch(self.toolkit_spec) is not None

    @property
    def role_variables(self) -> list[str]:
        return list(dict.fromkeys(target.role_variable for target in self.targets))

    @property
    def approval_environments(self) -> list[str]:
        return approval_environments(self.targets)

    def to_dict(self) -> dict[str, object]:
        return {
            "provider": self.provider,
            "path": str(self.path),
            "toolkit_spec": self.toolkit_spec,
            "targets": [target.to_dict() for target in self.targets],
            "role_variables": self.role_variables,
            "approval_environments": self.approval_environments,
        }


def approval_environments(targets: tuple[PipelineTarget, ...]) -> list[str]:
    """The environments whose applies wait for a person, in the order the targets name them."""
    return list(dict.fromkeys(target.env for target in targets if target.needs_approval))


def default_toolkit_spec() -> str:
    """This toolkit's own version, exactly: the pipeline runs the version that wrote it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{TOOLKIT_DISTRIBUTION}=={version(TOOLKIT_DISTRIBUTION)}"
    except PackageNotFoundError:
        raise InfraError(
            f"this toolkit is not installed as the package {TOOLKIT_DISTRIBUTION}, so its version "
            f"is unknown; give --toolkit-spec (e.g. {TOOLKIT_DISTRIBUTION}==0.1.0)."
        ) from None


def is_pinned(spec: str) -> bool:
    """An exact version, a VCS URL at a tag or commit (`git+https://host/repo@v0.1.0`), or an
    archive's URL (its file name carries the version)."""
    if _EXACT_VERSION.fullmatch(spec):
        return True
    reference = _DIRECT_REFERENCE.fullmatch(spec)
    if reference is None:
        return False
    url = reference.group(1)
    if url.startswith("git+"):
        return "@" in urlsplit(url.removeprefix("git+")).path
    return urlsplit(url).path.endswith(_ARCHIVES)


def _check_toolkit_spec(spec: str) -> None:
    if any(c in "$'\"" or not c.isprintable() for c in spec) or not is_pinned(spec.strip()):
        raise InfraError(
            f"invalid --toolkit-spec {spec!r}: pin the toolkit on one line, without '$' or "
            f"quotes: {TOOLKIT_DISTRIBUTION}==VERSION (from PyPI or the index in TOOLKIT_INDEX), "
            f"{TOOLKIT_DISTRIBUTION} @ git+https://HOST/REPO@TAG-OR-COMMIT, or "
            f"{TOOLKIT_DISTRIBUTION} @ the URL of a wheel (the pin keys the pipeline's cache and "
            "keeps plan and apply on one version)."
        )


def _check_provider(provider: str | None) -> str:
    if provider is None:
        raise InfraError("give the CI provider with --provider github or --provider gitlab.")
    if provider.lower() not in PIPELINE_FILES:
        raise InfraError(f"unknown CI provider '{provider}': use github or gitlab.")
    return provider.lower()


def _check_settings(settings: PipelineSettings) -> None:
    if not settings.output_dir.is_dir():
        raise InfraError(
            f"the output directory {settings.output_dir} does not exist; give the repository root."
        )
    variable = settings.role_variable
    if not _ROLE_VARIABLE.match(variable) or variable.startswith("GITHUB_"):
        raise InfraError(
            f"invalid --aws-role-variable '{variable}': use uppercase letters, digits and "
            "underscores, starting with a letter and not with GITHUB_ (e.g. AWS_ROLE_ARN)."
        )
    _check_toolkit_spec(settings.toolkit_spec or default_toolkit_spec())
    version = _VERSION.match(settings.terraform_version)
    if not version or tuple(int(part) for part in version.groups()[:2]) < MINIMUM_TERRAFORM:
        raise InfraError(
            f"invalid --terraform-version '{settings.terraform_version}': give a release such "
            "as 1.11.4, at least 1.10 (S3 state locking without DynamoDB)."
        )
    if not _BRANCH.match(settings.default_branch):
        raise InfraError(
            f"invalid --default-branch '{settings.default_branch}': give a branch name, e.g. main."
        )


def _check_environment_name(env: str) -> None:
    from planner.deployment import Name  # the spec's own name rule; the module loads the optimizer

    try:
        msgspec.convert(env, Name)
    except msgspec.ValidationError:
        raise InfraError(
            f"invalid environment name '{env}': use 1 to 40 lowercase letters, digits and "
            "dashes, starting and ending with a letter or digit."
        ) from None
    if env == "local":
        raise InfraError(
            "the environment 'local' is the emulated AWS on one machine; CI deploys to real "
            "environments such as staging or prod."
        )


def _profile_paths(settings: PipelineSettings) -> list[Path]:
    if settings.profiles:
        return list(dict.fromkeys(settings.profiles))
    folder = settings.output_dir / PROFILES_DIR
    found = sorted(p for pattern in ("*.yaml", "*.yml") for p in folder.glob(pattern))
    if not found:
        raise InfraError(
            f"no profiles found in {folder}; put them there or give --profile PATH (repeatable)."
        )
    return found


def _relative_to_root(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise InfraError(
            f"the profile {path} is outside {root}, the repository root the pipeline runs in; "
            "keep profiles in the repository or give --output-dir."
        ) from None


def _environments_of(profile: Profile, path: Path, asked: tuple[str, ...]) -> list[str]:
    declared = profile.deploy.environments
    environments = list(dict.fromkeys(asked)) or [env for env in declared if env != "local"]
    if not environments:
        raise InfraError(
            f"{path} declares no environment under deploy.environments; add one with a state "
            "backend (e.g. prod: {backend: {s3_bucket: ...}}) or give --env NAME."
        )
    for env in environments:
        _check_environment_name(env)
        environment = declared.get(env)
        if environment is None or environment.backend is None:
            raise InfraError(
                f"{path} has no state backend for '{env}': a CI runner keeps no files, so add "
                f"deploy.environments.{env}.backend.s3_bucket to the profile."
            )
    return environments


def pipeline_targets(settings: PipelineSettings) -> tuple[PipelineTarget, ...]:
    """Every (profile, environment) the pipeline plans, applies and checks, validated."""
    loaded: list[tuple[str, Profile, list[str]]] = []
    names: dict[str, Path] = {}
    for path in _profile_paths(settings):
        relative = _relative_to_root(path, settings.output_dir)
        profile = load_profile(path).profile
        if profile.name in names:
            raise InfraError(
                f"{path} and {names[profile.name]} both name the profile '{profile.name}'; "
                "each profile needs its own name (it names the state and the plan artifacts)."
            )
        names[profile.name] = path
        loaded.append((relative, profile, _environments_of(profile, path, settings.environments)))
    protected = {
        env
        for _, profile, environments in loaded
        for env in environments
        if profile.deploy.environments[env].protected
    }
    return tuple(
        PipelineTarget(
            profile=relative,
            name=profile.name,
            env=env,
            role_variable=f"{settings.role_variable}_{env.upper().replace('-', '_')}",
            needs_approval=env in APPROVAL_ENVIRONMENTS or env in protected,
        )
        for relative, profile, environments in loaded
        for env in environments
    )


def render_pipeline(
    provider: str, settings: PipelineSettings, targets: tuple[PipelineTarget, ...]
) -> str:
    """The pipeline file's text for PROVIDER (github or gitlab)."""
    import jinja2  # ~90 ms to import: only this command pays for it

    environment = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # JSON strings are YAML double-quoted scalars: any profile path or pip spec stays one value.
    environment.filters["quote"] = json.dumps
    spec = settings.toolkit_spec or default_toolkit_spec()
    return environment.get_template(f"ci/{provider}.yml.j2").render(
        targets=targets,
        settings=settings,
        toolkit_spec=spec,
        # A GitHub expression: the repository variable TOOLKIT_SPEC, else the pinned spec (which
        # holds no quote: _check_toolkit_spec refuses them).
        github_toolkit_spec=f"${{{{ vars.TOOLKIT_SPEC || '{spec}' }}}}",
        checkov_spec=CHECKOV_SPEC,
        uv_spec=UV_SPEC,
        python_version=PYTHON_VERSION,
        approval_environments=approval_environments(targets),
        environments=list(dict.fromkeys(t.env for t in targets)),
    )


def _template_source(name: str) -> str:
    return files("templates").joinpath(*PurePosixPath(name).parts).read_text(encoding="utf-8")


def write_pipeline(settings: PipelineSettings, *, force: bool = False) -> WrittenPipeline:
    """Validate, render and write the pipeline file; refuse to overwrite one unless `force`."""
    provider = _check_provider(settings.provider)
    spec = settings.toolkit_spec or default_toolkit_spec()
    settings = replace(settings, toolkit_spec=spec)
    _check_settings(settings)
    targets = pipeline_targets(settings)
    path = settings.output_dir / PIPELINE_FILES[provider]
    if path.is_dir():
        raise InfraError(f"{path} is a directory; move it away to write the pipeline there.")
    if path.exists() and not force:
        raise InfraError(f"{path} already exists; pass --force to overwrite it.")
    text = render_pipeline(provider, settings, targets)
    try:
        write_atomically(path, text, private=False)
    except OSError as error:
        raise InfraError(f"cannot write {path}: {error.strerror or error}.") from None
    return WrittenPipeline(provider, path, targets, spec)
