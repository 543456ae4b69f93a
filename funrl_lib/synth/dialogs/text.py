"""The words of the programmatic user agent in ToolACE's multi-agent dialog generation (arXiv 2409.00920v2 §2.2):
its styles (terse, polite, with context, descriptive), how it asks for several things in one message (the same
tool again, different tools, a second call that needs the first one's result), its follow-ups and its answers to a
clarifying question; and the value helpers the assistant's words (:mod:`.summaries`) share. Requests are written by
:mod:`funrl_lib.synth.api_pool.phrasing` and kept verbatim here: every value they mention stays findable.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

STYLES = ("terse", "polite", "context", "descriptive")
_POLITE = ("Hi! {t} Thanks!", "Hello, I hope you can help. {t}", "{t} Thank you so much.",
           "Good morning! {t} I'd appreciate it.", "{t} Many thanks in advance.", "Hi there. {t} Thanks a lot!",
           "Sorry to bother you. {t}")
_CONTEXT = ("I'm sorting out a few {topic} things today. {t}", "Quick {topic} question. {t}",
            "I'm working on something {topic}-related. {t}", "For a {topic} task I'm on: {t}",
            "This is for my {topic} planning. {t}", "I've got a {topic} errand for you. {t}")
_DESCRIPTIVE = ("{t} What I need is something that does this: {d}", "{t} In other words, the job is: {d}",
                "I need a tool for the following. {d} {t}", "{t} To be precise: {d}")
# parallel: the same tool again. {r}: the first request, {m}: another call's values
_AGAIN = ("Then do the same {m}.", "And the same again {m}, please.", "Do it once more {m}.",
          "After that, repeat it {m}.")
_TIMES = {2: "twice", 3: "three times", 4: "four times"}
_TIMES_OPENINGS = ("I need to {a} {n}: {list}.", "Could you {a} {n}: {list}?", "Please {a} {n}: {list}.",
                   "I'd like to {a} {n}: {list}.")
# parallel_multiple: different tools. {a}: an imperative clause
_ALSO = ("Also, {a}.", "And please {a}.", "While you're at it, {a} too.", "On top of that, {a}.", "Then {a}.")
_ORDINAL_WORDS = ("First", "Second", "Third", "Fourth", "Fifth")
_COUNT_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}
# dependent: {a} then {b} with the {label} {a} returns
_DEPENDS = ("Please {a}, then use the {label} it returns to {b}.",
            "Could you {a}? Once you have the {label}, {b}.",
            "I'd like to {a}, and then use the {label} that comes back to {b}.",
            "First {a}. Then take the {label} you get back and {b}.")
_NEXT_TURN = ("Thanks! {t}", "Great. {t}", "Perfect, one more thing. {t}", "OK, next: {t}", "{t}",
              "That helps, thanks. {t}", "Nice. Now, {t_lower}")
_ANSWERS = ("The {label} is {v}.", "{v}, please.", "Use {v}.", "Oh, sorry: the {label} is {v}.", "It's {v}.",
            "Let's go with {v}.", "Right, it should be {v}.")


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


def _join_words(words: list[str], last: str = "or") -> str:
    words = list(dict.fromkeys(words))
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {last} " + words[-1]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def next_turn(text: str, rng: random.Random) -> str:
    """A later request of a multi-turn dialog, with a word back to the last answer."""
    t = rng.choice(_NEXT_TURN)
    if "{t_lower}" in t:
        lower = text[1:2].islower() and not re.match(r"I\b", text)  # "Could" -> "could", but "I'd" stays
        return t.replace("{t_lower}", text[:1].lower() + text[1:] if lower else text)
    return t.replace("{t}", text)


def same_again(first: str, action: str, mentions: list[str], rng: random.Random) -> str:
    """Several calls of one tool in one message: the first request then "do the same for ..." per other call, or
    "{action} twice: once for ..., once for ..."; every call's values verbatim (``mentions``)."""
    if rng.random() < 0.5 or len(mentions) not in _TIMES:
        rest = [rng.choice(_AGAIN).replace("{m}", m) for m in mentions[1:]]
        return " ".join([first] + rest)
    listed = _join_words([f"once {m}" for m in mentions], "and")
    return rng.choice(_TIMES_OPENINGS).replace("{a}", action).replace("{n}", _TIMES[len(mentions)]) \
        .replace("{list}", listed)


def several(first: str, actions: list[str], rng: random.Random) -> str:
    """Calls of different tools in one message: the first request then "Also, ..." per other one, a numbered
    "First, ... Second, ...", or one sentence "Could you a, b and c?"."""
    form = rng.randrange(3)
    if form == 0:
        return " ".join([first] + [rng.choice(_ALSO).replace("{a}", a) for a in actions[1:]])
    if form == 1 and len(actions) <= len(_ORDINAL_WORDS):
        head = f"I have {_COUNT_WORDS.get(len(actions), len(actions))} requests."
        return " ".join([head] + [f"{_ORDINAL_WORDS[k]}, {a}." for k, a in enumerate(actions)])
    return rng.choice(("Could you {l}?", "Please {l}.", "I need you to {l}.")).replace(
        "{l}", _join_words(actions, "and"))


def depends(first: str, second: str, label: str, rng: random.Random) -> str:
    """Two calls, the second taking the ``label`` the first returns: "Please book a flight ..., then use the
    booking ID it returns to select the flight seat 38D."."""
    return rng.choice(_DEPENDS).replace("{label}", label).replace("{a}", first).replace("{b}", second)


def _facts(result: Any, limit: int = 3) -> list[str]:
    """Up to ``limit`` short facts from a tool result, values as they appear in the result's JSON (the assistant's
    thinking before a summary)."""
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
