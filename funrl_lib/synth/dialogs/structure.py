"""The defining structure of each dialog type of ToolACE's Self-Guided Dialog Generation (arXiv 2409.00920v2 §2.2;
the BFCL categories plus ToolACE's non-tool and clarification dialogs): the programmatic generator's contract, and
the acceptance test of a dialog the LLM agents made.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..sample import Message, Sample
from .text import _lit


def structure_problem(sample: Sample) -> str | None:
    """Why ``sample`` does not have the defining structure of its ``type`` (``None`` if it does): parallel types
    need one turn with >= 2 calls (``parallel``: one tool; ``parallel_multiple``: >= 2 tools), ``irrelevance`` no
    call and a text answer, ``clarify`` a text question naming a missing required parameter before the first call,
    ``dependent`` a later call taking a value found in an earlier tool result, ``multi_turn`` >= 2 user requests
    with calls; every call turn must be followed by a tool turn with one result per call, and the dialog must end
    with an assistant text turn."""
    msgs, typ = sample.messages, sample.type
    if not msgs or msgs[0].role != "user":
        return "the dialog must start with a user turn"
    if msgs[-1].role != "assistant" or msgs[-1].calls:
        return "the dialog must end with an assistant text turn"
    for k, m in enumerate(msgs):
        if m.role == "assistant" and m.calls:
            nxt = msgs[k + 1] if k + 1 < len(msgs) else None
            if nxt is None or nxt.role != "tool" or len(nxt.results or []) != len(m.calls):
                return f"turn {k}: a call turn must be followed by a tool turn with one result per call"
    call_turns = [m for m in msgs if m.role == "assistant" and m.calls]
    calls = [c for m in call_turns for c in m.calls]
    if typ in ("single", "multiple") and (len(call_turns) != 1 or len(calls) != 1):
        return f"{typ}: expected exactly one call, got {len(calls)} in {len(call_turns)} turn(s)"
    if typ in ("parallel", "parallel_multiple"):
        if len(call_turns) != 1 or len(calls) < 2:
            return f"{typ}: expected one turn with >= 2 calls"
        names = {c.name for c in calls}
        if typ == "parallel" and len(names) != 1:
            return "parallel: expected the same tool called several times"
        if typ == "parallel_multiple" and len(names) < 2:
            return "parallel_multiple: expected >= 2 different tools"
    if typ == "irrelevance" and (calls or not msgs[-1].content):
        return "irrelevance: expected no call and a text answer"
    if typ == "clarify":
        first = next((m for m in msgs if m.role == "assistant"), None)
        missing = sample.meta.get("missing")
        if first is None or first.calls or not first.content:
            return "clarify: the first assistant turn must ask a question in text"
        if missing and missing not in first.content:
            return f"clarify: the question does not name the missing parameter {missing!r}"
        if not calls:
            return "clarify: no call after the user's answer"
        if missing and not any(missing in c.arguments for c in calls):
            return f"clarify: the call does not use the missing parameter {missing!r}"
    if typ == "dependent":
        if len(call_turns) < 2:
            return "dependent: expected >= 2 call turns"
        if not _uses_earlier_result(msgs):
            return "dependent: no later call uses a value an earlier tool returned"
    if typ == "multi_turn":
        users = sum(1 for m in msgs if m.role == "user")
        if users < 2 or len(call_turns) < 2:
            return "multi_turn: expected >= 2 user requests with calls"
    return None


def _scalars(node: Any) -> Iterable[Any]:
    if isinstance(node, dict):
        for v in node.values():
            yield from _scalars(v)
    elif isinstance(node, list):
        for v in node:
            yield from _scalars(v)
    elif node is not None and not isinstance(node, bool):
        yield node


def _uses_earlier_result(msgs: list[Message]) -> bool:
    seen: set[str] = set()
    for m in msgs:
        if m.role == "tool":
            seen.update(_lit(v) for r in m.results or [] for v in _scalars(r.get("results") if isinstance(r, dict)
                                                                            else r))
        elif m.role == "assistant" and m.calls and seen:
            if any(_lit(v) in seen for c in m.calls for v in c.arguments.values()
                   if isinstance(v, (str, int, float)) and not isinstance(v, bool)):
                return True
    return False
