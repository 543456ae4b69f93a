"""Model-guided complexity: ToolACE's complexity evaluation and self-guided complication (arXiv 2409.00920v2 §2.2)
with the model being trained as the evaluator. ToolACE measures a dialog's complexity as the evaluator's loss on the
assistant's response given the user query and the tools (Eq. 1, :func:`~.complexity.model_loss`) and steers the
generation so data is neither too easy nor too hard for that model. The programmatic default steers on a formula of
ours (:func:`~.complexity.complexity`); with a scoring model, :class:`ModelGuide` steers on Eq. 1 itself:

1. **Calibration.** For each dialog type of the mix, ``calibration`` dialogs are drawn across the knob range (the
   three bands' start levels in turn, their own randomness, never written) and scored. The type's band edges are
   the 1/3 and 2/3 quantiles of those losses (linear interpolation): *easy* is the easiest third of what the
   generator makes of that type for this model, *hard* the hardest third. ToolACE names no edges; the edges are per
   type because the loss differs by type (a refusal in words against argument values), so global edges would make
   the band a proxy for the type, which the type mix already fixes.
2. **Steering.** Each sample first takes the programmatic dialog (:meth:`_Builder.make`) and scores it; while its
   loss falls outside the target band's edges, up to ``max_resamples`` fresh candidates are drawn, the knob level
   (candidates, calls, request style) moving one band's worth up after a loss below the band and down after one
   above it (ToolACE's "self-guided complication"). The first candidate in the band is kept, else the one closest to
   it (in loss), the earliest on ties.

Candidates are scored ``batch_size`` dialogs per forward; the samples of a chunk of :data:`CHUNK` indices are
steered together, each round's candidates scored at once. Chunk boundaries are fixed, so a resumed run scores the
same batches as an uninterrupted one.

Meta of each model-guided sample, besides the programmatic ones (``complexity`` still the formula's, ``band`` the
target): ``loss`` (Eq. 1 of the kept dialog), ``loss_band`` (where it landed), ``loss_edges`` (its type's
``[easy|medium, medium|hard]`` edges), ``loss_tries`` (every candidate's loss, in order: the first is the unsteered
programmatic dialog's) and ``resamples`` (the kept candidate's number, 0 for the programmatic one).
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterable, Sequence

from ..sample import Sample
from .builder import _Builder
from .complexity import _STEP, BANDS, _start_level, model_loss

LOSS_QUANTILES = (1 / 3, 2 / 3)
DEFAULT_CALIBRATION = 16  # dialogs per type
DEFAULT_RESAMPLES = 4
DEFAULT_LOSS_BATCH = 8
CHUNK = 32  # sample indices steered together


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` by linear interpolation between order statistics (numpy's default)."""
    xs = sorted(values)
    if not xs:
        raise ValueError("quantile of no values")
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def loss_band(loss: float, edges: Sequence[float]) -> str:
    """The band of ``loss`` between ``edges`` ``(lo, hi)``: easy < lo <= medium < hi <= hard."""
    lo, hi = edges
    return "easy" if loss < lo else ("medium" if loss < hi else "hard")


def loss_distance(loss: float, edges: Sequence[float], band: str) -> float:
    """How far ``loss`` lies outside ``band`` (0 inside; infinite for a NaN loss)."""
    if not math.isfinite(loss):
        return math.inf
    lo, hi = {"easy": (-math.inf, edges[0]), "medium": (edges[0], edges[1]), "hard": (edges[1], math.inf)}[band]
    return 0.0 if lo <= loss < hi else (lo - loss if loss < lo else loss - hi + 1e-12)


