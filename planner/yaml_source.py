"""YAML loading that remembers where each value came from, so errors can name the line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from planner.datafiles import SAFE_LOADER
from planner.errors import ProfileError

FieldPath = tuple[str | int, ...]


@dataclass
class LocatedDocument:
    """A parsed YAML document plus the 1-based line of every mapping key and list item."""

    path: Path
    data: Any
    lines: dict[FieldPath, int] = field(default_factory=dict)

    def line_of(self, location: FieldPath) -> int:
        """The line of `location`, or of its closest ancestor that exists in the file."""
        probe = tuple(location)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.lines.get((), 1)


def _record_lines(node: yaml.Node, prefix: FieldPath, lines: dict[FieldPath, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            location = (*prefix, str(key_node.value))
            lines[location] = key_node.start_mark.line + 1
            _record_lines(value_node, location, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            location = (*prefix, index)
            lines[location] = item.start_mark.line + 1
            _record_lines(item, location, lines)


def load_located_yaml(path: Path) -> LocatedDocument:
    """Parse `path`; a missing file or a syntax error becomes one ProfileError sentence."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such file.") from None
    except IsADirectoryError:
        raise ProfileError(f"{path} is a directory, not a profile file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read the file ({exc}).") from None
    loader = SAFE_LOADER(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}" if mark else ""
        problem = (exc.problem or exc.context or "invalid YAML").rstrip(".")
        raise ProfileError(f"{path}{line}: YAML syntax error: {problem}.") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: YAML syntax error: {exc}.") from None
    finally:
        loader.dispose()
    lines: dict[FieldPath, int] = {(): 1}
    if root is not None:
        _record_lines(root, (), lines)
    return LocatedDocument(path=path, data=data, lines=lines)
