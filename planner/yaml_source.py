"""YAML loading that remembers where each value came from, so errors can name the line.

A profile or spec is a few kilobytes written by a person, so anything far bigger is refused
before it can cost memory or time: files over MAX_BYTES, nesting deeper than MAX_DEPTH, and
documents whose aliases expand to more than MAX_VALUES values (a "billion laughs" file is a few
hundred bytes that expands to billions). The expansion is counted on the parser's event stream,
in one pass that never expands anything; only then is the document composed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import ProfileError
from planner.datafiles import SAFE_LOADER

FieldPath = tuple[str | int, ...]

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_VALUES = 10_000
"""Scalars and collections after alias expansion; a full profile has a few hundred."""


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

    def value_at(self, location: FieldPath) -> Any:
        """The parsed value at `location`, or None where the path leads nowhere."""
        value = self.data
        for part in location:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return None
        return value


def field_name(location: FieldPath) -> str:
    """`deploy.environments.prod.backend` or `placement.zones[1]`: a path as the user reads it."""
    name = ""
    for part in location:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "(top level)"


def _record_lines(
    node: yaml.Node, prefix: FieldPath, lines: dict[FieldPath, int], path: Path
) -> None:
    """Note the line of every key and item, refusing a key given twice in one mapping (YAML
    loaders keep the last one silently, so the first would be ignored without a word)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            location = (*prefix, str(key_node.value))
            line = key_node.start_mark.line + 1
            if location in lines and location != ():
                raise ProfileError(
                    f"{path}, line {line}, field {field_name(location)}: the key "
                    f"'{key_node.value}' is given twice (first on line {lines[location]}); "
                    "keep one."
                )
            lines[location] = line
            _record_lines(value_node, location, lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            location = (*prefix, index)
            lines[location] = item.start_mark.line + 1
            _record_lines(item, location, lines, path)


def _read(path: Path) -> str:
    if not path.exists():
        raise ProfileError(f"{path}: no such file.")
    if path.is_dir():
        raise ProfileError(f"{path} is a directory, not a profile file.")
    if not path.is_file():  # a FIFO or a device would block or never end
        raise ProfileError(f"{path} is not a regular file; give the path of a YAML file.")
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read the file ({exc.strerror or exc}).") from None
    if len(raw) > MAX_BYTES:
        raise ProfileError(
            f"{path} is larger than {MAX_BYTES // 1024} KiB, far more than a profile, spec or "
            "lock needs (a few KiB); check that this is the right file."
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(
            f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8."
        ) from None


class _Shape:
    """Depth and alias-expanded size of a document, counted from its events."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.values = 0
        self.open: list[tuple[str | None, int]] = []  # (anchor, values so far) per collection
        self.sizes: dict[str, int] = {}  # anchor -> values it expands to

    def _refuse(self, event: yaml.Event, problem: str) -> None:
        raise ProfileError(f"{self.path}, line {event.start_mark.line + 1}: {problem}")

    def _add(self, event: yaml.Event, count: int) -> None:
        self.values += count
        if self.values > MAX_VALUES:
            self._refuse(
                event,
                f"the document expands to more than {MAX_VALUES:,} values through its aliases "
                "(*name); a profile has a few hundred, so write the values out or use fewer "
                "aliases.",
            )
        if self.open:
            anchor, size = self.open[-1]
            self.open[-1] = (anchor, size + count)

    def _finish(self, anchor: str | None, size: int) -> None:
        if anchor is not None:
            self.sizes[anchor] = size

    def see(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for anchor, _ in self.open):
                self._refuse(
                    event,
                    f"the alias *{event.anchor} is inside the value it names (a recursive "
                    "alias); a profile is a tree, so write the value out.",
                )
            # An unknown anchor is left to the composer, which reports it.
            self._add(event, self.sizes.get(event.anchor or "", 1))
        elif isinstance(event, yaml.ScalarEvent):
            self._add(event, 1)
            self._finish(event.anchor, 1)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(self.open) >= MAX_DEPTH:
                self._refuse(
                    event,
                    f"values nested more than {MAX_DEPTH} levels deep; a profile nests a few.",
                )
            self._add(event, 1)
            self.open.append((event.anchor, 1))
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, size = self.open.pop()
            self._finish(anchor, size)


def _check_shape(text: str, path: Path) -> None:
    loader = SAFE_LOADER(text)
    try:
        shape = _Shape(path)
        while loader.check_event():
            shape.see(loader.get_event())
    finally:
        loader.dispose()


def _control_character(text: str) -> str | None:
    for character in text:
        if unicodedata.category(character) == "Cc":
            return character
    return None


def _refuse_control_characters(data: Any, location: FieldPath, document: LocatedDocument) -> None:
    """Profile values are single-line text: a newline or escape character in a name, tag or
    argument ends up in file names, shell scripts and cloud API calls."""
    if isinstance(data, dict):
        for key, value in data.items():
            _refuse_control_characters(key, (*location, str(key)), document)
            _refuse_control_characters(value, (*location, str(key)), document)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            _refuse_control_characters(item, (*location, index), document)
    elif isinstance(data, str) and (found := _control_character(data)) is not None:
        raise ProfileError(
            f"{document.path}, line {document.line_of(location)}, field {field_name(location)}: "
            f"contains the control character U+{ord(found):04X}; values are single-line text."
        )


def _syntax_error(path: Path, text: str, exc: yaml.YAMLError) -> ProfileError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}" if mark else ""
        problem = (exc.problem or exc.context or "invalid YAML").rstrip(".")
        return ProfileError(f"{path}{line}: YAML syntax error: {problem}.")
    if isinstance(exc, yaml.reader.ReaderError):
        line = text[: exc.position].count("\n") + 1
        return ProfileError(
            f"{path}, line {line}: YAML syntax error: the character U+{exc.character:04X} is "
            "not allowed in YAML."
            if isinstance(exc.character, int)
            else f"{path}, line {line}: YAML syntax error: {exc.reason}."
        )
    first = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
    return ProfileError(f"{path}: YAML syntax error: {first.rstrip('.')}.")


def load_located_yaml(path: Path) -> LocatedDocument:
    """Parse `path`; a missing, oversized or malformed file becomes one ProfileError sentence."""
    return parse_located_yaml(_read(path), path)


def parse_located_yaml(text: str, path: Path) -> LocatedDocument:
    """Parse `text` as the contents of `path` (errors name `path`)."""
    loader = None
    try:
        _check_shape(text, path)
        loader = SAFE_LOADER(text)
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        raise _syntax_error(path, text, exc) from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[FieldPath, int] = {(): 1}
    if root is not None:
        _record_lines(root, (), lines, path)
    document = LocatedDocument(path=path, data=data, lines=lines)
    _refuse_control_characters(data, (), document)
    return document
