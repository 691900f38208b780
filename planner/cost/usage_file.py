"""An Infracost-style usage file (`infra cost --usage-file`): the traffic-driven quantities a
plan cannot tell (data processed, load-balancer capacity units, log volume), so the charges
that follow them are priced instead of listed "by usage".

The format is Infracost's (https://www.infracost.io/docs/features/usage_based_resources/), so
one file can serve both tools:

    version: 0.1
    resource_type_default_usage:      # every resource of a type
      aws_nat_gateway:
        monthly_data_processed_gb: 120
    resource_usage:                   # one resource, by its address (wins over the type's)
      aws_lb.load-balancer_alb_15AADC07:
        new_connections: 40           # per second, on average
        processed_bytes_gb: 0.4       # per hour, on average

The keys are Infracost's where it has one for the type, and each pricing rule asks for the keys
it reads (`PricingContext.usage_component`); a key or an address that nothing read is named in
the report's notes rather than refused, since a file shared with Infracost carries keys for
resources this toolkit does not price. What is refused, in one sentence naming the line: a file
that is not this format, and a usage that is not a finite number of zero or more.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InfraError, ProfileError
from planner.yaml_source import LocatedDocument, load_located_yaml

VERSIONS = ("0.1", "v0.1")
SECTIONS = ("resource_type_default_usage", "resource_usage")
MAX_USAGE = 1e15
"""Far above any month of traffic (a petabyte, a quadrillion requests): a larger value is a typo."""

_INDEX = re.compile(r"\[[^\]]*\]")


class UsageFileError(InfraError):
    """The usage file is not Infracost's format, or a usage is not a number of zero or more."""


Scalar = float | int | str | bool | None


@dataclass
class UsageEstimates:
    """The usage file's values by resource type and by address, and what pricing read of them."""

    path: Path
    by_type: Mapping[str, Mapping[str, Scalar]]
    by_address: Mapping[str, Mapping[str, Scalar]]
    lines: Mapping[tuple[str, str, str], int]
    asked: dict[str, set[str]] = field(default_factory=dict)
    """Resource type → the keys its rule asked for (whether or not the file had them)."""

    def _entry_for(self, address: str) -> str | None:
        """The resource_usage entry for `address`: exactly it, or it without its indexes
        (`aws_lb.x[0]` for `aws_lb.x` or `aws_lb.x[*]`)."""
        if address in self.by_address:
            return address
        bare = _INDEX.sub("", address)
        for entry in self.by_address:
            if _INDEX.sub("", entry) == bare and (entry == bare or entry.endswith("[*]")):
                return entry
        return None

    def value(self, address: str, resource_type: str, key: str) -> float | None:
        """The usage `key` of one resource: its own entry's, else its type's default."""
        self.asked.setdefault(resource_type, set()).add(key)
        entry = self._entry_for(address)
        for section, name, values in (
            ("resource_usage", entry, self.by_address.get(entry or "", {})),
            ("resource_type_default_usage", resource_type, self.by_type.get(resource_type, {})),
        ):
            if name is not None and key in values:
                return self._number(section, name, key, values[key])
        return None

    def _number(self, section: str, name: str, key: str, raw: Scalar) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            line = self.lines.get((section, name, key), 1)
            raise UsageFileError(
                f"{self.path}, line {line}: {name}.{key} is {raw!r}; a usage is a number of zero "
                "or more."
            )
        return float(raw)

    def unused(self, addresses: set[str], types: set[str]) -> list[str]:
        """One line per entry the plan has no resource for, and per key no rule read."""
        bare_addresses = {_INDEX.sub("", address) for address in addresses}
        lines = []
        for name, values, resource_type, present in [
            *((name, values, name, name in types) for name, values in self.by_type.items()),
            *(
                (
                    name,
                    values,
                    _type(name),
                    _INDEX.sub("", name) in bare_addresses,
                )
                for name, values in self.by_address.items()
            ),
        ]:
            if not present:
                lines.append(f"usage file: {name} is not in the plan; its usage was not used")
                continue
            known = sorted(self.asked.get(resource_type, ()))
            reads = f"it reads {', '.join(known)}" if known else "it reads none"
            lines.extend(
                f"usage file: {name}.{key} is not a usage of {resource_type} ({reads})"
                for key in sorted(values)
                if key not in known
            )
        return lines


def _type(address: str) -> str:
    """`module.m.aws_lb.x[0]` → `aws_lb`."""
    parts = _INDEX.sub("", address).split(".")
    return parts[-2] if len(parts) >= 2 else address


def _flatten(
    values: Mapping[Any, Any], where: str, document: LocatedDocument, location: tuple
) -> dict[str, Scalar]:
    """An entry's keys, a nested mapping's as `outer.inner` (Infracost nests S3's storage
    classes: `standard: {storage_gb: 10}`)."""
    flat: dict[str, Scalar] = {}
    for key, value in values.items():
        name = str(key)
        if isinstance(value, Mapping):
            for inner, scalar in _flatten(
                value, f"{where}.{name}", document, (*location, key)
            ).items():
                flat[f"{name}.{inner}"] = scalar
        elif isinstance(value, list):
            line = document.line_of((*location, key))
            raise UsageFileError(
                f"{document.path}, line {line}: {where}.{name} is a list; a usage is a number."
            )
        else:
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            if is_number and not (math.isfinite(value) and 0 <= value <= MAX_USAGE):
                line = document.line_of((*location, key))
                raise UsageFileError(
                    f"{document.path}, line {line}: {where}.{name} is {value!r}; a usage is a "
                    f"finite number from 0 to {MAX_USAGE:.0e}."
                )
            flat[name] = value
    return flat


def load_usage_file(path: Path) -> UsageEstimates:
    """Read and check `path` (see the module's docstring for what is refused)."""
    try:
        document = load_located_yaml(path)
    except ProfileError as error:
        raise UsageFileError(str(error)) from None
    data = document.data
    if not isinstance(data, Mapping):
        raise UsageFileError(
            f"{path} is not a usage file: expected a mapping with version and resource_usage."
        )
    unknown = sorted(str(k) for k in data if k not in ("version", *SECTIONS))
    if unknown:
        raise UsageFileError(
            f"{path}, line {document.line_of((unknown[0],))}: unknown section {unknown[0]!r}; "
            f"a usage file has version, {' and '.join(SECTIONS)}."
        )
    version = str(data.get("version", ""))
    if version not in VERSIONS:
        raise UsageFileError(
            f"{path}: version {data.get('version')!r} is not a usage file version this toolkit "
            "reads; write `version: 0.1` (Infracost's)."
        )
    sections: dict[str, dict[str, dict[str, Scalar]]] = {}
    lines: dict[tuple[str, str, str], int] = {}
    for section in SECTIONS:
        entries = data.get(section) or {}
        if not isinstance(entries, Mapping):
            raise UsageFileError(
                f"{path}, line {document.line_of((section,))}: {section} is not a mapping of "
                "resources to their usage."
            )
        parsed: dict[str, dict[str, Scalar]] = {}
        for name, values in entries.items():
            if not isinstance(values, Mapping):
                raise UsageFileError(
                    f"{path}, line {document.line_of((section, name))}: {name} is not a mapping "
                    "of usage keys to numbers."
                )
            parsed[str(name)] = _flatten(values, str(name), document, (section, name))
            for key in parsed[str(name)]:
                lines[(section, str(name), key)] = document.line_of(
                    (section, name, *key.split("."))
                )
        sections[section] = parsed
    return UsageEstimates(
        path=path,
        by_type=sections["resource_type_default_usage"],
        by_address=sections["resource_usage"],
        lines=lines,
    )