class ModelGuide:
    """Steers dialogs towards their target band by a model's Eq. 1 loss (see the module docstring). ``model`` and
    ``tokenizer``: a ``transformers`` causal LM and its tokenizer (:meth:`load` reads them from a path).
    ``scored`` / ``seconds`` count the dialogs scored and the time spent scoring them."""

    def __init__(self, model: Any, tokenizer: Any, *, calibration: int = DEFAULT_CALIBRATION,
                 max_resamples: int = DEFAULT_RESAMPLES, batch_size: int = DEFAULT_LOSS_BATCH,
                 max_tokens: int | None = None, log: Any = None):
        if calibration < 3:
            raise ValueError("calibration needs at least 3 dialogs per type (for the two quantile edges)")
        if max_resamples < 0 or batch_size < 1:
            raise ValueError("max_resamples must be >= 0 and batch_size >= 1")
        self.model, self.tokenizer = model, tokenizer
        self.calibration, self.max_resamples, self.batch_size = calibration, max_resamples, batch_size
        self.max_tokens = max_tokens
        self.log = log
        self.edges: dict[str, tuple[float, float]] = {}
        self.calibration_losses: dict[str, list[float]] = {}
        self.scored = 0
        self.seconds = 0.0

    @classmethod
    def load(cls, path: str, *, device: str | None = None, dtype: str = "auto", **kwargs: Any) -> "ModelGuide":
        """A guide scoring with the model at ``path`` (a folder, adapter, GGUF file or hub id, as
        :func:`~funrl_lib.model_source.load_causal_lm` takes it); on CUDA when there is one."""
        import torch

        from ...model_source import load_causal_lm

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        model, tokenizer = load_causal_lm(path, dtype=dtype, device=device, merge_adapter=True)
        return cls(model.eval(), tokenizer, **kwargs)

    def _say(self, text: str) -> None:
        if self.log is not None:
            print(f"funrl dialogs: {text}", file=self.log)

    def score(self, samples: Sequence[Sample]) -> list[float]:
        """Eq. 1 losses of ``samples`` (batched), counted in :attr:`scored` and :attr:`seconds`."""
        t0 = time.perf_counter()
        losses = model_loss(samples, self.model, self.tokenizer, max_tokens=self.max_tokens, store=False,
                            batch_size=self.batch_size)
        self.seconds += time.perf_counter() - t0
        self.scored += len(samples)
        return losses

    def calibrate(self, builder: _Builder, types: Iterable[str]) -> dict[str, tuple[float, float]]:
        """Per type, the loss edges of the bands: the :data:`LOSS_QUANTILES` of ``calibration`` dialogs drawn
        across the knob range (start levels of easy, medium, hard in turn)."""
        types = list(dict.fromkeys(types))
        drawn: list[tuple[str, Sample]] = []
        for typ in types:
            for j in range(self.calibration):
                band = BANDS[j % len(BANDS)]
                s = builder.candidate(j, typ, band, _start_level(typ, band), "calibrate", typ)
                if s is not None:
                    drawn.append((typ, s))
        self._say(f"calibrating the loss bands on {len(drawn)} dialogs ({self.calibration} per type)")
        losses = self.score([s for _, s in drawn])
        self.calibration_losses = {t: [] for t in types}
        for (typ, _), loss in zip(drawn, losses):
            if math.isfinite(loss):
                self.calibration_losses[typ].append(round(loss, 6))
        for typ, xs in self.calibration_losses.items():
            if len(xs) < 3:
                raise ValueError(f"dialog type {typ!r}: only {len(xs)} calibration dialogs could be scored")
            self.edges[typ] = (round(quantile(xs, LOSS_QUANTILES[0]), 6), round(quantile(xs, LOSS_QUANTILES[1]), 6))
        return self.edges

    def steer(self, builder: _Builder, indices: Sequence[int], types: Sequence[str],
              bands: Sequence[str]) -> list[Sample]:
        """The samples of ``indices`` (one chunk; ``types`` / ``bands`` indexed by sample index), each steered
        towards its target band; needs :meth:`calibrate` first."""
        state = {}
        for i in indices:
            state[i] = {"level": _start_level(types[i], bands[i]), "tries": [], "best": None}
        pending = {i: builder.make(i, types[i], bands[i]) for i in indices}
        for k in range(self.max_resamples + 1):
            if k:
                drawn = {}
                for i in pending:
                    s = builder.candidate(i, types[i], bands[i], state[i]["level"], "model", k)
                    if s is not None:
                        drawn[i] = s
                pending = drawn
            if not pending:
                break
            order = sorted(pending)
            for i, loss in zip(order, self.score([pending[i] for i in order])):
                st, edges, band = state[i], self.edges[types[i]], bands[i]
                st["tries"].append(round(loss, 6))
                dist = loss_distance(loss, edges, band)
                if st["best"] is None or dist < st["best"][0]:
                    st["best"] = (dist, k, pending[i], loss)
                if dist == 0:
                    del pending[i]
                elif loss < edges[0] or (band == "hard" and loss < edges[1]):
                    st["level"] = min(1.0, st["level"] + _STEP)  # too easy: more candidates, calls, terser
                else:
                    st["level"] = max(0.0, st["level"] - _STEP)
        out = []
        for i in indices:
            st = state[i]
            _, k, sample, loss = st["best"]
            edges = self.edges[types[i]]
            sample.meta.update({"loss": round(loss, 6), "loss_band": loss_band(loss, edges), "loss_edges": list(edges),
                                "loss_tries": st["tries"], "resamples": k})
            out.append(sample)
        return out

    def check_resume(self, last_row: dict, types: Sequence[str], bands: Sequence[str]) -> str | None:
        """Why the last row of an existing output cannot be this run's (another type, target band or loss edges:
        another mix, pool or model), or ``None``. The row is not re-scored: scoring is what is expensive."""
        meta = last_row.get("meta") or {}
        sid = str(last_row.get("id", ""))
        index = int(sid.rsplit("-", 1)[-1]) if sid.rsplit("-", 1)[-1].isdigit() else -1
        if not 0 <= index < len(types) or last_row.get("type") != types[index] or meta.get("band") != bands[index]:
            return f"{sid} is not what this run generates (another --n, --mix or --complexity-mix)"
        if meta.get("loss_edges") != list(self.edges.get(types[index], ())):
            return (f"{sid} was steered with loss edges {meta.get('loss_edges')}, this run calibrates "
                    f"{list(self.edges.get(types[index], ()))} (another pool or --complexity-model)")
        return None

    def summary(self) -> str:
        rate = self.scored / self.seconds if self.seconds > 0 else float("inf")
        return (f"complexity model: scored {self.scored} dialogs in {self.seconds:.1f} s ({rate:.2f} dialogs/s, "
                f"batch {self.batch_size})")
