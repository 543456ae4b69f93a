"""User requests for a pool API's call (ToolACE arXiv 2409.00920v2 §2.2, the user agent, over §2.1's pool): the API's
verb phrase as a person says it (:mod:`.verbs`: "book a flight", "get the hotel details") and every argument value
mentioned verbatim through its slot's phrase ("for passenger Jamal Wright", "in Paris"), so a hallucination check
can find each one. Argument names are said as words ("with passenger emails a and b", never ``passenger_emails``);
a value whose phrase does not say what it is ("called Summit" twice, a bare enum word) is said with its label;
fields of a nested dict are mentioned like parameters, the dicts of a list one by one ("for two orders (the first
for order ORD-1, the second for order ORD-2)").
"""

from __future__ import annotations

import operator
import random
import re
from typing import Any, Callable, NamedTuple

from ...io import leaf_values
from .drafts import _join
from .records import ApiRecord
from .sampling import _named_slot
from .slots import _label
from .verbs import VerbPhrase, is_plural, plural, singular, verb_phrase


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return _join([_render(v) for v in value])
    if isinstance(value, dict):
        return ", ".join(f"{_label(k)} {_render(v)}" for k, v in value.items())
    return str(value)


def mentioned_values(arguments: Any) -> list[str]:
    """The strings :func:`phrase_request` puts verbatim in the request for these arguments: every scalar leaf value
    (strings as is, numbers via ``str``, booleans as ``true`` / ``false``). A hallucination check can look for each
    one in the user's words."""
    return [_render(v) for v in leaf_values(arguments)]


class _Mention(NamedTuple):
    text: str  # "for flight FLG-916200"
    lead: str  # the words before the value ("for flight"; "" when the phrase starts with it)
    label: str  # the parameter in words ("flight ID")
    value: str  # the value as written ("" for a list of dicts)
    form: str = ""  # the phrase with its label, the value left out: "called {value}"


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
_COUNTS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def _words(value: str) -> int:
    return len(value.split())


def _mentions(api: ApiRecord, path: str, name: str, value: Any) -> list[_Mention]:
    """The mentions of one argument: one per scalar (or list of scalars), a nested dict's fields each on their own,
    a list of dicts as one mention naming each dict by its ordinal."""
    if isinstance(value, dict):
        return [m for k, v in value.items() for m in _mentions(api, f"{path}.{k}", k, v)]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        items = [_join_mentions(_disambiguate([m for k, v in d.items()
                                               for m in _mentions(api, f"{path}[].{k}", k, v)])) for d in value]
        noun = plural(singular(_label(name)))
        if len(items) == 1:  # the one dict's fields, as if they were parameters
            return [_Mention(items[0], "", noun, "")]
        each = ", ".join(f"the {_ORDINALS[min(n, len(_ORDINALS) - 1)]} {it}" for n, it in enumerate(items))
        return [_Mention(f"for {_COUNTS.get(len(items), len(items))} {noun} ({each})", "", noun, "")]
    spec = _named_slot(api.slots.get(path), name)
    template = spec.phrase if spec is not None else "with {label} {value}"
    label = spec.label if spec is not None and spec.label else _label(name)
    if isinstance(value, bool):
        label = re.sub(r"^(is|has) ", "", label)
    if isinstance(value, list) and len(value) > 1:
        own = _label(name)
        said = re.search(re.escape(singular(label)) + r"(?= |$)", template, re.I) if "{label}" not in template else None
        label = own if own.endswith("s") else plural(label)
        if said:  # the phrase names one ("with passenger email {value}"): name several
            template = template[:said.start()] + plural(said.group()) + template[said.end():]
    rendered = _render(value)
    if template.strip() == "{value}":  # a bare value says nothing of what it is: say its label
        template = "with {label} '{value}'" if _words(rendered) >= 3 else "with {label} {value}"
    text = template.replace("{label}", label).replace("{value}", rendered)
    form = template.replace("{label}", label)
    return [_Mention(text, form.split("{value}")[0].strip(), label, rendered, form)]


def _labelled(m: _Mention) -> _Mention:
    quoted = f"'{m.value}'" if _words(m.value) >= 3 else m.value
    return _Mention(f"with {m.label} {quoted}", f"with {m.label}", m.label, m.value, f"with {m.label} {{value}}")


def _disambiguate(mentions: list[_Mention]) -> list[_Mention]:
    """Two values said the same way ("called Summit", "called Cedar Point") are said with their labels instead."""
    forms = [m.form for m in mentions]
    return [_labelled(m) if m.value and forms.count(m.form) > 1 and m.label not in m.form else m for m in mentions]


