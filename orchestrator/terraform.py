"""Terraform (or OpenTofu) as a subprocess: found, version-checked, run without prompts, with its
full output kept in a log file that every error message names."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.files import write_atomically
from orchestrator.errors import EmulatorStopped, StateLocked, TerraformFailed, TerraformNotFound
from orchestrator.state_file import StateFileUnreadable, check_state_file, unreadable_state_sentence
from orchestrator.workspace import Workspace, open_private

MINIMUM_VERSION = (1, 10)
"""S3 state locking with a lock file (no DynamoDB) arrived in Terraform and OpenTofu 1.10."""
MIRROR_ENV = "INFRA_PROVIDER_MIRROR"
BINARY_ENV = "INFRA_TERRAFORM"
_ERROR_LINE = re.compile(r"^(?:│\s*)?Error: (?P<message>.+)$", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class TerraformBinary:
    path: str
    name: str
    version: str


def find_terraform() -> TerraformBinary:
    """`$INFRA_TERRAFORM`, else `terraform`, else `tofu` on the PATH; at least 1.10."""
    candidates = [os.environ[BINARY_ENV]] if os.environ.get(BINARY_ENV) else ["terraform", "tofu"]
    for candidate in candidates:
        path = shutil.which(candidate)
        if path is None:
            continue
        try:
            raw = subprocess.run(
                [path, "version", "-json"], capture_output=True, text=True, timeout=30, check=True
            ).stdout
            version = json.loads(raw)["terraform_version"]
        except (subprocess.SubprocessError, OSError, ValueError, KeyError):
            raise TerraformNotFound(
                f"{path} did not report its version; check that it is a working Terraform "
                "or OpenTofu binary."
            ) from None
        numbers = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
        if numbers < MINIMUM_VERSION:
            raise TerraformNotFound(
                f"{path} is version {version}; infra needs Terraform or OpenTofu "
                f"{'.'.join(map(str, MINIMUM_VERSION))} or newer."
            )
        return TerraformBinary(path, Path(path).name, version)
    wanted = " or ".join(candidates)
    raise TerraformNotFound(
        f"{wanted} not found on the PATH; install Terraform or OpenTofu 1.10+, "
        f"or set {BINARY_ENV} to its path."
    )


def mirror_config(workspace: Workspace, environ: Mapping[str, str]) -> dict[str, str]:
    """With $INFRA_PROVIDER_MIRROR set, a CLI configuration in the workspace that installs
    providers from that directory only; the user's own configuration files are not touched."""
    mirror = environ.get(MIRROR_ENV)
    if not mirror:
        return {}
    directory = Path(mirror).expanduser().resolve()
    if not directory.is_dir():
        raise TerraformNotFound(f"{MIRROR_ENV}={mirror} is not a directory.")
    config = workspace.root / "terraform.rc"
    write_atomically(
        config,
        "provider_installation {\n"
        f"  filesystem_mirror {{\n    path = {json.dumps(str(directory))}\n  }}\n"
        "}\n",
    )
    return {"TF_CLI_CONFIG_FILE": str(config)}


@dataclass(frozen=True)
class StepResult:
    returncode: int
    output: str
    log: Path


