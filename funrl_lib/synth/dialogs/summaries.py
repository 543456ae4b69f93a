"""The programmatic assistant agent's words in ToolACE's multi-agent dialog generation (arXiv 2409.00920v2 §2.2):
final answers that summarise the tool outputs in a sentence ("I booked the flight: the booking ID is BKN-902463 and
the status is confirmed."), clarifying questions that name the missing parameter, and refusals that say what the
tools can do instead. A summary states only values of the outputs, written as in the tool turn's JSON (strings
unquoted), and counts of their lists: ToolACE §2.3's consistency check (``answer_grounding``) finds each one.
"""

from __future__ import annotations

import random
from typing import Any

from ..api_pool.slots import _label as _words_of
from ..api_pool.verbs import VerbPhrase, is_plural, past, singular
from .text import _cap, _join_words, _render

_SEARCH_VERBS = frozenset("search find list recommend suggest browse discover".split())
_ORDINALS = ("first", "second", "third", "fourth")
_ALL = {2: "both", 3: "all three", 4: "all four"}


def _field(key: str) -> str:
    return _words_of(key.split(".")[-1].replace("[]", ""))


def _scalar(key: str, value: Any) -> str:
    """One output field as a clause: "the booking ID is BKN-1", "it is open", "covered is false"."""
    label = _field(key)
    if isinstance(value, bool):
        head, _, rest = label.partition(" ")
        if head in ("is", "has") and rest:
            return f"it {head} {'' if value else ('not ' if head == 'is' else 'no ')}{rest}"
        return f"{label} is {_render(value)}"
    verb = "are" if is_plural(label.split()[-1] if label else "") else "is"
    return f"the {label} {verb} {_render(value)}"


def fact_clauses(result: Any, limit: int = 3) -> list[str]:
    """Up to ``limit`` clauses on a tool result, in the result's order: scalars, lists of values ("the amenities are
    wifi, pool and spa"), lists of records by their count and the first one's fields ("there are 3 flights, the
    first with flight ID FLG-1 and airline Qantas"), empty lists ("there are no reviews")."""
    out: list[str] = []
    if not isinstance(result, dict):
        return [f"the result is {_render(result)}"] if result is not None and not isinstance(result, list) else []
    for key, value in result.items():
        if len(out) >= limit:
            break
        if value is None or isinstance(value, dict):
            if isinstance(value, dict):
                out.extend(fact_clauses(value, limit - len(out)))
            continue
        if not isinstance(value, list):
            out.append(_scalar(key, value))
            continue
        label = _field(key)
        if not value:
            out.append(f"there are no {label}")
        elif isinstance(value[0], dict):
            n = len(value)
            noun = singular(label) if n == 1 else label
            first = [f"{_field(k)} {_render(v)}" for k, v in value[0].items()
                     if v is not None and not isinstance(v, (dict, list))][:2]
            clause = f"there {'is' if n == 1 else 'are'} {n} {noun}"
            if first:
                clause += (", with " if n == 1 else ", the first with ") + " and ".join(first)
            out.append(clause)
        else:
            shown = [_render(x) for x in value[:3] if not isinstance(x, (dict, list))]
            if shown:
                out.append(f"the {label} {'is' if len(shown) == 1 else 'are'} {_join_words(shown, 'and')}")
    return out


def _lead(vp: VerbPhrase, rng: random.Random) -> str:
    """The opening of a summary, before ":": "I booked the flight", "I searched for flights", "Done"."""
    generic = ("Done", "All set", "Here's the result", "Here's what I got")
    verb = vp.verb.split()[0].lower()
    if vp.text() != vp.text().lower() or rng.random() < 0.25:  # capitals could read as names: keep to plain words
        return rng.choice(generic)
    if verb in _SEARCH_VERBS:
        if verb in ("search", "find"):
            return rng.choice((f"I searched for {vp.object}", f"I looked for {vp.object}", "Here's what I found"))
        return f"I {past(vp.verb)} {vp.definite}".rstrip()
    return rng.choice((f"I {past(vp.verb)} {vp.definite}".rstrip(), f"Done, I {past(vp.verb)} {vp.definite}".rstrip(),
                       f"OK, I {past(vp.verb)} {vp.definite}".rstrip()))


def _joined(clauses: list[str]) -> str:
    """Clauses as one sentence ("a, b and c."), or one sentence each when a clause has its own "and"."""
    if any(" and " in c for c in clauses[:-1]):  # "a, b and c and d" would blur
        return " ".join(f"{_cap(c) if k else c}." for k, c in enumerate(clauses))
    return f"{_join_words(clauses, 'and')}."


def _sentence(lead: str, clauses: list[str]) -> str:
    return f"{lead}: {_joined(clauses)}" if clauses else f"{lead}, but it returned no details."


def summary_text(vps: list[VerbPhrase], results: list[Any], rng: random.Random) -> str:
    """The final answer after one tool turn: a sentence per call ("I booked the flight: the booking ID is ..."),
    or, for one tool called several times, "Here are both results. First, ... Second, ..."."""
    facts = [fact_clauses(r) for r in results]
    if len(vps) > 1 and len(set(vps)) == 1 and len(vps) <= len(_ORDINALS):
        head = rng.choice(("Here are {all} results.", "I made {all} calls.", "Done, {all} went through."))
        head = head.replace("{all}", _ALL.get(len(vps), "all"))
        parts = [f"{_cap(_ORDINALS[k])}, {_joined(f)}" if f else f"{_cap(_ORDINALS[k])} returned no details."
                 for k, f in enumerate(facts)]
        return " ".join([head] + parts)
    return " ".join(_sentence(_lead(vp, rng), f) for vp, f in zip(vps, facts))


def clarify_question(vp: VerbPhrase, missing: str, label: str, desc: str, rng: random.Random) -> str:
    """A question for a missing required value: what the call is for, the value in words, the parameter by name
    (``missing``) and what it is (``desc``)."""
    return rng.choice((
        "Happy to {p}, but I need one more detail: the {l} ({m}: {d}). What should it be?",
        "Sure, I can {p}. Which {l} should I use? The {m} parameter is required ({d}).",
        "Before I {p}, could you tell me the {l}? It goes into the required {m} parameter ({d}).",
        "I can {p} for you, but the required parameter {m} ({d}) is missing. What {l} should I use?",
    )).replace("{p}", vp.text()).replace("{m}", missing).replace("{l}", label).replace("{d}", desc)


def refusal_text(vp: VerbPhrase, others: list[VerbPhrase], rng: random.Random) -> str:
    """Why no call: none of the candidate tools can do what the user asked; what they can do instead."""
    can = _join_words([o.text() for o in others])
    return rng.choice(("I'm sorry, but none of the available tools can {p}. They can only {c}.",
                       "Unfortunately I can't {p} with the tools I have; they can {c}.",
                       "None of the functions available to me can {p}, so I can't do that. I can {c}, though.",
                       "I don't have a tool that can {p}. What I can do is {c}.")) \
        .replace("{p}", vp.text()).replace("{c}", can)
