"""msgspec's validation errors as one sentence for a person: the file, the line, the field, and
what the field accepts in words (its bounds, its choices, the form of its text), never a regular
expression. What a field accepts is read from the schema itself, so the sentence cannot drift
from the check.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import msgspec.inspect as schema

from planner.yaml_source import FieldPath, LocatedDocument, field_name

_LOCATION = re.compile(
    r"^(?P<message>.*?)(?: - at (?P<key>`key` in )?`\$(?P<path>[^`]*)`)?$", re.DOTALL
)
_PATH_PART = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]|(\[\.\.\.\])")
_SOME_KEY = "[...]"
"""msgspec's stand-in for a mapping key in an error path."""
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")
_CONSTRAINT = re.compile(r"^Expected `(?P<kind>\w+)` (?:matching regex|of length|[<>]=?) ")
_ENUM = re.compile(r"^Invalid enum value ")

_KINDS: dict[str, tuple[type, ...]] = {
    "int": (schema.IntType,),
    "float": (schema.FloatType,),
    "str": (schema.StrType,),
    "array": (schema.ListType, schema.SetType, schema.FrozenSetType, schema.VarTupleType),
    "object": (schema.DictType,),
}


def _path(text: str) -> FieldPath:
    return tuple(
        key or (int(index) if index else _SOME_KEY)
        for key, index, _ in _PATH_PART.findall(text or "")
    )


def _with_value(data: Any, location: FieldPath, value: Any) -> Any:
    """A copy of `data` (copied along `location` only) with `value` at `location`."""
    if not location:
        return value
    head, rest = location[0], location[1:]
    copied = dict(data) if isinstance(data, dict) else list(data)
    copied[head] = _with_value(data[head], rest, value)  # type: ignore[index]
    return copied


def _resolve_keys(
    location: FieldPath, error: str, document: LocatedDocument, root: type | None
) -> FieldPath:
    """Put the real key where msgspec wrote `[...]`: the first entry of that mapping which,
    validated alone, fails with the same error. Without a root, stop at the mapping."""
    resolved: FieldPath = ()
    for part in location:
        if part != _SOME_KEY:
            resolved = (*resolved, part)
            continue
        mapping = document.value_at(resolved)
        if root is None or not isinstance(mapping, dict):
            return resolved
        for key, value in mapping.items():
            try:
                msgspec.convert(
                    _with_value(document.data, resolved, {key: value}), root, strict=False
                )
            except msgspec.ValidationError as alone:
                if str(alone) == error:
                    resolved = (*resolved, str(key))
                    break
        else:
            return resolved
    return resolved


def _members(info: schema.Type) -> list[schema.Type]:
    """The alternatives of a type: the members of a union, else the type itself."""
    base = info.type if isinstance(info, schema.Metadata) else info
    if isinstance(base, schema.UnionType):
        return [member for alternative in base.types for member in _members(alternative)]
    return [info]


def _base(info: schema.Type) -> schema.Type:
    return info.type if isinstance(info, schema.Metadata) else info


def _child(info: schema.Type, part: str | int) -> schema.Type | None:
    for member in _members(info):
        base = _base(member)
        if isinstance(base, schema.StructType) and isinstance(part, str):
            for struct_field in base.fields:
                if struct_field.encode_name == part:
                    return struct_field.type
        elif isinstance(base, schema.DictType) and isinstance(part, str):
            return base.value_type
        elif isinstance(base, _KINDS["array"]) and isinstance(part, int):
            return base.item_type
    return None


def type_at(root: type, location: FieldPath) -> schema.Type | None:
    """The schema type of the field at `location` under the struct `root`."""
    info: schema.Type | None = schema.type_info(root)
    for part in location:
        if info is None:
            return None
        info = _child(info, part)
    return info


