"""Speciation with an LLM (ToolACE, arXiv 2409.00920v2 §2.1 "Speciation" and Fig. 2): the model grows the API
context tree level by level, domains → subdomains → functionalities, seeded by the static tree (``data/api_tree``),
before adaptation and evolution sample from it.

``depth`` says how many levels the model writes for ``domains`` domains: 3 asks for that many *new* domains, then
``width`` subdomains for each and ``width`` functionalities for each subdomain; 2 asks for ``width`` new subdomains
(and their functionalities) in that many existing domains drawn by the seed; 1 asks for ``width`` new
functionalities in every subdomain of that many drawn domains. Every prompt lists what the tree already holds at that
level, so the model extends the seed tree instead of repeating it.

Each request is a *step* with a stable id (``domains``, ``subdomains:<domain>``, ``leaves:<domain>/<subdomain>``);
its outcome is appended to ``<pool out>.tree.jsonl`` as soon as it is known, so a crash loses no step already
answered and a re-run asks only the missing ones. The grown tree is assembled in step order, not file order, so it
does not depend on which reply came back first. What a bad reply can cost is bounded: a reply beyond
:data:`MAX_REPLY_CHARS` or with no usable item is asked again ``retries`` times, then recorded as quarantined (and
not asked again on resume); items beyond ``width``, names and texts beyond the :data:`LIMITS`, lines that do not
parse as a leaf, slots the vocabulary cannot resolve and repeats are dropped and counted per reason.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ...io import InputError, JsonlAppender
from .base import PoolError, _rng
from .llm import PROMPTS, _backends
from .tree import ApiTree, Domain, Leaf, parse_leaf

TREE_SUFFIX = ".tree.jsonl"  # beside the pool file: <out>.tree.jsonl
MAX_REPLY_CHARS = 20_000  # a longer reply is refused before any parsing (max_tokens bounds a real model's)
LIMITS = {"name_chars": 40, "description_chars": 200, "leaf_chars": 240, "params": 8, "returned_fields": 12}
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 &/'-]*")


@dataclass(frozen=True)
class SpeciationConfig:
    """How much the LLM grows: ``domains`` domains (0: nothing), ``depth`` levels (1-3), ``width`` items asked per
    node; each request may answer ``max_tokens`` tokens and is asked again ``retries`` times when unusable."""

    domains: int = 0
    depth: int = 3
    width: int = 4
    max_tokens: int = 768
    retries: int = 1

    def __post_init__(self) -> None:
        if self.domains < 0:
            raise ValueError("speciation: the number of domains must be >= 0")
        if self.depth not in (1, 2, 3):
            raise ValueError("speciation: depth must be 1 (functionalities), 2 (subdomains) or 3 (domains)")
        if not 1 <= self.width <= 20:
            raise ValueError("speciation: width must be between 1 and 20")
        if not 1 <= self.max_tokens <= 8192:
            raise ValueError("speciation: max_tokens must be between 1 and 8192")


def tree_path(out: str | Path) -> Path:
    """Where the grown tree of pool file ``out`` is kept."""
    return Path(str(out) + TREE_SUFFIX)


def _is_step(row: Any) -> bool:
    return isinstance(row, dict) and isinstance(row.get("id"), str) and row.get("status") in ("ok", "quarantined")


# ---------------------------------------------------------------------------------------------------------------------
# Reply parsing: (items, dropped-per-reason); ValueError when nothing usable is left (asked again)


def _items(text: str, key: str) -> list:
    if len(text) > MAX_REPLY_CHARS:
        raise ValueError(f"reply of {len(text)} characters is over the limit of {MAX_REPLY_CHARS}")
    obj = _backends().extract_json(text)
    items = obj.get(key) if isinstance(obj, dict) else obj
    if not isinstance(items, list):
        raise ValueError(f"expected {{{key!r}: [...]}}")
    return items


def _name(value: Any) -> str | None:
    """A domain or subdomain name within the limits (``Smart Home``, ``Crop & Soil``), else None."""
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    ok = 0 < len(value) <= LIMITS["name_chars"] and _NAME.fullmatch(value)
    return value if ok else None


def _keep(candidates: list[tuple[Any, str | None]], seen: set[str], width: int, dropped: Counter) -> list:
    """The first ``width`` candidates ``(item, reason_dropped_or_None)`` whose lower-cased key is new."""
    kept = []
    for item, why in candidates:
        if why is None:
            k = (item["name"] if isinstance(item, dict) else item.text if isinstance(item, Leaf) else item).lower()
            why = "repeat" if k in seen else ("over_width" if len(kept) >= width else None)
            if why is None:
                seen.add(k)
                kept.append(item)
        if why is not None:
            dropped[why] += 1
    if not kept:
        raise ValueError("no usable item in the reply (" + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items()))
                         + ")")
    return kept


def parse_domains(text: str, tree: ApiTree, width: int) -> tuple[list[dict], Counter]:
    dropped: Counter = Counter()
    cands: list[tuple[Any, str | None]] = []
    for item in _items(text, "domains"):
        raw = item.get("name") if isinstance(item, dict) else item
        name = _name(raw)
        desc = item.get("description", "") if isinstance(item, dict) else ""
        if name is None:
            cands.append((None, "bad_name"))
        elif not isinstance(desc, str) or len(desc) > LIMITS["description_chars"]:
            cands.append((None, "bad_description"))
        else:
            cands.append(({"name": name, "description": " ".join(desc.split())}, None))
    return _keep(cands, {d.name.lower() for d in tree.domains}, width, dropped), dropped


def parse_subdomains(text: str, existing: list[str], width: int) -> tuple[list[str], Counter]:
    dropped: Counter = Counter()
    cands = []
    for item in _items(text, "subdomains"):
        name = _name(item.get("name") if isinstance(item, dict) else item)
        cands.append((name, None) if name else (None, "bad_name"))
    return _keep(cands, {s.lower() for s in existing}, width, dropped), dropped


def parse_leaves(text: str, tree: ApiTree, domain: str, subdomain: str, existing: list[Leaf],
                 width: int) -> tuple[list[Leaf], Counter]:
    dropped: Counter = Counter()
    cands: list[tuple[Any, str | None]] = []
    for item in _items(text, "functionalities"):
        if not isinstance(item, str) or len(item) > LIMITS["leaf_chars"]:
            cands.append((None, "bad_leaf"))
            continue
        try:
            leaf = parse_leaf(" ".join(item.split()), domain, subdomain)
        except ValueError:
            cands.append((None, "unparsable_leaf"))
            continue
        if len(leaf.params) > LIMITS["params"] or len(leaf.return_slots()) > LIMITS["returned_fields"]:
            cands.append((None, "too_many_slots"))
        elif not all(tree.slots.resolve(s) for s in leaf.slots + leaf.return_slots()):
            cands.append((None, "unknown_slot"))
        else:
            cands.append((leaf, None))
    kept = _keep(cands, {x.text.lower() for x in existing}, width, dropped)
    phrases = {x.phrase for x in existing}
    out = []
    for leaf in kept:  # same phrase as an existing functionality: the same API again
        if leaf.phrase in phrases:
            dropped["repeat"] += 1
        else:
            phrases.add(leaf.phrase)
            out.append(leaf)
    if not out:
        raise ValueError("every functionality repeats an existing one")
    return out, dropped


# ---------------------------------------------------------------------------------------------------------------------
# Prompts


def _known_slots(tree: ApiTree, leaves: list[Leaf], k: int = 40) -> str:
    known = sorted({s for leaf in leaves for s in leaf.slots})[:k]
    return ", ".join(known or tree.slot_names()[:k])


def _leaves_prompt(tree: ApiTree, domain: str, subdomain: str, existing: list[Leaf], n: int) -> str:
    near = existing or [x for x in tree.leaves if x.domain == domain] or tree.leaves[:200]
    return PROMPTS["speciation"].format(domain=domain, subdomain=subdomain, n=n,
                                        existing="\n".join(f"- {x.text}" for x in existing) or "(none yet)",
                                        slots=_known_slots(tree, near))


# ---------------------------------------------------------------------------------------------------------------------
# Growing


class _Grower:
    """Asks the steps (or takes them from the tree file) and keeps their outcomes, in step order."""

    def __init__(self, tree: ApiTree, backend: Any, config: SpeciationConfig, seed: int, done: dict[str, dict],
                 appender: Any):
        self.tree, self.backend, self.config, self.seed = tree, backend, config, seed
        self.done, self.appender = done, appender
        self.asked = 0
        self.rows: dict[str, dict] = {}
        self.order: list[str] = []  # steps in the order they were started: fixed, unlike the order replies come in

    async def step(self, sid: str, prompt: str, parse: Callable[[str], tuple[list, Counter]], *,
                   encode: Callable[[list], list] = list, **where: str) -> dict:
        self.order.append(sid)
        if sid in self.done:
            row = self.done[sid]
        else:
            b = _backends()
            req = b.ChatRequest(messages=[{"role": "user", "content": prompt}], stage="speciation",
                                max_tokens=self.config.max_tokens, json_mode=True,
                                seed=int(_rng(self.seed, "speciate", sid).random() * 2**31))
            self.asked += 1
            got = await b.chat_json(self.backend, req, parse, retries=self.config.retries)
            if isinstance(got, b.Quarantined):
                text = (got.last_text or "")[:2000]
                row = {"id": sid, "status": "quarantined", **where, "reason": got.reason, "text": text,
                       "attempts": got.attempts}
            else:
                items, dropped = got
                row = {"id": sid, "status": "ok", **where, "items": encode(items), "dropped": dict(sorted(
                    dropped.items()))}
            if self.appender is not None:
                self.appender.write(row)
        self.rows[sid] = row
        return row


def _leaf_texts(leaves: list[Leaf]) -> list[str]:
    return [x.text for x in leaves]


async def _grow(g: _Grower) -> None:
    import asyncio

    tree, cfg = g.tree, g.config
    if cfg.depth == 3:
        prompt = PROMPTS["speciation_domains"].format(
            n=cfg.domains, existing="\n".join(f"- {d.name}: {d.description}" for d in tree.domains))
        row = await g.step("domains", prompt, lambda t: parse_domains(t, tree, cfg.domains))
        targets = [(x["name"], x["description"], []) for x in row.get("items", [])]
    else:
        names = [d.name for d in tree.domains]
        drawn = sorted(_rng(g.seed, "speciate-domains").sample(range(len(names)), min(cfg.domains, len(names))))
        targets = [(names[i], tree.domains[i].description, list(tree.domains[i].subdomains)) for i in drawn]

    async def subdomains(domain: str, description: str, existing: list[str]) -> list[tuple[str, str]]:
        if cfg.depth == 1:
            return [(domain, s) for s in existing]
        listed = "\n".join(f"- {s}" for s in existing) or "(none yet)"
        prompt = PROMPTS["speciation_subdomains"].format(domain=domain, description=description, n=cfg.width,
                                                         existing=listed)
        row = await g.step(f"subdomains:{domain}", prompt, lambda t: parse_subdomains(t, existing, cfg.width),
                           domain=domain)
        return [(domain, s) for s in row.get("items", [])]

    subs = [s for group in await asyncio.gather(*(subdomains(*t) for t in targets)) for s in group]

    async def leaves(domain: str, subdomain: str) -> None:
        existing = _existing_leaves(tree, domain, subdomain)
        await g.step(f"leaves:{domain}/{subdomain}", _leaves_prompt(tree, domain, subdomain, existing, cfg.width),
                     lambda t: parse_leaves(t, tree, domain, subdomain, existing, cfg.width), encode=_leaf_texts,
                     domain=domain, subdomain=subdomain)

    await asyncio.gather(*(leaves(d, s) for d, s in subs))


def _existing_leaves(tree: ApiTree, domain: str, subdomain: str) -> list[Leaf]:
    try:
        return list(tree.domain(domain).subdomains.get(subdomain, []))
    except KeyError:
        return []


def grown_tree(tree: ApiTree, rows: dict[str, dict], order: list[str]) -> ApiTree:
    """The static ``tree`` plus the functionalities of the ``ok`` steps, taken in ``order`` (step ids): new domains
    after the static ones, new subdomains after a domain's own; a subdomain or domain left with no functionality is
    left out. The static tree's objects are not changed (it is cached)."""
    domains = {d.name: Domain(d.name, d.description, {s: list(ls) for s, ls in d.subdomains.items()}, d.file)
               for d in tree.domains}
    added = 0
    for sid in order:
        row = rows.get(sid)
        if row is None or row["status"] != "ok":
            continue
        if sid == "domains":
            for x in row["items"]:
                domains.setdefault(x["name"], Domain(x["name"], x["description"], {}, "llm"))
        elif sid.startswith("subdomains:"):
            d = domains.get(row["domain"])
            for s in row["items"] if d is not None else []:
                d.subdomains.setdefault(s, [])
        else:
            d = domains.get(row["domain"])
            if d is None or row["subdomain"] not in d.subdomains:
                continue
            for text in row["items"]:
                d.subdomains[row["subdomain"]].append(parse_leaf(text, d.name, row["subdomain"]))
                added += 1
    kept = []
    for d in domains.values():
        d.subdomains = {s: ls for s, ls in d.subdomains.items() if ls}
        if d.subdomains:
            kept.append(d)
    return ApiTree(kept, tree.slots, f"{tree.source} + {added} LLM functionalities" if added else tree.source)


