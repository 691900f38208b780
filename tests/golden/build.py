"""Golden synthesis: every example on every target it fits, built from recorded decisions.

A golden file is `synth/<example>-<cloud>-<kind>.tf.json` (`-local` added for the emulated AWS
environment): the `cdk.tf.json` that `infra plan --env prod --cloud <cloud> --kind <kind>` would
synthesize for the example. Its inputs are all fixed, so its bytes depend on how stacks are
synthesized and on nothing else:

- the decision (planner/decision.py) and the deployment ID come from `decisions.yaml`, written by
  `--decide` (the optimizer over the shipped catalog); the catalog and the performance model are
  not read again, so a price refresh or a refit changes no golden file;
- the profile is the example plus what each cloud reads the weights and the token from
  (`CLOUD_INPUTS`; a Vertex endpoint also needs an image in Artifact Registry);
- the state directory is a fixed absolute path (`STATE_ROOT`), not a temporary one: the local
  backend writes it into the configuration, so fixing the input replaces any substitution;
- the two settings the stacks read from the environment (`ENVIRONMENT`) are set while synthesizing.

What still varies with the installed packages: the cdktn version in each file's metadata and the
provider bindings' version constraints; an upgrade of either is one regenerate.
"""

from __future__ import annotations

import copy
import hashlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import yaml

from planner.decision import Decision
from planner.deployment import DeploymentSpec, spec_from_decision
from providers import targets

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
EXAMPLES = REPO / "examples"
DECISIONS = HERE / "decisions.yaml"
SYNTH = HERE / "synth"
REGENERATE = ".venv/bin/python -m tests.golden.regenerate"
STATE_ROOT = Path("/srv/infra-golden")
"""Stands for the profile's folder: state lives in `<it>/.infra/<name>/<env>/`, as a workspace's."""

LOCAL_ENV = "local"
"""The emulated AWS (orchestrator.decisions.LOCAL_ENV): synthesized with emulator settings."""


@dataclass(frozen=True)
class Target:
    cloud: str
    kind: str
    env: str = "prod"

    @property
    def suffix(self) -> str:
        return f"{self.cloud}-{self.kind}" + ("-local" if self.env == LOCAL_ENV else "")


TARGETS = tuple(
    Target(cloud.name, target.kind.name) for cloud, target in targets.targets()
) + tuple(
    Target(cloud.name, target.kind.name, LOCAL_ENV)
    for cloud, target in targets.targets()
    if target.emulated
)
"""Every registered target for a real cloud, and the emulated AWS's (providers/targets.py)."""

ARM = "/subscriptions/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0/resourceGroups/rg/providers"
CLOUD_INPUTS: dict[str, dict[str, Any]] = {
    # Weights and a token secret, so the boot scripts and roles read both (Triton needs weights).
    "aws": {"model_s3_uri": "s3://models-bucket/example", "hf_token_ssm_parameter": "/hf/token"},
    "gcp": {"gcp": {"model_gcs_uri": "gs://models-bucket/example", "hf_token_secret": "hf-token"}},
    "azure": {
        "azure": {
            "hf_token_secret_id": f"{ARM}/Microsoft.KeyVault/vaults/kvs/secrets/hf",
            "model_blob_container_id": f"{ARM}/Microsoft.Storage/storageAccounts/models"
            "/blobServices/default/containers/weights",
        }
    },
}
VERTEX_IMAGE = "us-docker.pkg.dev/demo-project-1/serving/vllm-openai:v0.10.2"
ENVIRONMENT = {
    "GOOGLE_CLOUD_PROJECT": "demo-project-1",
    "ARM_SUBSCRIPTION_ID": "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
}


