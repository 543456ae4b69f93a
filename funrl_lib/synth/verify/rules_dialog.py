"""The rule layer on a dialog's structure (ToolACE §2.3 rule checker, App. B Table 4): call and tool-response names
match, role order, a tool response after each call turn, and no format conflict with the system prompt's
requirements."""

from __future__ import annotations

import re

from ...calls import TOOL_CALL_OPEN
from ..sample import Sample
from .common import _short
from .context import VerifyContext, _rule


# -- dialog structure ---------------------------------------------------------------------------------------------

@_rule("rule")
def rule_call_response_names(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "API names in the call and the tool response match": result k of a tool turn names call k of the
    call turn it answers (ToolACE's tool turns list results in call order)."""
    out = []
    msgs = sample.messages
    for i in range(1, len(msgs)):
        m, prev = msgs[i], msgs[i - 1]
        if m.role != "tool" or m.results is None or not prev.calls:
            continue
        for k, (call, result) in enumerate(zip(prev.calls, m.results)):
            name = result.get("name") if isinstance(result, dict) else None
            if name != call.name:
                out.append(f"turn {i} (tool) result {k}: named {name!r} but answers call {k} '{call.name}' of "
                           f"turn {i - 1}")
    return out


@_rule("rule")
def rule_role_order(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "correct role order". The dialog starts with a user turn and ends with an assistant turn; a tool
    turn comes only right after an assistant call turn; after a tool turn the assistant speaks. Two user turns in a
    row are rejected: a user turn is always answered before the next (two in a row mean a lost assistant turn, and
    the merged request would be a different task); so are two assistant turns in a row, except a call turn's tool
    turn between them. (A call turn without its tool turn is ``tool_response_follows``.)"""
    out = []
    msgs = sample.messages
    if not msgs:
        return out
    if msgs[0].role != "user":
        out.append(f"turn 0: starts with {msgs[0].role}, not user")
    for i in range(1, len(msgs)):
        prev, m = msgs[i - 1], msgs[i]
        if m.role == "tool" and not prev.is_call:
            out.append(f"turn {i} (tool): follows a {prev.role} turn, not an assistant call turn")
        elif m.role == "user" and prev.role == "user":
            out.append(f"turn {i} (user): two user turns in a row")
        elif m.role == "user" and prev.role == "tool":
            out.append(f"turn {i} (user): follows a tool turn; the assistant must answer the tool output first")
        elif m.role == "assistant" and prev.role == "assistant":
            out.append(f"turn {i} (assistant): two assistant turns in a row")
    if msgs[-1].role != "assistant":
        out.append(f"turn {len(msgs) - 1}: the dialog ends with a {msgs[-1].role} turn, not an assistant turn")
    return out


@_rule("rule")
def rule_tool_response_follows(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "a tool response follows each function call": every call turn except the last turn of the sample
    (a training target) is followed by a tool turn with exactly one result per call."""
    out = []
    msgs = sample.messages
    for i, m in enumerate(msgs):
        if not m.is_call or i == len(msgs) - 1:
            continue
        nxt = msgs[i + 1]
        n_calls = len(m.calls) if m.calls is not None else None
        if nxt.role != "tool":
            out.append(f"turn {i}: call turn ({n_calls if n_calls is not None else '?'} call(s)) is followed by a "
                       f"{nxt.role} turn, not a tool response")
        elif n_calls is not None and nxt.results is not None and len(nxt.results) != n_calls:
            out.append(f"turn {i + 1} (tool): {len(nxt.results)} result(s) for {n_calls} call(s) of turn {i}")
    return out


_PY_FORMAT_REQUIRED = re.compile(r"\[func(?:_name)?1\(")
_JSONISH_CALL = re.compile(r"\A\s*(?:```(?:json)?\s*)?[\[{]\s*(?:\{\s*)?\"(?:name|function|tool_name)\"")


@_rule("rule")
def rule_system_format(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "no format conflict with system-prompt requirements". When the system prompt asks for calls as
    ``[func1(params_name=params_value, ...)]`` (ToolACE's, BFCL's and FunRL's prompts do), an assistant turn may not
    write its calls as JSON or Hermes ``<tool_call>`` blocks, and may not wrap a call list in prose ("NO other text
    MUST be included" / "only return the function call"): a text answer that contains ``[<tool name>(`` is a call
    mixed with prose, and a call turn that also carries text breaks the same requirement. A system prompt without
    such a requirement (or none) imposes nothing."""
    system = sample.system or ""
    if not _PY_FORMAT_REQUIRED.search(system):
        return []
    out = []
    names = list(ctx.view(sample).defs)
    no_other_text = "NO other text" in system or "only return the function call" in system
    for i, m in enumerate(sample.messages):
        if m.role != "assistant":
            continue
        text = m.content or ""
        if m.calls is not None:
            if text.strip() and no_other_text:
                out.append(f"turn {i} (assistant): text {_short(text)} next to the calls; the system prompt allows "
                           "no other text")
            continue
        source = m.raw if m.raw is not None else text
        if TOOL_CALL_OPEN in source:
            out.append(f"turn {i} (assistant): calls written as <tool_call> blocks; the system prompt requires "
                       "[func(...)]")
        elif _JSONISH_CALL.match(source):
            out.append(f"turn {i} (assistant): calls written as JSON; the system prompt requires [func(...)]")
        elif m.raw is None and no_other_text and names and "[" in text and "(" in text and re.search(
                r"\[\s*(?:" + "|".join(map(re.escape, names)) + r")\s*\(", text):
            out.append(f"turn {i} (assistant): a call list inside prose; the system prompt allows no other text")
    return out
