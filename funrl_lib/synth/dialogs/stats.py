"""Statistics of a dialog run of ToolACE's Self-Guided Dialog Generation (arXiv 2409.00920v2 §2.2): the type mix,
the complexity evaluation's scores and bands (target vs realised), and the shape of the dialogs, counted one sample
at a time in constant memory.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

from ..sample import DIALOG_TYPES, Sample
from .complexity import BANDS, band_of, complexity
from .model_guided import loss_band, quantile


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
        self.losses: dict[str, list[float]] = {}  # model-guided runs only: type -> Eq. 1 losses (O(n) floats)
        self.loss_edges: dict[str, list[float]] = {}
        self.loss_target: Counter = Counter()
        self.loss_realised: Counter = Counter()
        self.loss_first: Counter = Counter()
        self.loss_hits = 0
        self.resamples = 0

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
        if "loss" in s.meta:
            self._add_loss(s)

    def _add_loss(self, s: Sample) -> None:
        meta = s.meta
        self.losses.setdefault(s.type, []).append(float(meta["loss"]))
        edges = meta.get("loss_edges")
        if edges:
            self.loss_edges.setdefault(s.type, list(edges))
        self.loss_target[meta.get("band")] += 1
        self.loss_realised[meta.get("loss_band")] += 1
        self.loss_hits += meta.get("loss_band") == meta.get("band")
        tries = meta.get("loss_tries") or []
        if edges and tries:
            self.loss_first[loss_band(tries[0], edges)] += 1
        self.resamples += len(tries) - 1 if tries else 0

    def _loss_result(self) -> dict[str, Any]:
        """The Eq. 1 section of :meth:`result` (present only when the samples carry a model's loss)."""
        n = sum(len(v) for v in self.losses.values())
        order = [t for t in DIALOG_TYPES if t in self.losses] + sorted(set(self.losses) - set(DIALOG_TYPES))

        def dist(xs: list[float]) -> dict[str, float]:
            return {"n": len(xs), "min": round(min(xs), 6), "q1": round(quantile(xs, 0.25), 6),
                    "median": round(quantile(xs, 0.5), 6), "q3": round(quantile(xs, 0.75), 6),
                    "max": round(max(xs), 6), "mean": round(sum(xs) / len(xs), 6)}

        return {"by_type": {t: dist(self.losses[t]) for t in order},
                "all": dist([x for t in order for x in self.losses[t]]),
                "edges": {t: self.loss_edges[t] for t in order if t in self.loss_edges},
                "bands": {"target": {b: self.loss_target[b] for b in BANDS},
                          "realised": {b: self.loss_realised[b] for b in BANDS},
                          "first_candidate": {b: self.loss_first[b] for b in BANDS},
                          "hit_rate": round(self.loss_hits / n, 4) if n else 0.0},
                "resamples_mean": round(self.resamples / n, 3) if n else 0.0}

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
            **({"loss": self._loss_result()} if self.losses else {}),
        }


def dialog_stats(samples: Iterable[Sample]) -> dict[str, Any]:
    """Counts for a run: ``types``; ``bands`` (target vs realised band counts and the share landing in its target
    band); ``complexity`` (mean, min, max, a 10-bin histogram, mean per type); distributions of ``candidates``,
    ``calls`` per dialog, ``messages`` per dialog and ``styles``; ``domains`` (distinct) and mean ``attempts``.
    Model-guided samples (:mod:`.model_guided`) add ``loss``: the Eq. 1 loss per type (n, min, quartiles, max,
    mean) and overall, each type's band edges, the target / realised / first-candidate (unsteered) band counts by
    loss with the share landing in its target band, and the mean number of resamples."""
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
    if "loss" in stats:
        lb = stats["loss"]["bands"]
        lines.append("loss bands (target -> realised, first candidate): " + ", ".join(
            f"{k} {lb['target'][k]} -> {lb['realised'][k]} ({lb['first_candidate'][k]})" for k in BANDS)
            + f"; in target band: {lb['hit_rate']:.1%}; mean resamples {stats['loss']['resamples_mean']}")
        lines.append("loss by type (min/q1/median/q3/max): " + "; ".join(
            f"{t} {d['min']:.3f}/{d['q1']:.3f}/{d['median']:.3f}/{d['q3']:.3f}/{d['max']:.3f}"
            for t, d in stats["loss"]["by_type"].items()))
    return "\n".join(lines)
