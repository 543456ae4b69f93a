"""The structural corruptions (ToolACE Table 4's rule list and the ``date``→``string`` damage of the released
ToolACE data): calls, tool schemas, tool turns and answers broken the way LLM-written data breaks them; plus the
helpers every corruption shares (:func:`_copy`)."""

from __future__ import annotations

import copy
import random
from typing import Any, Callable

from ...calls import Call
from ...tools import ToolDef
from ..sample import Message, Sample

def _copy(sample: Sample) -> Sample:
    """A deep copy sharing the tools (a ToolDef is not changed once read: a corruption replaces one instead)."""
    return copy.deepcopy(sample, {id(t): t for t in sample.tools})


def _replaced_tool(s: Sample, ti: int, change: Callable[[dict], None]) -> None:
    """Tool ``ti`` of ``s`` replaced by a copy of its definition that ``change`` edited."""
    d = copy.deepcopy(s.tools[ti].source)
    change(d)
    s.tools[ti] = ToolDef.read(d)


def _call_sites(sample: Sample) -> list[tuple[int, int, Call]]:
    return [(i, k, c) for i, m in enumerate(sample.messages) if m.calls for k, c in enumerate(m.calls)]


def _tool(sample: Sample, name: str) -> dict | None:
    for t in sample.tool_sources():
        if isinstance(t, dict) and t.get("name") == name:
            return t
    return None


def _props(tool: dict | None) -> dict:
    params = (tool or {}).get("parameters") or {}
    return params.get("properties") or {} if isinstance(params, dict) else {}


def _pick_call(sample: Sample, rng: random.Random, want: Callable[[Call, dict], list[str]]):
    """A random (turn, index, call, parameter) where ``want(call, tool)`` offers a parameter."""
    options = []
    for i, k, c in _call_sites(sample):
        for p in want(c, _tool(sample, c.name)):
            options.append((i, k, c, p))
    return rng.choice(options) if options else None


def missing_required(sample, rng):
    site = _pick_call(sample, rng, lambda c, t: [p for p in ((t or {}).get("parameters") or {}).get("required") or []
                                                 if p in c.arguments])
    if not site:
        return None
    s = _copy(sample)
    i, k, _, p = site
    del s.messages[i].calls[k].arguments[p]
    return s


def unknown_param(sample, rng):
    site = _pick_call(sample, rng, lambda c, t: list(c.arguments))
    if not site:
        return None
    s = _copy(sample)
    i, k, c, p = site
    args = s.messages[i].calls[k].arguments
    s.messages[i].calls[k].arguments = {(p + "_value" if q == p else q): v for q, v in args.items()}
    return s


def date_to_string(sample, rng):
    """The released ToolACE data's damage: ``date`` became ``string`` inside the definitions of the tools the dialog
    calls (``start_date`` -> ``start_string``, "up-to-date" -> "up-to-string"), and so in the calls and tool outputs
    made from them. Names stay consistent with each other, as in the released data, so only a lexical check sees it."""
    called = {c.name for _, _, c in _call_sites(sample)}
    s = _copy(sample)
    for ti, t in enumerate(s.tool_sources()):
        if isinstance(t, dict) and t.get("name") in called:
            _replaced_tool(s, ti, lambda d: d.update(_replace_in(d, "date", "string", values=True)))
    for m in s.messages:
        if m.calls:
            m.calls = [Call(c.name.replace("date", "string"),
                            {k.replace("date", "string"): v for k, v in c.arguments.items()}) for c in m.calls]
        if m.results is not None:
            m.results = _replace_in(m.results, "date", "string")
        if m.role == "assistant" and m.content:
            m.content = m.content.replace("update", "upstring").replace("date", "string")
    return None if s.to_dict() == sample.to_dict() else s  # nothing named "date": not applicable


def _replace_in(value: Any, old: str, new: str, *, values: bool = False) -> Any:
    """``old`` -> ``new`` in every dict key (and, with ``values``, every string) of a nested value."""
    if isinstance(value, dict):
        return {k.replace(old, new) if isinstance(k, str) else k: _replace_in(v, old, new, values=values)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_in(v, old, new, values=values) for v in value]
    if values and isinstance(value, str):
        return value.replace(old, new)
    return value


def wrong_type(sample, rng):
    site = _pick_call(sample, rng, lambda c, t: [p for p, v in c.arguments.items()
                                                 if isinstance(v, (int, float, str)) and not isinstance(v, bool)])
    if not site:
        return None
    s = _copy(sample)
    i, k, _, p = site
    v = s.messages[i].calls[k].arguments[p]
    s.messages[i].calls[k].arguments[p] = [v] if isinstance(v, str) else str(v)  # "3" for 3, ["x"] for "x"
    return s


def enum_violation(sample, rng):
    site = _pick_call(sample, rng, lambda c, t: [p for p in c.arguments if isinstance(_props(t).get(p), dict)
                                                 and _props(t)[p].get("enum")])
    if not site:
        return None
    s = _copy(sample)
    i, k, _, p = site
    s.messages[i].calls[k].arguments[p] = "NOT_AN_OPTION"
    return s


