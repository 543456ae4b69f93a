"""Evolution (ToolACE §2.1): the diversity indicators applied to a draft API, each a tree-and-slot-aware edit of the
definition: new parameters, constraints, mutated types, nested structures, updated results; which ones an API gets,
some inherited from its example in the buffer.
"""

from __future__ import annotations

import random
from typing import Callable

from .drafts import _add_param, _Draft, _return_node, _scalar_params
from .records import ApiRecord
from .slots import _label, _plural
from .tree import ApiTree


EVOLUTION_KINDS = ("add_parameter", "change_type", "add_constraint", "nest", "update_returns")


_RENAMES = {"name": "title", "title": "name", "price": "cost", "rating": "score", "status": "state",
            "description": "summary", "summary": "description", "total_price": "amount_due", "url": "link",
            "created_at": "creation_time", "updated_at": "last_modified", "address": "location_address",
            "total_count": "total_results", "message": "detail", "count": "quantity"}


def _evolve_add_parameter(d: _Draft, rng: random.Random, tree: ApiTree) -> str | None:
    vocab = tree.slots
    present = set(d.props) | set(d.slots.values())
    own = vocab[d.leaf.slots[0]].related if d.leaf.slots else ()
    cands = [s for s in list(own) + tree.related_slots(d.leaf.domain, d.leaf.subdomain)
             if s not in present and vocab.resolve(s) is not None]
    cands = list(dict.fromkeys(cands))
    if not cands:
        return None
    s = rng.choice(cands[:12])
    _add_param(d, s, vocab[s], vocab, False, rng)
    return f"add_parameter:{s}"


def _evolve_add_constraint(d: _Draft, rng: random.Random, tree: ApiTree) -> str | None:
    vocab = tree.slots
    options: list[tuple[str, str]] = []
    for p, node in d.props.items():
        spec = vocab.resolve(d.slots.get(p, ""))
        if spec is None or node["type"] != spec.type:
            continue
        if node["type"] == "string" and spec.values and "enum" not in node and len(spec.values) >= 3:
            options.append((p, "enum"))
        if node["type"] in ("integer", "float") and spec.range and "minimum" not in node:
            options.append((p, "range"))
        if node["type"] == "string" and spec.pattern and "pattern" not in node:
            options.append((p, "pattern"))
        if node["type"] == "string" and spec.format and "format" not in node:
            options.append((p, "format"))
    if not options:
        return None
    p, kind = rng.choice(options)
    node, spec = d.props[p], vocab[d.slots[p]]
    if kind == "enum":
        k = min(len(spec.values), rng.randint(3, 6))
        picked = set(rng.sample(range(len(spec.values)), k))
        if "default" in node and node["default"] in spec.values:
            picked.add(spec.values.index(node["default"]))
        node["enum"] = [v for i, v in enumerate(spec.values) if i in picked]
        _reorder(node)
    elif kind == "range":
        lo, hi = spec.range
        node["minimum"], node["maximum"] = (int(lo), int(hi)) if node["type"] == "integer" else (lo, hi)
    elif kind == "pattern":
        node["pattern"] = spec.pattern
    else:
        node["format"] = spec.format
    return f"add_constraint:{kind}:{p}"


_NODE_ORDER = ("type", "description", "enum", "items", "properties", "required", "minimum", "maximum", "pattern",
               "format", "default")


def _reorder(node: dict) -> None:
    items = sorted(node.items(), key=lambda kv: _NODE_ORDER.index(kv[0]) if kv[0] in _NODE_ORDER else 99)
    node.clear()
    node.update(items)


