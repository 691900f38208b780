"""Comparing a synthesized configuration with its golden file: by the bytes, explained by a diff.

A configuration holds long one-line values (the recorded spec as JSON, boot scripts in base64), so
the diff is of a readable rendering: base64 text decoded, embedded JSON expanded, multi-line text
split into lines. Where the renderings agree (the bytes differ in layout only), the diff is of the
raw lines, each cut to `WIDTH` characters.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from planner.secrets import decode_base64
from tests.golden.build import REGENERATE

DIFF_LINES = 40
WIDTH = 160


def mismatch(name: str, expected: str, actual: str) -> str | None:
    """None when the texts are the same bytes; else the start of a diff and what to run."""
    if expected == actual:
        return None
    before, after = readable(expected), readable(actual)
    if before == after:
        before = [line[:WIDTH] for line in expected.splitlines()]
        after = [line[:WIDTH] for line in actual.splitlines()]
    diff = difflib.unified_diff(
        before, after, f"tests/golden/synth/{name}.tf.json", "synthesized", n=2, lineterm=""
    )
    shown = "\n".join(list(diff)[:DIFF_LINES]) or "(the texts differ in line endings only)"
    return (
        f"{name}: the synthesized JSON differs from its golden file (first differences, "
        f"base64 and embedded JSON expanded):\n{shown}\n"
        f"If the change is intended, run `{REGENERATE}` and review the diff."
    )


def readable(text: str) -> list[str]:
    """The configuration's lines with long values expanded; the text's own lines if not JSON."""
    try:
        document = json.loads(text)
    except ValueError:
        return text.splitlines()
    return json.dumps(_expand(document), indent=2, ensure_ascii=False).splitlines()


def _expand(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item) for item in value]
    if not isinstance(value, str):
        return value
    decoded = decode_base64(value)
    if decoded is not None:
        return {"(base64 of)": _expand(decoded)}
    if value.startswith(("{", "[")):
        try:
            return {"(JSON of)": _expand(json.loads(value))}
        except ValueError:
            pass
    if "\n" in value:
        return value.splitlines()
    return value