class Recorded(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One golden file's inputs besides the example: what the lock would hold for it."""

    example: str
    env: str
    deployment_id: str
    decision: Decision

    @property
    def name(self) -> str:
        return f"{self.example}-{self.target.suffix}"

    @property
    def target(self) -> Target:
        return Target(self.decision.cloud, self.decision.kind, self.env)


def deployment_id(example: str, target: Target) -> str:
    """Fixed per example and target (a lock's ID is derived from the profile's path instead)."""
    return hashlib.sha256(f"{example}/{target.suffix}".encode()).hexdigest()[:4]


def golden_path(name: str, synth: Path = SYNTH) -> Path:
    return synth / f"{name}.tf.json"


def read_exactly(path: Path) -> str:
    """The file's text as its bytes are (read_text would turn CR LF into LF)."""
    return path.read_bytes().decode("utf-8")


@contextmanager
def fixed_environment(extra: Mapping[str, str] = {}) -> Iterator[None]:
    """`ENVIRONMENT` (and `extra`) set, whatever the caller's shell holds; restored after."""
    wanted = {**ENVIRONMENT, **extra}
    before = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def profile_data(example: str, target: Target) -> dict[str, Any]:
    """The example, with what `target`'s cloud reads the weights and the token from."""
    data = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    deploy = data.setdefault("deploy", {})
    for key, value in copy.deepcopy(CLOUD_INPUTS[target.cloud]).items():
        if isinstance(value, dict):
            deploy[key] = {**deploy.get(key, {}), **value}
        else:
            deploy[key] = value
    if target.kind == "vertex":
        data["runtime"] = {**data.get("runtime", {}), "image": VERTEX_IMAGE}
    return data


def write_profile(example: str, target: Target, workdir: Path) -> Path:
    path = workdir / f"{example}-{target.suffix}.yaml"
    path.write_text(yaml.safe_dump(profile_data(example, target), sort_keys=False))
    return path


def read_decisions(path: Path = DECISIONS) -> dict[str, Recorded]:
    entries = msgspec.convert(yaml.safe_load(path.read_text()), list[Recorded])
    return {entry.name: entry for entry in entries}


def spec_of(recorded: Recorded, workdir: Path) -> DeploymentSpec:
    """The spec `infra plan` builds from a lock holding `recorded` (orchestrator.decisions)."""
    from planner.profile import load_profile

    profile = load_profile(write_profile(recorded.example, recorded.target, workdir)).profile
    return spec_from_decision(
        profile, recorded.decision, recorded.env, deployment_id=recorded.deployment_id
    )


def specs_of(recorded: Mapping[str, Recorded]) -> dict[str, DeploymentSpec]:
    with tempfile.TemporaryDirectory(prefix="golden-profiles-") as workdir:
        return {name: spec_of(entry, Path(workdir)) for name, entry in recorded.items()}


def state_dir(spec: DeploymentSpec) -> Path:
    return STATE_ROOT / ".infra" / spec.name / spec.env


def synthesize_all(specs: Mapping[str, DeploymentSpec], outdir: Path) -> dict[str, str]:
    """Each golden name's `cdk.tf.json`, as text: one App per environment kind (emulated or
    not), in this process, so each provider binding loads once."""
    from orchestrator.synth import synthesize

    stacks = [spec.stack_name for spec in specs.values()]
    duplicated = sorted({stack for stack in stacks if stacks.count(stack) > 1})
    if duplicated:
        raise ValueError(f"two golden files share a stack name: {', '.join(duplicated)}")
    texts: dict[str, str] = {}
    with fixed_environment():
        for emulated in (False, True):
            chosen = {n: s for n, s in specs.items() if (s.env == LOCAL_ENV) == emulated}
            if not chosen:
                continue
            app_dir = outdir / ("emulated" if emulated else "cloud")
            deployments = [(spec, state_dir(spec)) for spec in chosen.values()]
            synthesize(deployments, app_dir, emulated=emulated)
            for name, spec in chosen.items():
                config = app_dir / "stacks" / spec.stack_name / "cdk.tf.json"
                texts[name] = read_exactly(config)
    return texts
