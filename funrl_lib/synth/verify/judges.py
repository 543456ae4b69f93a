"""The model layer with an LLM (ToolACE §2.3 model checker): one judge prompt per expert (hallucination, task
consistency, tool-response consistency), each answering ``{"pass": bool, "reason": str}``, and the rendering of a
sample that a judge reads."""

from __future__ import annotations

import json
from typing import Any, Callable

from ..sample import Message, Sample, render_toolace_calls
from .common import _short, _tool_output_text
from .view import _View


_JUDGE_REPLY = ('Reply with one JSON object and nothing else: {"pass": true or false, "reason": "<one sentence; '
                'name the turn, call and value at fault when it fails>"}')

JUDGE_PROMPTS: dict[str, str] = {
    "hallucinated_values": (
        "You check synthesized function-calling dialogs for hallucinated argument values (ToolACE's hallucination "
        "detection). Check ONE thing: is every argument value of every function call grounded, i.e. stated or "
        "directly implied by the user's messages, the system prompt, or an earlier tool output (a parameter's "
        "default also counts)? Reformatting a stated value is grounded (\"March 3rd\" as 2024-03-03, \"two\" as "
        "2, a city's country code). A value the assistant made up (an ID, a name, a date, a number nobody "
        "mentioned) is not. Ignore everything else about the dialog.\n" + _JUDGE_REPLY),
    "task_consistency": (
        "You check synthesized function-calling dialogs for consistency with the user's task (ToolACE's "
        "consistency validation). Check ONE thing: does each assistant turn do what the user asked and follow the "
        "constraints of the request and the system prompt? A call must use a tool that serves the request; when no "
        "tool fits, the assistant must say so instead of calling; when a required parameter is missing, it must ask "
        "for it; a final answer must report what the tool outputs said. Ignore argument formatting.\n"
        + _JUDGE_REPLY),
    "tool_response_consistency": (
        "You check synthesized function-calling dialogs for simulated tool outputs that contradict the API "
        "definitions (ToolACE's tool-response check). Check ONE thing: is each tool output a plausible result of "
        "the call it answers, given the function's name, description and parameters: a result for that function, "
        "consistent with the arguments (the city asked for, the number of items requested), not an error for a "
        "valid call, not empty? Ignore the assistant's wording.\n" + _JUDGE_REPLY),
}
# What each judge needs to see: a sample without calls has no argument to hallucinate, one without tool turns no
# simulated output to check; those judges are not asked (a pass).
_JUDGE_APPLIES: dict[str, Callable[[Sample], bool]] = {
    "hallucinated_values": lambda s: any(m.calls for m in s.messages),
    "task_consistency": lambda s: True,
    "tool_response_consistency": lambda s: any(m.role == "tool" for m in s.messages),
}


def _render_turn(m: Message) -> str:
    if m.role == "assistant" and m.calls is not None:
        try:
            return "assistant (function calls): " + render_toolace_calls(m.calls)
        except Exception:  # a value without a literal form; the JSON view is as good for a judge
            return "assistant (function calls): " + _short([{"name": c.name, "arguments": c.arguments}
                                                            for c in m.calls], 10**6)
    if m.role == "assistant":
        return "assistant: " + (m.raw if m.calls is None and m.raw is not None else m.content)
    if m.role == "tool":
        return "tool output: " + _tool_output_text(m)
    return "user: " + m.content


def render_for_judge(sample: Sample, upto: int | None = None) -> str:
    """The tools, the system prompt without them, and the numbered dialog (turns ``< upto``), as a judge sees
    them."""
    view = _View(sample)
    tools = sample.tool_sources()
    lines = ["Functions available (JSON):", json.dumps(tools, ensure_ascii=False)]
    system = view.system_context().strip()
    if system:
        lines += ["", "System prompt (without the function list):", system]
    lines += ["", "Dialog:"]
    for i, m in enumerate(sample.messages[:upto]):
        lines.append(f"[turn {i}] {_render_turn(m)}")
    return "\n".join(lines)


def _parse_judge(text: str) -> dict[str, Any]:
    """``{"pass": bool, "reason": str}`` (FunRL's judge adds ``needs_call``); a ``ValueError`` makes
    :func:`chat_json` ask again and finally quarantine the sample."""
    from ...backends import extract_json

    obj = extract_json(text)
    if not isinstance(obj, dict) or not isinstance(obj.get("pass"), bool):
        raise ValueError(f"expected {{\"pass\": true|false, \"reason\": ...}}, got {_short(obj, 120)}")
    reason = obj.get("reason")
    obj["reason"] = reason if isinstance(reason, str) else ("" if reason is None else json.dumps(reason))
    return obj


async def _ask_judge(backend: Any, system: str, user: str, retries: int) -> Any:
    from ...backends import ChatRequest, chat_json

    request = ChatRequest(messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                          stage="verify", temperature=0, json_mode=True, max_tokens=512)
    return await chat_json(backend, request, _parse_judge, retries=retries)
