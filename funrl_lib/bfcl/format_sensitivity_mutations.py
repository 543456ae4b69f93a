"""Outputs for every format-sensitivity id: the inputs of its parity test against the official evaluator
(scripts/bfcl_parity.py ``--format-sensitivity``). Per id (entry x configuration): the gold answer rendered in the
configuration's return format (Python list, JSON, verbose or concise XML) with the ``<TOOLCALL>`` tag when the
configuration asks for it, the tag missing or unasked, the gold answer in Python syntax, fenced, after prose, with a
wrong value, empty, and one seeded character edit. Bump :data:`FS_MUTATIONS_VERSION` when the output changes."""

from __future__ import annotations

import json
import random
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from ..calls import Call, RenderError, render_calls
from .checker import gold_calls
from .format_sensitivity import FormatSensitivityEntry, parse_config
from .mutations import random_char_edits

__all__ = ["FS_MUTATIONS_VERSION", "format_sensitivity_mutations", "render_format"]

FS_MUTATIONS_VERSION = 1


def _xml_type(value: Any) -> tuple[str, str]:
    if isinstance(value, bool):
        return "boolean", "true" if value else "false"
    if isinstance(value, int):
        return "integer", str(value)
    if isinstance(value, float):
        return "float", repr(value)
    if value is None:
        return "null", ""
    if isinstance(value, (list, tuple)):
        return "array", repr(list(value))
    if isinstance(value, dict):
        return "dict", repr(value)
    return "string", str(value)


def render_format(calls: list[Call], return_format: str) -> str:
    """``calls`` in one of BFCL's return formats."""
    if return_format == "python":
        try:
            return render_calls(calls, "python")
        except RenderError:
            return "[" + ", ".join(f"{c.name}()" for c in calls) + "]"
    if return_format == "json":
        return json.dumps([{"function": c.name, "parameters": c.arguments} for c in calls], ensure_ascii=False)
    parts = []
    for c in calls:
        params = []
        for k, v in c.arguments.items():
            t, text = _xml_type(v)
            if return_format == "verbose_xml":
                params.append(f"<param name={quoteattr(k)} value={quoteattr(text)} type=\"{t}\"/>")
            else:
                params.append(f"<param name={quoteattr(k)} type=\"{t}\">{escape(text)}</param>")
        inner = "".join(params)
        if return_format == "verbose_xml":
            inner = f"<params>{inner}</params>"
        parts.append(f"<function name={quoteattr(c.name)}>{inner}</function>")
    return "<functions>" + "".join(parts) + "</functions>"


def _wrong(calls: list[Call]) -> list[Call]:
    if not calls or not calls[0].arguments:
        return [Call(calls[0].name + "_x", {})] if calls else [Call("f", {})]
    first = calls[0]
    k, v = next(iter(first.arguments.items()))
    new = (not v) if isinstance(v, bool) else v + 1 if isinstance(v, (int, float)) else f"{v}_x" \
        if isinstance(v, str) else "wrong"
    return [Call(first.name, {**first.arguments, k: new})] + calls[1:]


def format_sensitivity_mutations(entry: FormatSensitivityEntry) -> list[tuple[str, str]]:
    ret, tag, *_ = parse_config(entry.config)
    gold = gold_calls(entry.possible_answer or [])

    def wrap(text: str, with_tag: bool) -> str:
        return f"<TOOLCALL>{text}</TOOLCALL>" if with_tag else text

    text = render_format(gold, ret)
    out = [("gold", wrap(text, tag)),
           ("gold_tag_flipped", wrap(text, not tag)),
           ("gold_python", wrap(render_format(gold, "python"), tag)),
           ("gold_fenced", wrap(f"```{'xml' if 'xml' in ret else ret}\n{text}\n```", tag)),
           ("gold_after_prose", "Here you go: " + wrap(text, tag)),
           ("wrong_value", wrap(render_format(_wrong(gold), ret), tag)),
           ("empty", "")]
    rng = random.Random(f"funrl-fs-mutations-v{FS_MUTATIONS_VERSION}:{entry.id}")
    out += random_char_edits(rng, wrap(text, tag), 1, "<>/\"'[]{},=")
    return out
