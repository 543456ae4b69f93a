"""User requests for a pool API's call (ToolACE §2.2, the user agent, over §2.1's pool): every argument value mentioned
verbatim through its slot's phrase, so a hallucination check can find each one.
"""

from __future__ import annotations

import operator
import random
import re
from typing import Any, Callable

from ...io import leaf_values
from .drafts import _join
from .records import ApiRecord
from .sampling import _named_slot
from .slots import SlotSpec, _label


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


_REQUEST_TEMPLATES = ("{Verb} {mentions}.", "Could you {verb} {mentions}?", "I'd like to {verb} {mentions}.",
                      "Please {verb} {mentions}.", "Can you help me {verb} {mentions}?", "I need to {verb} {mentions}.",
                      "Hey, {verb} {mentions}, please.", "Would you {verb} {mentions}?")


def _slot_for(api: ApiRecord, path: str, name: str) -> SlotSpec | None:
    return _named_slot(api.slots.get(path), name)


def _mention(api: ApiRecord, path: str, name: str, value: Any) -> str:
    if isinstance(value, dict):
        parts = [_mention(api, f"{path}.{k}", k, v) for k, v in value.items()]
        return _join([p for p in parts if p]) if parts else ""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        parts = [_mention(api, f"{path}[]", name, v) for v in value]
        return f"{_label(name)}: " + "; ".join(parts)
    spec = _slot_for(api, path, name)
    template = spec.phrase if spec is not None else "with {label} {value}"
    label = spec.label if spec is not None and spec.label else _label(name)
    return template.replace("{label}", label).replace("{value}", _render(value))


def phrase_request(api: ApiRecord, arguments: dict, rng: random.Random) -> str:
    """A user request for this call that mentions every argument value verbatim (see :func:`mentioned_values`),
    each through its slot's phrase: ``"Could you search hotels in Paris, checking in on 2025-03-02 and for 2
    guests?"``."""
    verb = api.path[-1] if api.path else _label(api.tool.name)
    parts = [_mention(api, k, k, v) for k, v in arguments.items()]
    parts = [p for p in parts if p]
    if len(parts) > 2:
        rest = parts[1:]
        rng.shuffle(rest)
        parts = parts[:1] + rest
    mentions = _join(parts)
    template = rng.choice(_REQUEST_TEMPLATES)
    text = template.replace("{Verb}", verb[0].upper() + verb[1:]).replace("{verb}", verb)
    text = text.replace("{mentions}", mentions)
    return _SPACE_BEFORE_PUNCT.sub(_punct, text).strip()


_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,?])")
_punct: Callable[[re.Match], str] = operator.itemgetter(1)  # the replacement r"\1", without re's template machinery
