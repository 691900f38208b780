"""Reading synthesized Terraform JSON (cdk.tf.json) in stack tests."""

from __future__ import annotations

import importlib
import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from constructs import Construct

    from planner.deployment import DeploymentSpec


class Synthesized:
    """The configurations of one synthesize() call, by spec, and where each keeps its state."""

    def __init__(self, outdir: Path, state_root: Path) -> None:
        self.outdir = outdir
        self.state_root = state_root

    def state_dir(self, spec: DeploymentSpec) -> Path:
        return self.state_root / spec.stack_name

    def __getitem__(self, spec: DeploymentSpec) -> dict[str, Any]:
        path = self.outdir / "stacks" / spec.stack_name / "cdk.tf.json"
        return json.loads(path.read_text())


def service_outputs(doc: dict[str, Any]) -> dict[str, Any]:
    """The stack's outputs for its users and the SDK steps: all but the applied-spec record,
    which every stack carries (tests/test_deployment_record.py)."""
    from planner.deployment import RECORD_OUTPUT

    return {name: body for name, body in doc["output"].items() if name != RECORD_OUTPUT}


def assert_records_its_spec(doc: dict[str, Any], spec: DeploymentSpec) -> None:
    """The stack outputs the spec it was synthesized from, which reads back as that spec: the
    state then says what it was applied with (orchestrator/applied.py)."""
    from orchestrator.applied import spec_from_output
    from planner.deployment import RECORD_OUTPUT, spec_as_json

    value = doc["output"][RECORD_OUTPUT]["value"]
    assert value == spec_as_json(spec)
    assert spec_from_output({RECORD_OUTPUT: value}) == spec


def synthesize_specs(specs: list[DeploymentSpec], root: Path, *, emulated: bool) -> Synthesized:
    """Every spec in one App (a provider binding loads once), state under root/state."""
    from orchestrator.synth import synthesize

    result = Synthesized(root / "cdktf.out", root / "state")
    synthesize([(spec, result.state_dir(spec)) for spec in specs], result.outdir, emulated=emulated)
    return result


def validate_with_mirror(doc: dict[str, Any], workdir: Path, providers: tuple[str, ...]) -> None:
    """`terraform init` and `validate` of a synthesized configuration against the offline
    provider mirror; skipped, saying why, when the mirror lacks one of `providers` (no Google or
    AzureRM provider is available offline here) or there is no terraform binary."""
    import os
    import shutil
    import subprocess

    import pytest

    mirror = Path(os.environ.get("INFRA_PROVIDER_MIRROR") or "/opt/tf-plugins")
    found = [mirror / "registry.terraform.io" / "hashicorp" / name for name in providers]
    terraform = shutil.which(os.environ.get("INFRA_TERRAFORM", "terraform"))
    if terraform is None or not all(path.is_dir() and any(path.iterdir()) for path in found):
        pytest.skip(
            f"no {' or '.join(providers)} provider in the offline mirror ({mirror}) or no "
            "terraform binary: the JSON assertions and the binding's own type checks stand in "
            "for terraform validate"
        )
    doc = {**doc, "terraform": {k: v for k, v in doc["terraform"].items() if k != "backend"}}
    (workdir / "main.tf.json").write_text(json.dumps(doc))
    config = workdir / "terraform.rc"
    config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
    )
    environment = {**os.environ, "TF_CLI_CONFIG_FILE": str(config), "TF_IN_AUTOMATION": "1"}
    for command in (["init", "-backend=false", "-input=false"], ["validate", "-no-color"]):
        result = subprocess.run(
            [terraform, *command], cwd=workdir, env=environment, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def one_sentence(message: str) -> None:
    """An error the CLI prints as is: one line, one sentence."""
    assert "\n" not in message and message.endswith(".")
    assert len(re.findall(r"[.;]\s+[A-Z]", message)) == 0


def resources(doc: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return doc.get("resource", {}).get(rtype, {})


def data_sources(doc: dict[str, Any], dtype: str) -> dict[str, dict[str, Any]]:
    return doc.get("data", {}).get(dtype, {})


def only(doc: dict[str, Any], rtype: str) -> tuple[str, dict[str, Any]]:
    found = resources(doc, rtype)
    assert len(found) == 1, f"expected one {rtype}, found {sorted(found)}"
    return next(iter(found.items()))


def ref(rtype: str, key: str, attribute: str) -> str:
    return f"${{{rtype}.{key}.{attribute}}}"


def binding_supports_tags(rtype: str) -> bool:
    """Whether the provider binding's resource class for `rtype` has a `tags` argument."""
    module = importlib.import_module(f"cdktn_provider_aws.{rtype.removeprefix('aws_')}")
    for value in vars(module).values():
        if isinstance(value, type) and getattr(value, "TF_RESOURCE_TYPE", None) == rtype:
            return hasattr(value, "tags_input")
    raise AssertionError(f"no binding class for {rtype}")


def written(outdir: Path) -> list[Path]:
    """Files and stack directories under `outdir` (the App itself creates an empty stacks/)."""
    return [path for path in outdir.rglob("*") if path.is_file() or path.parent.name == "stacks"]


def empty_structs(node: Any, path: str = "", in_list: bool = False) -> list[str]:
    """Paths of `{}` at any depth under a list: what jsii leaves of a struct passed as a plain
    dict (snake_case keys are dropped, e.g. `[{"ebs": {}}]`)."""
    found = []
    if isinstance(node, dict):
        if in_list and not node:
            found.append(path)
        for key, value in node.items():
            found += empty_structs(value, f"{path}.{key}", in_list)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += empty_structs(value, f"{path}[{index}]", True)
    return found


_TEST_APP_OUTDIR = tempfile.TemporaryDirectory(prefix="infra-test-app-")
"""One output directory for every bare test App, removed when the process exits: cdktn's
`Testing.app()` makes a new temporary directory per call when given none, and never removes it."""


def synth_construct(build: Callable[[Construct], object]) -> dict[str, Any]:
    """The Terraform JSON of one bare stack holding what `build` adds to it (a construct tested
    without a spec or a stack of the toolkit's)."""
    from cdktn import TerraformStack, Testing

    stack = TerraformStack(Testing.app(outdir=_TEST_APP_OUTDIR.name), "props")
    build(stack)
    return json.loads(Testing.synth(stack))