def unknown_function(sample, rng):
    site = _pick_call(sample, rng, lambda c, t: ["-"])
    if not site:
        return None
    s = _copy(sample)
    i, k, c, _ = site
    s.messages[i].calls[k].name = c.name + "_v2"
    return s


def hallucinated_value(sample, rng):
    # free-text string parameters only: a value outside an enum or a pattern is a schema defect (param_values), not
    # a hallucination the model layer has to find
    def free_text(c, t):
        return [p for p, v in c.arguments.items()
                if isinstance(v, str) and not {"enum", "pattern"} & set(_props(t).get(p) or {})]

    site = _pick_call(sample, rng, free_text)
    if not site:
        return None
    s = _copy(sample)
    i, k, _, p = site
    s.messages[i].calls[k].arguments[p] = "Zanzibar-" + "".join(rng.choice("QXZJK") for _ in range(5))
    return s


def _tool_turn(sample: Sample, rng: random.Random, *, with_results: bool = True) -> tuple[Sample | None, int]:
    """A copy of ``sample`` and the index of a random tool turn in it (one with results, unless told otherwise)."""
    turns = [i for i, m in enumerate(sample.messages) if m.role == "tool" and (m.results or not with_results)]
    return (_copy(sample), rng.choice(turns)) if turns else (None, -1)


def drop_tool_response(sample, rng):
    s, i = _tool_turn(sample, rng, with_results=False)
    if s is not None:
        del s.messages[i]
    return s


def extra_result(sample, rng):
    s, i = _tool_turn(sample, rng)
    if s is not None:
        s.messages[i].results.append(copy.deepcopy(s.messages[i].results[-1]))
    return s


def response_name_mismatch(sample, rng):
    s, i = _tool_turn(sample, rng)
    if s is not None:
        first = s.messages[i].results[0]
        s.messages[i].results[0] = {**first, "name": str(first.get("name")) + "_other"}
    return s


def tampered_result(sample, rng):
    """A tool output that the API would never return (a simulated result that disagrees with execution)."""
    turns = [i for i, m in enumerate(sample.messages) if m.role == "tool" and m.results
             and isinstance(m.results[0].get("results"), dict) and m.results[0]["results"]]
    if not turns:
        return None
    s = _copy(sample)
    res = s.messages[rng.choice(turns)].results[0]["results"]
    key = rng.choice(sorted(res))
    res[key] = _tamper(res[key])
    return s


def _tamper(v: Any) -> Any:
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        return v + 7
    if isinstance(v, str):
        return v + "-tampered"
    return "tampered"


def _final_text(sample: Sample) -> int | None:
    turns = [i for i, m in enumerate(sample.messages) if m.role == "assistant" and not m.is_call and m.content]
    return turns[-1] if turns else None


def _final_turn(sample: Sample, *, min_length: int = 0) -> tuple[Sample | None, int]:
    """A copy of ``sample`` and the index of its last text answer (at least ``min_length`` characters long)."""
    i = _final_text(sample)
    if i is None or len(sample.messages[i].content) < min_length:
        return None, -1
    return _copy(sample), i


def truncated_response(sample, rng):
    s, i = _final_turn(sample, min_length=24)
    if s is not None:
        text = s.messages[i].content
        cut = rng.randrange(len(text) // 2, len(text) - 4)
        s.messages[i].content = text[:cut].rstrip(" .,!?") + " (the"
    return s


def empty_response(sample, rng):
    s, i = _final_turn(sample)
    if s is not None:
        s.messages[i].content = ""
    return s


def invalid_chars(sample, rng):
    s, i = _final_turn(sample)
    if s is not None:
        text = s.messages[i].content
        at = rng.randrange(len(text) + 1)
        s.messages[i].content = text[:at] + rng.choice(["\x00", "\ufffd", "\x1b[0m"]) + text[at:]
    return s


def broken_schema(sample, rng):
    options = [(ti, p) for ti, t in enumerate(sample.tool_sources()) if isinstance(t, dict) for p in _props(t)]
    if not options:
        return None
    s = _copy(sample)
    ti, p = rng.choice(options)

    def misspell(d: dict) -> None:
        d["parameters"]["properties"][p]["type"] = "strnig"
    _replaced_tool(s, ti, misspell)
    return s


def role_swap(sample, rng):
    if len(sample.messages) < 2 or sample.messages[0].role != "user":
        return None
    s = _copy(sample)
    s.messages[0], s.messages[1] = s.messages[1], s.messages[0]
    return s


def call_when_none_applies(sample, rng):
    """An irrelevance dialog whose refusal became a call to one of the (unsuitable) candidates."""
    if sample.type != "irrelevance" or not sample.tools or not isinstance(sample.tools[0].source, dict):
        return None
    s = _copy(sample)
    tool = s.tools[0].source
    args = {p: "x" for p in ((tool.get("parameters") or {}).get("required") or [])}
    for i, m in enumerate(s.messages):
        if m.role == "assistant":
            s.messages[i] = Message("assistant", calls=[Call(tool["name"], args)], think=m.think)
            break
    return s
