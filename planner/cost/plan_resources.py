"""What a deployment will build, read from Terraform's own description of it.

Two inputs describe the same resources: the synthesized configuration (`cdk.tf.json`, no cloud
access needed) and a plan (`terraform show -json`, which knows what will change). Both become a
list of `PlannedResource`: address, type, the argument values that are known, and the addresses
it refers to (an autoscaling group names its launch template and subnets by reference, and the
values behind those references are what it costs).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from core.errors import InfraError

_REFERENCE = re.compile(r"\$\{(?:data\.)?([a-z0-9_]+\.[A-Za-z0-9_-]+)")


class PlanInputError(InfraError):
    """A file given to `infra cost` is neither a plan JSON nor a synthesized configuration."""


@dataclass(frozen=True)
class PlannedResource:
    address: str
    type: str
    values: Mapping[str, Any]
    references: frozenset[str] = frozenset()
    action: str = "create"
    """create, update, replace, no-op (a plan); `create` for a configuration."""


@dataclass(frozen=True)
class PlannedInfrastructure:
    """The managed resources of one stack and where they run."""

    resources: tuple[PlannedResource, ...]
    regions: Mapping[str, str] = field(default_factory=dict)
    """Region per provider name (`aws` → us-east-1) when the configuration fixes it."""

    @cached_property
    def by_address(self) -> dict[str, PlannedResource]:
        return {resource.address: resource for resource in self.resources}


def blocks(value: Any) -> list[Mapping[str, Any]]:
    """A nested block as a list of mappings: plans write blocks as lists, synthesized
    configurations write single blocks as objects."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return []


def first_block(value: Any) -> Mapping[str, Any]:
    found = blocks(value)
    return found[0] if found else {}


def number(value: Any) -> float | None:
    """A known number: configurations may hold numbers as strings; references are unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def text(value: Any) -> str | None:
    """A known string: a `${...}` reference is not known until apply."""
    return value if isinstance(value, str) and "${" not in value else None


def flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _references_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield from _REFERENCE.findall(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _references_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references_in(item)


def from_configuration(document: Mapping[str, Any]) -> PlannedInfrastructure:
    """Resources of a synthesized configuration (`cdk.tf.json`)."""
    resources = []
    for resource_type, named in (document.get("resource") or {}).items():
        for name, body in named.items():
            values = {key: value for key, value in body.items() if key != "//"}
            resources.append(
                PlannedResource(
                    address=f"{resource_type}.{name}",
                    type=resource_type,
                    values=values,
                    references=frozenset(_references_in(values)),
                )
            )
    regions = {}
    for provider, configs in (document.get("provider") or {}).items():
        for config in blocks(configs):
            if "alias" not in config and isinstance(config.get("region"), str):
                regions[provider] = config["region"]
    return PlannedInfrastructure(tuple(resources), regions)


def _expression_references(expressions: Any) -> Iterator[str]:
    """References recorded in a plan's configuration section, as resource addresses."""
    if isinstance(expressions, Mapping):
        for key, item in expressions.items():
            if key == "references" and isinstance(item, list):
                for reference in item:
                    parts = str(reference).removeprefix("data.").split(".")
                    if len(parts) >= 2:
                        yield f"{parts[0]}.{parts[1]}"
            else:
                yield from _expression_references(item)
    elif isinstance(expressions, list):
        for item in expressions:
            yield from _expression_references(item)


def _configured_modules(module: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for resource in module.get("resources", []):
        yield prefix, resource
    for name, call in (module.get("module_calls") or {}).items():
        yield from _configured_modules(call.get("module") or {}, f"{prefix}module.{name}.")


def _action(actions: list[str]) -> str:
    if set(actions) == {"create", "delete"}:
        return "replace"
    return actions[0] if actions else "no-op"


def from_plan(document: Mapping[str, Any]) -> PlannedInfrastructure:
    """Resources a plan leaves in place or creates (`terraform show -json PLANFILE`)."""
    configuration = document.get("configuration") or {}
    references: dict[str, frozenset[str]] = {}
    for prefix, resource in _configured_modules(configuration.get("root_module") or {}, prefix=""):
        if resource.get("mode") == "managed":
            address = prefix + resource["address"]
            found = {prefix + ref for ref in _expression_references(resource.get("expressions"))}
            references[address] = frozenset(found)
    resources = []
    for change in document.get("resource_changes", []):
        if change.get("mode") != "managed":
            continue
        body = change.get("change") or {}
        after = body.get("after")
        if after is None:  # deleted: not part of what will run
            continue
        address = change["address"]
        config_address = re.sub(r"\[[^\]]*\]", "", address)
        resources.append(
            PlannedResource(
                address=address,
                type=change["type"],
                values=after,
                references=references.get(config_address, frozenset()),
                action=_action(body.get("actions") or []),
            )
        )
    regions = {}
    for provider, config in (configuration.get("provider_config") or {}).items():
        region = ((config.get("expressions") or {}).get("region") or {}).get("constant_value")
        if "." not in provider and isinstance(region, str):
            regions[provider] = region
    return PlannedInfrastructure(tuple(resources), regions)


def read_planned(path: Path) -> PlannedInfrastructure:
    """A plan JSON or a synthesized configuration, told apart by their top-level keys."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanInputError(f"{path}: no such file.") from None
    except (OSError, UnicodeDecodeError, ValueError):
        raise PlanInputError(
            f"{path} is not JSON; give the output of `terraform show -json PLANFILE`."
        ) from None
    if isinstance(document, Mapping) and "resource_changes" in document:
        return from_plan(document)
    if (
        isinstance(document, Mapping)
        and "format_version" in document
        and "planned_values" in (document)
    ):
        return from_plan(document)  # a plan with no changes at all
    if isinstance(document, Mapping) and "resource" in document:
        return from_configuration(document)
    raise PlanInputError(
        f"{path} is neither a Terraform plan (`terraform show -json PLANFILE`) nor a "
        "synthesized configuration (cdk.tf.json)."
    )
