"""Dialogs from an API pool: ToolACE's Self-Guided Dialog Generation (SDG) with user, assistant and tool agents.

ToolACE (ICLR 2025, arXiv 2409.00920v2 §2.2) simulates three agents over a few candidate APIs: a **user**
who asks (and answers follow-up questions), an **assistant** who calls APIs, asks for missing information,
summarises tool output or answers without tools, and a **tool** agent that returns results. A complexity evaluator
scores each dialog and the user agent is steered up or down ("self-guided complication"). This module does that in
two ways:

* **programmatic** (default, no model). Each sample is a pure function of ``(pool, seed, index)``:
  the user agent phrases requests with :func:`~funrl_lib.synth.api_pool.phrase_request` (every argument value
  verbatim) wrapped in a style (terse, polite, with context, descriptive); the tool agent is
  :func:`~funrl_lib.synth.api_pool.execute` (real, deterministic results matching the API's return schema; a
  dependent dialog passes a value an earlier call *really returned* into the next call); the assistant agent writes
  ToolACE v1's *formalised thinking* (need a tool? which one and why? each required parameter and where its value
  comes from? optional ones?) into ``Message.think`` and then the calls, a clarifying question, a refusal or a
  summary quoting values from the results.
* **LLM** (``backend=`` a non-programmatic :mod:`~funrl_lib.backends` backend). The programmatic dialog is
  the *plan* (type, candidates, intents, argument values); the agents are prompts (:data:`DIALOG_PROMPTS`): the user
  agent rewrites each user turn (values kept verbatim), the assistant agent decides every assistant turn on its own
  and is asked ``votes`` (3) times; the turn is kept only when all call parts agree (ToolACE's consistency vote),
  else the sample is quarantined with the reason; the tool agent simulates results for APIs without an executor
  (``impl``), real execution is used otherwise. Malformed replies are re-asked (``chat_json``) then quarantined.
  Samples run concurrently (``asyncio.gather``, ``concurrency`` at a time) and are written in index order.

Dialog types (``Sample.type``), the BFCL categories plus ToolACE's non-tool and clarification dialogs:

================= =================================================================================================
single            one call; candidates mix same-subdomain and cross-domain tools
parallel          one turn, the same tool called 2-4 times with different arguments
multiple          one call; every distractor is a similar tool (same subdomain, then domain)
parallel_multiple one turn, 2-3 different tools (a repeat at high complexity)
dependent         call A, then call B with a value A returned (A's return field and B's parameter share a slot)
irrelevance       the request's API is not among the candidates (nor any API sharing a leaf); a refusal in text
clarify           the user leaves out a required value; the assistant asks for it by name; the user answers; a call
multi_turn        2-3 user requests in sequence, each with its call, tool turn and summary
================= =================================================================================================

**Complexity** (:func:`complexity`, in [0, 1]): ToolACE's Fig. 2 finds the evaluator's loss rising with the number
of candidate APIs, the number of calls and query-description dissimilarity, so the programmatic score is
``0.35 * (candidates - 1) / 5 + 0.35 * min(calls, 4) / 4 + 0.3 * (1 - overlap)`` with ``overlap`` the share of the
content words of the called tools' descriptions (all candidates' when nothing is called) that occur in the user
turns. :func:`model_loss` is ToolACE's own measure (Eq. 1): the mean token loss of the assistant turns under a
model, stored in ``meta["loss"]``. **Bands**: easy < 0.4 <= medium < 0.6 <= hard. Each sample draws a target band
(``complexity_mix``); the generator maps it to knobs (candidate count, call/turn count, request style), scores the
dialog and retries up to :data:`MAX_ATTEMPTS` times, nudging the knobs towards the band; the closest attempt is
kept and ``meta["band"]`` records the target (``meta["complexity"]`` says where it landed). Only the plans are
scored (calls, user turns and candidates fix the score), so tools run once per sample. A dialog without calls
scores at most 0.65; ``irrelevance`` reaches ``hard`` with 6 candidates and a request far from their descriptions.
The weights and band edges are ours (ToolACE gives neither); they put each type's knob range across the bands.

**Meta** of each sample: ``complexity``, ``band``, ``api_ids`` (the candidates, in ``tools`` order), ``domain``,
``source`` (``"programmatic"`` or the backend's name), ``seed``, ``style`` (of the user agent), ``attempts``, and
per type ``depends`` (``{"from", "field", "to", "param"}``), ``irrelevant_api`` (the API the request was for, left
out of the candidates) or ``missing`` (the parameter the clarify dialog asks for); LLM samples add ``votes``.

**Mix**: each index gets its type (and band) from an exact allocation: counts by largest remainder of
``n * share``, then a seeded shuffle, so the realised mix equals the target up to rounding for any ``n``.

**Determinism and resuming**: all randomness comes from ``random.Random`` seeded with SHA-256 of ``(seed, index,
attempt)``; ids are ``dlg-000000``...; ``out=`` appends one JSON line per sample via
:class:`~funrl_lib.io.JsonlAppender`, so a killed run re-run with the same arguments finishes the file with
no sample lost or duplicated, byte-identical to an uninterrupted run (an existing file of another seed is refused
rather than extended; a programmatic run also regenerates the file's last sample to refuse another pool, ``n`` or
mix). LLM quarantines go to ``<out>.quarantine.jsonl`` and are not retried on
resume; an LLM run resumes byte-identically when its backend answers the same (the response cache).

Speed: the pool is indexed once (tool dicts, subdomain groups, clarify and dependency candidates); a sample costs
a few argument draws, request phrasings and executions in :mod:`~funrl_lib.synth.api_pool` (most of the time) and
no deep copies (``tools`` share the pool's dicts: treat them as read-only).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..calls import Call, decode_calls, render_calls
from ..prompts import tools_json
from .api_pool import (ApiRecord, ExecutionError, PoolError, execute, mentioned_values, phrase_request,
                       result_issues, sample_arguments, validate_arguments)
from ..backends import run_sync
from ..io import (InputError, JsonlAppender, Quarantine, check_own_json, check_own_output, quarantine_path,
                  read_records, report_quarantine, seeded_rng, stable_digest, write_json)
from .sample import DIALOG_TYPES, Message, Sample

__all__ = [
    "BANDS", "BAND_RANGES", "DEFAULT_COMPLEXITY_MIX", "DEFAULT_MIX", "DIALOG_PROMPTS", "MAX_ATTEMPTS",
    "DialogStats", "add_dialogs_parser", "agenerate_dialogs", "allocate", "band_of", "complexity",
    "complexity_parts", "dialog_stats", "format_stats", "generate_dialogs", "iter_dialogs", "load_pool_lenient",
    "model_loss", "parse_mix", "run_dialogs", "structure_problem",
]

# Default type mix. ToolACE publishes no proportions; this leans on single calls (the bulk of BFCL) while keeping
# every other type at >= 10% so that each behaviour is learnt.
DEFAULT_MIX = {"single": 0.20, "parallel": 0.12, "multiple": 0.15, "parallel_multiple": 0.10, "dependent": 0.13,
               "irrelevance": 0.10, "clarify": 0.10, "multi_turn": 0.10}
BANDS = ("easy", "medium", "hard")
BAND_RANGES = {"easy": (0.0, 0.4), "medium": (0.4, 0.6), "hard": (0.6, 1.0)}
DEFAULT_COMPLEXITY_MIX = {"easy": 0.3, "medium": 0.5, "hard": 0.2}
MIN_CANDIDATES, MAX_CANDIDATES = 3, 6
MAX_ATTEMPTS = 4  # self-guided complication: scored attempts per sample
_BUILD_TRIES = 12  # draws of APIs/arguments per attempt before the attempt counts as failed
_TRY_BUDGET = 40  # plans drawn per sample before giving up (only a broken pool gets there)
W_CANDIDATES, W_CALLS, W_DISSIMILARITY = 0.35, 0.35, 0.3
CALLS_CAP = 4
_LEVEL = {"easy": 0.0, "medium": 0.5, "hard": 1.0}  # first knob level per target band
_MULTI_CALL = ("parallel", "parallel_multiple", "dependent", "multi_turn")
_LEVEL_MULTI = {"easy": 0.0, "medium": 0.3, "hard": 1.0}  # >= 2 calls already add complexity: start lower
_STEP = 0.34  # a retry moves the knob level by about one band


# ===============================================================================================================
# Seeded randomness, mixes
# ===============================================================================================================

_rng = seeded_rng


def _stable_int(*parts: Any) -> int:
    return int.from_bytes(stable_digest(*parts)[:4], "big")


def parse_mix(text: str | dict | None, *, allowed: Sequence[str] = DIALOG_TYPES, what: str = "dialog type",
              option: str = "--mix") -> dict[str, float]:
    """``"single=.3,parallel=.15"`` -> ``{"single": 0.666.., "parallel": 0.333..}``: weights normalised to sum 1,
    names not listed get 0. A dict is checked and normalised the same way. ``ValueError`` names the bad item
    (unknown name, a value that is not a non-negative number, a repeated name, all weights zero)."""
    if text is None:
        raise ValueError(f"{option}: empty")
    if isinstance(text, dict):
        items = [(str(k), v) for k, v in text.items()]
        raw_items = [f"{k}={v}" for k, v in items]
    else:
        raw_items = [s.strip() for s in str(text).split(",") if s.strip()]
        items = []
        for raw in raw_items:
            if raw.count("=") != 1:
                raise ValueError(f"{option} item {raw!r}: expected name=weight (e.g. single=.3)")
            k, v = (x.strip() for x in raw.split("="))
            items.append((k, v))
    if not items:
        raise ValueError(f"{option}: empty; expected name=weight items like {allowed[0]}=.5")
    out: dict[str, float] = {}
    for raw, (k, v) in zip(raw_items, items):
        if k not in allowed:
            raise ValueError(f"{option} item {raw!r}: unknown {what} {k!r}; expected one of {', '.join(allowed)}")
        if k in out:
            raise ValueError(f"{option} item {raw!r}: {k!r} is given twice")
        try:
            w = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{option} item {raw!r}: weight {v!r} is not a number") from None
        if isinstance(v, bool) or not math.isfinite(w) or w < 0:
            raise ValueError(f"{option} item {raw!r}: weight must be a finite number >= 0")
        out[k] = w
    total = sum(out.values())
    if total <= 0:
        raise ValueError(f"{option}: all weights are zero")
    return {k: out.get(k, 0.0) / total for k in allowed if out.get(k, 0.0) > 0}


def allocate(mix: dict[str, float], n: int, seed: int, salt: str) -> list[str]:
    """One label per index, with exact counts: ``floor(n * share)`` each, the remainder to the largest fractional
    parts (ties in ``mix`` order), then a shuffle seeded by ``(seed, salt, n)``. So the realised mix is the target
    up to rounding (each count within 1 of ``n * share``) and every index's label is fixed by seed and ``n``."""
    names = list(mix)
    exact = [mix[k] * n for k in names]
    counts = [int(math.floor(x)) for x in exact]
    order = sorted(range(len(names)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    labels = [k for k, c in zip(names, counts) for _ in range(c)]
    _rng(seed, salt, n).shuffle(labels)
    return labels


def _sample_id(index: int) -> str:
    return f"dlg-{index:06d}"


# ===============================================================================================================
# Complexity
# ===============================================================================================================

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("""a an the of for to in on by and or with from at into as is are be it its this that these those
my your our their me you we they i he she them his her can could would will should please get set given
using use per any all each some more most less than then also if when which what who how about via not no
""".split())


def _tokens(text: str) -> frozenset[str]:
    return frozenset(w for w in set(_WORD.findall(text.lower())) if w not in _STOP and len(w) > 1)


@lru_cache(maxsize=65536)
def _description_tokens(text: str) -> frozenset[str]:
    return _tokens(text)


def _tool_name_desc(tool: Any) -> tuple[str | None, str]:
    if isinstance(tool, dict):
        fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        return fn.get("name"), fn.get("description") or ""
    return getattr(tool, "name", None), getattr(tool, "description", None) or ""


def complexity_parts(sample: Sample) -> dict[str, float]:
    """The three terms of :func:`complexity`: ``candidates`` (count), ``calls`` (count over all turns) and
    ``dissimilarity`` (1 - share of the called tools' description words found in the user turns; all candidates'
    descriptions when no call is made; 1 when there is no description)."""
    names = {}
    for t in sample.tools:
        name, desc = _tool_name_desc(t)
        names.setdefault(name, desc)
    calls = sample.calls()
    called = list(dict.fromkeys(c.name for c in calls)) if calls else list(names)
    desc_tokens: set[str] = set()
    for name in called:
        desc_tokens |= _description_tokens(names.get(name, ""))
    query = _tokens(" ".join(m.content for m in sample.messages if m.role == "user"))
    overlap = len(desc_tokens & query) / len(desc_tokens) if desc_tokens else 0.0
    return {"candidates": len(sample.tools), "calls": len(calls), "dissimilarity": 1.0 - overlap}


def complexity(sample: Sample) -> float:
    """ToolACE-style complexity in [0, 1], rounded to 4 places:
    ``0.35 * min(max(candidates - 1, 0), 5) / 5 + 0.35 * min(calls, 4) / 4 + 0.3 * dissimilarity``
    (see :func:`complexity_parts`). It rises with each of the three quantities ToolACE's Fig. 2 ties to the
    evaluator's loss; :func:`model_loss` is the model-based measure."""
    p = complexity_parts(sample)
    cand = min(max(p["candidates"] - 1, 0), MAX_CANDIDATES - 1) / (MAX_CANDIDATES - 1)
    calls = min(p["calls"], CALLS_CAP) / CALLS_CAP
    return round(W_CANDIDATES * cand + W_CALLS * calls + W_DISSIMILARITY * p["dissimilarity"], 4)


def band_of(score: float) -> str:
    """The band a complexity score falls in (easy < 0.4 <= medium < 0.6 <= hard)."""
    for band in BANDS:
        lo, hi = BAND_RANGES[band]
        if score < hi or band == BANDS[-1]:
            return band
    return BANDS[-1]


def _band_distance(score: float, band: str) -> float:
    lo, hi = BAND_RANGES[band]
    if band == BANDS[-1]:
        hi = math.inf
    if lo <= score < hi:
        return 0.0
    return lo - score if score < lo else score - hi + 1e-9


# ===============================================================================================================
# The pool, indexed once
# ===============================================================================================================

def _is_scalar_node(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") in ("string", "integer", "float", "number")


class _PoolIndex:
    """Everything per-API that dialogs need, computed once (tool dicts, groups, clarify and dependency candidates),
    so generating a sample never re-parses a definition."""

    def __init__(self, pool: Sequence[ApiRecord]):
        self.apis = list(pool)
        if len(self.apis) < MIN_CANDIDATES:
            raise ValueError(f"the pool has {len(self.apis)} APIs; dialogs need at least {MIN_CANDIDATES}")
        self.tool_dicts: list[dict] = []
        self.names: list[str] = []
        self.params: list[dict] = []
        self.sub: list[tuple[str, str]] = []
        self.leafsets: list[frozenset] = []
        self.purpose: list[str] = []
        self.by_sub: dict[tuple[str, str], list[int]] = {}
        self.by_domain: dict[str, list[int]] = {}
        self.by_id: dict[str, int] = {}
        for i, a in enumerate(self.apis):
            d = a.tool.to_dict()
            self.tool_dicts.append(d)
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
        by_slot: Counter = Counter()
        by_slot_name: Counter = Counter()
        by_slot_domain: Counter = Counter()
        by_slot_domain_name: Counter = Counter()
        for slot, entries in producers.items():
            for j, _ in entries:
                name, domain = self.names[j], self.apis[j].domain
                by_slot[slot] += 1
                by_slot_name[slot, name] += 1
                by_slot_domain[slot, domain] += 1
                by_slot_domain_name[slot, domain, name] += 1
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


# ===============================================================================================================
# The user agent: styles and joins (programmatic)
# ===============================================================================================================

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


# ===============================================================================================================
# The programmatic generator
# ===============================================================================================================

@dataclass
class _Step:
    """One planned turn. ``user``/``ask``: text (``ask`` is an assistant question); ``calls``: a call turn, its tool
    turn (``results`` when already known: a dependent chain executes its first call while planning) and, with
    ``summary``, the assistant's summary."""

    kind: str
    text: str = ""
    think: str = ""
    calls: list[tuple[int, dict]] | None = None
    sources: dict[tuple[int, str], str] | None = None
    results: list[dict] | None = None
    summary: bool = False


@dataclass
class _Draft:
    """A planned dialog: its turns, the APIs that must be candidates (the ones called), the API whose subdomain the
    distractors come from, and how distractors are chosen. Planned turns are enough to score complexity, so tools
    are executed only for the attempt that is kept."""

    steps: list[_Step]
    core: list[int]
    anchor: int
    similar: bool = False
    exclude: Callable[[int], bool] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    refuse_for: int | None = None  # irrelevance: the API the request was for; the refusal needs the candidates

    def scored_messages(self, names: list[str]) -> list[Message]:
        out = []
        for st in self.steps:
            if st.kind == "user":
                out.append(Message("user", st.text))
            elif st.kind == "ask":
                out.append(Message("assistant", st.text))
            else:
                out.append(Message("assistant", calls=[Call(names[i], a) for i, a in st.calls or []]))
        return out


class _Builder:
    """Programmatic user, assistant and tool agents over an indexed pool. :meth:`make` is a pure function of
    ``(pool, seed, index, type, band)``."""

    def __init__(self, pool: Sequence[ApiRecord] | _PoolIndex, seed: int):
        self.ix = pool if isinstance(pool, _PoolIndex) else _PoolIndex(pool)
        self.seed = seed
        self.kinds = {"single": self._single, "multiple": self._multiple, "parallel": self._parallel,
                      "parallel_multiple": self._parallel_multiple, "dependent": self._dependent,
                      "irrelevance": self._irrelevance, "clarify": self._clarify, "multi_turn": self._multi_turn}

    def check_feasible(self, types: Iterable[str]) -> None:
        """Refuse early (``ValueError`` naming the type) when the pool cannot produce a requested type at all."""
        ix = self.ix
        for t in types:
            if t not in self.kinds:
                raise ValueError(f"unknown dialog type {t!r}; expected one of {', '.join(self.kinds)}")
            if t == "dependent" and not ix.consumers:
                raise ValueError("dialog type 'dependent': no API in the pool returns a value (slot) that another "
                                 "API takes as a parameter; drop 'dependent' from --mix or use a bigger pool")
            if t == "clarify" and not ix.clarify_ids:
                raise ValueError("dialog type 'clarify': no API in the pool has a required scalar parameter")
            if t == "parallel" and not ix.with_params:
                raise ValueError("dialog type 'parallel': no API in the pool takes any parameter")
            if t == "irrelevance" and len(ix.apis) < MIN_CANDIDATES + 1:
                raise ValueError("dialog type 'irrelevance': the pool is too small to leave the requested API out")

    # -- one sample: self-guided complication ---------------------------------------------------------------------
    def make(self, index: int, typ: str, band: str) -> Sample:
        """Plan up to :data:`MAX_ATTEMPTS` dialogs, moving the knob level one band's worth towards the target band
        after each miss; then realise (execute, summarise) the attempt closest to the band. A plan that cannot be
        drawn (e.g. a dependent value the next API rejects) or realised (an LLM-made API rejecting sampled
        arguments) is drawn again, up to a budget."""
        tries = 0
        while tries < _TRY_BUDGET:
            level = (_LEVEL_MULTI if typ in _MULTI_CALL else _LEVEL)[band]
            scored: list[tuple[float, int, Sample, _Draft, list[int]]] = []
            while len(scored) < MAX_ATTEMPTS and tries < _TRY_BUDGET:
                rng = _rng(self.seed, "dialog", index, tries)
                tries += 1
                got = self._attempt(index, typ, band, level, rng)
                if got is None:
                    continue
                sample, draft, cands = got
                score = sample.meta["complexity"]
                dist = _band_distance(score, band)
                scored.append((dist, len(scored) + 1, sample, draft, cands))
                if dist == 0:
                    break
                level = min(1.0, level + _STEP) if score < BAND_RANGES[band][0] else max(0.0, level - _STEP)
            for dist, attempts, sample, draft, cands in sorted(scored, key=lambda x: (x[0], x[1])):
                messages = self._realise(draft, cands, _rng(self.seed, "dialog", index, "realise", attempts))
                if messages is not None:
                    sample.messages = messages
                    sample.meta["attempts"] = attempts
                    return sample
        raise RuntimeError(f"{_sample_id(index)}: could not build a {typ!r} dialog from this pool after {tries} "
                           f"draws")

    def _attempt(self, index: int, typ: str, band: str, level: float,
                 rng: random.Random) -> tuple[Sample, _Draft, list[int]] | None:
        ix = self.ix
        style = "descriptive" if level <= 0.2 else (rng.choice(("terse", "context")) if level >= 0.8
                                                    else rng.choice(("polite", "context", "terse")))
        draft = self.kinds[typ](rng, level, style)
        if draft is None:
            return None
        # candidate count: the level sets the centre, a little jitter spreads it over 3..6
        jitter = 0.6 * (1 - abs(2 * level - 1))  # none at the extremes: easy/hard get the fewest/most candidates
        k = MIN_CANDIDATES + int(round(level * (MAX_CANDIDATES - MIN_CANDIDATES) + rng.uniform(-jitter, jitter)))
        k = min(MAX_CANDIDATES, max(k, MIN_CANDIDATES, len(draft.core) + 1))
        cands = ix.candidates(draft.core, k, rng, similar=draft.similar, exclude=draft.exclude, anchor=draft.anchor,
                              strict=draft.similar)
        meta = {"complexity": 0.0, "band": band, "api_ids": [ix.apis[i].id for i in cands],
                "domain": ix.apis[draft.anchor].domain, "source": "programmatic", "seed": self.seed,
                "style": style}
        meta.update(draft.extras)
        sample = Sample(_sample_id(index), [ix.tool_dicts[i] for i in cands], draft.scored_messages(ix.names), typ,
                        None, meta)
        meta["complexity"] = complexity(sample)
        return sample, draft, cands

    def _realise(self, draft: _Draft, cands: list[int], rng: random.Random) -> list[Message] | None:
        """The tool agent runs the calls, the assistant agent writes its thinking, calls and summaries."""
        msgs: list[Message] = []
        for st in draft.steps:
            if st.kind == "user":
                msgs.append(Message("user", st.text))
            elif st.kind == "ask":
                msgs.append(Message("assistant", st.text, think=st.think))
            else:
                calls = st.calls or []
                results = st.results if st.results is not None else self._run_calls(calls)
                if results is None:
                    return None
                msgs.append(self._call_turn(calls, st.sources))
                msgs.append(self._tool_turn(calls, results))
                if st.summary:
                    msgs.append(self._summary(calls, results, rng))
        if draft.refuse_for is not None:
            msgs.append(self._refusal(draft.refuse_for, cands, rng))
        return msgs

    # -- agents ------------------------------------------------------------------------------------------------
    def _args(self, i: int, rng: random.Random, level: float) -> dict:
        return sample_arguments(self.ix.apis[i], rng, optional=0.3 + 0.4 * level)

    def _styled(self, text: str, apis: int | list[int], style: str, rng: random.Random) -> str:
        """The user's voice around a request: ``descriptive`` restates what the tools do (the request then shares
        the descriptions' words: low dissimilarity, an easier dialog), ``terse`` adds nothing."""
        apis = [apis] if isinstance(apis, int) else apis
        i = apis[0]
        if style == "polite":
            return rng.choice(_POLITE).replace("{t}", text)
        if style == "context":
            topic = (self.ix.sub[i][1] or self.ix.apis[i].domain).lower()
            return rng.choice(_CONTEXT).replace("{topic}", topic).replace("{t}", text)
        if style == "descriptive":
            d = " ".join(dict.fromkeys(self._restate(j) for j in apis))
            return rng.choice(_DESCRIPTIVE).replace("{d}", d).replace("{t}", text)
        return text

    def _restate(self, i: int) -> str:
        """What the API does in the user's words: the description's first sentence, and the returned fields it
        names ("Returns date, title and image URL." -> "I'd like to get back the date, title and image URL.")."""
        desc = self.ix.apis[i].tool.description or self.ix.purpose[i]
        out = _first_sentence(desc)
        m = _RETURNS.search(desc)
        if m:
            out += f" I'd like to get back the {m.group(1).rstrip(' ,.')}."
        return out

    def _request(self, i: int, args: dict, rng: random.Random) -> str:
        return phrase_request(self.ix.apis[i], args, rng)

    def _execute(self, i: int, args: dict) -> dict | None:
        try:
            return execute(self.ix.apis[i], args)
        except ExecutionError:
            return None

    def _valid(self, i: int, args: dict) -> bool:
        try:
            validate_arguments(self.ix.apis[i], args)
        except ExecutionError:
            return False
        return True

    def _think_calls(self, calls: list[tuple[int, dict]], sources: dict[tuple[int, str], str] | None = None) -> str:
        """ToolACE v1 formalised thinking for a call turn: need a tool -> which and why -> required parameters and
        the source of each value -> optional parameters."""
        ix = self.ix
        sources = sources or {}
        lines = ["Need a tool? Yes" + (f": {len(calls)} calls in one turn." if len(calls) > 1 else ".")]
        for n, (i, args) in enumerate(calls):
            req = [r for r in (ix.params[i].get("required") or []) if isinstance(r, str)]
            r = [f"{p}={_lit(args[p])} ({sources.get((n, p), 'from the user')})" for p in req if p in args]
            o = [f"{p}={_lit(v)} ({sources.get((n, p), 'from the user')})" for p, v in args.items() if p not in req]
            head = f"Call {n + 1}: {ix.names[i]}" if len(calls) > 1 else f"Tool: {ix.names[i]}"
            lines.append(f"{head}, because the user wants to {ix.purpose[i]}. Required: "
                         f"{', '.join(r) if r else 'none'}. Optional: {', '.join(o) if o else 'none needed'}.")
        return " ".join(lines)

    def _call_turn(self, calls: list[tuple[int, dict]], sources: dict | None = None) -> Message:
        return Message("assistant", think=self._think_calls(calls, sources),
                       calls=[Call(self.ix.names[i], args) for i, args in calls])

    def _tool_turn(self, calls: list[tuple[int, dict]], results: list[dict]) -> Message:
        return Message("tool", results=[{"name": self.ix.names[i], "results": r} for (i, _), r in zip(calls, results)])

    def _summary(self, calls: list[tuple[int, dict]], results: list[dict], rng: random.Random) -> Message:
        ix = self.ix
        sentences, quoted = [], []
        for (i, _), res in zip(calls, results):
            facts = _facts(res)
            quoted.extend(facts)
            text = "; ".join(facts) if facts else "no details"
            sentences.append(rng.choice(("Here is what {n} returned: {f}.", "Done. {n} reports {f}.",
                                         "I checked with {n}: {f}.")).replace("{n}", ix.names[i])
                             .replace("{f}", text))
        think = (f"Need a tool? No, the results are in. Summarise them for the user: "
                 f"{'; '.join(quoted[:4]) if quoted else 'nothing to report'}.")
        return Message("assistant", " ".join(sentences), think=think)

    def _refusal(self, t: int, cands: list[int], rng: random.Random) -> Message:
        ix = self.ix
        purpose = ix.purpose[t]
        can = _join_words([ix.purpose[j] for j in cands])
        text = rng.choice(("I'm sorry, but none of the available tools can {p}. They can only {c}.",
                           "Unfortunately I can't {p} with the tools I have; they are for the following: {c}.",
                           "None of the functions available to me can {p}, so I can't do that. I can {c}.")) \
            .replace("{p}", purpose).replace("{c}", can)
        listed = ", ".join(f"{ix.names[j]} ({ix.purpose[j]})" for j in cands)
        think = (f"Need a tool? The user wants to {purpose}. Candidates: {listed}. None of them can do that, so no "
                 f"call; say so.")
        return Message("assistant", text, think=think)

    def _run_calls(self, calls: list[tuple[int, dict]]) -> list[dict] | None:
        results = []
        for i, args in calls:
            r = self._execute(i, args)
            if r is None:
                return None
            results.append(r)
        return results

    def _related(self, i: int, m: int, rng: random.Random) -> list[int]:
        """``m`` other APIs near ``i`` (same subdomain, then domain, then anywhere), names distinct."""
        return [j for j in self.ix.candidates([i], m + 1, rng, similar=True) if j != i][:m]

    # -- dialog types --------------------------------------------------------------------------------------------
    def _single(self, rng: random.Random, level: float, style: str, similar: bool = False) -> _Draft | None:
        ix = self.ix
        i = rng.choice(ix.similar_ok) if similar and ix.similar_ok else rng.randrange(len(ix.apis))
        args = self._args(i, rng, level)
        user = self._styled(self._request(i, args, rng), i, style, rng)
        return _Draft([_Step("user", user), _Step("calls", calls=[(i, args)], summary=True)], [i], i, similar)

    def _multiple(self, rng: random.Random, level: float, style: str) -> _Draft | None:
        return self._single(rng, level, style, similar=True)

    def _parallel(self, rng: random.Random, level: float, style: str) -> _Draft | None:
        ix = self.ix
        i = rng.choice(ix.with_params)
        k = _n_calls(level)
        seen, calls = set(), []
        for _ in range(k * 4):
            args = self._args(i, rng, level)
            key = json.dumps(args, sort_keys=True)
            if args and key not in seen:
                seen.add(key)
                calls.append((i, args))
                if len(calls) == k:
                    break
        if len(calls) < 2:
            return None
        parts = [self._request(i, a, rng) for _, a in calls]
        user = self._styled(_join_requests(parts, rng), i, style, rng)
        return _Draft([_Step("user", user), _Step("calls", calls=calls, summary=True)], [i], i, False)

    def _parallel_multiple(self, rng: random.Random, level: float, style: str) -> _Draft | None:
        ix = self.ix
        i = rng.randrange(len(ix.apis))
        n_calls = _n_calls(level)
        tools = [i] + self._related(i, min(n_calls, 3) - 1, rng)
        if len(tools) < 2:
            return None
        calls = [(j, self._args(j, rng, level)) for j in tools]
        if n_calls > len(tools):  # a repeat of the first tool with other arguments
            extra = self._args(i, rng, level)
            if extra and extra != calls[0][1]:
                calls.append((i, extra))
        parts = [self._request(j, a, rng) for j, a in calls]
        user = self._styled(_join_requests(parts, rng), tools, style, rng)
        return _Draft([_Step("user", user), _Step("calls", calls=calls, summary=True)], tools, i, False)

    def _dependent(self, rng: random.Random, level: float, style: str) -> _Draft | None:
        ix = self.ix
        for attempt in range(_BUILD_TRIES):
            # mostly the best tier (id slots within a domain); now and then the others, for variety
            best = rng.random() < 0.85 or attempt < 2
            tier = ix.consumer_tiers[0 if best else rng.randrange(len(ix.consumer_tiers))]
            b, param, slot = rng.choice(tier)
            producers = [(a, path) for a, path in ix.producers[slot] if a != b and ix.names[a] != ix.names[b]]
            near = [(a, p) for a, p in producers if ix.apis[a].domain == ix.apis[b].domain]
            a, path = rng.choice(near or producers)
            args_a = self._args(a, rng, level)
            res_a = self._execute(a, args_a)  # the tool agent runs the first call now: its value feeds the second
            if res_a is None:
                continue
            # a value the call really produced, not an echo of what the user said
            said = set(mentioned_values(args_a))
            values = [v for v in _values_at(res_a, path) if _render(v) not in said]
            if not values:
                continue
            value = values[0]
            args_b = self._args(b, rng, level)
            args_b = {param: value, **{k: v for k, v in args_b.items() if k != param}}
            if not self._valid(b, args_b):
                continue
            ra = self._request(a, args_a, rng)
            rb = self._request(b, {k: v for k, v in args_b.items() if k != param}, rng)
            user = self._styled(rng.choice(_DEPENDS).replace("{label}", _label(param)).replace("{a}", ra)
                                .replace("{b}", rb), [a, b], style, rng)
            steps = [_Step("user", user), _Step("calls", calls=[(a, args_a)], results=[res_a]),
                     _Step("calls", calls=[(b, args_b)], summary=True,
                           sources={(0, param): f"from the {ix.names[a]} result, field {path}"})]
            return _Draft(steps, [a, b], b, False,
                          extras={"depends": {"from": ix.apis[a].id, "field": path, "to": ix.apis[b].id,
                                              "param": param}})
        return None

    def _irrelevance(self, rng: random.Random, level: float, style: str) -> _Draft | None:
        ix = self.ix
        t = rng.randrange(len(ix.apis))
        args = self._args(t, rng, level)
        user = self._styled(self._request(t, args, rng), t, style, rng)
        leaves, name, purpose = ix.leafsets[t], ix.names[t], ix.purpose[t]

        def unfit(j: int) -> bool:  # could this tool serve the request? then it may not be a candidate
            return j == t or ix.names[j] == name or ix.purpose[j] == purpose or bool(ix.leafsets[j] & leaves)

        return _Draft([_Step("user", user)], [], t, False, exclude=unfit, extras={"irrelevant_api": ix.apis[t].id},
                      refuse_for=t)

    def _clarify(self, rng: random.Random, level: float, style: str) -> _Draft | None:
        ix = self.ix
        i = rng.choice(ix.clarify_ids)
        missing = rng.choice(ix.clarify[i])
        args = self._args(i, rng, level)
        if missing not in args:
            return None
        given = {k: v for k, v in args.items() if k != missing}
        user = self._styled(self._request(i, given, rng), i, style, rng)
        desc = (ix.params[i].get("properties") or {}).get(missing, {}).get("description") or _label(missing)
        desc = re.sub(r"\s*\([^)]*\)?", "", _first_sentence(desc)).rstrip(". ") or _label(missing)  # no "(" left
        desc = desc[0].lower() + desc[1:] if len(desc) > 1 and desc[1].islower() else desc  # "Unique id" -> "unique"
        # the question names the parameter and says what it is (its description), so the user knows what to give
        ask = rng.choice(("I can {p} for you, but the required parameter {m} ({d}) is missing. What {l} should I "
                          "use?",
                          "To {p} I need the {m} ({d}). Could you tell me the {l}?",
                          "Sure. Which {l} do you mean? The parameter {m} ({d}) is required to {p}.")) \
            .replace("{p}", ix.purpose[i]).replace("{m}", missing).replace("{l}", _label(missing)) \
            .replace("{d}", desc)
        think_ask = (f"Need a tool? Yes: {ix.names[i]}, because the user wants to {ix.purpose[i]}. Required: {missing} "
                     f"is not in the request and cannot be guessed. Ask the user for {missing} before calling.")
        answer = rng.choice(_ANSWERS).replace("{label}", _label(missing)) \
            .replace("{v}", " ".join(mentioned_values({missing: args[missing]})))
        steps = [_Step("user", user), _Step("ask", ask, think_ask), _Step("user", answer),
                 _Step("calls", calls=[(i, args)], summary=True, sources={(0, missing): "from the user's answer"})]
        return _Draft(steps, [i], i, False, extras={"missing": missing})

    def _multi_turn(self, rng: random.Random, level: float, style: str) -> _Draft | None:
        ix = self.ix
        i = rng.randrange(len(ix.apis))
        turns = min(_n_calls(level), 3)
        apis = [i] + self._related(i, turns - 1, rng)
        steps: list[_Step] = []
        for n, j in enumerate(apis):
            args = self._args(j, rng, level)
            req = self._request(j, args, rng)
            user = self._styled(req, j, style, rng) if n == 0 or style == "descriptive" else req
            if n > 0:
                user = rng.choice(_NEXT_TURN).replace("{t}", user)
            steps += [_Step("user", user), _Step("calls", calls=[(j, args)], summary=True)]
        return _Draft(steps, apis, i, False)


def _n_calls(level: float) -> int:
    """Calls (or turns) of a multi-call dialog: 2 up to the middle level, then up to 4 at the top."""
    return 2 + int(round(max(0.0, level - 0.5) * 4))


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


# ===============================================================================================================
# Structure of each type (the generator's contract; also the LLM path's acceptance test)
# ===============================================================================================================

def structure_problem(sample: Sample) -> str | None:
    """Why ``sample`` does not have the defining structure of its ``type`` (``None`` if it does): parallel types
    need one turn with >= 2 calls (``parallel``: one tool; ``parallel_multiple``: >= 2 tools), ``irrelevance`` no
    call and a text answer, ``clarify`` a text question naming a missing required parameter before the first call,
    ``dependent`` a later call taking a value found in an earlier tool result, ``multi_turn`` >= 2 user requests
    with calls; every call turn must be followed by a tool turn with one result per call, and the dialog must end
    with an assistant text turn."""
    msgs, typ = sample.messages, sample.type
    if not msgs or msgs[0].role != "user":
        return "the dialog must start with a user turn"
    if msgs[-1].role != "assistant" or msgs[-1].calls:
        return "the dialog must end with an assistant text turn"
    for k, m in enumerate(msgs):
        if m.role == "assistant" and m.calls:
            nxt = msgs[k + 1] if k + 1 < len(msgs) else None
            if nxt is None or nxt.role != "tool" or len(nxt.results or []) != len(m.calls):
                return f"turn {k}: a call turn must be followed by a tool turn with one result per call"
    call_turns = [m for m in msgs if m.role == "assistant" and m.calls]
    calls = [c for m in call_turns for c in m.calls]
    if typ in ("single", "multiple") and (len(call_turns) != 1 or len(calls) != 1):
        return f"{typ}: expected exactly one call, got {len(calls)} in {len(call_turns)} turn(s)"
    if typ in ("parallel", "parallel_multiple"):
        if len(call_turns) != 1 or len(calls) < 2:
            return f"{typ}: expected one turn with >= 2 calls"
        names = {c.name for c in calls}
        if typ == "parallel" and len(names) != 1:
            return "parallel: expected the same tool called several times"
        if typ == "parallel_multiple" and len(names) < 2:
            return "parallel_multiple: expected >= 2 different tools"
    if typ == "irrelevance" and (calls or not msgs[-1].content):
        return "irrelevance: expected no call and a text answer"
    if typ == "clarify":
        first = next((m for m in msgs if m.role == "assistant"), None)
        missing = sample.meta.get("missing")
        if first is None or first.calls or not first.content:
            return "clarify: the first assistant turn must ask a question in text"
        if missing and missing not in first.content:
            return f"clarify: the question does not name the missing parameter {missing!r}"
        if not calls:
            return "clarify: no call after the user's answer"
        if missing and not any(missing in c.arguments for c in calls):
            return f"clarify: the call does not use the missing parameter {missing!r}"
    if typ == "dependent":
        if len(call_turns) < 2:
            return "dependent: expected >= 2 call turns"
        if not _uses_earlier_result(msgs):
            return "dependent: no later call uses a value an earlier tool returned"
    if typ == "multi_turn":
        users = sum(1 for m in msgs if m.role == "user")
        if users < 2 or len(call_turns) < 2:
            return "multi_turn: expected >= 2 user requests with calls"
    return None


def _scalars(node: Any) -> Iterable[Any]:
    if isinstance(node, dict):
        for v in node.values():
            yield from _scalars(v)
    elif isinstance(node, list):
        for v in node:
            yield from _scalars(v)
    elif node is not None and not isinstance(node, bool):
        yield node


def _uses_earlier_result(msgs: list[Message]) -> bool:
    seen: set[str] = set()
    for m in msgs:
        if m.role == "tool":
            seen.update(_lit(v) for r in m.results or [] for v in _scalars(r.get("results") if isinstance(r, dict)
                                                                            else r))
        elif m.role == "assistant" and m.calls and seen:
            if any(_lit(v) in seen for c in m.calls for v in c.arguments.values()
                   if isinstance(v, (str, int, float)) and not isinstance(v, bool)):
                return True
    return False


# ===============================================================================================================
# Running: programmatic and LLM, resumable output
# ===============================================================================================================

def _normalise_mix(mix: Any, allowed: Sequence[str], what: str, option: str, default: dict) -> dict[str, float]:
    if mix is None:
        return dict(default)
    return parse_mix(mix, allowed=allowed, what=what, option=option)


def _is_dialog_record(row: Any) -> bool:
    """Whether a JSON value looks like a line of a dialogs file (so ``--out`` may resume it)."""
    return isinstance(row, dict) and "id" in row and "messages" in row


_DIALOGS = "dialogs (funrl dialogs)"


class _Existing:
    """What an earlier run left in ``--out`` (read line by line, not kept): the ids written, the row of the highest
    id (checked against what this run makes), and the rows themselves, read again one at a time when needed."""

    def __init__(self, path: Path, ids: set, last: dict | None, size: int):
        self.path, self.ids, self.last, self.size = path, ids, last, size
        self._rows: Iterator[dict] | None = None
        self._ahead: dict[str, dict] = {}

    def __bool__(self) -> bool:
        return bool(self.ids)

    def __contains__(self, sid: str) -> bool:
        return sid in self.ids

    def row(self, sid: str) -> dict:
        """The row of ``sid``. Rows come in id order in a file this generator wrote, so this reads on from where
        it stopped; a row met before its turn is held until asked for."""
        if sid in self._ahead:
            return self._ahead.pop(sid)
        if self._rows is None:
            self._rows = self._read()
        for row in self._rows:
            if row["id"] == sid:
                return row
            self._ahead[row["id"]] = row
        raise KeyError(sid)

    def _read(self) -> Iterator[dict]:
        with open(self.path, "rb") as f:  # only the lines that were there when the run began
            pos = 0
            for line in f:
                pos += len(line)
                if pos > self.size:
                    return
                yield json.loads(line)


def _open_out(out: str | Path, seed: int) -> tuple[JsonlAppender, _Existing]:
    app = JsonlAppender(out, own=_is_dialog_record, what=_DIALOGS, reuse="tools")
    size = Path(out).stat().st_size
    ids: set[str] = set()
    last: dict | None = None
    with open(out, "rb") as f:
        for k, line in enumerate(f):
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("id"), str):
                app.close()
                raise InputError("not a dialog sample of this generator (no string id)", path=out, line=k + 1)
            got = (row.get("meta") or {}).get("seed")
            if got != seed:
                app.close()
                raise InputError(f"written with seed {got!r}, this run uses seed {seed}: use another --out (a file "
                                 f"mixing two runs would not be one run's output)", path=out, line=k + 1)
            ids.add(row["id"])
            if last is None or row["id"] >= last["id"]:  # the highest id (of equal ones, the last line)
                last = row
    return app, _Existing(Path(out), ids, last, size)


def _progress_bar(total: int, initial: int, enabled: bool) -> Any:
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc="dialogs", unit="dlg", disable=not enabled, file=sys.stderr,
                dynamic_ncols=True)


def generate_dialogs(pool: Sequence[ApiRecord], n: int, seed: int = 0, *, mix: Any = None,
                     complexity_mix: Any = None, backend: Any = None, out: str | Path | None = None,
                     progress: bool = True, concurrency: int = 32, votes: int = 3,
                     quarantined: list | None = None) -> list[Sample]:
    """``n`` dialogs (``dlg-000000``...) from ``pool``; see the module docstring.

    ``mix`` / ``complexity_mix``: a dict or ``"single=.3,parallel=.15"`` text (default :data:`DEFAULT_MIX`,
    :data:`DEFAULT_COMPLEXITY_MIX`). ``backend``: ``None`` or a programmatic backend for the deterministic agents,
    an LLM backend for the prompted ones (``concurrency`` samples at a time, ``votes`` assistant generations per
    turn). ``out``: resumable JSONL (an existing file of another seed is refused); LLM quarantines go to
    ``<out>.quarantine.jsonl`` and, when ``quarantined`` is a list, are appended to it as ``{"id", "reason",
    "text"}``. Returns the samples in index order (quarantined indices are absent)."""
    if backend is not None and not getattr(backend, "is_programmatic", False):
        return run_sync(agenerate_dialogs(pool, n, seed, mix=mix, complexity_mix=complexity_mix, backend=backend,
                                            out=out, progress=progress, concurrency=concurrency, votes=votes,
                                            quarantined=quarantined))
    return list(iter_dialogs(pool, n, seed, mix=mix, complexity_mix=complexity_mix, out=out, progress=progress))


def iter_dialogs(pool: Sequence[ApiRecord], n: int, seed: int = 0, *, mix: Any = None, complexity_mix: Any = None,
                 out: str | Path | None = None, progress: bool = True) -> Iterator[Sample]:
    """The programmatic :func:`generate_dialogs` one sample at a time, in index order: each new sample is on disk
    (``out``) before it is yielded, and the ones an earlier run wrote are read back from ``out`` as their turn
    comes, so memory does not grow with ``n``. The checks (``n``, mix, feasibility, resume) run before the first
    sample."""
    if n < 0:
        raise ValueError("n must be >= 0")
    types, bands = _plan_labels(n, seed, mix, complexity_mix)
    builder = _Builder(pool, seed)
    builder.check_feasible(set(types))
    app, existing = _open_out(out, seed) if out is not None else (None, None)
    if existing:
        _check_resume(builder, existing.last, types, bands, out, app)
    return _iter_dialogs(builder, n, types, bands, app, existing, progress)


def _iter_dialogs(builder: _Builder, n: int, types: list[str], bands: list[str], app: JsonlAppender | None,
                  existing: _Existing | None, progress: bool) -> Iterator[Sample]:
    bar = _progress_bar(n, sum(1 for i in range(n) if _sample_id(i) in existing) if existing else 0, progress)
    try:
        for i in range(n):
            sid = _sample_id(i)
            if existing and sid in existing:
                yield Sample.from_dict(existing.row(sid))
                continue
            s = builder.make(i, types[i], bands[i])
            if app is not None:
                app.write(s.to_dict())
            yield s
            bar.update(1)
    finally:
        bar.close()
        if app is not None:
            app.close()


def _check_resume(builder: _Builder, last_row: dict, types: list[str], bands: list[str], out: Any,
                  app: JsonlAppender) -> None:
    """Before appending to an existing file, regenerate its last sample (the highest id): a file written with another
    pool, ``n``, mix or complexity mix would not match, and appending to it would not give any one run's output."""
    last = last_row["id"]
    index = int(last.rsplit("-", 1)[-1]) if re.fullmatch(r"dlg-\d+", last) else -1
    ok = 0 <= index < len(types) and builder.make(index, types[index], bands[index]).to_dict() == last_row
    if not ok:
        app.close()
        raise InputError(f"{last} is not what this run generates: the file was written with another pool, --n, "
                         f"--mix or --complexity-mix; use another --out (or the same arguments as before)", path=out)


def _plan_labels(n: int, seed: int, mix: Any, complexity_mix: Any) -> tuple[list[str], list[str]]:
    m = _normalise_mix(mix, DIALOG_TYPES, "dialog type", "--mix", DEFAULT_MIX)
    c = _normalise_mix(complexity_mix, BANDS, "complexity band", "--complexity-mix", DEFAULT_COMPLEXITY_MIX)
    return allocate(m, n, seed, "type"), allocate(c, n, seed, "band")


# ===============================================================================================================
# LLM agents
# ===============================================================================================================

TYPE_DESCRIPTIONS = {
    "single": "one request that needs exactly one function call",
    "parallel": "one message asking for the same function several times with different values (one turn of calls)",
    "multiple": "one request needing one call; several candidate functions look similar, only one fits",
    "parallel_multiple": "one message needing several different functions at once",
    "dependent": "a request where a later call needs a value that an earlier call returns",
    "irrelevance": "a request that none of the assistant's functions can serve",
    "clarify": "a request that leaves out a required value; the user gives it when asked",
    "multi_turn": "several requests in sequence, each after the previous answer",
}

DIALOG_PROMPTS = {
    "user": (
        "You are the user agent of a function-calling dialog generator. You play a person talking to an assistant "
        "that has the functions listed below. Write the user's next message from the intent you are given: natural, "
        "in your own words, in the requested style, as one message. Keep every value listed under 'keep verbatim' "
        "exactly as written (same characters), and add no other concrete values. Never mention function names or "
        "parameter names.\n"
        "Reply with JSON only: {\"message\": \"...\"}"),
    "assistant": (
        "You are the assistant agent of a function-calling dialog generator: an expert in composing functions. You "
        "are given a conversation and a set of possible functions.\n{tools}\n\n"
        "Before acting, think step by step in this fixed order: (1) does the request need a function? (2) which "
        "function and why? (3) each required parameter and where its value comes from (the user's words or an "
        "earlier function result; never invent one); (4) optional parameters worth setting. Then act:\n"
        "- call functions: several independent calls may go in one list; a call needing another call's result "
        "waits for that result;\n"
        "- if a required value is missing, ask the user for it, naming the parameter;\n"
        "- if no function can serve the request, say so in text;\n"
        "- after function results arrive, answer the user in text, quoting the relevant values.\n"
        "Reply with JSON only, either {\"think\": \"...\", \"calls\": \"[func_name(param=value, ...), ...]\"} (Python "
        "call syntax) or {\"think\": \"...\", \"content\": \"...\"}."),
    "tool": (
        "You are the tool agent of a function-calling dialog generator: you simulate an API. Given its definition, "
        "its return schema and one call, return a realistic result that conforms to the return schema exactly (every "
        "field, right types, enum values only) and is consistent with the call's arguments.\n"
        "Reply with the JSON result object only."),
}


def _transcript(messages: list[Message]) -> str:
    lines = []
    for m in messages:
        if m.role == "user":
            lines.append(f"User: {m.content}")
        elif m.role == "assistant":
            lines.append("Assistant: " + (render_calls(m.calls) if m.calls else m.content))
        else:
            lines.append("Tool results: " + json.dumps(m.results, ensure_ascii=False))
    return "\n".join(lines) if lines else "(nothing yet)"


def _assistant_chat(messages: list[Message]) -> list[dict[str, str]]:
    out = []
    for m in messages:
        if m.role == "user":
            out.append({"role": "user", "content": m.content})
        elif m.role == "assistant":
            body: dict[str, Any] = {"think": m.think or ""}
            if m.calls:
                body["calls"] = render_calls(m.calls)
            else:
                body["content"] = m.content
            out.append({"role": "assistant", "content": json.dumps(body, ensure_ascii=False)})
        else:
            out.append({"role": "user", "content": "Function results:\n" + json.dumps(m.results, ensure_ascii=False)})
    return out


@dataclass
class _Decision:
    think: str
    calls: list[Call] | None
    content: str

    def key(self) -> str:
        """What the vote compares: the call parts only (names and arguments), or that there is no call."""
        if self.calls:
            return json.dumps([[c.name, c.arguments] for c in self.calls], sort_keys=True, ensure_ascii=False)
        return "<no call>"


class _Quarantine(Exception):
    def __init__(self, reason: str, text: str | None = None):
        super().__init__(reason)
        self.reason, self.text = reason, text


def _backends() -> Any:
    from .. import backends
    return backends


class _LLMDialogs:
    """Prompted agents over the programmatic plan; one coroutine per sample."""

    def __init__(self, builder: _Builder, backend: Any, seed: int, votes: int, retries: int = 2):
        self.b, self.backend, self.seed, self.votes, self.retries = builder, backend, seed, votes, retries
        self.bk = _backends()

    def _request(self, messages: list[dict], index: int, turn: int, vote: int = 0, temperature: float = 0.7) -> Any:
        return self.bk.ChatRequest(messages, stage="dialogs", temperature=temperature,
                                   seed=_stable_int(self.seed, index, turn, vote), attempt=vote * (self.retries + 1),
                                   json_mode=True)

    async def _ask(self, req: Any, parse: Callable[[str], Any], what: str) -> Any:
        value = await self.bk.chat_json(self.backend, req, parse, retries=self.retries)
        if isinstance(value, self.bk.Quarantined):
            raise _Quarantine(f"{what}: {value.reason}", value.last_text)
        return value

    async def sample(self, index: int, typ: str, band: str) -> Sample:
        plan = self.b.make(index, typ, band)
        ix = self.b.ix
        cand = [ix.by_id[a] for a in plan.meta["api_ids"]]
        by_name = {ix.names[j]: j for j in cand}
        odd = [n for n in by_name if not n.isidentifier()]
        plan_values = [v for c in plan.calls() for v in mentioned_values(c.arguments)]
        style = plan.meta.get("style", "terse")
        tools_text = tools_json(plan.tools)
        convo: list[Message] = []
        for k, pm in enumerate(plan.messages):
            if pm.role == "user":
                keep = list(dict.fromkeys(v for v in plan_values if v and v in pm.content))
                convo.append(Message("user", await self._user(index, k, typ, style, tools_text, convo, pm.content,
                                                              keep)))
            elif pm.role == "assistant":
                d = await self._assistant(index, k, tools_text, convo, set(by_name), odd)
                if bool(d.calls) != bool(pm.calls):
                    raise _Quarantine(f"assistant turn {k}: expected {'a call' if pm.calls else 'a text answer'} "
                                      f"for a {typ} dialog, the agents agreed on "
                                      f"{'a call' if d.calls else 'a text answer'}")
                convo.append(Message("assistant", d.content, calls=d.calls, think=d.think))
            else:
                prev = convo[-1] if convo else None
                if prev is None or not prev.calls:
                    raise _Quarantine(f"turn {k}: a tool turn without calls before it")
                results = [await self._tool(index, k, n, ix.apis[by_name[c.name]], c) for n, c in
                           enumerate(prev.calls)]
                convo.append(Message("tool", results=[{"name": c.name, "results": r}
                                                      for c, r in zip(prev.calls, results)]))
        meta = dict(plan.meta)
        meta["source"] = getattr(self.backend, "name", "llm")
        meta["votes"] = self.votes
        sample = Sample(plan.id, plan.tools, convo, typ, None, meta)
        meta["complexity"] = complexity(sample)
        problem = structure_problem(sample)
        if problem:
            raise _Quarantine(f"structure: {problem}")
        return sample

    async def _user(self, index: int, turn: int, typ: str, style: str, tools_text: str, convo: list[Message],
                    intent: str, keep: list[str]) -> str:
        prompt = (f"The assistant's functions:\n{tools_text}\n\nDialog type: {typ} ({TYPE_DESCRIPTIONS[typ]}).\n"
                  f"Conversation so far:\n{_transcript(convo)}\n\nIntent of your next message: {intent}\n"
                  f"Style: {style}.\nKeep verbatim: {json.dumps(keep, ensure_ascii=False)}")

        def parse(text: str) -> str:
            obj = self.bk.extract_json(text)
            msg = obj.get("message") if isinstance(obj, dict) else None
            if not isinstance(msg, str) or not msg.strip():
                raise ValueError('expected {"message": "<non-empty text>"}')
            for v in keep:
                if v not in msg:
                    raise ValueError(f"the message leaves out the value {v!r}")
            return msg.strip()

        req = self._request([{"role": "system", "content": DIALOG_PROMPTS["user"]},
                             {"role": "user", "content": prompt}], index, turn)
        return await self._ask(req, parse, f"user turn {turn}")

    async def _assistant(self, index: int, turn: int, tools_text: str, convo: list[Message], names: set[str],
                         odd: list[str]) -> _Decision:
        def parse(text: str) -> _Decision:
            obj = self.bk.extract_json(text)
            if not isinstance(obj, dict):
                raise ValueError("expected a JSON object with 'think' and 'calls' or 'content'")
            think = obj.get("think")
            if not isinstance(think, str) or not think.strip():
                raise ValueError("'think' is missing or empty")
            raw = obj.get("calls")
            if raw:
                calls = decode_calls(raw, "python" if isinstance(raw, str) else "json", known_names=odd)
                unknown = [c.name for c in calls if c.name not in names]
                if unknown:
                    raise ValueError(f"call to unknown function(s) {', '.join(map(repr, unknown))}")
                if not calls:
                    raise ValueError("'calls' decodes to no call")
                return _Decision(think.strip(), calls, "")
            content = obj.get("content")
            if not isinstance(content, str) or not content.strip():
                raise ValueError("expected non-empty 'calls' or 'content'")
            return _Decision(think.strip(), None, content.strip())

        system = DIALOG_PROMPTS["assistant"].replace("{tools}", tools_text)
        chat = [{"role": "system", "content": system}] + _assistant_chat(convo)
        decisions = await asyncio.gather(*[self._ask(self._request(chat, index, turn, v), parse,
                                                     f"assistant turn {turn}, vote {v + 1}")
                                           for v in range(self.votes)], return_exceptions=True)
        for d in decisions:
            if isinstance(d, BaseException):
                raise d
        keys = Counter(d.key() for d in decisions)
        if len(keys) > 1:
            shown = "; ".join(f"{n}x {key[:120]}" for key, n in keys.most_common())
            raise _Quarantine(f"assistant turn {turn}: the {self.votes} votes disagree on the call parts ({shown})")
        return decisions[0]

    async def _tool(self, index: int, turn: int, n: int, api: ApiRecord, call: Call) -> Any:
        if api.impl is not None:
            try:
                return execute(api, call.arguments)
            except ExecutionError as e:
                raise _Quarantine(f"tool turn {turn}: call rejected: {e}") from None
        try:  # a simulated result still needs a valid call
            validate_arguments(api, call.arguments)
        except ExecutionError as e:
            raise _Quarantine(f"tool turn {turn}: call rejected: {e}") from None
        prompt = (f"API definition:\n{json.dumps(api.tool.to_dict(), ensure_ascii=False)}\n\nReturn schema:\n"
                  f"{json.dumps(api.returns, ensure_ascii=False)}\n\nCall:\n"
                  f"{json.dumps({'name': call.name, 'arguments': call.arguments}, ensure_ascii=False)}")

        def parse(text: str) -> dict:
            obj = self.bk.extract_json(text)
            issues = result_issues(api, obj)
            if issues:
                raise ValueError("; ".join(issues[:3]))
            return obj

        req = self._request([{"role": "system", "content": DIALOG_PROMPTS["tool"]},
                             {"role": "user", "content": prompt}], index, turn, n, temperature=0.0)
        return await self._ask(req, parse, f"tool turn {turn}")


async def agenerate_dialogs(pool: Sequence[ApiRecord], n: int, seed: int = 0, *, mix: Any = None,
                            complexity_mix: Any = None, backend: Any = None, out: str | Path | None = None,
                            progress: bool = True, concurrency: int = 32, votes: int = 3,
                            quarantined: list | None = None) -> list[Sample]:
    """:func:`generate_dialogs` as a coroutine (for a running event loop); LLM samples run ``concurrency`` at a
    time and are written in index order."""
    if backend is None or getattr(backend, "is_programmatic", False):
        return generate_dialogs(pool, n, seed, mix=mix, complexity_mix=complexity_mix, backend=None, out=out,
                                progress=progress)
    if n < 0:
        raise ValueError("n must be >= 0")
    if votes < 1 or concurrency < 1:
        raise ValueError("votes and concurrency must be >= 1")
    types, bands = _plan_labels(n, seed, mix, complexity_mix)
    builder = _Builder(pool, seed)
    builder.check_feasible(set(types))
    llm = _LLMDialogs(builder, backend, seed, votes)
    app, existing = _open_out(out, seed) if out is not None else (None, None)
    qapp = JsonlAppender(str(out) + ".quarantine.jsonl") if out is not None else None
    done_q = set(qapp.ids) if qapp is not None else set()
    samples: dict[int, Sample] = {}
    todo = []
    for i in range(n):
        sid = _sample_id(i)
        if existing and sid in existing:
            samples[i] = Sample.from_dict(existing.row(sid))
        elif sid not in done_q:
            todo.append(i)
    bar = _progress_bar(n, n - len(todo), progress)

    async def one(i: int) -> Sample | dict:
        try:
            return await llm.sample(i, types[i], bands[i])
        except _Quarantine as q:
            return {"id": _sample_id(i), "type": types[i], "reason": q.reason, "text": q.text, "seed": seed}

    try:
        for start in range(0, len(todo), concurrency):
            batch = todo[start:start + concurrency]
            for i, res in zip(batch, await asyncio.gather(*[one(i) for i in batch])):
                if isinstance(res, Sample):
                    samples[i] = res
                    if app is not None:
                        app.write(res.to_dict())
                else:
                    if qapp is not None:
                        qapp.write(res)
                    if quarantined is not None:
                        quarantined.append(res)
                bar.update(1)
    finally:
        bar.close()
        for a in (app, qapp):
            if a is not None:
                a.close()
        await backend.aclose()
    return [samples[i] for i in sorted(samples)]


# ===============================================================================================================
# Model-based complexity (ToolACE Eq. 1)
# ===============================================================================================================

def _loss_segments(sample: Sample) -> list[tuple[str, bool]]:
    """The dialog as ChatML text pieces, ``True`` for the assistant tokens scored: each assistant turn's
    ``<think>…</think>`` and its calls (Python syntax) or text, and its end-of-turn marker."""
    from ..prompts import funrl_system_prompt

    segs: list[tuple[str, bool]] = [(f"<|im_start|>system\n{funrl_system_prompt(sample.tools)}<|im_end|>\n", False)]
    for m in sample.messages:
        if m.role == "user":
            segs.append((f"<|im_start|>user\n{m.content}<|im_end|>\n", False))
        elif m.role == "assistant":
            body = render_calls(m.calls) if m.calls else m.content
            think = f"<think>{m.think}</think>\n" if m.think else ""
            segs.append(("<|im_start|>assistant\n", False))
            segs.append((f"{think}{body}<|im_end|>", True))
            segs.append(("\n", False))
        else:
            segs.append((f"<|im_start|>user\n<tool_response>\n{json.dumps(m.results, ensure_ascii=False)}\n"
                         f"</tool_response><|im_end|>\n", False))
    return segs


def model_loss(samples: Sequence[Sample], model: Any, tokenizer: Any, *, max_tokens: int | None = None,
               store: bool = True) -> list[float]:
    """ToolACE's complexity measure (Eq. 1): ``-(1/n_y) sum_i log p(t_i | x, t_<i)``, the mean token loss of the
    assistant turns ``y`` given the dialog before each, under ``model`` (a ``transformers`` causal LM). The dialog is
    laid out in ChatML (Qwen's template) with the FunRL system prompt; a dialog longer than ``max_tokens`` (default:
    the model's ``max_position_embeddings``) keeps its last tokens. Stores ``meta["loss"]`` (6 places) when
    ``store``; returns the losses. torch is imported here only, so the rest of the module needs no torch."""
    import torch

    limit = max_tokens or getattr(getattr(model, "config", None), "max_position_embeddings", None)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.no_grad():
            for s in samples:
                ids: list[int] = []
                mask: list[bool] = []
                for text, scored in _loss_segments(s):
                    t = tokenizer(text, add_special_tokens=False)["input_ids"]
                    ids.extend(t)
                    mask.extend([scored] * len(t))
                if limit and len(ids) > limit:
                    ids, mask = ids[-limit:], mask[-limit:]
                x = torch.tensor([ids], device=device)
                logits = model(input_ids=x).logits[0, :-1].float()
                target = x[0, 1:]
                m = torch.tensor(mask[1:], device=device)
                if not bool(m.any()):
                    loss = float("nan")
                else:
                    loss = float(torch.nn.functional.cross_entropy(logits[m], target[m]))
                out.append(loss)
                if store and math.isfinite(loss):
                    s.meta["loss"] = round(loss, 6)
    finally:
        model.train(was_training)
    return out


# ===============================================================================================================
# Statistics
# ===============================================================================================================

class DialogStats:
    """:func:`dialog_stats` one sample at a time (``add``), in constant memory: the same numbers as over a list."""

    def __init__(self) -> None:
        self.n = 0
        self.types: Counter = Counter()
        self.target: Counter = Counter()
        self.realised: Counter = Counter()
        self.hits = 0
        self.hist: Counter = Counter()
        self.score_sum = 0.0
        self.score_min: float | None = None
        self.score_max: float | None = None
        self.per_type: dict[str, list[float]] = {}  # type -> [sum, count], in order of first appearance
        self.candidates: Counter = Counter()
        self.calls: Counter = Counter()
        self.messages: Counter = Counter()
        self.styles: Counter = Counter()
        self.domains: set = set()
        self.attempts_sum = 0

    def add(self, s: Sample) -> None:
        x = float(s.meta["complexity"]) if "complexity" in s.meta else complexity(s)
        band = band_of(x)
        self.n += 1
        self.types[s.type] += 1
        self.target[s.meta.get("band")] += 1
        self.realised[band] += 1
        self.hits += s.meta.get("band") == band
        self.hist[min(int(x * 10), 9)] += 1
        self.score_sum += x
        self.score_min = x if self.score_min is None else min(self.score_min, x)
        self.score_max = x if self.score_max is None else max(self.score_max, x)
        acc = self.per_type.setdefault(s.type, [0.0, 0])
        acc[0] += x
        acc[1] += 1
        self.candidates[len(s.tools)] += 1
        self.calls[len(s.calls())] += 1
        self.messages[len(s.messages)] += 1
        self.styles[s.meta.get("style")] += 1
        self.domains.add(s.meta.get("domain"))
        self.attempts_sum += s.meta.get("attempts", 1)

    def result(self) -> dict[str, Any]:
        n, per_type = self.n, self.per_type
        order = [t for t in DIALOG_TYPES if t in per_type] + sorted((t for t in per_type if t not in DIALOG_TYPES),
                                                                    key=str)
        return {
            "n": n,
            "types": {t: self.types[t] for t in DIALOG_TYPES if self.types[t]},
            "bands": {"target": {b: self.target[b] for b in BANDS}, "realised": {b: self.realised[b] for b in BANDS},
                      "hit_rate": round(self.hits / n, 4) if n else 0.0},
            "complexity": {"mean": round(self.score_sum / n, 4) if n else 0.0,
                           "min": self.score_min if self.score_min is not None else 0.0,
                           "max": self.score_max if self.score_max is not None else 0.0,
                           "histogram": {f"{k / 10:.1f}-{(k + 1) / 10:.1f}": self.hist[k] for k in range(10)},
                           "by_type": {t: round(per_type[t][0] / per_type[t][1], 4) for t in order}},
            "candidates": dict(sorted(self.candidates.items())),
            "calls": dict(sorted(self.calls.items())),
            "messages": dict(sorted(self.messages.items())),
            "styles": dict(self.styles.most_common()),
            "domains": len(self.domains),
            "attempts_mean": round(self.attempts_sum / n, 3) if n else 0.0,
        }


def dialog_stats(samples: Iterable[Sample]) -> dict[str, Any]:
    """Counts for a run: ``types``; ``bands`` (target vs realised band counts and the share landing in its target
    band); ``complexity`` (mean, min, max, a 10-bin histogram, mean per type); distributions of ``candidates``,
    ``calls`` per dialog, ``messages`` per dialog and ``styles``; ``domains`` (distinct) and mean ``attempts``."""
    stats = DialogStats()
    for s in samples:
        stats.add(s)
    return stats.result()


def format_stats(stats: dict[str, Any]) -> str:
    """:func:`dialog_stats` as a few readable lines."""
    c, b = stats["complexity"], stats["bands"]
    lines = [
        f"dialogs: {stats['n']}; domains: {stats['domains']}; mean attempts: {stats['attempts_mean']}",
        "types: " + ", ".join(f"{k} {v}" for k, v in stats["types"].items()),
        "bands (target -> realised): " + ", ".join(f"{k} {b['target'][k]} -> {b['realised'][k]}" for k in BANDS)
        + f"; in target band: {b['hit_rate']:.1%}",
        f"complexity: mean {c['mean']}, min {c['min']}, max {c['max']}; histogram "
        + " ".join(f"{k}:{v}" for k, v in c["histogram"].items()),
        "complexity by type: " + ", ".join(f"{k} {v}" for k, v in c["by_type"].items()),
        "candidates: " + ", ".join(f"{k}: {v}" for k, v in stats["candidates"].items()),
        "calls per dialog: " + ", ".join(f"{k}: {v}" for k, v in stats["calls"].items()),
        "styles: " + ", ".join(f"{k} {v}" for k, v in stats["styles"].items()),
    ]
    return "\n".join(lines)


# ===============================================================================================================
# CLI
# ===============================================================================================================

def load_pool_lenient(path: str | Path, quarantine: Quarantine | None = None) -> tuple[list[ApiRecord], list[str]]:
    """Pool records of a file, skipping bad ones: ``(records, errors)`` with each error as ``FILE:LINE: reason``
    (a line that is not JSON or not UTF-8, a record failing :meth:`ApiRecord.from_dict`, sizes beyond its bounds
    included, a repeated id). Skipping is safe: each dialog only needs the records it uses. Each skipped line also
    goes to ``quarantine`` when given. A file that cannot be read at all raises :class:`InputError`."""
    records: list[ApiRecord] = []
    errors: list[str] = []
    first_line: dict[str, Any] = {}

    def skip(rec: Any, where: str, message: str) -> None:
        errors.append(message)
        if quarantine is not None:
            own = message[len(where) + 2:] if message.startswith(f"{where}: ") else message
            quarantine.add_record(rec, path, error=own)

    for rec in read_records(path):
        where = f"{path}:{rec.line}" if rec.line is not None else f"{path}[{rec.index}]"
        if rec.error is not None:
            skip(rec, where, str(rec.error))
            continue
        try:
            api = ApiRecord.from_dict(rec.value, where=where)
        except (PoolError, ValueError) as e:
            skip(rec, where, str(e))
            continue
        if api.id in first_line:
            skip(rec, where, f"{where}: duplicate id {api.id!r} (first at line {first_line[api.id]}); skipped")
            continue
        first_line[api.id] = rec.line if rec.line is not None else rec.index
        records.append(api)
    return records, errors


def add_dialogs_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``funrl dialogs`` (handler :func:`run_dialogs`)."""
    p = subparsers.add_parser(
        "dialogs", help="generate dialogs from an API pool (ToolACE self-guided dialog generation)",
        description="User, assistant and tool agents over a pool: N dialogs of the requested type mix and "
                    "complexity bands, as resumable JSONL (re-run the same command to finish a killed run).")
    p.add_argument("--pool", required=True, help="API pool JSONL (funrl pool --out)")
    p.add_argument("--n", type=int, default=5000, help="number of dialogs (default 5000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mix", default=None,
                   help="dialog type weights, e.g. single=.3,parallel=.15 (default: "
                        + ",".join(f"{k}={v:g}" for k, v in DEFAULT_MIX.items()) + ")")
    p.add_argument("--complexity-mix", default=None,
                   help="target complexity bands (default: "
                        + ",".join(f"{k}={v:g}" for k, v in DEFAULT_COMPLEXITY_MIX.items()) + ")")
    p.add_argument("--backend", default="programmatic", help="programmatic (default, no model), openai or hf")
    p.add_argument("--model", default=None, help="LLM backends: model name (openai) or path / hub id (hf)")
    p.add_argument("--base-url", default=None, help="openai backend: the server (else $FUNRL_OPENAI_BASE_URL)")
    p.add_argument("--concurrency", type=int, default=32,
                   help="LLM backends: samples in flight, and openai requests in flight per endpoint that names "
                        "none of its own (default 32)")
    p.add_argument("--endpoint", action="append", default=None, metavar="URL[,concurrency=N]",
                   help="openai backend: one server of a fleet, repeated for several (instead of --base-url); "
                        "requests go to the least loaded, and to the others while one is down")
    p.add_argument("--fleet", default=None, metavar="FILE",
                   help="openai backend: a fleet file (YAML/JSON: endpoints, model...; else $FUNRL_OPENAI_FLEET)")
    p.add_argument("--votes", type=int, default=3, help="LLM backends: assistant generations that must agree")
    p.add_argument("--out", required=True, help="dialogs JSONL; re-running the same command resumes it")
    p.add_argument("--stats", default=None, help="also write the statistics here (JSON)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_dialogs, handler=run_dialogs)
    return p


def _backend_from_args(args: argparse.Namespace) -> Any:
    # --concurrency reaches the openai backend too (it used to stop at the backend's default of 8 requests)
    return _backends().backend_from_cli(
        getattr(args, "backend", None), model=getattr(args, "model", None), base_url=getattr(args, "base_url", None),
        endpoints=getattr(args, "endpoint", None), fleet=getattr(args, "fleet", None),
        concurrency=getattr(args, "concurrency", None))


def run_dialogs(args: argparse.Namespace) -> int:
    """``funrl dialogs``: generate (or resume) the dialogs, print statistics. Returns the exit status (2 for bad
    input: unreadable pool, bad --mix, an --out of another seed)."""
    t0 = time.perf_counter()
    try:
        mix = parse_mix(args.mix, option="--mix") if args.mix else None
        cmix = parse_mix(args.complexity_mix, allowed=BANDS, what="complexity band", option="--complexity-mix") \
            if getattr(args, "complexity_mix", None) else None
        check_own_output(args.out, _is_dialog_record, _DIALOGS)  # before anything is written beside it
        if getattr(args, "stats", None):
            check_own_json(args.stats, lambda d: isinstance(d, dict) and "types" in d and "bands" in d,
                           "dialog statistics")
        with Quarantine(args.out) as quarantine:
            pool, errors = load_pool_lenient(args.pool, quarantine)
        for e in errors[:20]:
            print(f"funrl dialogs: skipped pool record: {e}", file=sys.stderr)
        if len(errors) > 20:
            print(f"funrl dialogs: ... and {len(errors) - 20} more bad pool records", file=sys.stderr)
        if len(pool) < MIN_CANDIDATES:
            what = "no records (an empty file)" if not pool and not errors else f"{len(pool)} usable API records"
            print(f"funrl dialogs: error: {args.pool}: {what}; need at least {MIN_CANDIDATES}"
                  + (f" ({len(errors)} bad lines quarantined in {quarantine.path})" if errors else ""),
                  file=sys.stderr)
            return 2
        backend = _backend_from_args(args)
        progress = not getattr(args, "no_progress", False)
        acc = DialogStats()
        if backend is None:  # programmatic: one sample at a time, written, counted and let go
            samples: Iterable[Sample] = iter_dialogs(pool, args.n, args.seed, mix=mix, complexity_mix=cmix,
                                                     out=args.out, progress=progress)
        else:
            samples = generate_dialogs(pool, args.n, args.seed, mix=mix, complexity_mix=cmix, backend=backend,
                                       out=args.out, progress=progress, concurrency=getattr(args, "concurrency", 32),
                                       votes=getattr(args, "votes", 3), quarantined=[])
        n_pool = len(pool)
        del pool
        gc.freeze()  # the pool and its index live to the end: later collections need not walk them again
        for s in samples:
            acc.add(s)
    except (ValueError, OSError) as e:  # InputError, PoolError and mix errors are ValueErrors
        print(f"funrl dialogs: error: {e}", file=sys.stderr)
        return 2
    dt = time.perf_counter() - t0
    stats = acc.result()
    rate = acc.n / dt if dt > 0 else float("inf")
    print(f"dialogs: {acc.n} in {args.out} from {n_pool} APIs in {dt:.2f} s ({rate:,.0f}/s)")
    print(format_stats(stats))
    report_quarantine(args.out)
    if getattr(args, "stats", None):
        write_json(args.stats, stats)
    if args.n > 0 and not acc.n:  # every dialog was quarantined: nothing usable was made
        print(f"funrl dialogs: error: no dialog was made (see {quarantine_path(args.out)})", file=sys.stderr)
        return 2
    return 0
