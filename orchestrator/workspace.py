"""Where a deployment keeps its files: `<profile dir>/.infra/<name>/<env>/`.

spec.yaml            the DeploymentSpec of the last synth (what was asked for)
cdktf.out/           synthesized stacks (cdktf.out/stacks/<stack>/cdk.tf.json)
terraform.tfstate    state, unless the environment keeps it in S3
tf-data/             Terraform's working data (TF_DATA_DIR): providers, backend config
logs/                Terraform's full output, one file per step
"""

from __future__ import annotations

import datetime
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from planner.names import check_identifier, check_stack_name


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
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        return self.log_dir / f"{stamp}-{step}.log"

    def ensure(self) -> None:
        for folder in (self.root, self.data_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)


def write_atomically(path: Path, text: str | bytes) -> None:
    """Write to a temporary file beside `path`, then rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(text.encode() if isinstance(text, str) else text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
