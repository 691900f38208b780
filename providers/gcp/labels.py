"""Google Cloud labels from the profile's tags.

GCP label keys and values take lowercase letters, digits, `_` and `-` only, at most 63 characters,
and a key starts with a letter. Tags are cost-allocation data, so they are rewritten rather than
dropped: upper case is lowered, anything else becomes `_`, and a key not starting with a letter
gets a `t` in front. Two tags that end up with the same key are refused, since one would
silently overwrite the other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from core.errors import InfraError

LABEL_LIMIT = 63
_NOT_ALLOWED = re.compile(r"[^a-z0-9_-]")


class LabelError(InfraError):
    pass


def _clean(text: str) -> str:
    return _NOT_ALLOWED.sub("_", text.lower())[:LABEL_LIMIT]


def label_key(tag: str) -> str:
    key = _clean(tag)
    return key if key[:1].isalpha() else f"t{key}"[:LABEL_LIMIT]


def gcp_labels(tags: Mapping[str, str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    origin: dict[str, str] = {}
    for tag, value in tags.items():
        key = label_key(tag)
        if key in labels:
            raise LabelError(
                f"tags '{origin[key]}' and '{tag}' both become the Google Cloud label '{key}' "
                "(lowercase letters, digits, _ and - only); rename one of them."
            )
        labels[key] = _clean(str(value))
        origin[key] = tag
    return labels
