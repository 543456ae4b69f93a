"""One sample through both layers (ToolACE §2.3, dual-layer verification): the rule layer, then, for rule-passers,
the model layer (deterministic rules offline, judges with an LLM backend), giving a :class:`SampleVerdict`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ..sample import Sample
from .context import LAYERS, VerifyContext
from .judges import JUDGE_PROMPTS, _JUDGE_APPLIES, _ask_judge, render_for_judge
from .view import _View


@dataclass
class SampleVerdict:
    """The outcome for one sample: ``failed`` maps each failed rule to its reasons; ``layer_failed`` says which
    layers failed (a layer not reached counts as not failed); ``quarantined`` is set when a judge's reply stayed
    unusable (the sample is neither passed nor failed: it is set aside with the reason). ``sample`` is the sample as
    kept (FunRL's filter may have corrected an answer)."""

    id: Any
    kept: bool
    failed: dict[str, list[str]] = field(default_factory=dict)
    layer_failed: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(LAYERS, False))
    quarantined: str | None = None
    sample: Sample | None = field(default=None, repr=False, compare=False)

    @property
    def layer(self) -> str | None:
        """The first layer that failed, or the one whose judge was unusable (``None`` when kept)."""
        failed = next((layer for layer in LAYERS if self.layer_failed.get(layer)), None)
        if failed is None and self.quarantined:
            return "funrl" if self.quarantined.startswith("funrl:") else "model"
        return failed


def _run_rules(sample: Sample, ctx: VerifyContext, layer: str, *,
               without_judge: bool = False) -> dict[str, list[str]]:
    """The selected rules of ``layer`` (``without_judge``: only those no LLM judge stands in for)."""
    failed: dict[str, list[str]] = {}
    for rule in ctx.selected(layer):
        if without_judge and rule.name in JUDGE_PROMPTS:
            continue
        try:
            reasons = rule.fn(sample, ctx)
        except Exception as e:  # a rule must not stop a long run; the crash is the reason, visible in the output
            reasons = [f"rule crashed: {type(e).__name__}: {e}"]
        if reasons:
            failed[rule.name] = reasons
    return failed


def _rule_layer(sample: Sample, ctx: VerifyContext) -> SampleVerdict:
    ctx._view = _View(sample)  # shared by this sample's rules (both layers); released by the caller
    failed = _run_rules(sample, ctx, "rule")
    v = SampleVerdict(sample.id, not failed, failed, sample=sample)
    v.layer_failed["rule"] = bool(failed)
    return v


def _model_layer_programmatic(sample: Sample, ctx: VerifyContext, v: SampleVerdict) -> None:
    failed = _run_rules(sample, ctx, "model")
    v.failed.update(failed)
    v.layer_failed["model"] = bool(failed)
    v.kept = not failed


def verify_sample(sample: Sample, ctx: VerifyContext | None = None) -> SampleVerdict:
    """Rule layer, then (for rule-passers) model layer. With an LLM backend the judges run on an event loop
    (:func:`averify`); from inside a running loop (Jupyter) on a fresh one in a worker thread."""
    ctx = ctx or VerifyContext()
    if ctx.llm:
        from ...backends import run_sync  # (an event loop only for LLM judges)

        return run_sync(averify([sample], ctx))[0]
    try:
        v = _rule_layer(sample, ctx)
        if v.kept:
            _model_layer_programmatic(sample, ctx, v)
    finally:
        ctx._view = None
    return v


async def averify(samples: Sequence[Sample], ctx: VerifyContext | None = None) -> list[SampleVerdict]:
    """:func:`verify_sample` for a batch; with an LLM backend every judge request of the batch is in flight at once
    (the backend bounds the concurrency)."""
    ctx = ctx or VerifyContext()
    if not ctx.llm:
        return [verify_sample(s, ctx) for s in samples]
    # the rule layer, then the model layer's rules that have no judge (``answer_grounding``), then the judges: all
    # of the model layer on every rule-passer, as offline
    verdicts = []
    for s in samples:
        v = _rule_layer(s, ctx)
        if v.kept:
            failed = _run_rules(s, ctx, "model", without_judge=True)
            v.failed.update(failed)
            v.layer_failed["model"] = bool(failed)
        verdicts.append(v)
    ctx._view = None
    jobs = []
    for s, v in zip(samples, verdicts):
        if v.layer_failed["rule"]:
            continue
        for rule in ctx.selected("model"):
            if rule.name in JUDGE_PROMPTS and _JUDGE_APPLIES[rule.name](s):
                jobs.append((v, rule.name, _ask_judge(ctx.backend, JUDGE_PROMPTS[rule.name], render_for_judge(s),
                                                      ctx.judge_retries)))
    import asyncio

    replies = await asyncio.gather(*(job for _, _, job in jobs))
    for (v, name, _), reply in zip(jobs, replies):
        if isinstance(reply, dict):
            if not reply["pass"]:
                v.failed[name] = [f"judge: {reply['reason'] or 'no reason given'}"]
                v.layer_failed["model"] = True
        else:  # Quarantined
            v.quarantined = "; ".join(filter(None, [v.quarantined, f"{name}: {reply.reason}"]))
    for v in verdicts:
        v.kept = not any(v.layer_failed.values()) and v.quarantined is None
    return verdicts
