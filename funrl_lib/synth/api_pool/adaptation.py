"""Adaptation (ToolACE §2.1): for each API a primary leaf, a diversity level, a subtree of the API context tree, an
example API from the buffer and the indicators to apply (:class:`_Plan`); the sequential state of one build (leaf
order, used names and signatures, the example buffer) and the programmatic writer of an API from its plan.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ...tools import ToolDef
from .base import _rng
from .drafts import _base_draft, _describe, _name_variants
from .evolution import _EVOLVERS, _choose_indicators
from .records import ApiRecord, _norm_name, signature
from .tree import ApiTree, Leaf


_BATCH = 16  # APIs whose example buffer is the same snapshot (lets an LLM backend run a batch concurrently)
_BUFFER = 64  # the example buffer: the most recent APIs before the batch


_DIVERSITY_WEIGHTS = ((1, 45), (2, 30), (3, 17), (4, 8))


@dataclass
class _Plan:
    """Adaptation for one API: the subtree, the diversity level, the example and the indicators to apply."""

    index: int
    attempt: int
    rng: random.Random
    leaves: list[Leaf]
    diversity: int
    example: "ApiRecord | None"
    indicators: list[str]


class _Builder:
    """Sequential state of one pool build: the leaf order, used names and signatures, the example buffer."""

    def __init__(self, tree: ApiTree, seed: int):
        self.tree, self.seed = tree, seed
        # Primary leaves in a seeded order that keeps each subdomain's leaves together and takes subdomains round-robin
        # over the (shuffled) domains: a small pool then has whole subdomains (related APIs that dialogs can use as
        # same-subdomain distractors and dependent pairs) spread over all domains; n >= the leaf count covers every
        # leaf once.
        rng = _rng(seed, "leaf-order")
        position = {id(leaf): k for k, leaf in enumerate(tree.leaves)}
        per_domain = []
        for dom in tree.domains:
            subs = [[position[id(leaf)] for leaf in leaves] for leaves in dom.subdomains.values()]
            rng.shuffle(subs)
            for members in subs:
                rng.shuffle(members)
            per_domain.append(subs)
        rng.shuffle(per_domain)
        order: list[int] = []
        for r in range(max(len(subs) for subs in per_domain)):
            for subs in per_domain:
                if r < len(subs):
                    order.extend(subs[r])
        self.order = order
        self.records: list[ApiRecord] = []
        self.index_of: dict[str, int] = {}
        self.names: set[str] = set()
        self.sigs: dict[str, str] = {}

    def accept(self, rec: ApiRecord, index: int) -> None:
        self.records.append(rec)
        self.index_of[rec.id] = index
        self.names.add(_norm_name(rec.tool.name))
        self.sigs[rec.signature] = rec.id

    def buffer(self, index: int) -> list[ApiRecord]:
        """The example buffer of API ``index``: the last APIs accepted before its batch began."""
        start = index - index % _BATCH
        upto = [r for r in self.records[-(_BUFFER + _BATCH):] if self.index_of[r.id] < start]
        return upto[-_BUFFER:]

    def plan(self, index: int, attempt: int) -> _Plan:
        rng = _rng(self.seed, "api", index, attempt)
        tree = self.tree
        if attempt < 4:
            primary = tree.leaves[self.order[index % len(self.order)]]
        else:
            primary = rng.choice(tree.leaves)
        diversity = rng.choices([d for d, _ in _DIVERSITY_WEIGHTS], weights=[w for _, w in _DIVERSITY_WEIGHTS])[0]
        leaves = tree.sample_subtree(rng, diversity, primary)
        buf = self.buffer(index)
        same = [r for r in buf if r.domain == primary.domain]
        example = rng.choice(same if same and rng.random() < 0.5 else buf) if buf else None
        return _Plan(index, attempt, rng, leaves, len(leaves), example, _choose_indicators(rng, len(leaves), example))

    def programmatic(self, plan: _Plan) -> ApiRecord:
        tree, vocab, rng = self.tree, self.tree.slots, plan.rng
        d = _base_draft(plan.leaves, plan.diversity, vocab, rng)
        for kind in plan.indicators:
            step = _EVOLVERS[kind](d, rng, tree)
            if step:
                d.steps.append(step)
        name = None
        for style, cand in _name_variants(d.leaf, rng, plan.diversity):
            if _norm_name(cand) not in self.names:
                name = cand
                break
        if name is None:
            k = 2
            base = _name_variants(d.leaf, rng, plan.diversity)[0][1]
            while _norm_name(f"{base}_{k}") in self.names:
                k += 1
            name = f"{base}_{k}"
        tool_dict = {"name": name, "description": _describe(d),
                     "parameters": {"type": "dict", "properties": d.props, "required": d.required}}
        tool = ToolDef.from_dict(tool_dict)
        impl = {"executor": "slots-v1", "return_slots": d.return_slots, "list_size": [1, 3]}
        return ApiRecord(id=_api_id(plan.index), tool=tool, returns={"type": "dict", "properties": d.returns},
                         domain=d.leaf.domain, path=d.leaf.path, leaves=[x.path for x in plan.leaves],
                         diversity=plan.diversity, evolution=d.steps, slots=d.slots, impl=impl,
                         signature=signature(tool), parent=plan.example.id if plan.example else None)

    def duplicate_of(self, rec: ApiRecord) -> str | None:
        if rec.signature in self.sigs:
            return self.sigs[rec.signature]
        if _norm_name(rec.tool.name) in self.names:
            return "name"
        return None


def _api_id(index: int) -> str:
    return f"api-{index:06d}"