def _evolve_change_type(d: _Draft, rng: random.Random, tree: ApiTree) -> str | None:
    options = []
    for p, node in d.props.items():
        if p not in d.slots:
            continue
        t = node["type"]
        if t == "integer" and "enum" not in node:
            options.append((p, "integer", "string"))
        elif t == "string" and "enum" not in node and not p.endswith("_id") and "format" not in node:
            if _plural(p) not in d.props:
                options.append((p, "string", "array"))
        elif t == "float" and "enum" not in node:
            options.append((p, "float", "integer"))
    if not options:
        return None
    p, old, new = rng.choice(options)
    node = d.props[p]
    if new == "string":  # an integer carried as a digit string (ids, codes, legacy APIs)
        for k in ("minimum", "maximum", "default"):
            node.pop(k, None)
        node["type"] = "string"
        node["description"] = node["description"].rstrip(".") + " (digits, as a string)."
        node["pattern"] = "^[0-9]+$"
        _reorder(node)
        return f"change_type:{p}:integer->string"
    if new == "integer":
        node["type"] = "integer"
        for k in ("minimum", "maximum"):
            if k in node:
                node[k] = int(node[k])
        if "default" in node:
            node["default"] = int(node["default"])
        node["description"] = node["description"].rstrip(".") + " (whole number)."
        return f"change_type:{p}:float->integer"
    # string -> array of strings, renamed to the plural
    new_name = _plural(p)
    item = {"type": "string", "description": node["description"]}
    for k in ("pattern",):
        if k in node:
            item[k] = node.pop(k)
    arr = {"type": "array", "description": f"One or more values: {node['description'][0].lower()}"
                                           f"{node['description'][1:]}", "items": item}
    if "default" in node:
        arr["default"] = [node["default"]]
    d.props = {(new_name if k == p else k): (arr if k == p else v) for k, v in d.props.items()}
    d.required = [new_name if r == p else r for r in d.required]
    d.slots = {(new_name if k == p else k): v for k, v in d.slots.items()}
    return f"change_type:{p}:string->array"


_GROUP_NAMES = {"location": "location", "dates": "dates", "schedule": "schedule", "contact": "contact",
                "price": "price_range", "filters": "filters", "options": "options", "ids": "references"}


def _evolve_nest(d: _Draft, rng: random.Random, tree: ApiTree) -> str | None:
    vocab = tree.slots
    scal = [p for p in _scalar_params(d) if p in d.slots]
    # array of dicts: an entity id together with a quantity-like integer -> a list of line items
    ids = [p for p in scal if p.endswith("_id")]
    qty = [p for p in scal if d.props[p]["type"] == "integer" and p not in ids]
    if ids and qty and rng.random() < 0.4:
        pid, q = rng.choice(ids), rng.choice(qty)
        name = _plural(pid[:-3])
        if name not in d.props:
            inner = {pid: d.props[pid], q: d.props[q]}
            req = [x for x in (pid, q) if x in d.required] or [pid]
            node = {"type": "array", "description": f"List of {_label(name)}, each with its {_label(pid)} and "
                                                    f"{_label(q)}.",
                    "items": {"type": "dict", "properties": inner, "required": req}}
            _regroup(d, [pid, q], name, node, any(x in d.required for x in (pid, q)), "[].")
            return f"nest:array:{name}"
    groups: dict[str, list[str]] = {}
    for p in scal:
        spec = vocab.resolve(d.slots[p])
        g = (spec.group if spec is not None else None) or ("options" if p not in d.required else None)
        if g:
            groups.setdefault(g, []).append(p)
    cands = [(g, ps) for g, ps in groups.items() if len(ps) >= 2]
    if not cands:
        return None
    g, ps = rng.choice(cands)
    name = _GROUP_NAMES.get(g, g)
    if name in d.props:
        name = f"{name}_info"
    if name in d.props:
        return None
    inner = {p: d.props[p] for p in ps}
    req = [p for p in ps if p in d.required]
    node = {"type": "dict", "description": f"{_label(name).capitalize()}: " + ", ".join(_label(p) for p in ps) + ".",
            "properties": inner, "required": req}
    _regroup(d, ps, name, node, bool(req), ".")
    return f"nest:{name}"


