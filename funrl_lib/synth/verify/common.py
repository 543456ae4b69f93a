"""Small helpers every part of the verifier shares (ToolACE §2.3, dual-layer verification): canonical JSON of a
tool definition (what :mod:`.execution` compares with the pool's, and the text an answer may quote), the string
walkers the lexical rules read, short renderings of values for reasons, and the text of a tool turn."""

from __future__ import annotations

import json
from typing import Any

from ..sample import Message


# json.dumps(x, sort_keys=True, ensure_ascii=False) / json.dumps(x, ensure_ascii=False) without an encoder per call
_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False).encode


def _tool_key(raw: Any) -> str:
    try:
        return _CANONICAL_JSON(raw)
    except (TypeError, ValueError):
        return repr(raw)


def _walk_strings(value: Any, where: str, key: Any, out: list) -> None:
    if isinstance(value, str):
        out.append((where, key, value))
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                out.append((where, "<key>", k))
            if isinstance(v, str):  # the common leaf, without a call
                out.append((where, k, v))
            elif isinstance(v, (dict, list, tuple)):
                _walk_strings(v, where, k, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            if isinstance(v, str):
                out.append((where, None, v))
            elif isinstance(v, (dict, list, tuple)):
                _walk_strings(v, where, None, out)


def _collect_strings(value: Any, out: list[str]) -> None:
    """The strings :func:`_walk_strings` finds (dict keys included), without where they are."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                out.append(k)
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, (dict, list, tuple)):
                _collect_strings(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, (dict, list, tuple)):
                _collect_strings(v, out)


def _short(value: Any, n: int = 60) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."


def _type_name(value: Any) -> str:
    return {str: "string", int: "integer", float: "float", bool: "boolean", list: "array", tuple: "array",
            dict: "dict", type(None): "null"}.get(type(value), type(value).__name__)


def _dedupe(reasons: list[str]) -> list[str]:
    return list(dict.fromkeys(reasons))


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _tool_output_text(m: Message) -> str:
    if m.results is not None:
        return _COMPACT_JSON(m.results)
    return m.raw or ""
