"""Checks on profile values that a type cannot express, each refused at the line and field to fix:
environment names (mapping keys, which become directory names), the tag rules every cloud shares,
client ranges, and zones listed twice. What only one cloud refuses is checked once the cloud is
known (providers/cloud_values.py)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NoReturn

from core.errors import ProfileError
from planner.names import IDENTIFIER_WORDS, is_identifier
from planner.yaml_source import FieldPath, field_name
from providers.cloud_values import ValueProblem

if TYPE_CHECKING:
    from planner.profile import LoadedProfile

TAG_KEY_LIMIT = 128
TAG_VALUE_LIMIT = 256
MAX_TAGS = 50
"""AWS and Azure take 50 tags per resource; deploy adds `env`."""


def _refuse(loaded: LoadedProfile, location: FieldPath, problem: str) -> NoReturn:
    raise ProfileError(f"{loaded.location_of(*location)}, field {field_name(location)}: {problem}")


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(f"{text[:57]}...")


def check_environment_names(loaded: LoadedProfile) -> None:
    for env in loaded.profile.deploy.environments:
        if not is_identifier(env):
            location: FieldPath = ("deploy", "environments", env)
            raise ProfileError(
                f"{loaded.location_of(*location)}, field deploy.environments: the environment "
                f"name {_shown(env)} is not valid; use {IDENTIFIER_WORDS}."
            )


def profile_location(field: FieldPath) -> FieldPath:
    """Where a ValueProblem's field sits in a profile."""
    return field if field[0] == "tags" else ("deploy", "network", *field)


def _tag_problem(key: str, value: str) -> str | None:
    if not key.strip():
        return "a tag key cannot be empty or blank"
    if len(key) > TAG_KEY_LIMIT:
        return f"the tag key is {len(key):,} characters; at most {TAG_KEY_LIMIT}"
    if len(value) > TAG_VALUE_LIMIT:
        return f"the tag value is {len(value):,} characters; at most {TAG_VALUE_LIMIT}"
    return None


def cidr_problem(text: str) -> str | None:
    """Why `text` is not a client range such as 10.0.0.0/16, or None."""
    if "/" not in text:
        return f"{_shown(text)} is not a CIDR range; write the prefix length too (e.g. {text}/32)"
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return f"{_shown(text)} is not a CIDR range such as 10.0.0.0/16 or 2001:db8::/32"
        return f"{_shown(text)} has host bits set; the range is {network}"
    return None


def shared_value_problem(
    tags: Mapping[str, str], ingress_cidrs: Sequence[str]
) -> ValueProblem | None:
    """What AWS, Azure and Google Cloud all refuse (Google's labels are rewritten to fit)."""
    if len(set(tags) | {"env"}) > MAX_TAGS:
        return ValueProblem(
            ("tags",), f"{len(tags)} tags, more than the {MAX_TAGS} a resource takes (env included)"
        )
    for key, value in tags.items():
        if problem := _tag_problem(key, value):
            return ValueProblem(("tags", key), problem)
    for index, cidr in enumerate(ingress_cidrs):
        if problem := cidr_problem(cidr):
            return ValueProblem(("ingress_cidrs", index), problem)
    return None


def check_zone_list(loaded: LoadedProfile) -> None:
    zones = loaded.profile.placement.zones
    if isinstance(zones, int):
        return
    for index, zone in enumerate(zones):
        if zone in zones[:index]:
            _refuse(
                loaded,
                ("placement", "zones", index),
                f"the zone {_shown(zone)} is listed twice; a fleet spreads over distinct zones.",
            )


def check_profile_values(loaded: LoadedProfile) -> None:
    check_environment_names(loaded)
    profile = loaded.profile
    found = shared_value_problem(profile.tags, profile.deploy.network.ingress_cidrs)
    if found is not None:
        _refuse(loaded, profile_location(found.field), f"{found.problem}.")
    check_zone_list(loaded)
