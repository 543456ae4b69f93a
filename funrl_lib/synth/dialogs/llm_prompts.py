"""The prompts of the LLM agents in ToolACE's multi-agent dialog generation (arXiv 2409.00920v2 §2.2): the user agent
rewrites each user turn (values kept verbatim), the assistant agent decides every assistant turn with ToolACE's
formalised thinking, the tool agent simulates results for APIs without an executor. Also how a conversation is shown
to them, and how their JSON replies are read: a reply that breaks its contract raises ``ValueError`` (the backend's
``chat_json`` then asks again); nothing in a reply is ever executed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...calls import Call, decode_calls, render_calls
from ..api_pool import ApiRecord, result_issues
from ..sample import Message

TYPE_DESCRIPTIONS = {
    "single": "one request that needs exactly one function call",
    "parallel": "one message asking for the same function several times with different values (one turn of calls)",
    "multiple": "one request needing one call; several candidate functions look similar, only one fits",
    "parallel_multiple": "one message needing several different functions at once",
    "dependent": "a request where a later call needs a value that an earlier call returns",
    "irrelevance": "a request that none of the assistant's functions can serve",
    "clarify": "a request that leaves out a required value; the user gives it when asked",
    "multi_turn": "several requests in sequence, each after the previous answer",
}

DIALOG_PROMPTS = {
    "user": (
        "You are the user agent of a function-calling dialog generator. You play a person talking to an assistant "
        "that has the functions listed below. Write the user's next message from the intent you are given: natural, "
        "in your own words, in the requested style, as one message. Keep every value listed under 'keep verbatim' "
        "exactly as written (same characters), and add no other concrete values. Never mention function names or "
        "parameter names.\n"
        "Reply with JSON only: {\"message\": \"...\"}"),
    "assistant": (
        "You are the assistant agent of a function-calling dialog generator: an expert in composing functions. You "
        "are given a conversation and a set of possible functions.\n{tools}\n\n"
        "Before acting, think step by step in this fixed order: (1) does the request need a function? (2) which "
        "function and why? (3) each required parameter and where its value comes from (the user's words or an "
        "earlier function result; never invent one); (4) optional parameters worth setting. Then act:\n"
        "- call functions: several independent calls may go in one list; a call needing another call's result "
        "waits for that result;\n"
        "- if a required value is missing, ask the user for it, naming the parameter;\n"
        "- if no function can serve the request, say so in text;\n"
        "- after function results arrive, answer the user in text, quoting the relevant values.\n"
        "Reply with JSON only, either {\"think\": \"...\", \"calls\": \"[func_name(param=value, ...), ...]\"} (Python "
        "call syntax) or {\"think\": \"...\", \"content\": \"...\"}."),
    "tool": (
        "You are the tool agent of a function-calling dialog generator: you simulate an API. Given its definition, "
        "its return schema and one call, return a realistic result that conforms to the return schema exactly (every "
        "field, right types, enum values only) and is consistent with the call's arguments.\n"
        "Reply with the JSON result object only."),
}


def _prompted(role: str, prompt: str) -> list[dict[str, str]]:
    """The chat of a one-shot agent (``user``, ``tool``): its system prompt, then ``prompt``."""
    return [{"role": "system", "content": DIALOG_PROMPTS[role]}, {"role": "user", "content": prompt}]


def _transcript(messages: list[Message]) -> str:
    lines = []
    for m in messages:
        if m.role == "user":
            lines.append(f"User: {m.content}")
        elif m.role == "assistant":
            lines.append("Assistant: " + (render_calls(m.calls) if m.calls else m.content))
        else:
            lines.append("Tool results: " + json.dumps(m.results, ensure_ascii=False))
    return "\n".join(lines) if lines else "(nothing yet)"


def _assistant_chat(messages: list[Message]) -> list[dict[str, str]]:
    out = []
    for m in messages:
        if m.role == "user":
            out.append({"role": "user", "content": m.content})
        elif m.role == "assistant":
            body: dict[str, Any] = {"think": m.think or ""}
            if m.calls:
                body["calls"] = render_calls(m.calls)
            else:
                body["content"] = m.content
            out.append({"role": "assistant", "content": json.dumps(body, ensure_ascii=False)})
        else:
            out.append({"role": "user", "content": "Function results:\n" + json.dumps(m.results, ensure_ascii=False)})
    return out


@dataclass
class _Decision:
    think: str
    calls: list[Call] | None
    content: str

    def key(self) -> str:
        """What the vote compares: the call parts only (names and arguments), or that there is no call."""
        if self.calls:
            return json.dumps([[c.name, c.arguments] for c in self.calls], sort_keys=True, ensure_ascii=False)
        return "<no call>"


def _message_from(obj: Any, keep: list[str]) -> str:
    """The user agent's message from its JSON reply; every value of ``keep`` must be in it."""
    msg = obj.get("message") if isinstance(obj, dict) else None
    if not isinstance(msg, str) or not msg.strip():
        raise ValueError('expected {"message": "<non-empty text>"}')
    for v in keep:
        if v not in msg:
            raise ValueError(f"the message leaves out the value {v!r}")
    return msg.strip()


def _decision_from(obj: Any, names: set[str], odd: list[str]) -> _Decision:
    """The assistant agent's turn from its JSON reply: thinking, then calls to known functions (``odd``: names that
    are not Python identifiers) or a text answer."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object with 'think' and 'calls' or 'content'")
    think = obj.get("think")
    if not isinstance(think, str) or not think.strip():
        raise ValueError("'think' is missing or empty")
    raw = obj.get("calls")
    if raw:
        calls = decode_calls(raw, "python" if isinstance(raw, str) else "json", known_names=odd)
        unknown = [c.name for c in calls if c.name not in names]
        if unknown:
            raise ValueError(f"call to unknown function(s) {', '.join(map(repr, unknown))}")
        if not calls:
            raise ValueError("'calls' decodes to no call")
        return _Decision(think.strip(), calls, "")
    content = obj.get("content")
    if not isinstance(content, str) or not content.strip():
        raise ValueError("expected non-empty 'calls' or 'content'")
    return _Decision(think.strip(), None, content.strip())


def _result_from(obj: Any, api: ApiRecord) -> Any:
    """The tool agent's simulated result, when it conforms to the API's return schema."""
    issues = result_issues(api, obj)
    if issues:
        raise ValueError("; ".join(issues[:3]))
    return obj
