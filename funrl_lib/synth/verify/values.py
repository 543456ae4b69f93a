"""Parameter values against a tool's schema in BFCL's dialect (ToolACE §2.3 rule checker, App. B Table 4:
"all required parameters provided", "parameter formats/patterns match the definition"; plus unknown parameters,
which Table 4 lacks). The issues feed ``required_params``, ``unknown_params`` and ``param_values``
(:mod:`.rules_content`)."""

from __future__ import annotations

import datetime as _dt
import re
from functools import lru_cache
from typing import Any, Mapping

from ...patterns import PatternError, pattern_search
from ...tools import Schema, kind_of_spelling
from .common import _is_num, _short, _type_name


def _kinds(schema: Schema) -> list[str]:
    """Allowed canonical kinds: a union type (``["string", "null"]``) gives each member; else :attr:`Schema.kind`."""
    spelling = schema.node.get("type")
    if isinstance(spelling, list) and "x-bfcl-type" not in schema.node and "x-json-type" not in schema.node:
        kinds = [k for k in map(kind_of_spelling, spelling) if k]
        return kinds or ["any"]
    return [schema.kind]


def _matches(value: Any, kind: str) -> bool:
    """BFCL's type rules: ``bool`` is not an integer, an integer is accepted for a float, tuples for arrays."""
    if kind == "any":
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in ("array", "tuple"):
        return isinstance(value, (list, tuple))
    if kind == "object":
        return isinstance(value, dict)
    if kind == "null":
        return value is None
    return True


@lru_cache(maxsize=4096)
def _python_regex_ok(pattern: str) -> bool:
    """Whether Python's ``re`` compiles ``pattern`` (compiling takes time linear in the pattern; only matching can
    blow up, and matching is RE2's job: :func:`_pattern_problem`)."""
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError):
        return False
    return True


def _pattern_problem(pattern: str, value: str) -> str | None:
    """Why ``value`` fails ``pattern`` (JSON Schema semantics: a search, anchored only by the pattern itself), or
    None. Matching runs on RE2 (:mod:`funrl_lib.patterns`), in time linear in the value whatever the pattern; a
    pattern RE2 cannot run (a backreference, a lookaround) is a problem of its own, since the value cannot be
    checked. A pattern Python cannot compile either is left to ``tool_schema`` (an invalid definition)."""
    if not _python_regex_ok(pattern):
        return None
    shown = repr(pattern) if len(pattern) <= 200 else repr(pattern[:200]) + "..."
    try:
        if pattern_search(pattern, value):
            return None
    except PatternError as e:
        return f"cannot be checked against the pattern {shown}: {e}"
    return f"does not match the pattern {shown}"


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_TIME = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _format_problem(fmt: str, value: str) -> str | None:
    """Why ``value`` does not have JSON Schema format ``fmt`` (date, date-time, time, email); other formats are
    not checked (``None``)."""
    if fmt == "date":
        if not _ISO_DATE.fullmatch(value):
            return "is not a date in YYYY-MM-DD format"
        try:
            _dt.date.fromisoformat(value)
        except ValueError:
            return "is not a calendar date"
    elif fmt == "date-time":
        try:
            _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return "is not an ISO 8601 date-time"
        if not _ISO_DATE.match(value):
            return "is not an ISO 8601 date-time"
    elif fmt == "time":
        if not _ISO_TIME.fullmatch(value):
            return "is not a time in HH:MM[:SS] format"
    elif fmt == "email":
        if not _EMAIL.fullmatch(value):
            return "is not an email address"
    return None


def _spelling(schema: Schema) -> str:
    t = schema.type
    return t if isinstance(t, str) else (_short(t) if t is not None else schema.kind)


def _check_object(args: Any, schema: Schema, prefix: str, path: str, out: list, *, top: bool = False) -> None:
    """Required and unknown keys of a call's arguments (``top``) or of a dict value with declared properties, then
    each value. Issues go to ``out`` as ``(category, reason)``: ``required`` / ``unknown`` / ``value``."""
    props = schema.properties
    for req in schema.required:
        if req not in args:
            out.append(("required", f"{prefix}: required parameter '{path}{req}' is missing"))
    for name, value in args.items():
        sub = props.get(name)
        if sub is None:
            if props or top:  # a dict parameter that declares no properties is free-form
                out.append(("unknown", f"{prefix}: parameter '{path}{name}' is not in the definition"
                                       + _twin_hint(name, props)))
            continue
        _check_value(value, sub, prefix, f"{path}{name}", out)


