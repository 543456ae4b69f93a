"""Complexity evaluation of ToolACE's Self-Guided Dialog Generation (arXiv 2409.00920v2 §2.2, "complexity
evaluation": Eq. 1 and Fig. 2) and the band steering built on it ("self-guided complication").

**Complexity** (:func:`complexity`, in [0, 1]): ToolACE's Fig. 2 finds the evaluator's loss rising with the number
of candidate APIs, the number of calls and query-description dissimilarity, so the programmatic score is
``0.35 * (candidates - 1) / 5 + 0.35 * min(calls, 4) / 4 + 0.3 * (1 - overlap)`` with ``overlap`` the share of the
content words of the called tools' descriptions (all candidates' when nothing is called) that occur in the user
turns. :func:`model_loss` is ToolACE's own measure (Eq. 1): the mean token loss of the assistant turns under a
model, stored in ``meta["loss"]``; with a scoring model (``funrl dialogs --complexity-model``) the bands are steered
by that loss instead (:mod:`.model_guided`). **Bands** (formula): easy < 0.4 <= medium < 0.6 <= hard. The
generator maps a target band to a knob level (:func:`_start_level`: candidate count, call/turn count, request style)
and, after each scored attempt that misses, moves the level one band's worth towards it (:func:`_steer`), up to
:data:`MAX_ATTEMPTS` attempts. The weights and band edges are ours (ToolACE gives neither); they put each type's
knob range across the bands.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any, Sequence

from ...calls import render_calls
from ..sample import Sample

BANDS = ("easy", "medium", "hard")
BAND_RANGES = {"easy": (0.0, 0.4), "medium": (0.4, 0.6), "hard": (0.6, 1.0)}
DEFAULT_COMPLEXITY_MIX = {"easy": 0.3, "medium": 0.5, "hard": 0.2}
MIN_CANDIDATES, MAX_CANDIDATES = 3, 6
MAX_ATTEMPTS = 4  # self-guided complication: scored attempts per sample
W_CANDIDATES, W_CALLS, W_DISSIMILARITY = 0.35, 0.35, 0.3
CALLS_CAP = 4
_LEVEL = {"easy": 0.0, "medium": 0.5, "hard": 1.0}  # first knob level per target band
_MULTI_CALL = ("parallel", "parallel_multiple", "dependent", "multi_turn")
_LEVEL_MULTI = {"easy": 0.0, "medium": 0.3, "hard": 1.0}  # >= 2 calls already add complexity: start lower
_STEP = 0.34  # a retry moves the knob level by about one band


_WORD = re.compile(r"[a-z0-9]{2,}")  # (a word of one letter or digit is no token)
_STOP = frozenset("""a an the of for to in on by and or with from at into as is are be it its this that these those
my your our their me you we they i he she them his her can could would will should please get set given
using use per any all each some more most less than then also if when which what who how about via not no
""".split())


def _tokens(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower())) - _STOP


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


def _start_level(typ: str, band: str) -> float:
    """The first knob level (0 fewest candidates and calls, 1 most) of a sample of type ``typ`` aiming at ``band``."""
    return (_LEVEL_MULTI if typ in _MULTI_CALL else _LEVEL)[band]


def _steer(level: float, score: float, band: str) -> float:
    """The knob level of the next attempt after one that scored ``score`` outside ``band``: one band's worth up when
    it fell below the band, else down."""
    return min(1.0, level + _STEP) if score < BAND_RANGES[band][0] else max(0.0, level - _STEP)


def _loss_segments(sample: Sample) -> list[tuple[str, bool]]:
    """The dialog as ChatML text pieces, ``True`` for the assistant tokens scored: each assistant turn's
    ``<think>…</think>`` and its calls (Python syntax) or text, and its end-of-turn marker."""
    from ...prompts import funrl_system_prompt

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


def _encode(sample: Sample, tokenizer: Any, limit: int | None) -> tuple[list[int], list[bool]]:
    """Token ids of the dialog (:func:`_loss_segments`) and which of them are scored; a dialog longer than ``limit``
    keeps its last tokens."""
    ids: list[int] = []
    mask: list[bool] = []
    for text, scored in _loss_segments(sample):
        t = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids.extend(t)
        mask.extend([scored] * len(t))
    if limit and len(ids) > limit:
        ids, mask = ids[-limit:], mask[-limit:]
    return ids, mask


def _body_and_head(model: Any) -> tuple[Any, Any] | None:
    """The transformer body (final norm included) and the output projection of a causal LM whose logits are the
    plain projection of the last hidden state (Qwen, Llama, Mistral...), so only the scored positions need logits;
    ``None`` for a model that post-processes its logits (soft-capping, a logit scale): the full forward is used."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    body = getattr(model, "base_model", None)
    cfg = getattr(model, "config", None)
    if head is None or body is None or body is model or any(
            getattr(cfg, k, None) not in (None, 1, 1.0) for k in ("final_logit_softcapping", "logit_scale",
                                                                  "logits_scaling", "output_multiplier_scale")):
        return None
    return body, head