def _join_mentions(mentions: list[_Mention]) -> str:
    """Mentions as one phrase, a "with" not repeated: "with end time 22:00, start time 21:45 and priority high"."""
    parts, prev_with = [], False
    for m in mentions:
        text = m.text
        is_with = text.startswith("with ")
        parts.append(text[5:] if is_with and prev_with else text)
        prev_with = is_with
    return _join(parts)


def _ordered(api: ApiRecord, arguments: dict, rng: random.Random) -> list[_Mention]:
    mentions = _disambiguate([m for k, v in arguments.items() for m in _mentions(api, k, k, v)])
    if len(mentions) > 2:
        rest = mentions[1:]
        rng.shuffle(rest)
        mentions = mentions[:1] + rest
    return mentions


def api_verb_phrase(api: ApiRecord) -> VerbPhrase:
    """What the API does, as a verb phrase with its article (:func:`.verbs.verb_phrase` of its tree leaf)."""
    return verb_phrase(api.path[-1] if api.path else _label(api.tool.name))


_vp = api_verb_phrase


def phrase_mentions(api: ApiRecord, arguments: dict, rng: random.Random) -> str:
    """The argument values of a call as the words after a verb ("for member MMB-1, specializing in cardiology"):
    every value verbatim (see :func:`mentioned_values`); "" without arguments."""
    return _join_mentions(_ordered(api, arguments, rng))


def phrase_action(api: ApiRecord, arguments: dict, rng: random.Random) -> str:
    """The call as an imperative clause, lower case, no final stop: "book the flight FLG-1 for passenger Jamal
    Wright". A value named by the object of the verb ("for flight FLG-1" after "book a flight") joins it."""
    vp = _vp(api)
    mentions = _ordered(api, arguments, rng)
    head = singular(vp.head).lower()
    for k, m in enumerate(mentions):
        lead = re.sub(r"^for ", "", m.lead).lower()
        if head and vp.article and m.value and " " not in m.value and lead and singular(lead) == head:
            rest = mentions[:k] + mentions[k + 1:]
            return _clause(f"{vp.verb} the {vp.object} {m.value}", rest)
    return _clause(vp.text(), mentions)


def _clause(action: str, mentions: list[_Mention]) -> str:
    said = _join_mentions(mentions)
    return _tidy(f"{action} {said}" if said else action)


# {a}: the clause ("book a flight for ..."); {A}: the same, capitalised. Questions only where they fit the verb.
_REQUEST_TEMPLATES = ("{A}.", "Could you {a}?", "I'd like to {a}.", "Please {a}.", "Can you help me {a}?",
                      "I need to {a}.", "Would you {a}, please?", "I want to {a}.", "Could you please {a}?",
                      "Is it possible to {a}?", "Can you {a} for me?", "Go ahead and {a}.", "I'm hoping to {a}.")
_LOOKUP_TEMPLATES = ("What is {o} {m}?", "Can you tell me {o} {m}?", "I'd like to know {o} {m}.",
                     "Could you look up {o} {m}?")
_LOOKUP_PLURAL = ("What are {o} {m}?", "Can you show me {o} {m}?", "I'd like to see {o} {m}.")
_SEARCH_TEMPLATES = ("Can you find {o} {m}?", "Show me {o} {m}.", "I'm looking for {o} {m}.",
                     "Are there any {o} {m}?")


def phrase_request(api: ApiRecord, arguments: dict, rng: random.Random) -> str:
    """A user request for this call that mentions every argument value verbatim (see :func:`mentioned_values`),
    each through its slot's phrase, in one of several openings: ``"Could you search hotels in Paris, checking in
    on 2025-03-02 and for 2 guests?"``, ``"What is the flight status for flight number UA837?"``."""
    vp = _vp(api)
    first = vp.verb.split()[0].lower()
    if vp.object and first in ("get", "check", "fetch", "retrieve") and rng.random() < 0.3:
        pool = _LOOKUP_PLURAL if vp.article == "the" and is_plural(vp.head) else _LOOKUP_TEMPLATES
        return _fill(rng.choice(pool), vp.definite, phrase_mentions(api, arguments, rng))
    if vp.object and first in ("search", "find") and not vp.article and rng.random() < 0.3:
        return _fill(rng.choice(_SEARCH_TEMPLATES), vp.object, phrase_mentions(api, arguments, rng))
    action = phrase_action(api, arguments, rng)
    text = rng.choice(_REQUEST_TEMPLATES).replace("{A}", action[:1].upper() + action[1:]).replace("{a}", action)
    return _tidy(text)


def _fill(template: str, obj: str, mentions: str) -> str:
    return _tidy(template.replace("{o}", obj).replace("{m}", mentions))


def _tidy(text: str) -> str:
    return _SPACE_BEFORE_PUNCT.sub(_punct, text).strip()


_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,?])")
_punct: Callable[[re.Match], str] = operator.itemgetter(1)  # the replacement r"\1", without re's template machinery