def _number(value: float) -> str:
    if isinstance(value, int) or (value.is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    return f"{value:g}"


def _range(
    lower: tuple[float, bool] | None, upper: tuple[float, bool] | None, between: str = "from "
) -> str:
    """Bounds in words; each bound is (value, inclusive)."""
    if lower and upper and lower[1] and upper[1]:
        return f"{between}{_number(lower[0])} to {_number(upper[0])}"
    parts = []
    if lower:
        parts.append(f"{'at least' if lower[1] else 'greater than'} {_number(lower[0])}")
    if upper:
        parts.append(f"{'at most' if upper[1] else 'less than'} {_number(upper[0])}")
    return " and ".join(parts)


def _numeric_bounds(base: Any) -> str:
    lower = (
        (base.ge, True)
        if base.ge is not None
        else (base.gt, False)
        if base.gt is not None
        else None
    )
    upper = (
        (base.le, True)
        if base.le is not None
        else (base.lt, False)
        if base.lt is not None
        else None
    )
    return _range(lower, upper)


def _length_bounds(base: Any) -> str:
    lower = (base.min_length, True) if base.min_length is not None else None
    upper = (base.max_length, True) if base.max_length is not None else None
    return _range(lower, upper, between="")


def describe(info: schema.Type) -> str:
    """What a field of this type accepts, in words (without the leading "must be")."""
    if isinstance(info, schema.Metadata) and (info.extra_json_schema or {}).get("description"):
        return str(info.extra_json_schema["description"])  # type: ignore[index]
    base = _base(info)
    if isinstance(base, schema.IntType):
        return f"a whole number {_numeric_bounds(base)}".rstrip()
    if isinstance(base, schema.FloatType):
        return f"a number {_numeric_bounds(base)}".rstrip()
    if isinstance(base, schema.LiteralType):
        return "one of " + ", ".join(str(value) for value in base.values)
    if isinstance(base, schema.StrType):
        if base.pattern:
            return "text in the documented form (see the README's profile section)"
        return f"text of {_length_bounds(base)} characters"
    if isinstance(base, _KINDS["array"]):
        return f"a list of {_length_bounds(base)} items"
    if isinstance(base, schema.DictType):
        return f"a mapping of {_length_bounds(base)} entries"
    return "a valid value"


def _shown(value: Any, kind: str) -> str:
    if kind in ("array", "object") and isinstance(value, list | dict):
        return f"{len(value)} {'items' if kind == 'array' else 'entries'}"
    if kind == "str" and isinstance(value, str) and len(value) > 40:
        return f"{len(value):,} characters"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _leaf(info: schema.Type | None, kind: str) -> schema.Type | None:
    """The member of a (possibly union) type that raised: the one of msgspec's `kind`."""
    if info is None:
        return None
    wanted = _KINDS.get(kind, (schema.LiteralType,))
    for member in _members(info):
        if isinstance(_base(member), wanted):
            return member
    return None


def _in_words(
    message: str, location: FieldPath, document: LocatedDocument, root: type | None
) -> str | None:
    """ "must be ..." for a violated constraint or choice, or None for any other message."""
    constraint, enum = _CONSTRAINT.match(message), _ENUM.match(message)
    if root is None or not (constraint or enum):
        return None
    kind = constraint["kind"] if constraint else "literal"
    info = _leaf(type_at(root, location), kind)
    if info is None:
        return None
    got = _shown(document.value_at(location), kind)
    return f"must be {describe(info)} (got {got})"


def validation_sentence(
    error: msgspec.ValidationError, document: LocatedDocument, root: type | None = None
) -> str:
    """One sentence naming the file, line and field; `root` is the struct validated, so a
    violated bound, choice or form is said in words."""
    match = _LOCATION.match(str(error))
    assert match is not None
    message = match["message"]
    location = _resolve_keys(_path(match["path"] or ""), str(error), document, root)
    if missing := _MISSING.match(message):
        line = document.line_of(location)
        location = (*location, missing["field"])
        message = "is required"
    elif unknown := _UNKNOWN.match(message):
        location = (*location, unknown["field"])
        line = document.line_of(location)
        message = "unknown field"
    else:
        line = document.line_of(location)
        words = None if match["key"] else _in_words(message, location, document, root)
        message = words or message[0].lower() + message[1:]
        if match["key"]:
            message = f"a key: {message}"
    return f"{document.path}, line {line}, field {field_name(location)}: {message}."