def model_loss(samples: Sequence[Sample], model: Any, tokenizer: Any, *, max_tokens: int | None = None,
               store: bool = True, batch_size: int = 8, logit_chunk: int = 512) -> list[float]:
    """ToolACE's complexity measure (Eq. 1): ``-(1/n_y) sum_i log p(t_i | x, t_<i)``, the mean token loss of the
    assistant turns ``y`` given the dialog before each, under ``model`` (a ``transformers`` causal LM). The dialog is
    laid out in ChatML (Qwen's template) with the FunRL system prompt; a dialog longer than ``max_tokens`` (default:
    the model's ``max_position_embeddings``) keeps its last tokens. Stores ``meta["loss"]`` (6 places) when
    ``store``; returns the losses (NaN for a dialog with no assistant token), in ``samples`` order.

    Batched: ``batch_size`` dialogs per forward, shortest first (less padding), right-padded with no attention mask
    (causal attention never lets a real token see the padding after it, and positions count from 0 as unpadded);
    logits are computed ``logit_chunk`` scored positions at a time (a 150k vocabulary times every position of a
    batch would not fit). torch is imported here only, so the rest of the module needs no torch."""
    import torch

    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    limit = max_tokens or getattr(getattr(model, "config", None), "max_position_embeddings", None)
    device = next(model.parameters()).device
    encoded = [_encode(s, tokenizer, limit) for s in samples]
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i][0]), i))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    split = _body_and_head(model)
    out = [float("nan")] * len(encoded)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                width = max(len(encoded[i][0]) for i in rows)
                ids = torch.full((len(rows), width), pad, dtype=torch.long)
                scored = torch.zeros((len(rows), width), dtype=torch.bool)
                for r, i in enumerate(rows):
                    t, m = encoded[i]
                    ids[r, :len(t)] = torch.tensor(t, dtype=torch.long)
                    scored[r, :len(m)] = torch.tensor(m, dtype=torch.bool)
                ids = ids.to(device)
                sel = scored[:, 1:].to(device)  # position p predicts token p + 1
                if split is None:
                    states, project = model(input_ids=ids).logits[:, :-1][sel], (lambda h: h)
                else:
                    states, project = split[0](input_ids=ids).last_hidden_state[:, :-1][sel], split[1]
                target = ids[:, 1:][sel]
                row = torch.arange(len(rows), device=device).unsqueeze(1).expand_as(sel)[sel]
                total = torch.zeros(len(rows), dtype=torch.float64, device=device)
                for c in range(0, len(target), logit_chunk):
                    nll = torch.nn.functional.cross_entropy(project(states[c:c + logit_chunk]).float(),
                                                            target[c:c + logit_chunk], reduction="none")
                    total.index_add_(0, row[c:c + logit_chunk], nll.double())
                count = torch.bincount(row, minlength=len(rows))
                for r, i in enumerate(rows):
                    if int(count[r]):
                        out[i] = float(total[r] / count[r])
    finally:
        model.train(was_training)
    if store:
        for s, loss in zip(samples, out):
            if math.isfinite(loss):
                s.meta["loss"] = round(loss, 6)
    return out
