"""BFCL's possible-answer format (``possible_answer/BFCL_v4_*.json`` in the gorilla repo): one built from calls, calls
read back from one, and the checker category that fits one. Below every stage: synthesis exports its dialogs in this
format, and BFCL's checker (:mod:`funrl_lib.bfcl.checker`) scores against it."""

from __future__ import annotations

from typing import Any, Sequence

from .calls import Call
from .tools import ToolDef, load_tools

__all__ = ["gold_calls", "infer_category", "possible_answer_from_calls"]


def infer_category(possible_answer: list) -> str:
    """The BFCL checker that fits a ground truth: one call -> ``multiple`` (looks the function up by name, so it works
    with any number of candidate tools), several -> ``parallel`` (order-insensitive), none -> ``irrelevance``."""
    if not possible_answer:
        return "irrelevance"
    return "multiple" if len(possible_answer) == 1 else "parallel"


def possible_answer_from_calls(calls: Sequence[Call], functions: Sequence[ToolDef | dict] | None = None) -> list:
    """A BFCL possible answer accepting exactly ``calls``: each given argument -> ``[value]``. With ``functions``,
    each optional parameter the call leaves out is added as ``["", default]`` (or ``[""]`` without a default), so a
    model may omit it or pass its default, as BFCL's live data allows."""
    tools = {t.name: t for t in (load_tools(functions) if functions is not None else [])}
    answer = []
    for call in calls:
        params: dict[str, list] = {k: [v] for k, v in call.arguments.items()}
        tool = tools.get(call.name)
        if tool is not None:
            for pname, schema in tool.parameters.properties.items():
                if pname not in params and pname not in tool.required:
                    params[pname] = ["", schema.default] if schema.has_default else [""]
        answer.append({call.name: params})
    return answer


def gold_calls(possible_answer: list, *, pick: str = "first") -> list[Call]:
    """Calls that satisfy ``possible_answer``: for each parameter the first (or ``pick="last"``) allowed value other
    than ``""``; parameters whose only allowed value is ``""`` are left out. A dict alternative holds allowed lists per
    key (BFCL's dict parameters) and is resolved the same way, key by key; so is each dict of a list-of-dicts
    alternative."""
    calls = []
    for expected in possible_answer:
        (name, params), = expected.items()
        args = {}
        for pname, allowed in params.items():
            value = _pick(allowed, pick)
            if value is not _NOTHING:
                args[pname] = value
        calls.append(Call(name, args))
    return calls


_NOTHING = object()


def _pick(allowed: list, pick: str) -> Any:
    values = [a for a in allowed if a != ""]
    if not values:
        return _NOTHING
    value = values[0] if pick == "first" else values[-1]
    if _is_allowed_dict(value):
        return _resolve_allowed_dict(value, pick)
    if isinstance(value, list) and value and all(_is_allowed_dict(v) for v in value):
        return [_resolve_allowed_dict(v, pick) for v in value]
    return value


def _is_allowed_dict(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(v, list) for v in value.values())


def _resolve_allowed_dict(value: dict, pick: str) -> dict:
    out = {}
    for key, allowed in value.items():
        picked = _pick(allowed, pick)
        if picked is not _NOTHING:
            out[key] = picked
    return out
