"""Execution against the API pool, APIGen's execution stage on top of ToolACE's rule checker (ToolACE §2.3 has no
execution): every call to a tool the pool implements (same definition) is run, and each recorded tool output is
compared with what the implementation returns."""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

from ..sample import Sample
from .common import _short, _tool_key
from .context import VerifyContext, _rule
from .view import _View


# -- execution ----------------------------------------------------------------------------------------------------

def _pool_api(ctx: VerifyContext, view: _View, name: str) -> Any:
    """The pool record implementing tool ``name`` of this sample, if its definition is the sample's."""
    records = (ctx._pool_index or {}).get(name)
    if not records:
        return None
    key = view.keys.get(name)
    if key is None:
        return None
    for rec in records:
        # canonical JSON of the record's definition, kept with its tool (a record's tool is not mutated once built)
        if rec.tool.derived("verify.key", _canonical) == key:
            return rec
    return None


def _canonical(tool: Any) -> str:
    return _tool_key(tool.source)


def _executor(ctx: VerifyContext) -> tuple[Callable, type]:
    """``(run, ExecutionError)``: ``run(api, arguments)`` executes a call for comparison. The pool's own executor
    only reads the arguments (``api_pool.execute_again``: a call this process already executed is not generated
    again); a custom one gets a deep copy of them, since it may change them."""
    from .. import api_pool

    if ctx.execute is None:
        return api_pool.execute_again, api_pool.ExecutionError
    custom = ctx.execute
    return (lambda api, arguments: custom(api, copy.deepcopy(arguments))), api_pool.ExecutionError


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _first_diff(expected: Any, got: Any, path: str = "") -> str:
    """Where two JSON values first differ, as ``path: expected X, got Y``."""
    if isinstance(expected, dict) and isinstance(got, dict):
        for k in expected:
            if k not in got:
                return f"{path}.{k}: missing (expected {_short(expected[k])})"
            if expected[k] != got[k]:
                return _first_diff(expected[k], got[k], f"{path}.{k}")
        for k in got:
            if k not in expected:
                return f"{path}.{k}: not returned by the implementation (got {_short(got[k])})"
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        for j, (a, b) in enumerate(zip(expected, got)):
            if a != b:
                return _first_diff(a, b, f"{path}[{j}]")
    return f"{path or 'results'}: expected {_short(expected)}, got {_short(got)}"


@_rule("rule")
def rule_execution(sample: Sample, ctx: VerifyContext) -> list[str]:
    """APIGen's execution stage (ToolACE has none): each call to a tool with a programmatic implementation in
    ``ctx.pool`` (same definition) is run; an ``ExecutionError`` fails the sample with its reason, and a recorded
    tool output that differs from what the implementation returns (a tampered or wrongly simulated result) fails
    it too. Tools without an implementation are not checked here."""
    if not ctx._pool_index:
        return []
    execute, ExecutionError = _executor(ctx)
    view = ctx.view(sample)
    out = []
    msgs = sample.messages
    for i, m in enumerate(msgs):
        for k, call in enumerate(m.calls or ()):
            api = _pool_api(ctx, view, call.name)
            if api is None:
                continue
            try:
                expected = execute(api, call.arguments)
            except ExecutionError as e:
                out.append(f"turn {i} call {k} '{call.name}': execution failed: {e}")
                continue
            nxt = msgs[i + 1] if i + 1 < len(msgs) else None
            if nxt is None or nxt.role != "tool" or not nxt.results or k >= len(nxt.results):
                continue
            item = nxt.results[k]
            if not isinstance(item, dict) or item.get("name") != call.name:
                continue
            if expected == item.get("results"):
                continue
            exp, got = _jsonable(expected), _jsonable(item.get("results"))  # tuples vs lists and the like
            if exp != got:
                out.append(f"turn {i + 1} (tool) result {k} '{call.name}': recorded output differs from the "
                           f"implementation's: {_first_diff(exp, got)}")
    return out
