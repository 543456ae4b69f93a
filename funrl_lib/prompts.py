"""System prompts shared by synthesis, training and evaluation, kept verbatim where a source publishes them.

``TOOLACE_SYSTEM`` is the system prompt of the released ToolACE data (the ``system`` field of the HF dataset
``Team-ACE/ToolACE``), ``\\n``s and spacing as in the data. ``FUNRL_SYSTEM`` follows FunRL/EGPO's template (arXiv
2508.05118v4 Fig. 8): the ToolACE/BFCL persona, a ``# Tool`` header with the functions as JSON, then the
think-then-call instructions; the paper shows it only in a figure, so the wording of the instruction lines is ours
(arXiv 2508.05118v4 Fig. 8, App. D).
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from .tools import ToolDef

__all__ = ["FUNRL_SYSTEM", "TOOLACE_SYSTEM", "funrl_system_prompt", "prefill_generation_prompt", "tools_json",
           "toolace_system_prompt"]

TOOLACE_SYSTEM = (
    "You are an expert in composing functions. You are given a question and a set of possible functions. \n"
    "Based on the question, you will need to make one or more function/tool calls to achieve the purpose. \n"
    "If none of the function can be used, point it out. If the given question lacks the parameters required by the "
    "function,\nalso point it out. You should only return the function call in tools call sections.\n"
    "Here is a list of functions in JSON format that you can invoke:\n{functions}. \n"
    "Should you decide to return the function call(s). \n"
    "Put it in the format of [func1(params_name=params_value, params_name2=params_value2...), func2(params)]\n\n"
    "NO other text MUST be included."
)

# The phrase ToolACE-format readers look for before the tool list.
TOOLACE_TOOLS_MARKER = "Here is a list of functions in JSON format that you can invoke:"

FUNRL_SYSTEM = (
    "You are an expert in composing functions. You are given a question and a set of possible functions. "
    "Based on the question, you will need to make one or more function/tool calls to achieve the purpose. "
    "If none of the functions can be used, point it out. If the given question lacks the parameters required by "
    "the function, also point it out. You should only return the function calls in tools call sections.\n\n"
    "# Tool\n{functions}\n\n"
    "In each action step, you MUST:\n"
    "1. Think about the reasoning process in the mind and enclose your reasoning within <think></think> XML tags.\n"
    "2. Then, provide a function call in the format [func_name1(params_name1=params_value1, "
    "params_name2=params_value2...), func_name2(params)], or, when no function applies or a required parameter is "
    "missing, say so in plain text.\n"
    "3. Make sure both the reasoning and the tool call steps are included together in one single reply.\n"
    "Make sure every parameter value has the type the function expects."
)


def tools_json(tools: Sequence[Any]) -> str:
    """The function list as the prompts show it: a JSON array, key order kept, non-ASCII kept; a tool read with
    :meth:`ToolDef.read <funrl_lib.tools.ToolDef.read>` (a sample's) as it was read."""
    return json.dumps([t.source if isinstance(t, ToolDef) else t.to_dict() if hasattr(t, "to_dict") else t
                       for t in tools], ensure_ascii=False)


def toolace_system_prompt(tools: Sequence[Any]) -> str:
    return TOOLACE_SYSTEM.replace("{functions}", tools_json(tools))


def funrl_system_prompt(tools: Sequence[Any]) -> str:
    return FUNRL_SYSTEM.replace("{functions}", tools_json(tools))


# The assistant header a ChatML template writes when add_generation_prompt is set: '<|im_start|>assistant' then a
# newline, written in the template's source either as the escape \n (Qwen2.5's templates) or as a raw newline.
_GENERATION_HEADER = re.compile(
    r"""\{%-?\s*if\s+add_generation_prompt\s*-?%\}.*?(['"])<\|im_start\|>assistant(\\n|\n)((?:[^'"\\]|\\.)*)\1""", re.S)


def _literal(text: str, quote: str, newline: str) -> str:
    """``text`` as the inside of a Jinja string literal quoted with ``quote``, newlines written as the template does."""
    literal = text.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return literal.replace("\n", "\\n") if newline == "\\n" else literal


def prefill_generation_prompt(template: str, prefix: str = "<think>\n") -> str:
    r"""A ChatML chat template whose generation prompt starts the assistant turn with ``prefix``, as Qwen3's and
    DeepSeek-R1's templates open ``<think>`` themselves: ``<|im_start|>assistant\n`` becomes
    ``<|im_start|>assistant\n<think>\n``. Rendered conversations are otherwise unchanged, and a template that already
    carries this prefix is returned as it is (a checkpoint's saved tokenizer). Use it with
    ``egpo.think_prefilled: true`` so that the reward and the entropy span know the completion starts inside the
    think block. Raises ``ValueError`` for a template without a ChatML generation prompt, or one whose generation
    prompt already ends with other text."""
    if not prefix:
        return template
    matches = list(_GENERATION_HEADER.finditer(template))
    if len(matches) != 1:
        raise ValueError("the chat template has no single ChatML generation prompt "
                         "({% if add_generation_prompt %}...'<|im_start|>assistant\\n'...) to add a prefix to; "
                         f"found {len(matches)}")
    m = matches[0]
    literal = _literal(prefix, m.group(1), m.group(2))
    if m.group(3) == literal:
        return template
    if m.group(3):
        raise ValueError(f"the chat template's generation prompt already ends with {m.group(3)!r}, not {literal!r}")
    return template[:m.start(3)] + literal + template[m.start(3):]
