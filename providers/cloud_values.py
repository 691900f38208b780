"""What one cloud refuses among the values a profile passes through to it: tags and client ranges.

Checked once the cloud is known, so Terraform never carries a value the cloud's API would reject
halfway through an apply. What every cloud shares (lengths, count, CIDR syntax) is checked when
the profile is loaded (planner/profile_checks.py).

- AWS: tag keys up to 128 characters and values up to 256, of letters, digits, spaces and
  `_ . : / = + - @`; keys starting with `aws:` are AWS's own. The fleet's security group rules
  take IPv4 ranges.
- Azure: tag names up to 512 characters and values up to 256; names may not contain
  `< > % & \\ ? /`, may not start with `microsoft`, `azure` or `windows`, and are
  case-insensitive, so two names differing only in case are one tag.
- Google Cloud: tags are rewritten into labels (providers/gcp/labels.py); two tags that become the
  same label are refused.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from providers import targets
from providers.gcp.labels import label_key

ValueRule = Callable[[Mapping[str, str], Sequence[str]], "ValueProblem | None"]
"""A cloud's check of the tags and client ranges it would refuse."""

_AWS_TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*\Z")
_AZURE_FORBIDDEN = set("<>%&\\?/")
_AZURE_RESERVED_PREFIXES = ("microsoft", "azure", "windows")


class ValueProblem(NamedTuple):
    """A tag or client range some cloud refuses, and where it sits in a profile or spec."""

    field: tuple[str | int, ...]
    """("tags", KEY) or ("ingress_cidrs", INDEX)."""
    problem: str


def _aws_tag(key: str, value: str) -> str | None:
    if key.lower().startswith("aws:"):
        return f"tag keys starting with 'aws:' are reserved by AWS; rename '{key}'"
    for text, what in ((key, "key"), (value, "value")):
        if not _AWS_TAG_TEXT.match(text):
            bad = next(c for c in text if not _AWS_TAG_TEXT.match(c))
            return (
                f"AWS refuses {bad!r} in a tag {what}; use letters, digits, spaces and "
                "_ . : / = + - @"
            )
    return None


def _azure_tag(key: str, value: str) -> str | None:
    if forbidden := sorted(_AZURE_FORBIDDEN & set(key)):
        return f"Azure refuses {' '.join(forbidden)} in a tag name"
    if key.lower().startswith(_AZURE_RESERVED_PREFIXES):
        return "tag names starting with microsoft, azure or windows are reserved by Azure"
    return None


def _tag_problems(
    tags: Mapping[str, str],
    rule: Callable[[str, str], str | None],
    same: Callable[[str], str] | None = None,
) -> ValueProblem | None:
    """The first tag `rule` refuses, or two tags that `same` makes one on this cloud."""
    seen: dict[str, str] = {}
    for key, value in tags.items():
        if problem := rule(key, value):
            return ValueProblem(("tags", key), problem)
        if same is not None and (other := seen.setdefault(same(key), key)) != key:
            return ValueProblem(
                ("tags", key),
                f"'{other}' and '{key}' become the same tag ('{same(key)}') on this cloud; "
                "keep one",
            )
    return None


def _no_rule(key: str, value: str) -> None:
    return None


def aws_value_problem(tags: Mapping[str, str], cidrs: Sequence[str]) -> ValueProblem | None:
    for index, cidr in enumerate(cidrs):
        if ipaddress.ip_network(cidr, strict=False).version != 4:
            return ValueProblem(
                ("ingress_cidrs", index),
                f"{cidr} is an IPv6 range; the AWS fleet's load balancer admits IPv4 ranges only",
            )
    return _tag_problems(tags, _aws_tag)


def azure_value_problem(tags: Mapping[str, str], cidrs: Sequence[str]) -> ValueProblem | None:
    return _tag_problems(tags, _azure_tag, str.lower)


def gcp_value_problem(tags: Mapping[str, str], cidrs: Sequence[str]) -> ValueProblem | None:
    return _tag_problems(tags, _no_rule, label_key)


def cloud_value_problem(
    cloud: str, tags: Mapping[str, str], ingress_cidrs: Sequence[str]
) -> ValueProblem | None:
    """The first tag or client range `cloud` would refuse, or None. The ranges are valid CIDRs
    already (checked at load)."""
    if cloud not in targets.cloud_names():
        return None
    rule: ValueRule = targets.resolve(targets.cloud(cloud).value_rules)
    return rule(tags, ingress_cidrs)
