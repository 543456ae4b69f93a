"""The words of the programmatic agents in ToolACE's multi-agent dialog generation (arXiv 2409.00920v2 §2.2): the
user agent's styles (terse, polite, with context, descriptive), joins, follow-ups and answers, and the text helpers
of the assistant agent's thinking, summaries and refusals. Values are written as they appear in the tool turn's
JSON (strings unquoted), so every value a summary quotes can be found in the results.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

STYLES = ("terse", "polite", "context", "descriptive")
_POLITE = ("Hi! {t} Thanks!", "Hello, I hope you can help. {t}", "{t} Thank you so much.",
           "Good morning! {t} I'd appreciate it.", "{t} Many thanks in advance.")
_CONTEXT = ("I'm sorting out some {topic} things today. {t}", "Quick {topic} question. {t}",
            "I'm working on something {topic}-related. {t}", "For a {topic} task I'm on: {t}",
            "Context: this is for my {topic} planning. {t}")
_DESCRIPTIVE = ("{t} What I need is something that does this: {d}", "{t} In other words, the job is: {d}",
                "I need a tool for the following. {d} {t}")
_JOINS = (("", " "), ("", " Also: "), ("A few things. ", " "), ("First: ", " Next: "), ("", "\n"))  # prefix, sep
_DEPENDS = ("{a} Then use the {label} from that result for this: {b}",
            "{a} After that, take the {label} you get back. {b}",
            "First: {a} Then, with the {label} it returns: {b}")
_NEXT_TURN = ("Thanks! {t}", "Great. {t}", "Perfect, one more thing. {t}", "OK. Next: {t}", "{t}")
_ANSWERS = ("The {label} is {v}.", "{v}, please.", "Use {v}.", "Oh, sorry: {label} {v}.", "It's {v}.")


_RETURNS = re.compile(r"\bReturns ([^.]+?)(?:, \.\.\.)?\.(?:\s|$)")


def _first_sentence(text: str) -> str:
    text = (text or "").strip()
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    s = m.group(1) if m else text
    return s if s.endswith((".", "!", "?")) else s + "."


def _label(name: str) -> str:
    return name.split(".")[-1].replace("[]", "").replace("_", " ").strip()


def _render(value: Any) -> str:
    """A result value as written in a summary: how it appears in the tool turn's JSON (strings unquoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return _lit(value)


_lit = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(value, ensure_ascii=False), one encoder for all


def _join_words(words: list[str]) -> str:
    words = list(dict.fromkeys(words))
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _join_requests(parts: list[str], rng: random.Random) -> str:
    """Several requests as one user message; requests are kept verbatim (their values must stay findable)."""
    prefix, sep = rng.choice(_JOINS)
    return prefix + sep.join(parts)


def _facts(result: Any, limit: int = 3) -> list[str]:
    """Up to ``limit`` short facts from a tool result, values as they appear in the result's JSON."""
    out: list[str] = []

    def walk(node: Any, label: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            if not node:
                out.append(f"no {_label(label)}")
            elif isinstance(node[0], dict):
                out.append(f"{len(node)} {_label(label)}")
                walk(node[0], label)
            else:
                out.append(f"{_label(label)} {', '.join(_render(x) for x in node[:3])}")
        elif node is not None:
            out.append(f"{_label(label)} {_render(node)}")

    walk(result, "result")
    return out[:limit]
