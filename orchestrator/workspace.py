"""Where a deployment keeps its files: `<profile dir>/.infra/<name>/<env>/`.

spec.yaml            the DeploymentSpec of the last synth (what was asked for)
cdktf.out/           synthesized stacks (cdktf.out/stacks/<stack>/cdk.tf.json)
terraform.tfstate    state, unless the environment keeps it in S3
tf-data/             Terraform's working data (TF_DATA_DIR): providers, backend config
logs/                Terraform's full output, one file per step

State, plans and logs can hold what a resource's attributes hold, so the workspace is the user's
alone: its folders are 0700, Terraform runs with umask 077 (orchestrator.terraform), and the
files written here are 0600. Files written for the user elsewhere (`-o` reports, CI workflows)
follow the user's umask instead, like any file they write.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from core.files import PRIVATE_FILE
from planner.names import check_identifier, check_stack_name

PRIVATE_FOLDER = 0o700


@dataclass(frozen=True)
class Workspace:
    root: Path
    stack: str

    @classmethod
    def for_deployment(cls, base: Path, name: str, env: str, stack: str | None = None) -> Workspace:
        """The workspace of environment `env` of profile `name`; `stack` names the stack
        (`name-env` unless the lock gave the deployment an ID). Names are identifiers, never
        paths: `--env ../x` must not leave the profile's folder."""
        check_identifier(name, "deployment name")
        check_identifier(env, "environment name")
        stack = stack or f"{name}-{env}"
        check_stack_name(stack)
        return cls(base / ".infra" / name / env, stack)

    @property
    def spec_file(self) -> Path:
        return self.root / "spec.yaml"

    @property
    def synth_dir(self) -> Path:
        return self.root / "cdktf.out"

    @property
    def stack_dir(self) -> Path:
        return self.synth_dir / "stacks" / self.stack

    @property
    def config_file(self) -> Path:
        return self.stack_dir / "cdk.tf.json"

    @property
    def data_dir(self) -> Path:
        return self.root / "tf-data"

    @property
    def state_file(self) -> Path:
        return self.root / "terraform.tfstate"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    def new_log(self, step: str) -> Path:
        self.log_dir.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        return self.log_dir / f"{stamp}-{step}.log"

    def ensure(self) -> None:
        """Create the folders, the user's alone (also tightening a workspace made before)."""
        for folder in (self.root, self.data_dir, self.log_dir):
            folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
        self.root.chmod(PRIVATE_FOLDER)


def open_private(path: Path, mode: str = "w") -> IO[Any]:
    """Open `path` for writing (truncated), readable and writable by the user only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(descriptor, PRIVATE_FILE)  # a file that was there keeps its mode otherwise
    return os.fdopen(descriptor, mode)
