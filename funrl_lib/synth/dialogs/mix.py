"""Which dialog each index gets: the type and complexity-band mixes of ToolACE's Self-Guided Dialog Generation
(arXiv 2409.00920v2 §2.2: dialogs of several types, from single and parallel calls to dependent and non-tool ones,
steered across complexity levels), allocated exactly, and the seeded randomness every sample draws from.

**Mix**: each index gets its type (and band) from an exact allocation: counts by largest remainder of
``n * share``, then a seeded shuffle, so the realised mix equals the target up to rounding for any ``n``. ToolACE
publishes no proportions; :data:`DEFAULT_MIX` is ours. All randomness comes from ``random.Random`` seeded with
SHA-256 of its parts (``(seed, index, attempt)`` for a sample); ids are ``dlg-000000``...
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from ...io import seeded_rng, stable_digest
from ..sample import DIALOG_TYPES
from .complexity import BANDS, DEFAULT_COMPLEXITY_MIX

# Default type mix. ToolACE publishes no proportions; this leans on single calls (the bulk of BFCL) while keeping
# every other type at >= 10% so that each behaviour is learnt.
DEFAULT_MIX = {"single": 0.20, "parallel": 0.12, "multiple": 0.15, "parallel_multiple": 0.10, "dependent": 0.13,
               "irrelevance": 0.10, "clarify": 0.10, "multi_turn": 0.10}


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


def _normalise_mix(mix: Any, allowed: Sequence[str], what: str, option: str, default: dict) -> dict[str, float]:
    if mix is None:
        return dict(default)
    return parse_mix(mix, allowed=allowed, what=what, option=option)


def _plan_labels(n: int, seed: int, mix: Any, complexity_mix: Any) -> tuple[list[str], list[str]]:
    m = _normalise_mix(mix, DIALOG_TYPES, "dialog type", "--mix", DEFAULT_MIX)
    c = _normalise_mix(complexity_mix, BANDS, "complexity band", "--complexity-mix", DEFAULT_COMPLEXITY_MIX)
    return allocate(m, n, seed, "type"), allocate(c, n, seed, "band")