class TerraformRunner:
    def __init__(
        self,
        binary: TerraformBinary,
        workspace: Workspace,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        check_state_file(workspace.state_file)  # before Terraform reads it and says less
        self.binary = binary
        self.workspace = workspace
        environ = dict(os.environ)
        environ.update(
            {
                "TF_IN_AUTOMATION": "1",
                "TF_INPUT": "0",
                "CHECKPOINT_DISABLE": "1",
                "TF_DATA_DIR": str(workspace.data_dir),
            }
        )
        environ.update(mirror_config(workspace, environ))
        environ.update(extra_env or {})
        self.environ = environ

    def run(
        self, step: str, args: Sequence[str], *, ok_codes: tuple[int, ...] = (0,)
    ) -> StepResult:
        """Run one Terraform command in the stack directory; its output goes to a log file.

        Both are private: the log is 0600 and Terraform runs with umask 077, so the state, its
        backup and the plans it writes are 0600 too (they hold every resource attribute)."""
        log = self.workspace.new_log(step)
        command = [self.binary.path, *args]
        with open_private(log) as stream:  # written as Terraform goes: `tail -f` to follow
            stream.write(f"$ {' '.join(command)}\n")
            stream.flush()
            process = subprocess.run(
                command,
                cwd=self.workspace.stack_dir,
                env=self.environ,
                stdout=stream,
                stderr=subprocess.STDOUT,
                check=False,
                umask=0o077,
            )
        output = _ANSI.sub("", log.read_text(errors="replace").split("\n", 1)[1])
        if process.returncode not in ok_codes:
            raise _failure(self.binary.name, step, output, log)
        return StepResult(process.returncode, output, log)

    def json(self, step: str, args: Sequence[str]) -> object:
        result = self.run(step, args)
        try:
            return json.loads(result.output)
        except ValueError:
            raise TerraformFailed(
                f"{self.binary.name} {step} printed something other than JSON; see {result.log}."
            ) from None


def _failure(tool: str, step: str, output: str, log: Path) -> Exception:
    """Terraform's output as one sentence: the known causes first, else its first error."""
    flowing = " ".join(output.split())  # Terraform wraps its explanations at 78 columns
    explainers = (
        _unreadable_state,
        _emulator_stopped,
        _providers_unavailable,
        _state_locked,
        _exists_outside_the_state,
        _custom_resource_unknown,
    )
    for explain in explainers:
        explained = explain(tool, step, flowing, log)
        if explained is not None:
            return explained
    errors = [m["message"].strip() for m in _ERROR_LINE.finditer(output)]
    summary = errors[0].rstrip(".") if errors else "it exited with an error"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return TerraformFailed(f"{tool} {step} failed: {summary}{more}; full output in {log}.")


def _exists_outside_the_state(tool: str, step: str, output: str, log: Path) -> Exception | None:
    """A resource the apply wanted to create is there already: a run was cut off before the
    state recorded it (or another deployment took the name)."""
    if step != "apply":
        return None
    found = re.search(r"(?P<what>[\w .-]+(?:\([^)]*\))?) already exists", output)
    if found is None or "Error:" not in output:
        return None
    what = found["what"].strip() or "a resource"
    return TerraformFailed(
        f"{tool} apply failed: {what} already exists but is not in the state (a run cut off "
        "before Terraform recorded it?); `infra repair PROFILE --env ENV` imports it into the "
        f"state or, with --delete, removes it; then run the same command again; full output in "
        f"{log}."
    )


_NO_MATCHES = re.compile(r'no matches for kind "(?P<kind>\w+)" in group "(?P<group>[\w.-]+)"')
CRD_HINTS = {
    "monitoring.coreos.com": (
        "the Prometheus operator (kube-prometheus-stack) is not installed there; install it, or "
        "set deploy.kubernetes.monitoring: none"
    ),
    "keda.sh": "KEDA is not installed there; install it (it scales the workload)",
    "serving.kserve.io": "KServe is not installed there; install it, or set kserve: false",
    "gateway.networking.k8s.io": (
        "the Gateway API CRDs are not installed there; install them, or remove gateway"
    ),
}
"""What a cluster lacks when the hashicorp/kubernetes provider cannot plan a manifest of a
custom resource, by the resource's API group."""


def _custom_resource_unknown(tool: str, step: str, output: str, log: Path) -> Exception | None:
    """kubernetes_manifest reads each kind's schema from the cluster at plan time: a custom
    resource whose CRD is not installed fails the plan (`API did not recognize GroupVersionKind
    from manifest (CRD may not be installed)`, then `no matches for kind ... in group ...`)."""
    if "did not recognize GroupVersionKind" not in output:
        return None
    found = _NO_MATCHES.search(output)
    if found is None:
        return None
    group = found["group"]
    hint = CRD_HINTS.get(group, "install the operator that defines it")
    return TerraformFailed(
        f"{tool} {step} failed: the cluster has no {found['kind']} resource type (API group "
        f"{group}): {hint}; full output in {log}."
    )


def _state_locked(tool: str, step: str, output: str, log: Path) -> Exception | None:
    if "Error acquiring the state lock" not in output:
        return None
    # The "Lock Info:" block, which starts with the ID; an S3 error above it has a "RequestID:".
    holder = re.search(r"\bWho: (\S+)", output)
    lock_id = re.search(r"\bLock Info: ID: (\S+)", output)
    who = f" by {holder[1]}" if holder else ""
    unlock = f" (`{tool} force-unlock {lock_id[1]}` if that run is dead)" if lock_id else ""
    return StateLocked(
        f"the state is locked{who}: another plan or apply is running on this deployment; "
        f"wait for it to finish{unlock}; details in {log}."
    )


def _unreadable_state(tool: str, step: str, output: str, log: Path) -> Exception | None:
    """A state that does not parse; Terraform names neither the file nor its backup."""
    if "Unsupported state file format" not in output:
        return None
    # The log is <workspace>/logs/<step>.log; a local state is <workspace>/terraform.tfstate.
    state = log.parent.parent / "terraform.tfstate"
    if state.exists():
        return StateFileUnreadable(
            f"{unreadable_state_sentence(state).rstrip('.')}; details in {log}."
        )
    return StateFileUnreadable(
        f"{tool} {step} could not read the state from the backend: it is not a valid Terraform "
        "state (a write that was cut off?); restore the state object's previous version (S3 "
        f"keeps them when the bucket has versioning) and run the same command again; details "
        f"in {log}."
    )


_REFUSED_ON_LOOPBACK = re.compile(
    r"dial tcp (?P<address>(?:127\.[\d.]+|localhost|\[::1\]):\d+): connect: connection refused"
)


def _emulator_stopped(tool: str, step: str, output: str, log: Path) -> Exception | None:
    """Only the local emulator listens on a loopback address for the AWS provider."""
    refused = _REFUSED_ON_LOOPBACK.search(output)
    if refused is None:
        return None
    return EmulatorStopped(
        f"the local AWS emulator stopped answering during {tool} {step} (connection refused "
        f"at {refused['address']}); start it again with `infra local up`, then run the same "
        "command again (and `infra repair` if it says a resource already exists); full output "
        f"in {log}."
    )


def _providers_unavailable(tool: str, step: str, output: str, log: Path) -> Exception | None:
    if step != "init" or "Failed to query available provider packages" not in output:
        return None
    provider = re.search(r"versions for provider (\S+?):", output)
    what = provider[1] if provider else "the providers"
    if "was not found in any of the search locations" in output:
        places = re.search(r"search locations((?: - \S+)+)", output)
        mirror = ", ".join(places[1].split(" - ")[1:]) if places else "the provider mirror"
        return TerraformFailed(
            f"{tool} init found no version of {what} that the configuration accepts in the "
            f"provider mirror {mirror}; add one there with `{tool} providers mirror DIR` where "
            f"the registry is reachable, or point {MIRROR_ENV} at a mirror that has it; full "
            f"output in {log}."
        )
    host = re.search(r"could not connect to (\S+?):", output)
    where = host[1] if host else "the provider registry"
    return TerraformFailed(
        f"{tool} init could not reach {where} to download {what} (offline?); set "
        f"{MIRROR_ENV} to a provider mirror directory (`{tool} providers mirror DIR` makes one "
        f"where the registry is reachable); full output in {log}."
    )