def grow_tree(tree: ApiTree, backend: Any, config: SpeciationConfig, *, seed: int = 0,
              out: str | Path | None = None) -> tuple[ApiTree, dict[str, Any]]:
    """Speciation: the static ``tree`` grown by ``backend`` as ``config`` asks, and a report (steps asked, taken
    from the file, quarantined; items kept; items dropped per reason; the tree's counts before and after). ``out``:
    the tree file (:func:`tree_path` of the pool file); a re-run takes its steps from there and asks the rest."""
    if config.domains == 0:
        return tree, {"steps": 0}
    if backend is None or getattr(backend, "is_programmatic", False):
        raise PoolError("speciation needs an LLM backend (--backend openai or hf)")
    appender = None
    done: dict[str, dict] = {}
    if out is not None:
        try:
            appender = JsonlAppender(out, keep_rows=True, own=_is_step, what="a grown API tree (funrl pool)")
        except InputError as e:
            raise PoolError(str(e)) from None
        done = {row["id"]: row for row in appender.rows if _is_step(row)}
        appender.rows = []
    g = _Grower(tree, backend, config, seed, done, appender)

    async def run() -> None:
        try:
            await _grow(g)
        finally:
            await backend.aclose()

    try:
        _backends().run_sync(run())
    finally:
        if appender is not None:
            appender.close()
    order = g.order  # fixed by the tree, the config and the earlier levels' outcomes
    grown = grown_tree(tree, g.rows, order)
    rows = [g.rows[s] for s in order]
    dropped: Counter = Counter()
    for r in rows:
        dropped.update(r.get("dropped", {}))
    report = {"steps": len(rows), "asked": g.asked, "from_file": len(rows) - g.asked,
              "quarantined": sum(r["status"] == "quarantined" for r in rows),
              "kept": {kind: sum(len(r.get("items", [])) for r in rows if r["id"].split(":")[0] == kind)
                       for kind in ("domains", "subdomains", "leaves")},
              "dropped": dict(sorted(dropped.items())), "before": tree.counts, "after": grown.counts}
    return grown, report


def speciate(backend: Any, tree: ApiTree, domain: str, subdomain: str, *, n: int = 5, seed: int = 0) -> list[Leaf]:
    """One step of speciation: ``n`` new functionalities for one subdomain, as parsed :class:`Leaf` objects (lines
    that do not parse, or mention slots the vocabulary cannot resolve, are dropped); ``[]`` when the reply stays
    unusable."""
    g = _Grower(tree, backend, SpeciationConfig(domains=1, depth=1, width=n, retries=2), seed, {}, None)
    existing = _existing_leaves(tree, domain, subdomain)

    async def ask() -> dict:
        try:
            return await g.step("leaves", _leaves_prompt(tree, domain, subdomain, existing, n),
                                lambda t: parse_leaves(t, tree, domain, subdomain, existing, n), encode=list)
        finally:
            await backend.aclose()

    row = _backends().run_sync(ask())
    return row.get("items", [])


__all__ = ["LIMITS", "MAX_REPLY_CHARS", "SpeciationConfig", "grow_tree", "grown_tree", "speciate", "tree_path"]
