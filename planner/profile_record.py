"""Write measured figures into a profile's `workload.measured`, keeping the file as its author
wrote it: ruamel.yaml's round trip keeps comments, key order, quoting and flow style, and only
the one entry changes (the accelerator's, replaced, or a new one appended)."""

from __future__ import annotations

import io
from pathlib import Path

import msgspec

from core.errors import ProfileError
from core.files import write_atomically
from planner.profile import MeasuredThroughput, parse_profile
from planner.yaml_source import load_located_yaml, parse_located_yaml


def _entry(measured: MeasuredThroughput) -> dict[str, object]:
    return {k: v for k, v in msgspec.structs.asdict(measured).items() if v is not None}


def record_measured(path: Path, measured: MeasuredThroughput) -> str:
    """Replace or append the accelerator's entry; the new text is validated as a profile before
    it is written (whole or not at all). Returns what was done, in a few words."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    load_located_yaml(path)  # the same limits and errors as every command reading it
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    document = yaml.load(path.read_text(encoding="utf-8"))
    workload = document.get("workload")
    if not isinstance(workload, dict):
        raise ProfileError(f"{path}: the profile has no workload section to record into.")
    entries = workload.get("measured")
    if entries is None:
        entries = CommentedSeq()
        workload["measured"] = entries
    entry = CommentedMap(_entry(measured))
    entry.fa.set_flow_style()
    name = measured.accelerator.lower()
    index = next(
        (
            i
            for i, old in enumerate(entries)
            if isinstance(old, dict) and str(old.get("accelerator", "")).lower() == name
        ),
        None,
    )
    if index is None:
        entries.append(entry)
        done = "added"
    else:
        entries[index] = entry
        done = "replaced"
    stream = io.StringIO()
    yaml.dump(document, stream)
    text = stream.getvalue()
    parse_profile(parse_located_yaml(text, path))
    write_atomically(path, text, private=False)
    return f"{done} workload.measured entry for {measured.accelerator}"
