"""Reading synthesized Terraform JSON (cdk.tf.json) in stack tests."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
