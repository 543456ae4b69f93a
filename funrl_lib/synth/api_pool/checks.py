"""Checking values against an API's schemas (ToolACE §2.1: the pool's definitions are the contract; §2.2's tool agent
executes only calls that pass, §2.3's rule layer checks the results): kinds of schema nodes in either dialect, and
every way a call's arguments (:func:`validate_arguments`) or a tool's result (:func:`result_issues`) break them.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from typing import Any, Callable, Iterable

from ...patterns import PatternError, pattern_search
from ...tools import kind_of_spelling
from .base import ExecutionError
from .records import ApiRecord


_KIND_MEMO: dict[str, str] = {}  # known type spellings only (bounded): "dict" -> "object", ...


def _kind(node: dict) -> str:
    """Canonical kind of a schema node in either dialect ("dict" and "object" are both "object", "float" and
    "number" are "number"; a union is its first non-null member; no or unknown type is "any")."""
    # called for every node of every sampled call and result: the common case (a plain "type" string) is two
    # lookups
    if "x-bfcl-type" in node or "x-json-type" in node:
        spelling = node.get("x-bfcl-type", node.get("x-json-type"))
    else:
        spelling = node.get("type")
    if isinstance(spelling, str):
        kind = _KIND_MEMO.get(spelling)
        if kind is None:
            kind = kind_of_spelling(spelling)
            if kind is None:
                return "any"
            _KIND_MEMO[spelling] = kind
        return kind
    if isinstance(spelling, list):
        spelling = next((x for x in spelling if x != "null"), None)
    return kind_of_spelling(spelling) or "any"


def _search(pattern: str, value: str) -> bool:
    """Whether ``value`` matches a definition's ``pattern``, on RE2 (linear time whatever the pattern: see
    :mod:`funrl_lib.patterns`); a pattern RE2 cannot run counts as matched here (nothing to check against; the
    verifier reports such a pattern)."""
    try:
        return pattern_search(pattern, value)
    except PatternError:
        return True


def _type_word(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "dict",
            type(None): "null"}.get(type(value), type(value).__name__)


def _is_date(v: Any) -> bool:
    if not isinstance(v, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
        return False
    try:
        _dt.date.fromisoformat(v)
        return True
    except ValueError:
        return False


_KIND_OK = {"string": lambda v: isinstance(v, str),
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "boolean": lambda v: isinstance(v, bool), "array": lambda v: isinstance(v, list),
            "tuple": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict),
            "null": lambda v: v is None}


def _check(value: Any, node: dict, where: str, problems: list[str]) -> None:
    """Append to ``problems`` each way ``value`` breaks schema ``node`` (type, enum, range, pattern, date format,
    required / unknown fields of dicts with declared properties, array elements)."""
    t = node.get("type")
    if isinstance(t, list) and value is None and "null" in t:
        return
    kind = _kind(node)
    if kind != "any" and not _KIND_OK[kind](value):
        spelled = t if isinstance(t, str) else kind
        problems.append(f"{where}: expected {spelled}, got {_type_word(value)} "
                        f"{json.dumps(value, ensure_ascii=False)[:60]}")
        return
    enum = node.get("enum")
    has_enum = isinstance(enum, list) and bool(enum)
    if has_enum and kind not in ("array", "tuple") and value not in enum:
        problems.append(f"{where}: {json.dumps(value, ensure_ascii=False)} is not one of "
                        f"{json.dumps(enum, ensure_ascii=False)}")
        return
    if kind in ("integer", "number"):
        lo, hi = node.get("minimum"), node.get("maximum")
        if isinstance(lo, (int, float)) and not isinstance(lo, bool) and value < lo:
            problems.append(f"{where}: {value} is below the minimum {lo}")
        if isinstance(hi, (int, float)) and not isinstance(hi, bool) and value > hi:
            problems.append(f"{where}: {value} is above the maximum {hi}")
    elif kind == "string":
        pattern = node.get("pattern")
        if isinstance(pattern, str) and not _search(pattern, value):
            problems.append(f"{where}: {json.dumps(value, ensure_ascii=False)} does not match pattern {pattern!r}")
        if node.get("format") == "date" and not _is_date(value):
            problems.append(f"{where}: {json.dumps(value, ensure_ascii=False)} is not a date (YYYY-MM-DD)")
    elif kind in ("array", "tuple"):
        items = node.get("items")
        for k, v in enumerate(value):
            if has_enum and v not in enum:
                problems.append(f"{where}[{k}]: {json.dumps(v, ensure_ascii=False)} is not one of "
                                f"{json.dumps(enum, ensure_ascii=False)}")
            elif isinstance(items, dict):
                _check(v, items, f"{where}[{k}]", problems)
    elif kind == "object":
        props = node.get("properties")
        if isinstance(props, dict) and props:
            _check_fields(value, props, node.get("required") or [], problems,
                          missing=f"{where}: missing required field", unknown=f"{where}: unknown field",
                          expected=True, inner=lambda k: f"{where}.{k}")


def _check_fields(value: dict, props: dict, required: Iterable[str], problems: list[str], *, missing: str,
                  unknown: str, expected: bool, inner: Callable[[str], str]) -> None:
    """Append to ``problems`` each required key ``value`` lacks (``"<missing> 'key'"``), each key ``props`` does not
    declare (``"<unknown> 'key'"``, listing the declared ones when ``expected``), and each way a declared field breaks
    its schema (the field named ``inner(key)``): the checks of a dict's fields, of a call's arguments and of a tool's
    result."""
    for r in required:
        if r not in value:
            problems.append(f"{missing} {r!r}")
    for k, v in value.items():
        if k not in props:
            listed = f" (expected one of: {', '.join(props) or 'none'})" if expected else ""
            problems.append(f"{unknown} {k!r}{listed}")
        elif isinstance(props[k], dict):
            _check(v, props[k], inner(k), problems)


def _argument_problems(api: ApiRecord, arguments: Any) -> list[str]:
    if not isinstance(arguments, dict):
        return [f"arguments must be an object, got {_type_word(arguments)}"]
    params = api.tool_dict().get("parameters") or {}
    problems: list[str] = []
    _check_fields(arguments, params.get("properties") or {}, params.get("required") or [], problems,
                  missing="missing required parameter", unknown="unknown parameter", expected=True,
                  inner=lambda k: f"parameter {k!r}")
    return problems


def validate_arguments(api: ApiRecord, arguments: Any) -> None:
    """Raise :class:`ExecutionError` naming every problem of a call's arguments against the definition: missing
    required, unknown parameter, wrong type, enum / range / pattern / date-format violation (nested fields are
    named ``parameter 'stay'.check_in_date``, array elements ``parameter 'items'[0]``)."""
    problems = _argument_problems(api, arguments)
    if problems:
        raise ExecutionError(f"{api.tool.name}: " + "; ".join(problems))


def result_issues(api: ApiRecord, result: Any) -> list[str]:
    """Problems of a tool result against ``api.returns`` (for the tool-response check of verification): wrong
    types, values outside enums/ranges, missing or unknown fields are reported; an empty list means it conforms."""
    if not isinstance(result, dict):
        return [f"result: expected dict, got {_type_word(result)}"]
    problems: list[str] = []
    props = api.returns.get("properties") or {}
    _check_fields(result, props, props, problems, missing="result: missing field", unknown="result: unknown field",
                  expected=False, inner=lambda k: f"result.{k}")
    return problems
