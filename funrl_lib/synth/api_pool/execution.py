"""Executing calls against the pool (ToolACE §2.2, the tool agent, over §2.1's pool): deterministic results that conform
to an API's return schema, seeded by the call, echoing its arguments and returning ids the dependent APIs accept;
each record remembers its last few results.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

from ...io import seeded_rng
from .checks import _check, _kind, validate_arguments
from .records import ApiRecord
from .sampling import _ARRAY, _OBJECT, _SCALAR, _plan_slot, _range_pairs, _scalar_value, _swap_ranges, _vocab


def _flatten(arguments: dict) -> dict[str, Any]:
    """Leaf-name -> scalar value of the arguments (first occurrence), for echoing inputs into results."""
    out: dict[str, Any] = {}

    def walk(v: Any, key: str) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, k)
        elif isinstance(v, list):
            if v and not isinstance(v[0], (dict, list)):
                out.setdefault(key, v)
            for x in v:
                if isinstance(x, (dict, list)):
                    walk(x, key)
        else:
            out.setdefault(key, v)

    walk(arguments, "")
    return out


def _plan_result(node: dict, path: str, name: str, rs: Any) -> tuple:
    """The plan of return-schema ``node`` (at ``path``, field ``name``; ``rs``: the API's return slots) for
    :func:`_gen_result` (see :func:`_plan_arguments`): ``(_OBJECT, name, field plans, range pairs, node)``,
    ``(_ARRAY, name, item plan)`` or ``(_SCALAR, name, node, kind, slot name, retry)``."""
    kind = _kind(node)
    if kind == "object":
        props = node.get("properties") if isinstance(node.get("properties"), dict) else {}
        fields = tuple(_plan_result(v, f"{path}.{k}" if path else k, k, rs) for k, v in props.items()
                       if isinstance(v, dict))
        return (_OBJECT, name, fields, _range_pairs(tuple(f[1] for f in fields)), node)
    if kind in ("array", "tuple"):
        items = node.get("items") if isinstance(node.get("items"), dict) else {"type": "string"}
        return (_ARRAY, name, _plan_result(items, path + "[]", name, rs))
    return (_SCALAR, name, node, kind, *_plan_slot(lambda: rs[path] if path in rs else name))


def _gen_result(plan: tuple, echo: dict[str, Any], rng: random.Random, size: tuple) -> Any:
    """A result for a plan of :func:`_plan_result`: every field; arrays of ``randint(*size)`` elements (scalars
    distinct); a scalar echoes the argument of its name when that value fits its node, else comes from its return
    slot."""
    tag = plan[0]
    if tag == _OBJECT:
        out = {sub[1]: _gen_result(sub, echo, rng, size) for sub in plan[2]}
        if plan[3]:
            _swap_ranges(out, plan[3], plan[4])
        return out
    if tag == _ARRAY:
        item = plan[2]
        k = rng.randint(*size)
        out_list: list = []
        for _ in range(3 * k):  # scalar elements are kept distinct (three stages, not "Main Stage" twice)
            v = _gen_result(item, echo, rng, size)
            if isinstance(v, dict) or v not in out_list:
                out_list.append(v)
            if len(out_list) == k:
                break
        return out_list
    _, name, node, kind, slot, retry = plan
    if name in echo and not isinstance(echo[name], (list, dict)):
        v = echo[name]
        probe: list[str] = []
        _check(v, node, "x", probe)
        if not probe:
            return v
    return _scalar_value(node, _vocab().resolve(retry() if retry is not None else slot), rng, name, kind)


def _result_plan(api: ApiRecord) -> tuple:
    """The plan of ``api.returns`` (see :func:`_plan_arguments`), made on first use."""
    plan = getattr(api, "_returns_plan", None)
    if plan is None:
        plan = _plan_result(api.returns, "", "", (api.impl or {}).get("return_slots") or {})
        if isinstance(api, ApiRecord):
            api._returns_plan = plan
    return plan


def execute(api: ApiRecord, arguments: dict) -> dict:
    """Run a call deterministically: :func:`validate_arguments` (raises :class:`ExecutionError`), then a result
    that conforms to ``api.returns``. Values come from a generator seeded by SHA-256 of ``(api.id, arguments)``,
    so the same call always gives the same result; returned fields named like an argument echo its value; returned
    ``*_id`` fields use the id format that the matching slot accepts, so another API can take them (dependent
    calls). The result is a new object, the caller's to keep or change."""
    return _execute(api, arguments, remember=True)


def execute_again(api: ApiRecord, arguments: dict) -> dict:
    """What :func:`execute` returns for this call, for a verifier that compares it with a recorded output: taken
    from the record's memory when this process already executed the call (dialog generation just did), else
    generated; not remembered itself (a verifier sees each call once)."""
    return _execute(api, arguments, remember=False)


# Each record remembers the results of its last calls, as JSON text keyed by the JSON text of the arguments as given
# (key order included: a result echoes the first argument of a field name): verification re-executes every call
# that dialog generation ran, so a pipeline in one process (the benchmark, a notebook) generates each result once.
# Only plain-JSON arguments and results are remembered (exact types: a tuple or a non-string key, which JSON would
# spell like a list or a string, never is), so equal keys mean equal arguments of equal types, and a remembered
# result reads back equal to, and of the same types as, what the generator returns. A call is remembered only once
# its arguments passed validation, which for the same record and the same arguments passes again, so a remembered
# call skips it. The memory lives and dies with the record (records are not changed once built: see
# ApiRecord.tool_dict); text is cheap for the garbage collector. A few calls per record are enough for that (and for
# a dialog that executes a call while planning and again while realising it); more would make memory grow with the
# number of dialogs up to calls x pool size (issue 18, 2,000 APIs: `funrl dialogs` peaked at 75 MiB for 1k dialogs,
# and for 50k at 118 MiB with 64 calls per record, 103 MiB with 16).
_REMEMBER = 16  # calls per record (oldest forgotten first)
# json.dumps(x, sort_keys=True, ensure_ascii=False) / json.dumps(x, ensure_ascii=False), without building an encoder
# per call (json.dumps does for any non-default option)
_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False).encode


def _execute(api: ApiRecord, arguments: dict, *, remember: bool) -> Any:
    memory = getattr(api, "_results", None)
    as_given = _COMPACT_JSON(arguments) if (memory is not None or remember) and _plain_json(arguments) else None
    if memory is not None and as_given is not None:
        text = memory.get(as_given)
        if text is not None:
            return json.loads(text)
    validate_arguments(api, arguments)
    rng = seeded_rng(api.id, _CANONICAL_JSON(arguments))  # the same call, the same result
    size = tuple((api.impl or {}).get("list_size") or (1, 3))
    result = _gen_result(_result_plan(api), _flatten(arguments), rng, size)
    if remember and as_given is not None and isinstance(api, ApiRecord) and _plain_json(result):
        if memory is None:
            memory = api._results = {}
        elif len(memory) >= _REMEMBER:
            del memory[next(iter(memory))]
        memory[as_given] = _COMPACT_JSON(result)
    return result


def _plain_json(value: Any) -> bool:
    """Only str / int / finite float / bool / None, lists and string-keyed dicts (exact types)."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return True
    if t is float:
        return math.isfinite(value)  # NaN is not equal to itself, and JSON spells every NaN alike
    if t is dict:
        for k, v in value.items():
            if type(k) is not str or not _plain_json(v):
                return False
        return True
    if t is list:
        for v in value:
            if not _plain_json(v):
                return False
        return True
    return False
