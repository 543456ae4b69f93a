"""Programmatic Self-Guided Dialog Generation (ToolACE, arXiv 2409.00920v2 §2.2): for each sample, plan a dialog of
the requested type with the three agents (:mod:`.single_request`, :mod:`.multi_call`), score its complexity, steer
the knobs towards the target band ("self-guided complication", :mod:`.complexity`) and realise the closest plan: the
tool agent executes the calls, the assistant agent writes its thinking, calls, summaries or refusal. A sample is a
pure function of ``(pool, seed, index, type, band)``.
"""

from __future__ import annotations

import random
from typing import Iterable, Sequence

from ..api_pool import ApiRecord
from ..sample import Message, Sample
from .agents import _Agents
from .complexity import (MAX_ATTEMPTS, MAX_CANDIDATES, MIN_CANDIDATES, _band_distance, _start_level, _steer,
                         complexity)
from .mix import _rng, _sample_id
from .multi_call import dependent, multi_turn, parallel, parallel_multiple
from .plan import _Draft
from .pool_index import _PoolIndex
from .single_request import clarify, irrelevance, multiple, single

_TRY_BUDGET = 40  # plans drawn per sample before giving up (only a broken pool gets there)
_KINDS = {"single": single, "multiple": multiple, "parallel": parallel, "parallel_multiple": parallel_multiple,
          "dependent": dependent, "irrelevance": irrelevance, "clarify": clarify, "multi_turn": multi_turn}


class _Builder:
    """Programmatic user, assistant and tool agents over an indexed pool. :meth:`make` is a pure function of
    ``(pool, seed, index, type, band)``."""

    def __init__(self, pool: Sequence[ApiRecord] | _PoolIndex, seed: int):
        self.ix = pool if isinstance(pool, _PoolIndex) else _PoolIndex(pool)
        self.seed = seed
        self.agents = _Agents(self.ix)

    def check_feasible(self, types: Iterable[str]) -> None:
        """Refuse early (``ValueError`` naming the type) when the pool cannot produce a requested type at all."""
        ix = self.ix
        for t in types:
            if t not in _KINDS:
                raise ValueError(f"unknown dialog type {t!r}; expected one of {', '.join(_KINDS)}")
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
            level = _start_level(typ, band)
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
                level = _steer(level, score, band)
            for dist, attempts, sample, draft, cands in sorted(scored, key=lambda x: (x[0], x[1])):
                messages = self._realise(draft, cands, _rng(self.seed, "dialog", index, "realise", attempts))
                if messages is not None:
                    sample.messages = messages
                    sample.meta["attempts"] = attempts
                    return sample
        raise RuntimeError(f"{_sample_id(index)}: could not build a {typ!r} dialog from this pool after {tries} "
                           f"draws")

    def candidate(self, index: int, typ: str, band: str, level: float, *salt: object) -> Sample | None:
        """One realised dialog at knob ``level`` (no formula steering) for the model-guided path
        (:mod:`.model_guided`): its own randomness ``(seed, index, *salt)``, so every resample is a fresh draw; a plan
        that cannot be drawn or realised is drawn again, up to a budget (``None`` when none could be)."""
        for t in range(_TRY_BUDGET // MAX_ATTEMPTS):
            got = self._attempt(index, typ, band, level, _rng(self.seed, "dialog", index, *salt, t))
            if got is None:
                continue
            sample, draft, cands = got
            messages = self._realise(draft, cands, _rng(self.seed, "dialog", index, *salt, t, "realise"))
            if messages is not None:
                sample.messages = messages
                sample.meta["attempts"] = t + 1
                return sample
        return None

    def _attempt(self, index: int, typ: str, band: str, level: float,
                 rng: random.Random) -> tuple[Sample, _Draft, list[int]] | None:
        ix = self.ix
        style = "descriptive" if level <= 0.2 else (rng.choice(("terse", "context")) if level >= 0.8
                                                    else rng.choice(("polite", "context", "terse")))
        draft = _KINDS[typ](self.agents, rng, level, style)
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
        sample = Sample(_sample_id(index), [ix.tools[i] for i in cands], draft.scored_messages(ix.names), typ,
                        None, meta)
        meta["complexity"] = complexity(sample)
        return sample, draft, cands

    def _realise(self, draft: _Draft, cands: list[int], rng: random.Random) -> list[Message] | None:
        """The tool agent runs the calls, the assistant agent writes its thinking, calls and summaries."""
        tool, assistant = self.agents.tool, self.agents.assistant
        msgs: list[Message] = []
        for st in draft.steps:
            if st.kind == "user":
                msgs.append(Message("user", st.text))
            elif st.kind == "ask":
                msgs.append(Message("assistant", st.text, think=st.think))
            else:
                calls = st.calls or []
                results = st.results if st.results is not None else tool.run_calls(calls)
                if results is None:
                    return None
                msgs.append(assistant.call_turn(calls, st.sources))
                msgs.append(tool.turn(calls, results))
                if st.summary:
                    msgs.append(assistant.summary(calls, results, rng))
        if draft.refuse_for is not None:
            msgs.append(assistant.refusal(draft.refuse_for, cands, rng))
        return msgs