def _twin_hint(name: Any, props: Mapping[str, Any]) -> str:
    if isinstance(name, str):
        for suffix, twin in (("_string", "_date"), ("String", "Date")):
            if name.endswith(suffix) and name[: -len(suffix)] + twin in props:
                return (f" (the definition has '{name[: -len(suffix)] + twin}': the date->string corruption of the "
                        "released ToolACE data)")
    return ""


def _check_value(value: Any, schema: Schema, prefix: str, path: str, out: list) -> None:
    """Type, enum, pattern, format and range of one value (recursing into arrays and dicts)."""
    kinds = _kinds(schema)
    where = f"{prefix}: parameter '{path}'"
    if value is None:
        if "null" in kinds or "any" in kinds or (schema.has_default and schema.default is None):
            return
        out.append(("value", f"{where}: expected {_spelling(schema)}, got null"))
        return
    kind = next((k for k in kinds if _matches(value, k)), None)
    if kind is None:
        out.append(("value", f"{where}: expected {_spelling(schema)}, got {_type_name(value)} {_short(value)}"))
        return
    node = schema.node
    enum = schema.enum
    if enum is not None:
        if kind in ("array", "tuple") and not any(isinstance(e, list) for e in enum):
            # BFCL lists the allowed *element* values in an array parameter's enum
            bad = [v for v in value if v not in enum]
            if bad:
                out.append(("value", f"{where}: {_short(bad)} not among the enum values {_short(enum, 120)}"))
        elif value not in enum:
            out.append(("value", f"{where}: {_short(value)} is not one of the enum values {_short(enum, 120)}"))
    if kind == "string":
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            # JSON Schema semantics: a pattern matches anywhere unless it anchors itself (a search, not fullmatch)
            problem = _pattern_problem(pattern, value)
            if problem is not None:
                out.append(("value", f"{where}: {_short(value)} {problem}"))
        fmt = node.get("format")
        if isinstance(fmt, str):
            problem = _format_problem(fmt, value)
            if problem:
                out.append(("value", f"{where}: {_short(value)} {problem} (format {fmt!r})"))
        _bounds(len(value), node, "minLength", "maxLength", where, "length", out)
    elif kind in ("integer", "number"):
        lo, hi = node.get("minimum"), node.get("maximum")
        if _is_num(lo) and value < lo:
            out.append(("value", f"{where}: {value!r} is below the minimum {lo!r}"))
        if _is_num(hi) and value > hi:
            out.append(("value", f"{where}: {value!r} is above the maximum {hi!r}"))
        xlo, xhi = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
        if _is_num(xlo) and value <= xlo:
            out.append(("value", f"{where}: {value!r} is not above the exclusive minimum {xlo!r}"))
        if _is_num(xhi) and value >= xhi:
            out.append(("value", f"{where}: {value!r} is not below the exclusive maximum {xhi!r}"))
    elif kind in ("array", "tuple"):
        _bounds(len(value), node, "minItems", "maxItems", where, "item count", out)
        items = schema.items
        if items is not None:
            for j, element in enumerate(value):
                _check_value(element, items, prefix, f"{path}[{j}]", out)
    elif kind == "object" and schema.properties:
        _check_object(value, schema, prefix, f"{path}.", out)


def _bounds(n: int, node: dict, lo_key: str, hi_key: str, where: str, what: str, out: list) -> None:
    lo, hi = node.get(lo_key), node.get(hi_key)
    if _is_num(lo) and n < lo:
        out.append(("value", f"{where}: {what} {n} is below {lo_key} {lo!r}"))
    if _is_num(hi) and n > hi:
        out.append(("value", f"{where}: {what} {n} is above {hi_key} {hi!r}"))
