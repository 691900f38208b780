"""Reading synthesized Terraform JSON (cdk.tf.json) in stack tests."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any


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
