"""The API pool indexed once for dialog generation. ToolACE's Self-Guided Dialog Generation (arXiv 2409.00920v2
§2.2) samples a few candidate APIs from the pool (§2.1) for each dialog; this index holds everything per API that
the agents need (tool definitions, subdomain and domain groups, clarify and dependency candidates: which API returns
a value, a *slot*, that another takes as a parameter) and draws the candidates, so generating a sample never
re-parses a definition.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Callable, Sequence

from ...tools import ToolDef
from ..api_pool import ApiRecord
from .complexity import MIN_CANDIDATES


def _is_scalar_node(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") in ("string", "integer", "float", "number")


class _PoolIndex:
    """Everything per-API that dialogs need, computed once (tool definitions, groups, clarify and dependency candidates),
    so generating a sample never re-parses a definition."""

    def __init__(self, pool: Sequence[ApiRecord]):
        self.apis = list(pool)
        if len(self.apis) < MIN_CANDIDATES:
            raise ValueError(f"the pool has {len(self.apis)} APIs; dialogs need at least {MIN_CANDIDATES}")
        self.tools: list[ToolDef] = []  # each API's definition read once, shared by every sample that offers it
        self.names: list[str] = []
        self.params: list[dict] = []
        self.sub: list[tuple[str, str]] = []
        self.leafsets: list[frozenset] = []
        self.purpose: list[str] = []
        self.by_sub: dict[tuple[str, str], list[int]] = {}
        self.by_domain: dict[str, list[int]] = {}
        self.by_id: dict[str, int] = {}
        for i, a in enumerate(self.apis):
            d = a.tool_dict()  # the record's own (read-only) copy, which argument sampling plans from too
            self.tools.append(ToolDef.read(d))
            self.names.append(a.tool.name)
            params = d.get("parameters") if isinstance(d.get("parameters"), dict) else {}
            self.params.append(params)
            key = (a.domain, a.path[1] if len(a.path) > 1 else "")
            self.sub.append(key)
            self.by_sub.setdefault(key, []).append(i)
            self.by_domain.setdefault(a.domain, []).append(i)
            self.by_id.setdefault(a.id, i)
            self.leafsets.append(frozenset(tuple(x) for x in a.leaves if isinstance(x, list)) | {tuple(a.path)})
            self.purpose.append(str(a.path[-1]) if a.path else a.tool.name.replace("_", " "))
        props = [p.get("properties") if isinstance(p.get("properties"), dict) else {} for p in self.params]
        # APIs taking at least one argument (parallel calls need different arguments).
        self.with_params = [i for i, pr in enumerate(props) if pr]
        # clarify: a required top-level scalar parameter the user can leave out and then state.
        self.clarify: dict[int, list[str]] = {}
        for i, (p, pr) in enumerate(zip(self.params, props)):
            req = [r for r in (p.get("required") or []) if isinstance(r, str) and _is_scalar_node(pr.get(r))]
            if req:
                self.clarify[i] = req
        self.clarify_ids = sorted(self.clarify)
        # dependent: producer return paths and consumer parameters sharing a slot.
        # A returned field whose slot the API also takes as a parameter mostly echoes the argument (get hotel
        # details(hotel_id) -> hotel_id): not a value the call produced, so not a producer.
        producers: dict[str, list[tuple[int, str]]] = {}
        for i, a in enumerate(self.apis):
            rs = (a.impl or {}).get("return_slots") if isinstance(a.impl, dict) else None
            fields = rs if isinstance(rs, dict) and rs else _return_fields(a.returns)
            takes = set(a.slots.values()) | {p.split(".")[-1].replace("[]", "") for p in a.slots}
            for path, slot in fields.items():
                if isinstance(slot, str) and slot not in takes and path.split(".")[-1].replace("[]", "") not in takes:
                    producers.setdefault(slot, []).append((i, path))
        self.producers = producers
        # Consumers, best first: a required id parameter with a producer in the same domain (search hotels ->
        # hotel_id -> book hotel: the dependency a person would make), then an optional one, then any slot with a
        # same-domain producer, then any.
        self.consumers: list[tuple[int, str, str]] = []
        tiers: list[list[tuple[int, str, str]]] = [[], [], [], []]
        # Whether API i has a producer of a slot other than itself (another name), and one in its own domain: from
        # counts of the producers per slot, per (slot, name), per (slot, domain) and per (slot, domain, name), so
        # the index takes time linear in the pool (a scan of each slot's producers per consumer was quadratic).
        # A producer with API i's name is i itself or a namesake; both are excluded, as the dialogs exclude them.
        made = [(slot, self.apis[j].domain, self.names[j]) for slot, entries in producers.items() for j, _ in entries]
        by_slot = Counter(slot for slot, _, _ in made)
        by_slot_name = Counter((slot, name) for slot, _, name in made)
        by_slot_domain = Counter((slot, domain) for slot, domain, _ in made)
        by_slot_domain_name = Counter(made)
        for i, a in enumerate(self.apis):
            for param, slot in a.slots.items():
                if "." in param or "[" in param or not _is_scalar_node(props[i].get(param)):
                    continue
                if props[i][param].get("enum"):
                    continue  # a returned value rarely fits an enum; a slot shared with a free field does
                if by_slot[slot] - by_slot_name[slot, self.names[i]] <= 0:
                    continue  # no producer but the API itself (or namesakes)
                same = by_slot_domain[slot, a.domain] - by_slot_domain_name[slot, a.domain, self.names[i]] > 0
                required = param in (self.params[i].get("required") or [])
                tier = (0 if required else 1) if same and slot.endswith("_id") else (2 if same else 3)
                tiers[tier].append((i, param, slot))
                self.consumers.append((i, param, slot))
        self.consumer_tiers = [t for t in tiers if t]
        # multiple: APIs with at least two similar tools around them.
        names_in = {d: len({self.names[j] for j in js}) for d, js in self.by_domain.items()}
        self.similar_ok = [i for i in range(len(self.apis)) if names_in[self.apis[i].domain] >= MIN_CANDIDATES]

    # -- candidate tools ----------------------------------------------------------------------------------------
    def candidates(self, core: list[int], k: int, rng: random.Random, *, similar: bool,
                   exclude: Callable[[int], bool] | None = None, anchor: int | None = None,
                   strict: bool = False) -> list[int]:
        """``core`` plus distractors up to ``k`` tools with distinct names: same-subdomain tools first (all of them
        when ``similar``, else at least one, then a mix of same-domain and cross-domain ones); shuffled.
        ``strict``: similar tools only (fewer than ``k`` if the domain runs out, but at least 3)."""
        chosen = list(dict.fromkeys(core))
        names = {self.names[i] for i in chosen}
        anchor = anchor if anchor is not None else (core[0] if core else rng.randrange(len(self.apis)))

        def ok(j: int) -> bool:
            return self.names[j] not in names and (exclude is None or not exclude(j))

        def take(group: list[int], m: int) -> None:
            if m <= 0 or not group:
                return
            n = len(group)  # a small group in random order; a big one by random draws (repeats are skipped)
            idx = rng.sample(range(n), n) if n <= 12 else [rng.randrange(n) for _ in range(3 * m + 6)]
            for x in idx:
                if m <= 0 or len(chosen) >= k:
                    break
                j = group[x]
                if ok(j):
                    chosen.append(j)
                    names.add(self.names[j])
                    m -= 1

        room = k - len(chosen)
        sub = self.by_sub[self.sub[anchor]]
        dom = self.by_domain[self.apis[anchor].domain]
        if similar:
            take(sub, room)
            take(dom, k - len(chosen))
        else:
            take(sub, max(1, room // 2))
            take(dom, (k - len(chosen) + 1) // 2)
        if strict and len(chosen) >= MIN_CANDIDATES:
            k = len(chosen)
        tries = 0
        while len(chosen) < k and tries < 200:
            tries += 1
            j = rng.randrange(len(self.apis))
            if ok(j):
                chosen.append(j)
                names.add(self.names[j])
        if len(chosen) < k:  # a tiny or very uniform pool: scan everything
            for j in range(len(self.apis)):
                if len(chosen) >= k:
                    break
                if ok(j):
                    chosen.append(j)
                    names.add(self.names[j])
        rng.shuffle(chosen)
        return chosen


def _return_fields(returns: Any) -> dict[str, str]:
    """``{path: field name}`` of a return schema (``hotels[].hotel_id``), used as slots when an API records none."""
    out: dict[str, str] = {}

    def walk(node: Any, path: str, name: str) -> None:
        if not isinstance(node, dict):
            return
        t = node.get("type")
        if t in ("dict", "object") and isinstance(node.get("properties"), dict):
            for k, v in node["properties"].items():
                walk(v, f"{path}.{k}" if path else k, k)
        elif t in ("array", "tuple") and isinstance(node.get("items"), dict):
            walk(node["items"], path + "[]", name)
        elif name:
            out[path] = name

    walk(returns, "", "")
    return out


def _values_at(result: Any, path: str) -> list[Any]:
    """Scalar values at a return path (``hotels[].hotel_id``) of a result, in order."""
    nodes = [result]
    for part in path.split("."):
        many = part.endswith("[]")
        key = part[:-2] if many else part
        nxt = []
        for n in nodes:
            if isinstance(n, dict) and key in n:
                v = n[key]
                if many:
                    nxt.extend(v if isinstance(v, list) else [])
                else:
                    nxt.append(v)
        nodes = nxt
    return [v for v in nodes if isinstance(v, (str, int, float)) and not isinstance(v, bool)]