def _regroup(d: _Draft, members: list[str], name: str, node: dict, required: bool, sep: str) -> None:
    first = min(list(d.props).index(m) for m in members)
    items = [(k, v) for k, v in d.props.items() if k not in members]
    items.insert(first, (name, node))
    d.props = dict(items)
    d.required = [r for r in d.required if r not in members]
    if required:
        d.required.append(name)
    d.slots = {(f"{name}{sep}{k}" if k in members else k): v for k, v in d.slots.items()}


def _evolve_update_returns(d: _Draft, rng: random.Random, tree: ApiTree) -> str | None:
    vocab = tree.slots
    choice = rng.random()
    top = list(d.returns)
    scal = [k for k in top if d.returns[k]["type"] not in ("array", "dict")]
    if choice < 0.4:  # add a field from the related functionalities
        dom = tree.domain(d.leaf.domain)
        cands = [f for leaf in dom.subdomains[d.leaf.subdomain] for f in leaf.return_slots()
                 if f not in d.returns and f not in d.return_slots.values()]
        cands = list(dict.fromkeys(cands))
        if cands:
            f = rng.choice(cands)
            d.returns[f] = _return_node(vocab[f], vocab)
            d.return_slots[f] = f
            return f"update_returns:add:{f}"
    if choice < 0.7:  # rename a field (never an id: dependent calls match ids by name)
        cands = [k for k in scal if k in _RENAMES and _RENAMES[k] not in d.returns]
        if cands:
            old = rng.choice(cands)
            new = _RENAMES[old]
            d.returns = {(new if k == old else k): v for k, v in d.returns.items()}
            d.return_slots = {(new if k == old else k): v for k, v in d.return_slots.items()}
            return f"update_returns:rename:{old}->{new}"
    if len(scal) >= 2 and "results" not in d.returns and "data" not in d.returns:
        moved = scal
        if rng.random() < 0.5:  # nested results: a list of records plus a count
            inner = {k: d.returns[k] for k in moved}
            rest = {k: v for k, v in d.returns.items() if k not in moved}
            d.returns = {"results": {"type": "array", "description": "Matching records.",
                                     "items": {"type": "dict", "properties": inner}},
                         "total_results": {"type": "integer", "description": "Number of records returned."}, **rest}
            d.return_slots = {(f"results[].{k}" if k in moved else k): v for k, v in d.return_slots.items()}
            d.return_slots["total_results"] = "total_results"
            return "update_returns:nest:results"
        inner = {k: d.returns[k] for k in moved}
        rest = {k: v for k, v in d.returns.items() if k not in moved}
        d.returns = {"data": {"type": "dict", "description": "The response payload.", "properties": inner},
                     "request_id": {"type": "string", "description": "Identifier of this request."}, **rest}
        d.return_slots = {(f"data.{k}" if k in moved else k): v for k, v in d.return_slots.items()}
        d.return_slots["request_id"] = "request_id"
        return "update_returns:nest:data"
    return None


_EVOLVERS: dict[str, Callable[[_Draft, random.Random, ApiTree], str | None]] = {
    "add_parameter": _evolve_add_parameter, "change_type": _evolve_change_type,
    "add_constraint": _evolve_add_constraint, "nest": _evolve_nest, "update_returns": _evolve_update_returns,
}


def _step_kind(step: str) -> str:
    return step.split(":", 1)[0]


def _choose_indicators(rng: random.Random, diversity: int, example: "ApiRecord | None") -> list[str]:
    """Which diversity indicators to apply: some inherited from the buffer example (evolution compounds over
    generations), plus fresh ones; more for more diverse APIs. Returned in the order they are applied."""
    kinds: set[str] = set()
    if example is not None:
        for s in example.evolution:
            if rng.random() < 0.5:
                kinds.add(_step_kind(s))
    fresh = rng.choices((0, 1, 2, 3), weights=(3, 4, 2, 1))[0] + (1 if diversity >= 3 else 0)
    for k in rng.sample(EVOLUTION_KINDS, min(fresh, len(EVOLUTION_KINDS))):
        kinds.add(k)
    return [k for k in EVOLUTION_KINDS if k in kinds]
