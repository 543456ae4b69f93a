"""An API's first definition from its sampled subtree (ToolACE §2.1, adaptation): tool names in several styles,
parameters from the primary leaf's slots (the other leaves' inputs optional), returned fields of every leaf, and the
description; the draft that evolution then edits.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field

from .slots import SlotSpec, SlotVocabulary, _label
from .tree import Leaf


_STOP = {"a", "an", "the", "of", "for", "to", "in", "on", "by", "and", "or", "with", "from", "at", "into", "my", "your",
         "its", "their", "all", "per", "via", "&", "/"}


def _words(phrase: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", phrase.lower()) if w]


def _name_variants(leaf: Leaf, rng: random.Random, diversity: int) -> list[tuple[str, str]]:
    """Candidate tool names for a leaf, preferred style first: (style, name)."""
    words = _words(leaf.phrase)
    core = [w for w in words if w not in _STOP] or words
    snake = "_".join(core)
    camel = core[0] + "".join(w.capitalize() for w in core[1:])
    noun = "_".join(core[1:]) if len(core) > 1 else _words(leaf.subdomain)[0]
    dotted = f"{noun}.{core[0]}"
    sub = "_".join(_words(leaf.subdomain))
    dom = "_".join(_words(leaf.domain))
    sub_camel = (_words(leaf.subdomain) or ["api"])[0]
    dotted2 = f"{sub_camel}.{camel}"
    styles = [("snake", snake), ("dotted", dotted), ("camel", camel), ("dotted", dotted2)]
    r = rng.random()
    first = 0 if r < 0.55 else 1 if r < 0.75 else 2 if r < 0.88 else 3
    order = [styles[first]] + [s for i, s in enumerate(styles) if i != first]
    extra = [("snake", f"{sub}_{snake}" if not snake.startswith(sub) else f"{dom}_{snake}"),
             ("dotted", f"{dom}.{sub}.{camel}"), ("snake", f"{snake}_{'advanced' if diversity > 1 else 'v2'}"),
             ("snake", f"{dom}_{snake}")]
    if leaf.params:
        extra.append(("snake", f"{snake}_by_{leaf.params[0][0]}"))
    return order + extra


@dataclass
class _Draft:
    """An API being built: ordered parameter nodes (BFCL dicts), the required list, slot paths, returns."""

    leaf: Leaf
    leaves: list[Leaf]
    diversity: int
    props: dict[str, dict]
    required: list[str]
    slots: dict[str, str]
    returns: dict[str, dict]
    return_slots: dict[str, str]
    steps: list[str] = field(default_factory=list)


def _param_node(spec: SlotSpec, vocab: SlotVocabulary) -> dict:
    return spec.schema(vocab)


def _return_node(spec: SlotSpec, vocab: SlotVocabulary) -> dict:
    node = {"type": spec.type, "description": spec.description}
    item = spec.item_spec(vocab) if spec.type == "array" else None
    if item is not None:
        node["items"] = _return_node(item, vocab)
    if spec.type == "dict":
        node["properties"] = {f: _return_node(vocab[f], vocab) for f, _ in spec.fields}
    return node


def _add_returns(draft: _Draft, leaf: Leaf, vocab: SlotVocabulary) -> None:
    for r in leaf.returns:
        if r.name in draft.returns:
            continue
        if r.container is None:
            draft.returns[r.name] = _return_node(vocab[r.name], vocab)
            draft.return_slots[r.name] = r.name
        else:
            inner = {f: _return_node(vocab[f], vocab) for f in r.fields}
            desc = f"{_label(r.name).capitalize()}: " + ", ".join(_label(f) for f in r.fields) + "."
            if r.container == "array":
                draft.returns[r.name] = {"type": "array", "description": desc,
                                         "items": {"type": "dict", "properties": inner}}
                sep = "[]."
            else:
                draft.returns[r.name] = {"type": "dict", "description": desc, "properties": inner}
                sep = "."
            for f in r.fields:
                draft.return_slots[f"{r.name}{sep}{f}"] = f


def _add_param(draft: _Draft, name: str, spec: SlotSpec, vocab: SlotVocabulary, required: bool,
               rng: random.Random | None) -> None:
    node = _param_node(spec, vocab)
    draft.props[name] = node
    if required:
        draft.required.append(name)
    elif rng is not None:
        default = spec.default
        if default is None and rng.random() < 0.3 and spec.type in ("boolean", "integer", "string") and \
                (spec.type != "string" or spec.enum):
            default = spec.make(rng, vocab)
        if default is not None:
            node["default"] = default
            node["description"] = node["description"].rstrip(".") + f". Default: {json.dumps(default)}."
    if spec.type == "dict":
        for f, _ in spec.fields:
            draft.slots[f"{name}.{f}"] = f
    else:
        draft.slots[name] = spec.name


def _base_draft(leaves: list[Leaf], diversity: int, vocab: SlotVocabulary, rng: random.Random) -> _Draft:
    primary = leaves[0]
    d = _Draft(primary, leaves, diversity, {}, [], {}, {}, {})
    for s, req in primary.params:
        _add_param(d, s, vocab[s], vocab, req, rng)
    _add_returns(d, primary, vocab)
    for leaf in leaves[1:]:  # merged functionalities: their extra inputs are optional, their outputs added
        for s, _ in leaf.params:
            if s not in d.props and not any(v == s for v in d.slots.values()):
                _add_param(d, s, vocab[s], vocab, False, rng)
        _add_returns(d, leaf, vocab)
    return d


def _scalar_params(d: _Draft) -> list[str]:
    return [p for p, n in d.props.items() if n["type"] in ("string", "integer", "float", "boolean")]


def _describe(d: _Draft) -> str:
    leaf = d.leaf
    phrase = leaf.phrase[0].upper() + leaf.phrase[1:]
    req = []
    for p in d.required:  # a required group is described by its required fields ("given station ID")
        node = d.props[p]
        inner = node.get("items", node) if node["type"] == "array" else node
        fields = inner.get("required") if inner.get("type") == "dict" else None
        req.extend(fields if fields else [p])
    text = phrase
    if req:
        text += " given " + _join([_label(p) for p in req])
    text += "."
    if len(d.leaves) > 1:
        text += " Also covers: " + "; ".join(x.phrase for x in d.leaves[1:]) + "."
    fields = list(d.returns)[:5]
    if fields:
        text += " Returns " + _join([_label(f) for f in fields]) + ("" if len(d.returns) <= 5 else ", ...") + "."
    return text


def _join(parts: list[str], last: str = "and") -> str:
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + f" {last} " + parts[-1]
